package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/store"
)

func TestDataDirIsLocked(t *testing.T) {
	cfg := baseConfig(t)
	ts := start(t, cfg)
	_, err := New(context.Background(), Options{Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "in use by another vigil serve") {
		t.Fatalf("second server on the same data directory: %v", err)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestBadSnapshotIsReported(t *testing.T) {
	cfg := baseConfig(t)
	path := filepath.Join(cfg.Server.DataDir, "state", "engine.snapshot")
	os.MkdirAll(filepath.Dir(path), 0o750)
	os.WriteFile(path, []byte(`{"version":99}`+"\n"), 0o600)
	_, err := New(context.Background(), Options{Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "restore engine state") || !strings.Contains(err.Error(), "move the file away") {
		t.Fatalf("err = %v", err)
	}
	// The lock was released: a fixed directory starts.
	os.Remove(path)
	s, err := New(context.Background(), Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestPushRequiresToken(t *testing.T) {
	cfg := baseConfig(t)
	yes := true
	cfg.Server.Push.RequireToken = &yes
	ts := start(t, cfg)
	ctx := context.Background()
	by := store.Actor{Name: "test", At: time.Now()}
	rw, _, err := api.IssueToken(ctx, ts.Store(), api.TokenRequest{TenantID: "t1", Write: true}, by, nil)
	if err != nil {
		t.Fatal(err)
	}
	ro, _, err := api.IssueToken(ctx, ts.Store(), api.TokenRequest{TenantID: "t1"}, by, nil)
	if err != nil {
		t.Fatal(err)
	}
	kv := readFile(t, "keyvault-logging.md.auditevent-sample.json")
	tests := []struct {
		name, auth string
		want       int
	}{
		{"no token", "", 401},
		{"unknown token", "Bearer vgl_nope", 401},
		{"read-only token", "Bearer " + ro, 403},
		{"read-write token", "Bearer " + rw, 202},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", ts.url+PushPath, bytes.NewReader(kv))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestHealthzFailsWhileStoreFails(t *testing.T) {
	cfg := baseConfig(t)
	ts := start(t, cfg)
	err := fmt.Errorf("disk full")
	ts.live.storeErr.Store(&err)
	code, body := ts.get(t, "/healthz", "")
	if code != 503 || !strings.Contains(body, `"status":"failing"`) || !strings.Contains(body, "disk full") {
		t.Errorf("/healthz %d %s", code, body)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true,
		"0.0.0.0:8080": false, ":8080": false, "10.0.0.1:80": false, "nonsense": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}

func TestMissingInputDirectory(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Server.Inputs = []config.Input{{Path: filepath.Join(t.TempDir(), "nope")}}
	_, err := New(context.Background(), Options{Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("err = %v", err)
	}
}

func TestInvalidConfigRejected(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Server.QueueSize = 0
	if _, err := New(context.Background(), Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "queueSize") {
		t.Fatalf("err = %v", err)
	}
}

func TestLateRecordsAreReleased(t *testing.T) {
	cfg := baseConfig(t) // no idle advance
	ts := start(t, cfg)
	// Recent traffic moves the watermark to 2026 ...
	for _, b := range kvLoad(t, 2000, 1000, time.Time{}) {
		ts.push(t, b, false)
	}
	ts.processed(t, 2000)
	// ... then a record of 2016 from a Tor exit node arrives: late, it is
	// still examined at once.
	kv := bytes.Replace(readFile(t, "keyvault-logging.md.auditevent-sample.json"), []byte("104.40.82.76"), []byte(torAddress), 1)
	ts.push(t, kv, false)
	ts.processed(t, 2001)
	if n := len(listAlerts(t, ts.Store(), "KV_TORAccess")); n != 1 {
		t.Fatalf("%d KV_TORAccess alerts for a late record, want 1", n)
	}
}

func TestUnreadableBodyIsCountedAndAcknowledged(t *testing.T) {
	ts := start(t, baseConfig(t))
	good := readFile(t, "keyvault-logging.md.auditevent-sample.json")
	garbage := []byte("\x1f\x8b\x08\x00garbage")
	// A gzip header and then garbage: the push endpoint refuses it ...
	req, _ := http.NewRequest("POST", ts.url+PushPath, bytes.NewReader(garbage))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("push of a broken gzip body: %s", resp.Status)
	}
	// ... but one spooled as it was (by a version without the check) is
	// found unreadable by the pipeline, counted and acknowledged.
	if _, err := ts.spool.Append(garbage, time.Now()); err != nil {
		t.Fatal(err)
	}
	ts.push(t, good, false)
	ts.processed(t, 1)
	_, metrics := ts.get(t, "/metrics", "")
	for _, line := range []string{
		`vigil_input_drops_total{reason="unreadable",source="push"} 1`,
		`vigil_push_requests_total{code="400"} 1`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("/metrics lacks %s:\n%s", line, metrics)
		}
	}
}

// TestDamagedCheckpointIsReported: a checkpoint that is not whole stops the
// start with a message saying what to do, and nothing is half restored.
func TestDamagedCheckpointIsReported(t *testing.T) {
	cfg := baseConfig(t)
	path := filepath.Join(cfg.Server.DataDir, "state", checkpointFile)
	os.MkdirAll(filepath.Dir(path), 0o750)
	os.WriteFile(path, []byte("not a checkpoint at all"), 0o600)
	_, err := New(context.Background(), Options{Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "restore checkpoint") || !strings.Contains(err.Error(), "away") {
		t.Fatalf("err = %v", err)
	}
}
