package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-security/vigil/store"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitUntil polls cond; the deadline only guards against a hung test.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var listeningRE = regexp.MustCompile(`listening on (https?://\S+)`)

// serveInBackground runs `vigil serve args...` and returns its base URL and
// a channel with its exit status.
func serveInBackground(t *testing.T, args ...string) (string, *syncBuffer, chan int) {
	t.Helper()
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(append([]string{"serve"}, args...), nil, io.Discard, stderr) }()
	var url string
	waitUntil(t, "the server to listen", func() bool {
		select {
		case code := <-done:
			t.Fatalf("vigil serve exited with %d: %s", code, stderr)
		default:
		}
		if m := listeningRE.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
			return true
		}
		return false
	})
	return url, stderr, done
}

func healthOf(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestServeSIGTERM runs the command, pushes a Key Vault record from a Tor
// exit node over HTTP, sends the process SIGTERM, and checks that the alert
// was stored and the detectors' state saved.
func TestServeSIGTERM(t *testing.T) {
	data := t.TempDir()
	cfgPath := filepath.Join(t.TempDir(), "vigil.yaml")
	// Move event time on with the wall clock at once, so the lone record's
	// window closes without more traffic.
	if err := os.WriteFile(cfgPath, []byte("server:\n  idleAdvance: 1ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, stderr, done := serveInBackground(t, "--config", cfgPath, "--listen", "127.0.0.1:0", "--data", data,
		"--tor", torList, "--log-level", "warn")

	sample, err := os.ReadFile("../../examples/azure/keyvault-logging.md.auditevent-sample.json")
	if err != nil {
		t.Fatal(err)
	}
	// The documented record, from the first address of the Tor list.
	body := bytes.Replace(sample, []byte("104.40.82.76"), []byte("101.99.92.179"), 1)
	resp, err := http.Post(url+"/ingest/azure", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("push: %s", resp.Status)
	}
	waitUntil(t, "the alert", func() bool { return healthOf(t, url)["alerts"] == 1.0 })

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit status %d after SIGTERM: %s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "vigil serve: stopped") {
		t.Errorf("stderr: %s", stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "state", "checkpoint")); err != nil {
		t.Errorf("no snapshot after SIGTERM: %v", err)
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(data, store.DefaultFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	as, err := st.ListAlerts(context.Background(), store.ListQuery{Types: []string{"KV_TORAccess"}})
	if err != nil || len(as) != 1 {
		t.Fatalf("stored KV_TORAccess alerts: %d, %v", len(as), err)
	}
}

// TestServeWithoutConfig starts with no config file and no data flag: the
// data directory is ./vigil-data.
func TestServeWithoutConfig(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	url, stderr, done := serveInBackground(t, "--listen", "127.0.0.1:0")
	if h := healthOf(t, url); h["status"] != "ok" {
		t.Errorf("healthz %v", h)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr)
	}
	for _, p := range []string{"vigil-data/vigil.db", "vigil-data/state/checkpoint", "vigil-data/spool"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestServeUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("server:\n  listne: :1\n"), 0o600)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"arguments", []string{"serve", "file.json"}, 2, "unexpected arguments"},
		{"bad listen", []string{"serve", "--listen", "nohost", "--data", t.TempDir()}, 2, "server.listen must be host:port"},
		{"bad log level", []string{"serve", "--log-level", "loud", "--data", t.TempDir()}, 2, "--log-level"},
		{"bad log format", []string{"serve", "--log-format", "xml", "--data", t.TempDir()}, 2, "--log-format"},
		{"unknown config key", []string{"serve", "--config", bad}, 1, "[2:3]"},
		{"missing intel file", []string{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--tor", "/nonexistent/tor.lst"}, 1, "tor.lst"},
		{"help", []string{"serve", "-h"}, 0, "POST /ingest/azure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(tc.args, nil, io.Discard, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("exit %d (want %d), stderr %q lacks %q", code, tc.code, stderr.String(), tc.msg)
			}
		})
	}
}
