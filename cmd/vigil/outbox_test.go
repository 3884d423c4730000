package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/internal/pgtest"
	"github.com/vigil-security/vigil/store"
)

// TestOutboxListsFailed lists and requeues the failed entries of a data
// directory's SQLite file and of a PostgreSQL database (--db).
func TestOutboxListsFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (store.Database, []string)
	}{
		{"sqlite", func(t *testing.T) (store.Database, []string) {
			data := t.TempDir()
			st, err := store.OpenSQLite(context.Background(), filepath.Join(data, store.DefaultFile))
			if err != nil {
				t.Fatal(err)
			}
			return st, []string{"--data", data}
		}},
		{"postgres", func(t *testing.T) (store.Database, []string) {
			dsn := pgtest.DSN(t)
			st, err := store.OpenPostgres(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			return st, []string{"--db", dsn}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, where := tc.open(t)
			testOutboxListsFailed(t, st, where)
		})
	}
}

func testOutboxListsFailed(t *testing.T, st store.Database, where []string) {
	ctx := context.Background()
	if err := st.PutTarget(ctx, store.Target{ID: "webhook:config:soc", Kind: "webhook", Source: "config"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveAlerts(ctx, []*alert.Alert{
		{ID: "a1", Type: "KV_TORAccess", Fingerprint: "f1", Severity: alert.SeverityHigh, Status: alert.StatusActive, Detected: time.Now()},
		{ID: "a2", Type: "KV_TORAccess", Fingerprint: "f2", Severity: alert.SeverityHigh, Status: alert.StatusActive, Detected: time.Now()},
	}); err != nil {
		t.Fatal(err)
	}
	c, err := st.ClaimOutbox(ctx, store.Claim{Owner: "d", Now: time.Now().Add(time.Second), Lease: time.Minute, Limit: 1})
	if err != nil || len(c) != 1 {
		t.Fatal(c, err)
	}
	if _, err := st.FinishOutbox(ctx, "d", []store.Finish{{ID: c[0].ID, Attempts: 1, State: store.OutboxFailed, Error: "gave up after 30 attempts: 503", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	code, out, errs := vigil(t, "", append([]string{"outbox"}, where...)...)
	if code != 0 || !strings.Contains(out, "pending 1, done 0, failed 1") || !strings.Contains(out, "webhook:config:soc") ||
		!strings.Contains(out, "gave up after 30 attempts: 503") || strings.Contains(out, "a2") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = vigil(t, "", append([]string{"outbox", "--requeue"}, where...)...)
	if code != 0 || !strings.Contains(out, "requeued 1 failed entries") || !strings.Contains(out, "pending 2, done 0, failed 0") {
		t.Fatalf("requeue: exit %d\n%s%s", code, out, errs)
	}
	if code, _, _ := vigil(t, "", append([]string{"outbox", "--state", "lost"}, where...)...); code != 2 {
		t.Errorf("bad state: exit %d", code)
	}
}
