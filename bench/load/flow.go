// flow.go: one "browser" (an HTTP client with its own cookie jar that never follows redirects by
// itself), the authorization request with PKCE, the sign-in form, Hydra's login and consent
// challenges, and the token endpoint calls. Every answer's status is checked.
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// browser is one user agent: a cookie jar on a shared transport; it follows redirects by hand.
type browser struct {
	client   *http.Client
	profile  *Profile
	requests int
}

func newBrowser(p *Profile, transport http.RoundTripper) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{
		profile: p,
		client: &http.Client{
			Transport:     transport,
			Jar:           jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			// A server that stops answering fails the run instead of hanging it.
			Timeout: 60 * time.Second,
		},
	}
}

// resetCookies gives the browser a fresh cookie jar (a new visitor).
func (b *browser) resetCookies() {
	jar, _ := cookiejar.New(nil)
	b.client.Jar = jar
}

func randomToken() string {
	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// do sends a request, reads the whole body and closes it.
func (b *browser) do(req *http.Request) (*http.Response, []byte, error) {
	b.requests++
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, err
}

func (b *browser) get(target string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		return nil, nil, err
	}
	return b.do(req)
}

func (b *browser) postForm(target string, form url.Values, basicUser, basicPass string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	return b.do(req)
}

// unexpected describes an answer the workload did not expect.
func unexpected(step string, resp *http.Response, body []byte) error {
	snippet := string(body)
	if len(snippet) > 300 {
		snippet = snippet[:300]
	}
	return fmt.Errorf("%s: unexpected %d from %s: %s", step, resp.StatusCode, resp.Request.URL.Redacted(), snippet)
}

// authorization is one authorization request in progress.
type authorization struct {
	verifier string
	state    string
}

// startAuthorize sends the authorization request (PKCE S256) with extra parameters.
func (b *browser) startAuthorize(extra url.Values) (*authorization, *http.Response, []byte, error) {
	p := b.profile
	a := &authorization{verifier: randomToken(), state: randomToken()}
	sum := sha256.Sum256([]byte(a.verifier))
	q := url.Values{
		"client_id":             {p.AppClientID},
		"response_type":         {"code"},
		"redirect_uri":          {p.RedirectURI},
		"scope":                 {p.AppScope},
		"state":                 {a.state},
		"nonce":                 {randomToken()},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	sep := "?"
	if strings.Contains(p.AuthorizeURL, "?") {
		sep = "&"
	}
	resp, body, err := b.get(p.AuthorizeURL + sep + q.Encode())
	return a, resp, body, err
}

// errPage is returned by follow when it stops at a page (200) rather than at the redirect URI.
var errPage = errors.New("stopped at a page")

// follow follows redirects from resp until the redirect URI (returns the code), a page (200,
// returns errPage with the page) or an unexpected answer. Hydra's login and consent challenges
// are accepted through its admin API on the way.
func (b *browser) follow(a *authorization, resp *http.Response, body []byte) (string, *http.Response, []byte, error) {
	for hops := 0; hops < 10; hops++ {
		switch resp.StatusCode {
		case http.StatusOK:
			return "", resp, body, errPage
		case http.StatusFound, http.StatusSeeOther, http.StatusMovedPermanently, http.StatusTemporaryRedirect:
		default:
			return "", resp, body, unexpected("authorize", resp, body)
		}
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			return "", resp, body, fmt.Errorf("authorize: bad Location: %w", err)
		}
		if strings.HasPrefix(loc.String(), b.profile.RedirectURI) {
			q := loc.Query()
			if q.Get("state") != a.state || q.Get("code") == "" {
				return "", resp, body, fmt.Errorf("authorize: redirect without code or with a wrong state: %s", loc.Redacted())
			}
			return q.Get("code"), resp, body, nil
		}
		next := loc.String()
		if c := loc.Query().Get("login_challenge"); c != "" && b.profile.HydraAdminURL != "" {
			if next, err = b.hydraAccept("login", c); err != nil {
				return "", resp, body, err
			}
		} else if c := loc.Query().Get("consent_challenge"); c != "" && b.profile.HydraAdminURL != "" {
			if next, err = b.hydraAccept("consent", c); err != nil {
				return "", resp, body, err
			}
		}
		if resp, body, err = b.get(next); err != nil {
			return "", resp, body, err
		}
	}
	return "", resp, body, errors.New("authorize: too many redirects")
}

// hydraAccept accepts a login (as the benchmark user, remembered) or a consent (the requested
// scopes, remembered) and returns where Hydra sends the browser next.
func (b *browser) hydraAccept(kind, challenge string) (string, error) {
	var payload map[string]any
	if kind == "login" {
		payload = map[string]any{"subject": b.profile.Username, "remember": true, "remember_for": 0}
	} else {
		payload = map[string]any{
			"grant_scope": strings.Fields(b.profile.AppScope), "remember": true, "remember_for": 0,
		}
	}
	data, _ := json.Marshal(payload)
	target := fmt.Sprintf("%s/admin/oauth2/auth/requests/%s/accept?%s_challenge=%s",
		strings.TrimRight(b.profile.HydraAdminURL, "/"), kind, kind, url.QueryEscape(challenge))
	req, err := http.NewRequest(http.MethodPut, target, bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, body, err := b.do(req)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", unexpected("hydra "+kind+" accept", resp, body)
	}
	var answer struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.RedirectTo == "" {
		return "", fmt.Errorf("hydra %s accept: no redirect_to in %s", kind, body)
	}
	return answer.RedirectTo, nil
}

var (
	formRe   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRe  = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRe   = regexp.MustCompile(`(?s)([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*"([^"]*)"`)
	boolAttr = regexp.MustCompile(`(?i)\schecked\b`)
)

func attrs(tag string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRe.FindAllStringSubmatch(tag, -1) {
		out[strings.ToLower(m[1])] = html.UnescapeString(m[2])
	}
	return out
}

// submitForm finds the page's POST form that has an input named after one of fill's keys, fills
// it (hidden and prefilled inputs kept, fill's values set, the submit pair added) and posts it.
func (b *browser) submitForm(page *http.Response, body []byte, fill map[string]string, submitName, submitValue string) (*http.Response, []byte, error) {
	for _, m := range formRe.FindAllStringSubmatch(string(body), -1) {
		formAttrs := attrs(m[1])
		if !strings.EqualFold(formAttrs["method"], "post") {
			continue
		}
		values := url.Values{}
		matched := false
		for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
			a := attrs(in[1])
			name, kind := a["name"], strings.ToLower(a["type"])
			if name == "" || kind == "submit" {
				continue
			}
			if v, ok := fill[name]; ok {
				values.Set(name, v)
				matched = true
				continue
			}
			if (kind == "checkbox" || kind == "radio") && !boolAttr.MatchString(in[1]) {
				continue
			}
			values.Set(name, a["value"])
		}
		if !matched {
			continue
		}
		if submitName != "" {
			values.Set(submitName, submitValue)
		}
		action, err := page.Request.URL.Parse(formAttrs["action"])
		if err != nil {
			return nil, nil, fmt.Errorf("form action: %w", err)
		}
		return b.postForm(action.String(), values, "", "")
	}
	return nil, nil, fmt.Errorf("no form with %v on %s", keys(fill), page.Request.URL.Redacted())
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// signIn runs the whole browser part of a sign-in: authorize, the form with the password (or
// Hydra's challenges), back at the redirect URI. Returns the authorization and its code.
func (b *browser) signIn() (*authorization, string, error) {
	p := b.profile
	a, resp, body, err := b.startAuthorize(nil)
	if err != nil {
		return nil, "", err
	}
	code, resp, body, err := b.follow(a, resp, body)
	if err == nil {
		return a, code, nil
	}
	if !errors.Is(err, errPage) {
		return nil, "", err
	}
	fill := map[string]string{p.UsernameField: p.Username, p.PasswordField: p.Password}
	if resp, body, err = b.submitForm(resp, body, fill, p.SubmitName, p.SubmitValue); err != nil {
		return nil, "", err
	}
	code, resp, body, err = b.follow(a, resp, body)
	if errors.Is(err, errPage) {
		return nil, "", unexpected("sign-in form (not signed in)", resp, body)
	}
	return a, code, err
}

// reauthorize is an authorization request with the session the browser already has.
func (b *browser) reauthorize() (*authorization, string, error) {
	a, resp, body, err := b.startAuthorize(nil)
	if err != nil {
		return nil, "", err
	}
	code, resp, body, err := b.follow(a, resp, body)
	if errors.Is(err, errPage) {
		return nil, "", unexpected("authorize with a session (shown a page)", resp, body)
	}
	return a, code, err
}

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (b *browser) token(form url.Values, clientID, secret string) (*tokenAnswer, error) {
	resp, body, err := b.postForm(b.profile.TokenURL, form, clientID, secret)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, unexpected("token "+form.Get("grant_type"), resp, body)
	}
	var t tokenAnswer
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return nil, fmt.Errorf("token %s: no access_token in the answer", form.Get("grant_type"))
	}
	return &t, nil
}

// exchange redeems an authorization code at the token endpoint.
func (b *browser) exchange(a *authorization, code string) (*tokenAnswer, error) {
	p := b.profile
	return b.token(url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {p.RedirectURI},
		"code_verifier": {a.verifier},
	}, p.AppClientID, p.AppClientSecret)
}

func (b *browser) refresh(refreshToken string) (*tokenAnswer, error) {
	t, err := b.token(url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
	}, b.profile.AppClientID, b.profile.AppClientSecret)
	if err == nil && t.RefreshToken == "" {
		err = errors.New("token refresh_token: no new refresh_token (no rotation)")
	}
	return t, err
}

func (b *browser) clientCredentials() error {
	p := b.profile
	form := url.Values{"grant_type": {"client_credentials"}}
	if p.Scope != "" {
		form.Set("scope", p.Scope)
	}
	_, err := b.token(form, p.ClientID, p.ClientSecret)
	return err
}
