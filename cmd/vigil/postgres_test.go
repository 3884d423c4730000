package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-security/vigil/internal/pgtest"
	"github.com/vigil-security/vigil/notify/webhook"
	"github.com/vigil-security/vigil/store"
)

// TestServePostgres issues a token into a PostgreSQL database with vigil
// token --db, runs vigil serve --db on it, pushes a Key Vault record from a
// Tor exit node, and reads the alert back through the API with that token
// and straight from the database; the configured webhook receives it,
// signed, through the outbox in PostgreSQL.
func TestServePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	hooks := make(chan webhook.Event, 16)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte("hook-secret"), r.Header.Get(webhook.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev webhook.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("receiver: %v", err)
		}
		hooks <- ev
	}))
	defer rc.Close()
	const (
		tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
		sub    = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e" // the sample record's
	)
	code, out, errs := vigil(t, "", "token", "create", "--db", dsn, "--customer", tenant, "--name", "soc@contoso.com")
	if code != 0 {
		t.Fatalf("token create --db: exit %d: %s", code, errs)
	}
	secret := strings.TrimSpace(out)
	code, out, errs = vigil(t, "", "token", "list", "--db", dsn)
	if code != 0 || !strings.Contains(out, "soc@contoso.com") {
		t.Fatalf("token list --db: exit %d, out %q, err %q", code, out, errs)
	}

	cfgPath := filepath.Join(t.TempDir(), "vigil.yaml")
	cfg := "server:\n  idleAdvance: 1ms\ndirectory:\n  customers:\n    - tenantId: " + tenant + "\n      subscriptions:\n        - id: " + sub + "\n" +
		"notify:\n  allowTargets: [127.0.0.0/8]\n  webhooks:\n    - {name: soc, url: " + rc.URL + ", events: [" + webhook.EventFraudDetected + "], secret: hook-secret}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	url, stderr, done := serveInBackground(t, "--config", cfgPath, "--listen", "127.0.0.1:0", "--data", data,
		"--db", dsn, "--tor", torList, "--log-level", "warn")
	sample, err := os.ReadFile("../../examples/azure/keyvault-logging.md.auditevent-sample.json")
	if err != nil {
		t.Fatal(err)
	}
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

	// healthz counts the alert when detected; it is stored a moment later.
	q := neturl.Values{"$filter": {"alertType eq 'KV_TORAccess'"}, "$count": {"true"}}
	var list struct {
		Count int `json:"@odata.count"`
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	waitUntil(t, "the alert through the API with the token", func() bool {
		req, _ := http.NewRequest("GET", url+"/v1.0/security/partner/securityAlerts?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("API list with the token: %s", resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			t.Fatal(err)
		}
		return list.Count == 1 && len(list.Value) == 1
	})
	select {
	case ev := <-hooks:
		if ev.EventName != webhook.EventFraudDetected || ev.ResourceName != list.Value[0].ID {
			t.Errorf("webhook event %+v, want %s of %s", ev, webhook.EventFraudDetected, list.Value[0].ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook within 30 s")
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit status %d after SIGTERM: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(data, store.DefaultFile)); err == nil {
		t.Errorf("vigil serve --db postgres://... created a SQLite file in the data directory")
	}
	st, err := store.OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	as, err := st.ListAlerts(context.Background(), store.ListQuery{Types: []string{"KV_TORAccess"}})
	if err != nil || len(as) != 1 || as[0].ID != list.Value[0].ID {
		t.Fatalf("stored KV_TORAccess alerts: %d, %v", len(as), err)
	}
	counts, err := st.OutboxCounts(context.Background())
	if err != nil || counts[store.OutboxDone] != 1 || counts[store.OutboxPending]+counts[store.OutboxFailed] != 0 {
		t.Errorf("outbox in PostgreSQL: %v, %v; want the one webhook entry done", counts, err)
	}
	acts, err := st.ListActivity(context.Background(), store.ActivityQuery{OperationTypes: []string{store.OpTokenCreated, store.OpAlertDetected}})
	if err != nil || len(acts) != 2 {
		t.Errorf("activity in PostgreSQL: %d records, %v; want the token's creation and the detection", len(acts), err)
	}
}

// TestDetectIntoPostgres: vigil detect --db postgres://... stores what it
// detects there, twice over without doubling (the same alert IDs).
func TestDetectIntoPostgres(t *testing.T) {
	in := simulated(t, 60000)
	dsn := pgtest.DSN(t)
	for range 2 {
		if code, _, errs := vigil(t, "", "detect", "--progress", "0", "--format", "table", "--db", dsn, "--tor", torList, in); code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
	}
	st, err := store.OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alerts, err := st.ListAlerts(context.Background(), store.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Type != "KV_TORAccess" || len(alerts[0].Evidence) == 0 {
		t.Fatalf("stored %d alerts, want the one Tor alert with evidence", len(alerts))
	}
}
