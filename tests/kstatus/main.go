// Command kstatus prints the health that GitOps tools compute for Kubernetes
// objects, using the library they use: sigs.k8s.io/cli-utils/pkg/kstatus/status
// (Flux's health checks and `wait`, kpt live, Config Sync, kstatus-based wait
// tooling). Argo CD does not use kstatus: it runs its own built-in or Lua
// health checks per group/kind.
//
// Input (stdin): one object, a List (`{"kind":"List","items":[…]}` or a typed
// list such as CustomerTenantList, whose items may omit apiVersion/kind), or a
// stream of them, as JSON or YAML (multi-document `---` YAML works too).
// Output (stdout): one JSON line per object:
//
//	{"apiVersion":"ciam.dev/v1alpha1","kind":"CustomerTenant","namespace":"ns","name":"acme","status":"Current","message":"Resource is Ready"}
//
// Exit status: 0 when every object's status was computed; 2 on bad input (not
// JSON/YAML, no kind, an empty stream) or when kstatus cannot compute a status
// for an object (a malformed status field); such an object is still printed,
// with status "Unknown" and the error as message, so the caller sees which one.
//
// # The kstatus rules for custom resources (cli-utils v0.37.2)
//
// status.Compute (pkg/kstatus/status/status.go) applies these steps in order and
// stops at the first that decides:
//
//  1. checkGenericProperties (generic.go): metadata.deletionTimestamp set and
//     non-empty → Terminating ("Resource scheduled for deletion").
//  2. checkGeneration (generic.go): if metadata.generation AND
//     status.observedGeneration are both present and differ (`!=`, not only
//     `<`) → InProgress, message "<Kind> generation is G, but latest observed
//     generation is O" (reason LatestGenerationNotObserved). If
//     status.observedGeneration is absent the check is skipped: an object whose
//     controller has never written status is NOT InProgress by this rule. Only
//     the top-level status.observedGeneration counts; a condition's own
//     observedGeneration is ignored everywhere. Either field being a non-integer
//     is an error (→ Unknown here).
//  3. Still in checkGenericProperties: status.conditions is scanned in list
//     order, and the first match wins:
//     - type "Reconciling", status "True" → InProgress (condition's message);
//     - type "Stalled",     status "True" → Failed (condition's message).
//     "False"/"Unknown" values of these two mean nothing (treated as absent).
//  4. GetLegacyConditionsFn (core.go): built-in kinds only (Pod, Deployment,
//     StatefulSet, Job, CRD, …, matched by group/kind); never applies to
//     ciam.dev kinds.
//  5. checkReadyCondition (status.go): the first condition of type "Ready":
//     "True" → Current ("Resource is Ready"); "False" → InProgress; "Unknown"
//     → InProgress (Ready=False is never Failed — only Stalled=True is).
//  6. Otherwise (no Ready condition, no status at all) → Current ("Resource is
//     current"): kstatus assumes a resource without known conditions is done.
//
// Condition types other than Reconciling, Stalled and Ready are ignored.
// NotFound and Unknown are never returned by Compute: NotFound comes from the
// pollers when a GET 404s, Unknown when they cannot compute; this tool prints
// Unknown for a Compute error.
//
// What that means for an operator: write status.observedGeneration together
// with the conditions in one status update; set Ready=True only when fully
// reconciled at that generation; Ready=False for "not yet" (InProgress); add
// Stalled=True for errors that will not resolve without a spec change (else a
// GitOps tool waits until its timeout); Reconciling=True optionally while work
// is in flight.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// exitBadInput is the exit status for input this tool cannot evaluate.
const exitBadInput = 2

// objectStatus is one output line.
type objectStatus struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Message    string `json:"message"`
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "-h", "--help", "help":
			fmt.Fprintln(os.Stdout, "usage: kstatus < objects.(json|yaml)\n\n"+
				"Reads Kubernetes objects (one object, a List, or a JSON/YAML stream) on stdin and prints\n"+
				"one JSON line per object with the status sigs.k8s.io/cli-utils kstatus computes for it:\n"+
				"InProgress, Current, Failed, Terminating (or Unknown if it cannot be computed).\n"+
				"Exit status: 0 on success, 2 on bad input.")
			return
		default:
			fmt.Fprintf(os.Stderr, "kstatus: unexpected argument %q (the objects are read from stdin; see --help)\n", os.Args[1])
			os.Exit(exitBadInput)
		}
	}

	out := bufio.NewWriter(os.Stdout)
	err := run(os.Stdin, out)
	if flushErr := out.Flush(); flushErr != nil && err == nil {
		err = fmt.Errorf("failed to write output: %w", flushErr)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(exitBadInput)
	}
}

// run decodes every object on in and writes one status line for each to out.
// It returns an error for undecodable input, and after writing all lines, for
// any object whose status could not be computed.
func run(in io.Reader, out io.Writer) error {
	objects, err := decodeObjects(in)
	if err != nil {
		return err
	}
	if len(objects) == 0 {
		return errors.New("no Kubernetes object on stdin")
	}

	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	var computeErrors []string
	for i := range objects {
		line := computeStatus(&objects[i])
		if line.Status == string(status.UnknownStatus) {
			computeErrors = append(computeErrors, fmt.Sprintf("%s %s: %s", line.Kind, qualifiedName(line), line.Message))
		}
		if err := encoder.Encode(line); err != nil {
			return fmt.Errorf("failed to write output: %w", err)
		}
	}
	if len(computeErrors) > 0 {
		return fmt.Errorf("failed to compute the status of %d object(s): %s", len(computeErrors), strings.Join(computeErrors, "; "))
	}
	return nil
}

// computeStatus runs kstatus on one object.
func computeStatus(object *unstructured.Unstructured) objectStatus {
	line := objectStatus{
		APIVersion: object.GetAPIVersion(),
		Kind:       object.GetKind(),
		Namespace:  object.GetNamespace(),
		Name:       object.GetName(),
	}
	result, err := status.Compute(object)
	if err != nil {
		line.Status = string(status.UnknownStatus)
		line.Message = "failed to compute status: " + err.Error()
		return line
	}
	line.Status = string(result.Status)
	line.Message = result.Message
	return line
}

// decodeObjects reads a JSON or YAML stream and flattens Lists into their items.
//
// Objects go through the unstructured JSON scheme rather than plain
// encoding/json so that numbers become int64: kstatus reads metadata.generation
// and status.observedGeneration with unstructured.NestedInt64, which rejects the
// float64 that encoding/json would produce.
func decodeObjects(in io.Reader) ([]unstructured.Unstructured, error) {
	decoder := yaml.NewYAMLOrJSONDecoder(in, 4096)
	var objects []unstructured.Unstructured
	for document := 1; ; document++ {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, fmt.Errorf("document %d: input is neither JSON nor YAML: %w", document, err)
		}
		trimmed := bytes.TrimSpace(raw)
		if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
			continue // an empty YAML document, e.g. a trailing `---`
		}
		if trimmed[0] != '{' {
			return nil, fmt.Errorf("document %d: expected a Kubernetes object (a JSON/YAML mapping), got %s", document, abbreviate(trimmed))
		}
		decoded, err := decodeDocument(trimmed)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", document, err)
		}
		objects = append(objects, decoded...)
	}
}

// decodeDocument decodes one object, or the items of one List.
func decodeDocument(document []byte) ([]unstructured.Unstructured, error) {
	var peek struct {
		Kind  string          `json:"kind"`
		Items json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(document, &peek); err != nil {
		return nil, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if peek.Kind == "" {
		return nil, fmt.Errorf("object has no kind: %s", abbreviate(document))
	}

	if strings.HasSuffix(peek.Kind, "List") && len(peek.Items) > 0 && peek.Items[0] == '[' {
		var list unstructured.UnstructuredList
		if err := list.UnmarshalJSON(document); err != nil {
			return nil, fmt.Errorf("invalid %s: %w", peek.Kind, err)
		}
		for i := range list.Items {
			if list.Items[i].GetKind() == "" {
				return nil, fmt.Errorf("%s item %d has no kind", peek.Kind, i)
			}
		}
		return list.Items, nil
	}

	var object unstructured.Unstructured
	if err := object.UnmarshalJSON(document); err != nil {
		return nil, fmt.Errorf("invalid %s: %w", peek.Kind, err)
	}
	return []unstructured.Unstructured{object}, nil
}

func qualifiedName(line objectStatus) string {
	if line.Namespace == "" {
		return line.Name
	}
	return line.Namespace + "/" + line.Name
}

// abbreviate shortens input quoted in an error message.
func abbreviate(input []byte) string {
	const limit = 80
	text := string(input)
	if len(text) > limit {
		text = text[:limit] + "…"
	}
	return fmt.Sprintf("%q", text)
}
