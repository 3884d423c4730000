package storetest

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/store"
)

func testRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := full("a1")
	r := full("a2")
	r.Status, r.ResolvedReason, r.ResolvedBy, r.ResolvedOn = alert.StatusResolved, alert.ReasonLegitimate, "suppression", t0.Add(time.Hour)
	r.SuppressedBy = "rule-7"
	r.ActivityLogs = []alert.ActivityLog{
		{StatusFrom: alert.StatusActive, StatusTo: alert.StatusInvestigating, UpdatedBy: "ana@contoso.nl", UpdatedTime: t0.Add(30 * time.Minute)},
		{StatusFrom: alert.StatusInvestigating, StatusTo: alert.StatusResolved, UpdatedBy: "田中 太郎", UpdatedTime: t0.Add(time.Hour)},
	}
	before := full("a1")
	if err := s.SaveAlert(ctx, a); err != nil {
		t.Fatalf("SaveAlert: %v", err)
	}
	same(t, "SaveAlert modified its argument", a, before)
	save(t, s, r)

	same(t, "GetAlert active", get(t, s, "a1"), normal(full("a1")))
	same(t, "GetAlert resolved", get(t, s, "a2"), normal(r))

	list, err := s.ListAlerts(ctx, store.ListQuery{})
	if err != nil {
		t.Fatalf("ListAlerts: %v", err)
	}
	if len(list) != 2 {
		t.Fatalf("ListAlerts: %d alerts, want 2", len(list))
	}
	// Same detection time: the ID breaks the tie, descending.
	same(t, "ListAlerts[0]", list[0], normal(r))
	same(t, "ListAlerts[1]", list[1], normal(full("a1")))

	open, err := s.FindOpenByFingerprint(ctx, "fp-a1")
	if err != nil {
		t.Fatalf("FindOpenByFingerprint: %v", err)
	}
	same(t, "FindOpenByFingerprint", open, normal(full("a1")))

	// Saving the same alert again changes nothing.
	save(t, s, full("a1"))
	same(t, "GetAlert after resave", get(t, s, "a1"), normal(full("a1")))
}

func testEmptyCollections(t *testing.T, s store.Store) {
	empty := simple("empty", 1)
	empty.Entities = []alert.Entity{{Type: alert.EntityIP, Address: "192.0.2.1", Intel: []string{}}}
	empty.Evidence = []alert.Evidence{}
	empty.Details = map[string]string{}
	empty.ActivityLogs = []alert.ActivityLog{}
	noEntities := simple("no-entities", 2)
	noEntities.Entities = []alert.Entity{}
	nils := simple("nil", 3)
	save(t, s, empty, noEntities, nils)

	for _, id := range []string{"empty", "no-entities", "nil"} {
		got := get(t, s, id)
		if got.Evidence != nil || got.Details != nil || got.ActivityLogs != nil {
			t.Errorf("%s: evidence %#v, details %#v, logs %#v; want all nil", id, got.Evidence, got.Details, got.ActivityLogs)
		}
	}
	if got := get(t, s, "no-entities").Entities; got != nil {
		t.Errorf("empty entities read back as %#v, want nil", got)
	}
	if got := get(t, s, "nil").Entities; got != nil {
		t.Errorf("nil entities read back as %#v, want nil", got)
	}
	e := get(t, s, "empty").Entities
	if len(e) != 1 || e[0].Intel != nil || e[0].Latitude != nil || e[0].Address != "192.0.2.1" {
		t.Errorf("entity read back as %#v, want the address with nil Intel and Latitude", e)
	}
	// A coordinate of exactly zero is not "no coordinate".
	f := get(t, s, "nil")
	f.ID, f.Entities = "zero", []alert.Entity{{Type: alert.EntityIP, Latitude: new(float64), Longitude: new(float64)}}
	save(t, s, f)
	z := get(t, s, "zero").Entities[0]
	if z.Latitude == nil || *z.Latitude != 0 || z.Longitude == nil || *z.Longitude != 0 {
		t.Errorf("zero coordinates read back as %v, %v", z.Latitude, z.Longitude)
	}
}

func testTimes(t *testing.T, s store.Store) {
	a := simple("times", 1)
	a.Detected = time.Date(2025, 3, 30, 1, 59, 59, 999999999, time.FixedZone("CET", 3600))
	a.FirstObserved = time.Time{}
	a.LastObserved = time.Date(2025, 3, 30, 3, 0, 0, 1000, time.FixedZone("CEST", 7200))
	a.Evidence = []alert.Evidence{{Time: time.Time{}, Operation: "no time"}, {Time: a.Detected, Operation: "x"}}
	save(t, s, a)
	got := get(t, s, "times")
	if want := time.Date(2025, 3, 30, 0, 59, 59, 999999000, time.UTC); !got.Detected.Equal(want) || got.Detected.Location() != time.UTC {
		t.Errorf("Detected = %v, want %v", got.Detected, want)
	}
	if !got.FirstObserved.IsZero() {
		t.Errorf("zero FirstObserved read back as %v", got.FirstObserved)
	}
	if want := time.Date(2025, 3, 30, 1, 0, 0, 1000, time.UTC); !got.LastObserved.Equal(want) {
		t.Errorf("LastObserved = %v, want %v", got.LastObserved, want)
	}
	if !got.Evidence[0].Time.IsZero() || got.Evidence[1].Time.Nanosecond() != 999999000 {
		t.Errorf("evidence times %v, %v", got.Evidence[0].Time, got.Evidence[1].Time)
	}
}

func testCleanText(t *testing.T, s store.Store) {
	a := simple("dirty", 1)
	a.TenantID = "tenant\x00"
	a.Details = map[string]string{"ua\xff": "curl/8\x00 \xc3\x28 ok", "ok": "日本語"}
	a.Entities = []alert.Entity{{Type: alert.EntityIP, Name: "\xe3\x81", Intel: []string{"a\x00b"}}}
	a.Evidence = []alert.Evidence{{Operation: "Secret\xffGet", Caller: "x\x00"}}
	save(t, s, a)
	got := get(t, s, "dirty")
	if got.TenantID != "tenant\uFFFD" {
		t.Errorf("TenantID = %q", got.TenantID)
	}
	if v, ok := got.Details["ua\uFFFD"]; !ok || v != "curl/8\uFFFD \uFFFD( ok" || got.Details["ok"] != "日本語" {
		t.Errorf("Details = %q", got.Details)
	}
	if e := got.Entities[0]; e.Name != "\uFFFD" || e.Intel[0] != "a\uFFFDb" {
		t.Errorf("entity = %+v", e)
	}
	if e := got.Evidence[0]; e.Operation != "Secret\uFFFDGet" || e.Caller != "x\uFFFD" {
		t.Errorf("evidence = %+v", e)
	}
	for _, id := range []string{"bad\x00id", "bad\xffid"} {
		b := simple(id, 1)
		wantErr(t, "SaveAlert with ID "+id, s.SaveAlert(context.Background(), b), store.ErrInvalid)
	}
}

func testUpdatedDefault(t *testing.T, s store.Store) {
	a := simple("upd", 1)
	a.Updated = time.Time{}
	before := time.Now().Add(-time.Second)
	save(t, s, a)
	after := time.Now().Add(time.Second)
	got := get(t, s, "upd").Updated
	if got.Before(before) || got.After(after) {
		t.Errorf("Updated = %v, want the time of the save (%v .. %v)", got, before, after)
	}
}

func testInvalidAlerts(t *testing.T, s store.Store) {
	tests := []struct {
		name   string
		modify func(a *alert.Alert)
	}{
		{"empty id", func(a *alert.Alert) { a.ID = "" }},
		{"empty fingerprint", func(a *alert.Alert) { a.Fingerprint = "" }},
		{"empty type", func(a *alert.Alert) { a.Type = "" }},
		{"unknown severity", func(a *alert.Alert) { a.Severity = "critical" }},
		{"empty severity", func(a *alert.Alert) { a.Severity = "" }},
		{"unknown status", func(a *alert.Alert) { a.Status = "dismissed" }},
		{"resolved without reason", func(a *alert.Alert) { a.Status = alert.StatusResolved }},
		{"reason while active", func(a *alert.Alert) { a.ResolvedReason = alert.ReasonFraud }},
		{"unknown reason", func(a *alert.Alert) { a.Status, a.ResolvedReason = alert.StatusResolved, "bored" }},
		{"zero detected", func(a *alert.Alert) { a.Detected = time.Time{} }},
		{"negative count", func(a *alert.Alert) { a.Count = -1 }},
		{"NaN latitude", func(a *alert.Alert) { a.Entities = []alert.Entity{{Type: "ip", Latitude: ptr(math.NaN())}} }},
		{"log with unknown status", func(a *alert.Alert) {
			a.ActivityLogs = []alert.ActivityLog{{StatusFrom: "new", StatusTo: alert.StatusActive, UpdatedTime: t0}}
		}},
		{"log without time", func(a *alert.Alert) {
			a.ActivityLogs = []alert.ActivityLog{{StatusFrom: alert.StatusActive, StatusTo: alert.StatusResolved}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := simple("invalid", 1)
			tc.modify(a)
			err := s.SaveAlert(context.Background(), a)
			wantErr(t, "SaveAlert", err, store.ErrInvalid)
			if a.ID != "" {
				_, err = s.GetAlert(context.Background(), a.ID)
				wantErr(t, "GetAlert after failed save", err, store.ErrNotFound)
			}
		})
	}
	wantErr(t, "SaveAlert(nil)", s.SaveAlert(context.Background(), nil), store.ErrInvalid)
	if err := s.SaveAlerts(context.Background(), nil); err != nil {
		t.Errorf("SaveAlerts(nil) = %v, want nil", err)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	save(t, s, simple("present", 1))
	_, err := s.GetAlert(ctx, "absent")
	wantErr(t, "GetAlert", err, store.ErrNotFound)
	if err != nil && !strings.Contains(err.Error(), "absent") {
		t.Errorf("GetAlert error %q does not name the ID", err)
	}
	_, err = s.FindOpenByFingerprint(ctx, "fp-absent")
	wantErr(t, "FindOpenByFingerprint", err, store.ErrNotFound)
	_, err = s.UpdateStatus(ctx, "absent", alert.StatusInvestigating, "", "me", t0)
	wantErr(t, "UpdateStatus", err, store.ErrNotFound)
}

func testCancelled(t *testing.T, s store.Store) {
	save(t, s, simple("c", 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.GetAlert(ctx, "c"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetAlert with a cancelled context: %v", err)
	}
	if err := s.SaveAlert(ctx, simple("d", 2)); !errors.Is(err, context.Canceled) {
		t.Errorf("SaveAlert with a cancelled context: %v", err)
	}
	if _, err := s.ListAlerts(ctx, store.ListQuery{}); !errors.Is(err, context.Canceled) {
		t.Errorf("ListAlerts with a cancelled context: %v", err)
	}
	_, err := s.GetAlert(context.Background(), "d")
	wantErr(t, "GetAlert of the cancelled save", err, store.ErrNotFound)
}
