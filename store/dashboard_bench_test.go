package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/internal/pgtest"
	"github.com/vigil-security/vigil/store"
)

// BenchmarkDashboard runs the dashboard's queries over 20,000 alerts of 10
// tenants on each store: a page of two tenants' alerts whose entities have
// a value starting with a text ("search-prefix") or equal to it
// ("search-exact"), the counts by severity of those tenants, and their
// groups by day for the summary.
func BenchmarkDashboard(b *testing.B) {
	const total, tenants = 20_000, 10
	ctx := context.Background()
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			var s dashStore
			var err error
			var dsn string
			if kind == "sqlite" {
				s, err = store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "bench.db"))
			} else {
				dsn = pgtest.DSN(b)
				s, err = store.OpenPostgres(ctx, dsn)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			sevs := []alert.Severity{alert.SeverityHigh, alert.SeverityMedium, alert.SeverityLow, alert.SeverityInformational}
			for start := 0; start < total; start += 2000 {
				batch := make([]*alert.Alert, 0, 2000)
				for i := start; i < start+2000; i++ {
					a := sample(fmt.Sprintf("a%06d", i), 1)
					a.TenantID = fmt.Sprintf("tenant-%02d", i%tenants)
					a.Severity = sevs[i%len(sevs)]
					a.Detected = t0.Add(time.Duration(i) * time.Minute)
					a.Entities[1].Address = fmt.Sprintf("198.51.%d.%d", i/250%250, i%250)
					batch = append(batch, a)
				}
				if err := s.SaveAlerts(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			if dsn != "" {
				// As autovacuum would after the load (SQLite's store
				// analyses by itself): the planner needs statistics to
				// read a rare value from alert_entity_values first.
				analyze(b, dsn)
			}
			two := []string{"tenant-03", "tenant-04"}
			for _, bc := range []struct {
				name string
				run  func() error
			}{
				{"search-prefix", func() error {
					list, err := s.ListAlerts(ctx, store.ListQuery{TenantIDs: two, EntityText: "198.51.7", Limit: 50})
					if err == nil && len(list) != 50 {
						err = fmt.Errorf("%d alerts", len(list))
					}
					return err
				}},
				{"search-exact", func() error {
					list, err := s.ListAlerts(ctx, store.ListQuery{TenantIDs: two, EntityText: `"198.51.7.3"`, Limit: 50})
					if err == nil && len(list) != 1 {
						err = fmt.Errorf("%d alerts", len(list))
					}
					return err
				}},
				{"count-by-severity", func() error {
					n, err := s.CountBySeverity(ctx, store.ListQuery{TenantIDs: two}, 0)
					if err == nil && n[alert.SeverityHigh]+n[alert.SeverityMedium]+n[alert.SeverityLow]+n[alert.SeverityInformational] != 2*total/tenants {
						err = fmt.Errorf("counts %v", n)
					}
					return err
				}},
				{"groups", func() error {
					g, err := s.AlertGroups(ctx, store.ListQuery{TenantIDs: two})
					if err == nil && len(g) == 0 {
						err = fmt.Errorf("no groups")
					}
					return err
				}},
			} {
				b.Run(bc.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if err := bc.run(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// analyze refreshes the planner's statistics of the PostgreSQL database.
func analyze(b *testing.B, dsn string) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if _, err := db.Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
}
