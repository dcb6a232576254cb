// run.go: the `run` command: C workers repeat one workload's operation for D seconds; one JSON
// line with operations/s, p50/p99 per operation and the count of unexpected answers.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// operation is one measured unit of a workload for one worker (set up by prepare, unmeasured).
type operation func() error

func prepare(workload string, b *browser) (operation, error) {
	switch workload {
	case "client_credentials":
		return b.clientCredentials, nil
	case "refresh_token":
		a, code, err := b.signIn()
		if err != nil {
			return nil, fmt.Errorf("setup sign-in: %w", err)
		}
		t, err := b.exchange(a, code)
		if err != nil {
			return nil, fmt.Errorf("setup code exchange: %w", err)
		}
		if t.RefreshToken == "" {
			return nil, errors.New("setup: the code exchange gave no refresh_token")
		}
		current := t.RefreshToken
		return func() error {
			t, err := b.refresh(current)
			if err == nil {
				current = t.RefreshToken
			}
			return err
		}, nil
	case "authorization_code":
		if _, _, err := b.signIn(); err != nil {
			return nil, fmt.Errorf("setup sign-in: %w", err)
		}
		return func() error {
			a, code, err := b.reauthorize()
			if err == nil {
				_, err = b.exchange(a, code)
			}
			return err
		}, nil
	case "password_sign_in":
		return func() error {
			b.resetCookies()
			a, code, err := b.signIn()
			if err == nil {
				_, err = b.exchange(a, code)
			}
			return err
		}, nil
	}
	return nil, fmt.Errorf("unknown workload %q", workload)
}

// Result is the machine-readable line `run` prints.
type Result struct {
	Server      string  `json:"server"`
	Workload    string  `json:"workload"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds"`
	Operations  int     `json:"operations"`
	Requests    int     `json:"requests"`
	OpsPerSec   float64 `json:"ops_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	Errors      int     `json:"errors"`
	CPUTicks    int64   `json:"cpu_ticks,omitempty"`
	CPUMsPerOp  float64 `json:"cpu_ms_per_op,omitempty"`
	FirstError  string  `json:"first_error,omitempty"`
}

type workerResult struct {
	latencies []time.Duration
	requests  int
	errors    int
	firstErr  error
}

func runCommand(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	profilePath := fs.String("profile", "", "server profile (JSON)")
	workload := fs.String("workload", "client_credentials", "client_credentials | refresh_token | authorization_code | password_sign_in")
	workers := fs.Int("c", 16, "concurrent workers (one connection each)")
	duration := fs.Duration("d", 10*time.Second, "measured duration")
	cpuPIDs := fs.String("cpu-pid", "", "server PIDs (comma-separated: the server, its database) whose process trees' CPU time is read around the measured phase")
	clkTck := fs.Int("clk-tck", 100, "clock ticks per second (getconf CLK_TCK)")
	_ = fs.Parse(args)
	p, err := loadProfile(*profilePath)
	if err != nil {
		return err
	}
	transport := &http.Transport{MaxIdleConnsPerHost: *workers * 2, MaxIdleConns: *workers * 4, DisableCompression: true}

	// Setup (sign-ins, first tokens) for every worker before the clock starts.
	browsers := make([]*browser, *workers)
	ops := make([]operation, *workers)
	var setupErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range browsers {
		browsers[i] = newBrowser(p, transport)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			op, err := prepare(*workload, browsers[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil && setupErr == nil {
				setupErr = err
			}
			ops[i] = op
		}(i)
	}
	wg.Wait()
	if setupErr != nil {
		return fmt.Errorf("%s %s: %w", p.Name, *workload, setupErr)
	}

	results := make([]workerResult, *workers)
	pids, err := parsePIDs(*cpuPIDs)
	if err != nil {
		return err
	}
	ticksBefore := treeTicks(pids)
	start := time.Now()
	deadline := start.Add(*duration)
	for i := range browsers {
		browsers[i].requests = 0
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := &results[i]
			for time.Now().Before(deadline) {
				t0 := time.Now()
				err := ops[i]()
				if err != nil {
					r.errors++
					if r.firstErr == nil {
						r.firstErr = err
					}
					if r.errors > 100 {
						break
					}
					continue
				}
				r.latencies = append(r.latencies, time.Since(t0))
			}
			r.requests = browsers[i].requests
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	ticks := treeTicks(pids) - ticksBefore
	transport.CloseIdleConnections()

	res := summarise(results)
	if len(pids) > 0 && res.Operations > 0 {
		res.CPUTicks = ticks
		res.CPUMsPerOp = float64(ticks) * 1000 / float64(*clkTck) / float64(res.Operations)
	}
	res.Server, res.Workload, res.Connections, res.Seconds = p.Name, *workload, *workers, elapsed
	res.OpsPerSec = float64(res.Operations) / elapsed
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
	if res.Errors > 0 {
		return fmt.Errorf("%s %s at %d connections: %d unexpected answers, the first: %s",
			p.Name, *workload, *workers, res.Errors, res.FirstError)
	}
	if res.Operations == 0 {
		return fmt.Errorf("%s %s: no operation completed", p.Name, *workload)
	}
	return nil
}

func summarise(results []workerResult) Result {
	var all []time.Duration
	var res Result
	for _, r := range results {
		all = append(all, r.latencies...)
		res.Requests += r.requests
		res.Errors += r.errors
		if r.firstErr != nil && res.FirstError == "" {
			res.FirstError = r.firstErr.Error()
		}
	}
	res.Operations = len(all)
	if len(all) == 0 {
		return res
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pick := func(q float64) float64 {
		idx := int(q * float64(len(all)-1))
		return float64(all[idx].Microseconds()) / 1000
	}
	res.P50Ms, res.P99Ms = pick(0.50), pick(0.99)
	return res
}
