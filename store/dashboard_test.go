package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/internal/pgtest"
	"github.com/vigil-security/vigil/store"
)

// dashStore is a store with the dashboard's methods.
type dashStore interface {
	store.Security
	store.Dashboard
}

// dashStores returns, for each store, a function that opens the same
// (new) database each time it is called.
func dashStores(t *testing.T) map[string]func(t *testing.T) dashStore {
	return map[string]func(t *testing.T) dashStore{
		"sqlite": func(t *testing.T) func(t *testing.T) dashStore {
			path := filepath.Join(t.TempDir(), "vigil.db")
			return func(t *testing.T) dashStore { return openFile(t, path) }
		}(t),
		"postgres": func(t *testing.T) func(t *testing.T) dashStore {
			var dsn string
			return func(t *testing.T) dashStore {
				if dsn == "" {
					dsn = pgtest.DSN(t)
				}
				s, err := store.OpenPostgres(context.Background(), dsn)
				if err != nil {
					t.Fatalf("OpenPostgres: %v", err)
				}
				return s
			}
		}(t),
	}
}

// forEachDashStore runs f as a subtest on each store.
func forEachDashStore(t *testing.T, f func(t *testing.T, open func(t *testing.T) dashStore)) {
	for name, open := range dashStores(t) {
		t.Run(name, func(t *testing.T) { f(t, open) })
	}
}

func TestPlaybookTicks(t *testing.T) {
	forEachDashStore(t, testPlaybookTicks)
}

func testPlaybookTicks(t *testing.T, open func(t *testing.T) dashStore) {
	ctx := context.Background()
	s := open(t)
	if err := s.SaveAlert(ctx, sample("a1", 1)); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Hour)
	for _, tk := range []store.PlaybookTick{
		{AlertID: "a1", Step: 2, Done: true, By: "ana", At: at},
		{AlertID: "a1", Step: 0, Done: true, By: "ana", At: at},
		{AlertID: "a1", Step: 2, Done: false, By: "bo", At: at.Add(time.Minute)},
	} {
		if err := s.SetPlaybookTick(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		tick store.PlaybookTick
		want error
	}{
		{"unknown alert", store.PlaybookTick{AlertID: "nope", Step: 0, Done: true, By: "x", At: at}, store.ErrNotFound},
		{"negative step", store.PlaybookTick{AlertID: "a1", Step: -1, Done: true, By: "x", At: at}, store.ErrInvalid},
		{"step too far", store.PlaybookTick{AlertID: "a1", Step: store.MaxPlaybookStep + 1, By: "x", At: at}, store.ErrInvalid},
		{"no time", store.PlaybookTick{AlertID: "a1", Step: 1, By: "x"}, store.ErrInvalid},
	} {
		if err := s.SetPlaybookTick(ctx, tc.tick); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t) // the ticks are durable
	defer s.Close()
	got, err := s.PlaybookTicks(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.PlaybookTick{
		{AlertID: "a1", Step: 0, Done: true, By: "ana", At: at.Truncate(time.Microsecond)},
		{AlertID: "a1", Step: 2, Done: false, By: "bo", At: at.Add(time.Minute).Truncate(time.Microsecond)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("tick %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if none, err := s.PlaybookTicks(ctx, "nope"); err != nil || len(none) != 0 {
		t.Errorf("ticks of an unknown alert: %v %v", none, err)
	}
}

func TestCountBySeverityAndGroups(t *testing.T) {
	forEachDashStore(t, testCountBySeverityAndGroups)
}

func testCountBySeverityAndGroups(t *testing.T, open func(t *testing.T) dashStore) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	sevs := []alert.Severity{alert.SeverityHigh, alert.SeverityHigh, alert.SeverityLow, alert.SeverityMedium, alert.SeverityHigh}
	for i, sev := range sevs {
		a := sample(string(rune('a'+i)), 1)
		a.Severity = sev
		a.Detected = t0.Add(time.Duration(i) * 12 * time.Hour) // days 0, 0 (+12h), 1, 1, 2
		if i == 4 {
			a.TenantID = "other"
			a.Entities[1].Address = "198.51.100.9"
		}
		if err := s.SaveAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.CountBySeverity(ctx, store.ListQuery{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got[alert.SeverityHigh] != 3 || got[alert.SeverityLow] != 1 || got[alert.SeverityMedium] != 1 || len(got) != 3 {
		t.Errorf("all: %v", got)
	}
	got, err = s.CountBySeverity(ctx, store.ListQuery{TenantIDs: []string{"other"}}, 0)
	if err != nil || got[alert.SeverityHigh] != 1 || len(got) != 1 {
		t.Errorf("one tenant: %v %v", got, err)
	}
	got, err = s.CountBySeverity(ctx, store.ListQuery{}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if n := got[alert.SeverityHigh] + got[alert.SeverityLow] + got[alert.SeverityMedium]; n != 2 {
		t.Errorf("limit 2: counted %d: %v", n, got)
	}
	for _, tc := range []struct {
		text string
		want int
	}{
		{"198.51.100.9", 1}, {"198.51.", 1}, {"203.0.113.7", 4}, {"203.0.113", 4}, {"VM-WEB", 5}, {"country:nl", 5},
		{"asn:64500", 5}, {"100_9", 0}, {"%", 0}, {"", 5}, {"0.113.7", 0},
		{`"198.51.100.9"`, 1}, {`"198.51."`, 0}, {`"VM-WEB-01"`, 5}, {`"`, 0},
	} {
		if n, err := s.CountAlerts(ctx, store.ListQuery{EntityText: tc.text}); err != nil || n != tc.want {
			t.Errorf("entity text %q: %d alerts, want %d (%v)", tc.text, n, tc.want, err)
		}
	}
	// A repeat that changes the entities changes what the search finds.
	a, err := s.GetAlert(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	a.Entities = append(a.Entities, alert.Entity{Type: alert.EntityAccount, UPN: "Ana@Contoso.example"})
	a.Entities[1].Address = "198.51.100.10"
	a.Entities[1].Intel = []string{"ipsum (malicious, 2026-08-22)"}
	if err := s.SaveAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string]int{"contoso.example": 1, "ana@contoso": 1, "ipsum": 1, "198.51.100.9": 0, "198.51.100.10": 1, "203.0.113.7": 4} {
		if n, err := s.CountAlerts(ctx, store.ListQuery{EntityText: text}); err != nil || n != want {
			t.Errorf("after the repeat, %q: %d alerts, want %d (%v)", text, n, want, err)
		}
	}
	// The search holds on every way a page is read: one tenant, several
	// (merged per-tenant scans), and offsets.
	for _, q := range []store.ListQuery{
		{EntityText: "198.51.100.10"},
		{EntityText: "198.51.100.10", TenantIDs: []string{"other", sample("x", 1).TenantID}, Limit: 2},
		{EntityText: `"198.51.100.10"`, TenantIDs: []string{"other"}, Limit: 1},
		{EntityText: "198.51", TenantIDs: []string{"nobody", "other"}, Limit: 5, Offset: 0},
	} {
		list, err := s.ListAlerts(ctx, q)
		if err != nil || len(list) != 1 || list[0].ID != "e" {
			t.Errorf("list %+v: %d alerts, %v", q, len(list), err)
		}
	}
	if list, err := s.ListAlerts(ctx, store.ListQuery{EntityText: "203.0.113.7", TenantIDs: []string{"other", sample("x", 1).TenantID},
		Limit: 2, Offset: 2}); err != nil || len(list) != 2 {
		t.Errorf("second page of the search: %d alerts, %v", len(list), err)
	}
	groups, err := s.AlertGroups(ctx, store.ListQuery{Severities: []alert.Severity{alert.SeverityHigh}})
	if err != nil {
		t.Fatal(err)
	}
	day := t0.Truncate(24 * time.Hour)
	if len(groups) != 2 || groups[0].Count != 2 || !groups[0].Day.Equal(day) ||
		groups[1].Count != 1 || !groups[1].Day.Equal(day.AddDate(0, 0, 2)) || groups[1].TenantID != "other" {
		t.Errorf("groups: %+v", groups)
	}
}
