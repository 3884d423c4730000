package store

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/vigil-security/vigil/alert"
)

// TestEntityValuesBackfill checks that migration 00004 indexes the
// entities of alerts stored before it.
func TestEntityValuesBackfill(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	a := &alert.Alert{ID: "a1", Type: "KV_TORAccess", Fingerprint: "f1", Severity: alert.SeverityHigh, Status: alert.StatusActive,
		TenantID: "t", SubscriptionID: "s", Resource: "r", Detected: at, Count: 1,
		Entities: []alert.Entity{{Type: alert.EntityIP, Address: "185.220.101.1", Country: "DE", ASN: 64500},
			{Type: alert.EntityAccount, UPN: "Ana@Contoso.example"}}}
	if err := s.SaveAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	fsys, err := fs.Sub(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 3); err != nil { // before the entity values
		t.Fatal(err)
	}
	if _, err := migrateSQLite(ctx, db); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT value FROM alert_entity_values WHERE alert_id = 'a1' ORDER BY value`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	want := []string{"185.220.101.1", "ana@contoso.example", "asn:64500", "contoso.example", "country:de"}
	if len(got) != len(want) {
		t.Fatalf("backfilled %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("backfilled %q, want %q", got, want)
			break
		}
	}
}
