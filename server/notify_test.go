package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/notify/webhook"
)

// TestServeNotifies: with a webhook and a file export in the
// configuration, a Tor access pushed to `vigil serve` reaches a real
// receiver as a signed Partner Center event and the export file.
func TestServeNotifies(t *testing.T) {
	var (
		mu     sync.Mutex
		events []webhook.Event
	)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte("hook-secret"), r.Header.Get(webhook.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev webhook.Event
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}))
	defer rc.Close()
	cfg := baseConfig(t)
	exportPath := filepath.Join(t.TempDir(), "alerts.jsonl")
	cfg.Server.IdleAdvance = 200 * time.Millisecond // a 2016 record is detected once event time moves on
	cfg.Notify.AllowTargets = []string{"127.0.0.0/8"}
	cfg.Notify.Webhooks = []notify.Webhook{{Name: "soc", URL: rc.URL, Events: []string{webhook.EventFraudDetected}, Secret: "hook-secret"}}
	cfg.Notify.Export.File = &notify.FileExport{Path: exportPath}
	ts := start(t, cfg)
	// Microsoft's Key Vault audit sample, from a Tor exit node.
	ts.push(t, bytes.ReplaceAll(readFile(t, "keyvault-logging.md.auditevent-sample.json"), []byte("104.40.82.76"), []byte(torAddress)), false)
	waitFor(t, "a KV_TORAccess webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range events {
			if ev.EventName == webhook.EventFraudDetected && strings.HasPrefix(ev.ResourceURI, ts.url+"/v1.0/security/partner/securityAlerts/") {
				return true
			}
		}
		return false
	})
	waitFor(t, "the export file", func() bool {
		b, _ := os.ReadFile(exportPath)
		return strings.Contains(string(b), `"alertType":"KV_TORAccess"`)
	})
	waitFor(t, "delivery metrics", func() bool {
		code, body := ts.get(t, "/metrics", "")
		return code == http.StatusOK && strings.Contains(body, `vigil_notify_attempts_total{kind="webhook",outcome="delivered"}`)
	})
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
}
