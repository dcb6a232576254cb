// setup.go: what it takes to create the identity runtime's benchmark user through its real
// sign-up (the runtime has no user-import API): a loopback SMTP sink that appends every message
// to a file, and the sign-up itself (form, emailed passcode, verify).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

func smtpSinkCommand(args []string) error {
	fs := flag.NewFlagSet("smtp-sink", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	out := fs.String("out", "mail.txt", "file the messages are appended to")
	_ = fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go serveSMTP(conn, *out)
	}
}

// serveSMTP speaks just enough SMTP for one client without TLS or authentication.
func serveSMTP(conn net.Conn, out string) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	reply := func(s string) { _, _ = fmt.Fprintf(conn, "%s\r\n", s) }
	reply("220 sink ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			reply("250-sink")
			reply("250 8BITMIME")
		case strings.HasPrefix(cmd, "DATA"):
			reply("354 go on")
			var msg strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if strings.TrimRight(l, "\r\n") == "." {
					break
				}
				msg.WriteString(l)
			}
			f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
			if err == nil {
				_, _ = f.WriteString(msg.String() + "\n.\n")
				f.Close()
			}
			reply("250 stored")
		case strings.HasPrefix(cmd, "QUIT"):
			reply("221 bye")
			return
		default:
			reply("250 ok")
		}
	}
}

var codeRe = regexp.MustCompile(`\b(\d{6})\b`)

// waitForCode polls the sink's file for the last six-digit code (30 s at most).
func waitForCode(path string) (string, error) {
	for i := 0; i < 300; i++ {
		data, _ := os.ReadFile(path)
		if m := codeRe.FindAllStringSubmatch(string(data), -1); len(m) > 0 {
			return m[len(m)-1][1], nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", errors.New("no passcode arrived at the SMTP sink within 30 s")
}

func signupCommand(args []string) error {
	fs := flag.NewFlagSet("signup", flag.ExitOnError)
	profilePath := fs.String("profile", "", "server profile (JSON)")
	mail := fs.String("mail", "", "the SMTP sink's file")
	_ = fs.Parse(args)
	p, err := loadProfile(*profilePath)
	if err != nil {
		return err
	}
	b := newBrowser(p, http.DefaultTransport)
	a, resp, body, err := b.startAuthorize(url.Values{"prompt": {"create"}})
	if err != nil {
		return err
	}
	if _, resp, body, err = b.follow(a, resp, body); !errors.Is(err, errPage) {
		return fmt.Errorf("sign-up page: expected a page, got %v", err)
	}
	fill := map[string]string{p.UsernameField: p.Username, p.PasswordField: p.Password}
	if resp, body, err = b.submitForm(resp, body, fill, "", ""); err != nil {
		return err
	}
	if _, resp, body, err = b.follow(a, resp, body); !errors.Is(err, errPage) {
		return fmt.Errorf("sign-up form: expected the passcode page, got %v", err)
	}
	code, err := waitForCode(*mail)
	if err != nil {
		return err
	}
	if resp, body, err = b.submitForm(resp, body, map[string]string{"code": code}, "action", "verify"); err != nil {
		return err
	}
	if _, _, _, err = b.follow(a, resp, body); err != nil {
		return fmt.Errorf("passcode: %w", err)
	}
	fmt.Println("signed up", p.Username)
	return nil
}
