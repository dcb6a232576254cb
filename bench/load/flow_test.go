// flow_test.go: the form filling of the sign-in step against a local server that records what
// was posted (hidden fields kept, entities decoded, unchecked boxes left out, the chosen submit
// button sent), and the process-tree CPU reading on this very process.
package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
)

const page = `<!DOCTYPE html><form method="get" action="search"><input name="q"></form>
<form method="post" action="signin?x=1" novalidate>
  <input type="hidden" name="request" value="r-1">
  <input type="hidden" name="csrf_token" value="a&amp;b">
  <input id="email" name="email" type="email" value="">
  <input id="password" name="password" type="password">
  <input type="checkbox" name="remember" value="yes">
  <input type="checkbox" name="terms" value="true" checked>
  <button type="submit" name="method" value="password">Sign in</button>
</form>`

func TestSubmitFormFillsTheSignInForm(t *testing.T) {
	var posted url.Values
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			posted, _ = url.ParseQuery(string(body))
			path = r.URL.RequestURI()
			return
		}
		_, _ = io.WriteString(w, page)
	}))
	defer srv.Close()
	b := newBrowser(&Profile{}, http.DefaultTransport)
	resp, body, err := b.get(srv.URL + "/tenant/signin?request=r-1")
	if err != nil {
		t.Fatal(err)
	}
	fill := map[string]string{"email": "dana@example.com", "password": "pw"}
	if _, _, err := b.submitForm(resp, body, fill, "method", "password"); err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"request": {"r-1"}, "csrf_token": {"a&b"}, "email": {"dana@example.com"},
		"password": {"pw"}, "terms": {"true"}, "method": {"password"},
	}
	if posted.Encode() != want.Encode() {
		t.Errorf("posted %v, want %v", posted, want)
	}
	if path != "/tenant/signin?x=1" {
		t.Errorf("posted to %s, want the form's action resolved against the page", path)
	}
}

func TestSubmitFormWithoutTheFieldsFails(t *testing.T) {
	b := newBrowser(&Profile{}, http.DefaultTransport)
	resp := &http.Response{Request: httptest.NewRequest(http.MethodGet, "http://127.0.0.1/x", nil)}
	if _, _, err := b.submitForm(resp, []byte(page), map[string]string{"code": "1"}, "", ""); err == nil {
		t.Error("a page without the field must fail the step")
	}
}

func TestTreeTicksCountsThisProcess(t *testing.T) {
	// Burn some CPU so that at least one tick is on the clock.
	x := 0
	for i := 0; i < 300_000_000; i++ {
		x += i % 7
	}
	_ = x
	if treeTicks([]int{os.Getpid()}) <= 0 {
		t.Error("no CPU time read for this process")
	}
	if pids, err := parsePIDs("12, 34"); err != nil || len(pids) != 2 {
		t.Errorf("parsePIDs: %v %v", pids, err)
	}
	if _, err := parsePIDs("12,x"); err == nil {
		t.Error("parsePIDs accepted a non-number")
	}
}
