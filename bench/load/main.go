// Command load is the load generator of `make bench-compare`: it drives one OAuth/OIDC workload
// (client_credentials, refresh_token, authorization_code or password_sign_in) against one server
// profile for a fixed time at a fixed number of concurrent workers, and prints one JSON line with
// operations per second, p50/p99 latency per operation and the count of unexpected answers.
// Any unexpected answer makes it exit non-zero.
//
// It also carries two helpers for setting up the identity runtime's benchmark user: `smtp-sink`
// (a loopback SMTP server writing each message to a file) and `signup` (the hosted sign-up with
// the emailed passcode).
//
// Usage:
//
//	load run -profile p.json -workload refresh_token -c 16 -d 10s
//	load smtp-sink -addr 127.0.0.1:2525 -out mail.txt
//	load signup -profile p.json -mail mail.txt
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

// Profile describes one server: its endpoints, its clients and its benchmark user.
type Profile struct {
	Name         string `json:"name"`
	TokenURL     string `json:"token_url"`
	AuthorizeURL string `json:"authorize_url"`

	// Client-credentials client and its scope ("" = none sent).
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Scope        string `json:"scope"`

	// Confidential web app for the user grants (authorization code with PKCE, refresh).
	AppClientID     string `json:"app_client_id"`
	AppClientSecret string `json:"app_client_secret"`
	RedirectURI     string `json:"redirect_uri"`
	AppScope        string `json:"app_scope"`

	// The benchmark user and how the sign-in form names its fields.
	Username      string `json:"username"`
	Password      string `json:"password"`
	UsernameField string `json:"username_field"`
	PasswordField string `json:"password_field"`
	// The submit button to send with the form (name=value), if the form needs one.
	SubmitName  string `json:"submit_name"`
	SubmitValue string `json:"submit_value"`

	// Ory Hydra has no login UI: the generator plays the login and consent app through the
	// admin API at this URL when an authorize answer points at a login or consent challenge.
	HydraAdminURL string `json:"hydra_admin_url"`
}

func loadProfile(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p Profile
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	if p.UsernameField == "" {
		p.UsernameField = "username"
	}
	if p.PasswordField == "" {
		p.PasswordField = "password"
	}
	return &p, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: load run|smtp-sink|signup [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCommand(os.Args[2:])
	case "smtp-sink":
		err = smtpSinkCommand(os.Args[2:])
	case "signup":
		err = signupCommand(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (run, smtp-sink, signup)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}
