package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// customerTenant returns a CustomerTenant manifest with the given generation and
// status (a JSON object body, without braces; empty for no status).
func customerTenant(generation int, statusJSON string) string {
	object := `{"apiVersion":"ciam.dev/v1alpha1","kind":"CustomerTenant",` +
		`"metadata":{"name":"acme","namespace":"identity","generation":` + itoa(generation) + `}`
	if statusJSON != "" {
		object += `,"status":{` + statusJSON + `}`
	}
	return object + "}"
}

func itoa(n int) string {
	encoded, _ := json.Marshal(n)
	return string(encoded)
}

// runTool runs the tool on input and returns its output lines and error.
func runTool(t *testing.T, input string) ([]objectStatus, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(strings.NewReader(input), &out)
	var lines []objectStatus
	for _, text := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if text == "" {
			continue
		}
		var line objectStatus
		if decodeErr := json.Unmarshal([]byte(text), &line); decodeErr != nil {
			t.Fatalf("output line %q is not JSON: %v", text, decodeErr)
		}
		lines = append(lines, line)
	}
	return lines, err
}

func TestStatusOfCustomResources(t *testing.T) {
	readyTrue := `{"type":"Ready","status":"True","reason":"Reconciled","message":"tenant is ready"}`
	cases := []struct {
		name        string
		object      string
		wantStatus  string
		wantMessage string
	}{
		{
			name:        "observedGeneration behind generation is InProgress even when Ready=True",
			object:      customerTenant(3, `"observedGeneration":2,"conditions":[`+readyTrue+`]`),
			wantStatus:  "InProgress",
			wantMessage: "CustomerTenant generation is 3, but latest observed generation is 2",
		},
		{
			name: "Reconciling=True is InProgress",
			object: customerTenant(1, `"observedGeneration":1,"conditions":[`+
				`{"type":"Reconciling","status":"True","reason":"Progressing","message":"creating the tenant"},`+readyTrue+`]`),
			wantStatus:  "InProgress",
			wantMessage: "creating the tenant",
		},
		{
			name: "Stalled=True is Failed",
			object: customerTenant(1, `"observedGeneration":1,"conditions":[`+
				`{"type":"Ready","status":"False","reason":"InvalidSpec","message":"subdomain taken"},`+
				`{"type":"Stalled","status":"True","reason":"InvalidSpec","message":"subdomain taken"}]`),
			wantStatus:  "Failed",
			wantMessage: "subdomain taken",
		},
		{
			name:        "Ready=True at the observed generation is Current",
			object:      customerTenant(2, `"observedGeneration":2,"conditions":[`+readyTrue+`]`),
			wantStatus:  "Current",
			wantMessage: "Resource is Ready",
		},
		{
			name: "Ready=False alone is InProgress, not Failed",
			object: customerTenant(1, `"observedGeneration":1,"conditions":[`+
				`{"type":"Ready","status":"False","reason":"BackendUnavailable","message":"runtime unreachable"}]`),
			wantStatus:  "InProgress",
			wantMessage: "runtime unreachable",
		},
		{
			name:        "no status at all is Current (kstatus cannot tell a controller has not run)",
			object:      customerTenant(1, ""),
			wantStatus:  "Current",
			wantMessage: "Resource is current",
		},
		{
			name:        "deletionTimestamp is Terminating",
			object:      `{"apiVersion":"ciam.dev/v1alpha1","kind":"CustomerTenant","metadata":{"name":"acme","namespace":"identity","generation":1,"deletionTimestamp":"2026-01-01T00:00:00Z"},"status":{"observedGeneration":1}}`,
			wantStatus:  "Terminating",
			wantMessage: "Resource scheduled for deletion",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := runTool(t, tc.object)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if len(lines) != 1 {
				t.Fatalf("got %d lines, want 1: %+v", len(lines), lines)
			}
			want := objectStatus{
				APIVersion: "ciam.dev/v1alpha1", Kind: "CustomerTenant", Namespace: "identity", Name: "acme",
				Status: tc.wantStatus, Message: tc.wantMessage,
			}
			if lines[0] != want {
				t.Errorf("got  %+v\nwant %+v", lines[0], want)
			}
		})
	}
}

func TestListAndYAMLInput(t *testing.T) {
	list := `{"apiVersion":"v1","kind":"List","items":[` +
		customerTenant(2, `"observedGeneration":2,"conditions":[{"type":"Ready","status":"True"}]`) + `,` +
		customerTenant(2, `"observedGeneration":1`) + `]}`
	lines, err := runTool(t, list)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(lines) != 2 || lines[0].Status != "Current" || lines[1].Status != "InProgress" {
		t.Fatalf("List: got %+v, want Current then InProgress", lines)
	}

	// A typed list (as the API server returns it) whose items carry no apiVersion/kind.
	typedList := `{"apiVersion":"ciam.dev/v1alpha1","kind":"CustomerTenantList","items":[` +
		`{"metadata":{"name":"a","generation":1},"status":{"observedGeneration":1,"conditions":[{"type":"Stalled","status":"True","message":"m"}]}}]}`
	lines, err = runTool(t, typedList)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(lines) != 1 || lines[0].Kind != "CustomerTenant" || lines[0].APIVersion != "ciam.dev/v1alpha1" || lines[0].Status != "Failed" {
		t.Fatalf("typed list: got %+v", lines)
	}

	yamlStream := `
apiVersion: ciam.dev/v1alpha1
kind: AppRegistration
metadata:
  name: web
  namespace: shop
  generation: 4
status:
  observedGeneration: 4
  conditions:
    - type: Ready
      status: "True"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
---
`
	lines, err = runTool(t, yamlStream)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(lines) != 2 || lines[0].Name != "web" || lines[0].Status != "Current" || lines[1].Kind != "ConfigMap" || lines[1].Status != "Current" {
		t.Fatalf("YAML: got %+v", lines)
	}
}

func TestBadInput(t *testing.T) {
	cases := map[string]struct {
		input   string
		wantErr string
	}{
		"empty":          {"", "no Kubernetes object"},
		"not an object":  {`[1, 2]`, "expected a Kubernetes object"},
		"garbage":        {"{not json", "neither JSON nor YAML"},
		"no kind":        {`{"apiVersion":"v1","metadata":{"name":"x"}}`, "has no kind"},
		"list item kind": {`{"kind":"List","items":[{"metadata":{"name":"x"}}]}`, "item 0 has no kind"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := runTool(t, tc.input)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}

	// A status kstatus cannot read is reported per object as Unknown, and is an error.
	lines, err := runTool(t, customerTenant(1, `"observedGeneration":"one"`))
	if err == nil || !strings.Contains(err.Error(), "failed to compute the status of 1 object") {
		t.Fatalf("got error %v, want a compute error", err)
	}
	if len(lines) != 1 || lines[0].Status != "Unknown" || !strings.Contains(lines[0].Message, "observedGeneration") {
		t.Fatalf("got %+v, want one Unknown line naming observedGeneration", lines)
	}
}
