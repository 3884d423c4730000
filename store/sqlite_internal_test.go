package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api/odata"
)

func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := OpenSQLite(ctx, path)
	if err != nil {
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
	for range 2 {
		res, err := migrateSQLite(ctx, db)
		if err != nil {
			t.Fatalf("second migration: %v", err)
		}
		if len(res) != 0 {
			t.Errorf("migrating a migrated file applied %d migrations", len(res))
		}
	}

	// Down then up again: the Down sections are valid and complete.
	fsys, err := fs.Sub(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	sources := p.ListSources()
	if len(sources) == 0 {
		t.Fatal("no migrations embedded")
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil || v != sources[len(sources)-1].Version {
		t.Fatalf("schema version %d, %v; want %d", v, err, sources[len(sources)-1].Version)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name IN ('alerts', 'evidence', 'activity_logs')`).Scan(&n); err != nil || n != 0 {
		t.Errorf("after down: %d tables left, %v", n, err)
	}
	if res, err := migrateSQLite(ctx, db); err != nil || len(res) != len(sources) {
		t.Errorf("up after down: %d applied, %v", len(res), err)
	}
}

// TestQueryPlans checks that the common API queries use the index that
// fits, once the store has written enough alerts to gather statistics:
// one tenant's open alerts of one type read that tenant's index, not the
// type's (a quarter of the table).
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	batch := make([]*alert.Alert, optimizeEvery)
	for i := range batch {
		batch[i] = &alert.Alert{ID: fmt.Sprintf("a%06d", i), Type: []string{"A", "B", "C", "D"}[i%4],
			Fingerprint: fmt.Sprintf("f%d", i), Severity: alert.SeverityLow,
			Status: []alert.Status{alert.StatusActive, alert.StatusInvestigating}[i%3%2], TenantID: fmt.Sprintf("t%02d", i%50),
			SubscriptionID: fmt.Sprintf("s%03d", i%200), Detected: time.Unix(int64(i)*60, 0)}
	}
	if err := s.SaveAlerts(ctx, batch); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		q     ListQuery
		index string
	}{
		{ListQuery{}, "alerts_detected"}, // counting all may use any index
		{ListQuery{TenantIDs: []string{"t07"}, Statuses: []alert.Status{alert.StatusActive, alert.StatusInvestigating},
			Types: []string{"B"}, Limit: 50}, "alerts_tenant_detected"},
		{ListQuery{TenantIDs: []string{"t07", "t08"}}, "alerts_tenant_detected"},
		{ListQuery{SubscriptionIDs: []string{"s001"}, Types: []string{"B"}}, "alerts_subscription_detected"},
		{ListQuery{Types: []string{"B"}, DetectedFrom: time.Unix(1000*60, 0)}, "alerts_"},
		{ListQuery{Filter: odata.Cmp("fingerprint", odata.Eq, odata.StringValue("f7"))}, "alerts_fingerprint_status"},
	}
	for _, tc := range tests {
		b := binder{d: sqliteDialect}
		where, err := buildWhere(&tc.q, &b)
		args := b.args
		if err != nil {
			t.Fatal(err)
		}
		order, err := buildOrder(&tc.q)
		if err != nil {
			t.Fatal(err)
		}
		for _, query := range []string{
			"SELECT id FROM alerts" + whereClause(where) + " ORDER BY " + order + " LIMIT 50",
			"SELECT count(*) FROM alerts" + whereClause(where),
		} {
			rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			joined := strings.Join(plan, "; ")
			want := tc.index
			if where == "" && strings.HasPrefix(query, "SELECT count") {
				want = "alerts_"
			}
			if !strings.Contains(joined, "INDEX "+want) {
				t.Errorf("%s\nplan %s\nwant index %s", query, joined, want)
			}
		}
	}
}

func whereClause(w string) string {
	if w == "" {
		return ""
	}
	return " WHERE " + w
}

func TestCheckTransition(t *testing.T) {
	tests := []struct {
		from, to alert.Status
		reason   alert.ResolvedReason
		want     error
	}{
		{alert.StatusActive, alert.StatusInvestigating, "", nil},
		{alert.StatusActive, alert.StatusResolved, alert.ReasonIgnore, nil},
		{alert.StatusInvestigating, alert.StatusResolved, alert.ReasonLegitimate, nil},
		{alert.StatusInvestigating, alert.StatusActive, "", ErrInvalidTransition},
		{alert.StatusResolved, alert.StatusActive, "", ErrInvalidTransition},
		{alert.StatusResolved, alert.StatusResolved, alert.ReasonFraud, ErrInvalidTransition},
		{"", alert.StatusInvestigating, "", ErrInvalidTransition},
		{alert.StatusActive, alert.StatusResolved, "", ErrInvalid},
		{alert.StatusActive, alert.StatusInvestigating, alert.ReasonFraud, ErrInvalid},
		{alert.StatusActive, "Resolved", alert.ReasonFraud, ErrInvalid},
	}
	for _, tc := range tests {
		err := CheckTransition(tc.from, tc.to, tc.reason)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("CheckTransition(%q, %q, %q) = %v, want %v", tc.from, tc.to, tc.reason, err, tc.want)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"kv-payroll", "kv-payroll"},
		{"日本語 en één", "日本語 en één"},
		{"a\x00b", "a\uFFFDb"},
		{"\xff\xfe", "\uFFFD"},
		{"ok\xe3\x81", "ok\uFFFD"},
		{"\x00\xff", "\uFFFD\uFFFD"},
	}
	for _, tc := range tests {
		if got := clean(tc.in); got != tc.want {
			t.Errorf("clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
