package store

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/internal/pgtest"
)

// backfillAlert is an alert stored before migration 00006.
func backfillAlert() *alert.Alert {
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	return &alert.Alert{ID: "a1", Type: "KV_TORAccess", Fingerprint: "f1", Severity: alert.SeverityHigh, Status: alert.StatusActive,
		TenantID: "t", SubscriptionID: "s", Resource: "r", Detected: at, Count: 1,
		Entities: []alert.Entity{{Type: alert.EntityIP, Address: "185.220.101.1", Country: "DE", ASN: 64500,
			Intel: []string{"Tor (tor-exit, 2026-11-01)"}},
			{Type: alert.EntityAccount, UPN: "Ana@Contoso.example"}}}
}

// TestEntityValuesBackfill checks that migration 00006 indexes the
// entities of alerts stored before it, in both databases.
func TestEntityValuesBackfill(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// open opens the store and returns a plain connection pool to its
		// database, the goose dialect and the migrations.
		open func(t *testing.T) (Security, func() *sql.DB, goose.Dialect, string)
		up   func(ctx context.Context, db *sql.DB) ([]*goose.MigrationResult, error)
	}{
		{"sqlite", func(t *testing.T) (Security, func() *sql.DB, goose.Dialect, string) {
			path := filepath.Join(t.TempDir(), "m.db")
			s, err := OpenSQLite(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			return s, func() *sql.DB {
				db, err := sql.Open("sqlite", sqliteDSN(path, false))
				if err != nil {
					t.Fatal(err)
				}
				db.SetMaxOpenConns(1)
				return db
			}, goose.DialectSQLite3, "migrations/sqlite"
		}, migrateSQLite},
		{"postgres", func(t *testing.T) (Security, func() *sql.DB, goose.Dialect, string) {
			dsn := pgtest.DSN(t)
			s, err := OpenPostgres(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			return s, func() *sql.DB {
				cfg, err := pgx.ParseConfig(dsn)
				if err != nil {
					t.Fatal(err)
				}
				return stdlib.OpenDB(*cfg)
			}, goose.DialectPostgres, "migrations/postgres"
		}, migratePostgres},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, conn, dialect, dir := tc.open(t)
			if err := s.SaveAlert(ctx, backfillAlert()); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			db := conn()
			defer db.Close()
			migrations := sqliteMigrations
			if dialect == goose.DialectPostgres {
				migrations = postgresMigrations
			}
			fsys, err := fs.Sub(migrations, dir)
			if err != nil {
				t.Fatal(err)
			}
			p, err := goose.NewProvider(dialect, db, fsys, goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.DownTo(ctx, 5); err != nil { // before the entity values
				t.Fatal(err)
			}
			var tables int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM alerts`).Scan(&tables); err != nil || tables != 1 {
				t.Fatalf("alerts after going down: %d %v", tables, err)
			}
			if _, err := tc.up(ctx, db); err != nil {
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
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			want := []string{"185.220.101.1", "ana@contoso.example", "asn:64500", "contoso.example", "country:de",
				"tor (tor-exit, 2026-11-01)"}
			if !slices.Equal(got, want) {
				t.Errorf("backfilled %q, want %q", got, want)
			}
		})
	}
}
