// Package storetest is the conformance suite every [store.Store]
// implementation passes: SQLite's tests run it on files, PostgreSQL's on a
// scratch database. It checks the behaviour package store documents: round
// trips of every field, how an upsert merges, evidence order, the status
// lifecycle and its activity logs, queries, and reads during writes.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/store"
)

// Run runs the suite. open must return a new, empty store for each call; Run
// closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	fresh := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		f    func(t *testing.T, s store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"EmptyCollections", testEmptyCollections},
		{"TimesUTCMicroseconds", testTimes},
		{"CleanText", testCleanText},
		{"UpdatedDefaultsToNow", testUpdatedDefault},
		{"InvalidAlerts", testInvalidAlerts},
		{"NotFound", testNotFound},
		{"UpsertMerges", testUpsertMerges},
		{"EvidenceOrder", testEvidenceOrder},
		{"SaveAlertsBatch", testSaveAlertsBatch},
		{"StatusTransitions", testStatusTransitions},
		{"StatusArguments", testStatusArguments},
		{"ConcurrentResolve", testConcurrentResolve},
		{"FindOpenByFingerprint", testFindOpen},
		{"ListAndCount", testList},
		{"InvalidQueries", testInvalidQueries},
		{"ReadsDuringWrites", testReadsDuringWrites},
		{"CancelledContext", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.f(t, fresh(t))
		})
	}
}

// t0 is the fixtures' base time: nanoseconds and a non-UTC zone on purpose.
var t0 = time.Date(2025, 11, 3, 9, 14, 27, 123456789, time.FixedZone("JST", 9*3600))

func ptr[T any](v T) *T { return &v }

// full returns an alert with every field set, including Japanese and Dutch
// text, a coordinate of exactly zero and nanosecond times.
func full(id string) *alert.Alert {
	return &alert.Alert{
		ID:             id,
		Type:           "KV_ListGetAnomaly",
		Fingerprint:    "fp-" + id,
		Severity:       alert.SeverityHigh,
		Status:         alert.StatusActive,
		TenantID:       "72f988bf-86f1-41af-91ab-2d7cd011db47",
		SubscriptionID: "9c2a8d3e-1f4b-4e6a-8c5d-0b7e3f2a1d90",
		Resource:       "/subscriptions/9c2a8d3e-1f4b-4e6a-8c5d-0b7e3f2a1d90/resourceGroups/rg-prod/providers/Microsoft.KeyVault/vaults/kv-payroll",
		Detected:       t0,
		FirstObserved:  t0.Add(-10 * time.Minute),
		LastObserved:   t0.Add(5 * time.Minute),
		Updated:        t0.Add(6 * time.Minute),
		Count:          3,
		Entities: []alert.Entity{
			{Type: alert.EntityKeyVault, Role: "victim", ResourceID: "/subscriptions/9c2a8d3e-1f4b-4e6a-8c5d-0b7e3f2a1d90/resourceGroups/rg-prod/providers/Microsoft.KeyVault/vaults/kv-payroll", Name: "kv-payroll"},
			{Type: alert.EntityAccount, Role: "compromised", ObjectID: "3f2504e0-4f89-11d3-9a0c-0305e82c3301", UPN: "jan.de.vries@contoso.nl", AppID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46"},
			{Type: alert.EntityIP, Role: "attacker", Address: "185.220.101.4", Country: "NL", City: "'s-Hertogenbosch",
				Latitude: ptr(0.0), Longitude: ptr(-0.5), ASN: 4224, ASOrg: "Stichting Tor-exit",
				Intel: []string{"tor-exit (anonymiser, 2025-11-01)", "blocklist.de (ssh, 2025-10-30)"}},
		},
		Evidence: []alert.Evidence{
			{Time: t0.Add(-10 * time.Minute), Operation: "SecretList", Caller: "jan.de.vries@contoso.nl", CallerIP: "185.220.101.4", Resource: "kv-payroll", Result: "Success", Source: "kv.json:1"},
			{Time: t0.Add(-9 * time.Minute), Operation: "SecretGet", Caller: "jan.de.vries@contoso.nl", CallerIP: "185.220.101.4", Resource: "kv-payroll", Target: "https://kv-payroll.vault.azure.net/secrets/db-password", Result: "Success", Source: "kv.json:2"},
			{Time: t0.Add(-8 * time.Minute), Operation: "SecretGet"},
		},
		Details: map[string]string{
			"vault":        "kv-payroll",
			"count":        "12",
			"description":  "不審なIPアドレスからKey Vaultのシークレットが一覧表示され、読み取られました。",
			"omschrijving": "Verdachte toegang: geheimen van kluis 'kv-payroll' werden vermeld en gelezen vanaf een Tor-exitknooppunt in 's-Hertogenbosch — één gebruiker, 12 geheimen.",
			"emoji":        "🔐 <b>&amp;</b>",
			"":             "empty key",
		},
		SuppressedBy: "",
		PreviousID:   "a-previous",
	}
}

// normal returns what a store gives back for a (see package store's
// documentation): times in UTC to the microsecond, empty collections nil.
func normal(a *alert.Alert) *alert.Alert {
	c := *a
	tm := func(t time.Time) time.Time {
		if t.IsZero() {
			return time.Time{}
		}
		return t.UTC().Truncate(time.Microsecond)
	}
	c.Detected, c.FirstObserved, c.LastObserved = tm(a.Detected), tm(a.FirstObserved), tm(a.LastObserved)
	c.Updated, c.ResolvedOn = tm(a.Updated), tm(a.ResolvedOn)
	c.Entities = nil
	for _, e := range a.Entities {
		if len(e.Intel) == 0 {
			e.Intel = nil
		} else {
			e.Intel = append([]string(nil), e.Intel...)
		}
		c.Entities = append(c.Entities, e)
	}
	c.Evidence = nil
	for _, e := range a.Evidence {
		e.Time = tm(e.Time)
		c.Evidence = append(c.Evidence, e)
	}
	c.Details = nil
	if len(a.Details) > 0 {
		c.Details = maps.Clone(a.Details)
	}
	c.ActivityLogs = nil
	for _, l := range a.ActivityLogs {
		l.UpdatedTime = tm(l.UpdatedTime)
		c.ActivityLogs = append(c.ActivityLogs, l)
	}
	return &c
}

// same fails t when got is not want, showing both as JSON.
func same(t *testing.T, what string, got, want *alert.Alert) {
	t.Helper()
	g, err := json.MarshalIndent(got, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.MarshalIndent(want, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) || !equalAlert(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// equalAlert compares what JSON hides: nil against empty, and time zones.
func equalAlert(a, b *alert.Alert) bool {
	if (a.Entities == nil) != (b.Entities == nil) || (a.Evidence == nil) != (b.Evidence == nil) ||
		(a.Details == nil) != (b.Details == nil) || (a.ActivityLogs == nil) != (b.ActivityLogs == nil) {
		return false
	}
	for i := range a.Entities {
		if (a.Entities[i].Intel == nil) != (b.Entities[i].Intel == nil) {
			return false
		}
	}
	for _, p := range [][2]time.Time{{a.Detected, b.Detected}, {a.FirstObserved, b.FirstObserved},
		{a.LastObserved, b.LastObserved}, {a.Updated, b.Updated}, {a.ResolvedOn, b.ResolvedOn}} {
		if p[0].Location() != p[1].Location() && !(p[0].IsZero() && p[1].IsZero()) {
			return false
		}
	}
	return true
}

func save(t *testing.T, s store.Store, a ...*alert.Alert) {
	t.Helper()
	if err := s.SaveAlerts(context.Background(), a); err != nil {
		t.Fatalf("SaveAlerts: %v", err)
	}
}

func get(t *testing.T, s store.Store, id string) *alert.Alert {
	t.Helper()
	a, err := s.GetAlert(context.Background(), id)
	if err != nil {
		t.Fatalf("GetAlert(%q): %v", id, err)
	}
	return a
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

// simple returns a small alert; n varies the tenant, type and times.
func simple(id string, n int) *alert.Alert {
	return &alert.Alert{
		ID: id, Type: fmt.Sprintf("Type%d", n%3), Fingerprint: "fp-" + id,
		Severity: alert.SeverityLow, Status: alert.StatusActive,
		TenantID: fmt.Sprintf("tenant-%d", n%2), SubscriptionID: "sub",
		Detected: t0.Add(time.Duration(n) * time.Minute), LastObserved: t0.Add(time.Duration(n) * time.Minute),
		Updated: t0, Count: 1,
	}
}
