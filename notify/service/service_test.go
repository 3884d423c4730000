package service

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/store"
)

// TestStartSyncsConfiguredTargets: a start writes the configured targets,
// removes configured ones no longer there (failing their pending entries,
// visibly) and leaves API registrations alone.
func TestStartSyncsConfiguredTargets(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutTarget(ctx, store.Target{ID: "webhook:partner:p", Kind: "webhook", PartnerID: "p", Source: "api", Config: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	cfg := notify.DefaultConfig()
	cfg.Webhooks = []notify.Webhook{
		{Name: "old", URL: "https://a.example.com/", Events: []string{"azure-fraud-event-detected"}, Secret: "s"},
		{Name: "keep", URL: "https://b.example.com/", Events: []string{"azure-fraud-event-detected"}, Secret: "s"},
	}
	cfg.Export.File = &notify.FileExport{Path: filepath.Join(t.TempDir(), "x.jsonl")}
	run := func(c notify.Config) {
		s, err := Start(ctx, Options{Config: c, Store: st, BaseURL: "http://127.0.0.1:8080", Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		s.Stop()
	}
	run(cfg)
	if err := st.SaveAlert(ctx, &alert.Alert{ID: "a", Type: "T", Fingerprint: "f", Severity: alert.SeverityHigh,
		Status: alert.StatusActive, Detected: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cfg.Webhooks = cfg.Webhooks[1:]
	cfg.Export.File = nil
	run(cfg)
	ts, err := st.ListTargets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tg := range ts {
		ids = append(ids, tg.ID)
	}
	if fmt.Sprint(ids) != "[webhook:config:keep webhook:partner:p]" {
		t.Errorf("targets %v", ids)
	}
	failed, _ := st.ListOutbox(ctx, store.OutboxQuery{States: []string{store.OutboxFailed}})
	if len(failed) != 2 || failed[0].LastError != "target deleted" {
		t.Errorf("entries of removed targets: %+v", failed)
	}
}

func TestStartRejectsBadSettings(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := notify.DefaultConfig()
	cfg.Webhooks = []notify.Webhook{{Name: "x", URL: "https://a/", Events: []string{"azure-fraud-event-detected"}, SecretFile: "/nonexistent/secret"}}
	if _, err := Start(ctx, Options{Config: cfg, Store: st, BaseURL: "http://x"}); err == nil {
		t.Error("missing secret file accepted")
	}
	cfg = notify.DefaultConfig()
	cfg.AllowTargets = []string{"bad"}
	if _, err := Start(ctx, Options{Config: cfg, Store: st, BaseURL: "http://x"}); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("bad allowTargets: %v", err)
	}
}
