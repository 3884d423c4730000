package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/store"
)

func testUpsertMerges(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := full("m")
	save(t, s, a)

	// An analyst starts investigating.
	at := t0.Add(20 * time.Minute)
	if _, err := s.UpdateStatus(ctx, "m", alert.StatusInvestigating, "", "ana@contoso.nl", at); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	investigating := alert.ActivityLog{StatusFrom: alert.StatusActive, StatusTo: alert.StatusInvestigating, UpdatedBy: "ana@contoso.nl", UpdatedTime: at}

	// The manager, unaware, saves a repeat: more events, more evidence, new
	// details, its own view of the status.
	b := full("m")
	b.Count, b.LastObserved, b.Severity = 5, t0.Add(time.Hour), alert.SeverityMedium
	b.Evidence = append(b.Evidence,
		alert.Evidence{Time: t0.Add(time.Hour), Operation: "SecretGet", Target: "api-key"},
		alert.Evidence{Time: t0.Add(time.Hour), Operation: "SecretGet", Target: "conn-string"})
	b.Details = map[string]string{"vault": "kv-payroll", "count": "14"}
	b.Entities = b.Entities[:1]
	save(t, s, b)

	want := normal(b)
	want.Status = alert.StatusInvestigating
	want.ActivityLogs = []alert.ActivityLog{investigating}
	same(t, "after repeat", get(t, s, "m"), normal(want))

	// Evidence shrinks to exactly what is saved.
	c := full("m")
	c.Evidence = c.Evidence[1:2]
	save(t, s, c)
	got := get(t, s, "m")
	if len(got.Evidence) != 1 || got.Evidence[0].Operation != "SecretGet" || got.Evidence[0].Target == "" {
		t.Errorf("evidence after shrinking: %+v", got.Evidence)
	}
	if got.Status != alert.StatusInvestigating {
		t.Errorf("status after shrinking = %s, want investigating", got.Status)
	}

	// A save further along the lifecycle wins, and its logs are merged.
	d := full("m")
	d.Status, d.ResolvedReason, d.ResolvedBy, d.ResolvedOn = alert.StatusResolved, alert.ReasonIgnore, "suppression", t0.Add(2*time.Hour)
	d.SuppressedBy = "rule-1"
	suppressed := alert.ActivityLog{StatusFrom: alert.StatusInvestigating, StatusTo: alert.StatusResolved, UpdatedBy: "suppression", UpdatedTime: t0.Add(2 * time.Hour)}
	d.ActivityLogs = []alert.ActivityLog{investigating, suppressed}
	save(t, s, d)
	same(t, "after resolving save", get(t, s, "m"), normal(d))

	// Resolved is final: a later save as active keeps the resolution and
	// the history, while its detection fields still apply.
	e := full("m")
	e.Count = 9
	save(t, s, e)
	want = normal(e)
	want.Status, want.ResolvedReason, want.ResolvedBy, want.ResolvedOn = d.Status, d.ResolvedReason, d.ResolvedBy, normal(d).ResolvedOn
	want.ActivityLogs = normal(d).ActivityLogs
	same(t, "after save over resolved", get(t, s, "m"), want)
}

func testEvidenceOrder(t *testing.T, s store.Store) {
	// Ordinal order is kept, whatever the times say.
	var alerts []*alert.Alert
	for n := range 3 {
		a := simple(fmt.Sprintf("ev%d", n), n)
		for i := range 40 {
			a.Evidence = append(a.Evidence, alert.Evidence{
				Time:      t0.Add(time.Duration((i*7)%40) * time.Second),
				Operation: fmt.Sprintf("op-%d-%02d", n, i),
			})
		}
		alerts = append(alerts, a)
	}
	save(t, s, alerts...)
	check := func(what string, got []*alert.Alert) {
		t.Helper()
		for _, g := range got {
			var n int
			if _, err := fmt.Sscanf(g.ID, "ev%d", &n); err != nil {
				t.Fatalf("%s: unexpected alert %s", what, g.ID)
			}
			same(t, what+" "+g.ID, g, normal(alerts[n]))
		}
	}
	list, err := s.ListAlerts(context.Background(), store.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("ListAlerts: %d alerts, want 3", len(list))
	}
	check("ListAlerts", list)
	check("GetAlert", []*alert.Alert{get(t, s, "ev1")})

	// Growing the evidence keeps the old entries in place.
	a := alerts[1]
	a.Evidence = append(a.Evidence, alert.Evidence{Time: t0, Operation: "appended"})
	save(t, s, a)
	got := get(t, s, "ev1")
	if n := len(got.Evidence); n != 41 || got.Evidence[40].Operation != "appended" || got.Evidence[0].Operation != "op-1-00" {
		t.Errorf("after append: %d evidence, last %q", n, got.Evidence[n-1].Operation)
	}
}

func testSaveAlertsBatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	// More alerts than fit one IN list of a sensible size.
	var alerts []*alert.Alert
	for i := range 1203 {
		a := simple(fmt.Sprintf("b%04d", i), i)
		a.Evidence = []alert.Evidence{{Time: t0, Operation: fmt.Sprintf("op%d", i)}}
		a.Status = alert.StatusInvestigating
		a.ActivityLogs = []alert.ActivityLog{{StatusFrom: alert.StatusActive, StatusTo: alert.StatusInvestigating, UpdatedBy: "ana", UpdatedTime: t0}}
		alerts = append(alerts, a)
	}
	save(t, s, alerts...)
	list, err := s.ListAlerts(ctx, store.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(alerts) {
		t.Fatalf("ListAlerts: %d alerts, want %d", len(list), len(alerts))
	}
	for _, a := range list {
		var i int
		if _, err := fmt.Sscanf(a.ID, "b%04d", &i); err != nil {
			t.Fatal(err)
		}
		if len(a.Evidence) != 1 || a.Evidence[0].Operation != fmt.Sprintf("op%d", i) || len(a.ActivityLogs) != 1 {
			t.Fatalf("%s: evidence %+v, logs %+v", a.ID, a.Evidence, a.ActivityLogs)
		}
	}

	// One invalid alert fails the batch: none of it is saved.
	bad := simple("bad", 1)
	bad.Severity = "severe"
	err = s.SaveAlerts(ctx, []*alert.Alert{simple("good", 2), bad})
	wantErr(t, "SaveAlerts with an invalid alert", err, store.ErrInvalid)
	_, err = s.GetAlert(ctx, "good")
	wantErr(t, "GetAlert of the failed batch's valid alert", err, store.ErrNotFound)

	// The same ID twice in a batch: the later wins.
	first, second := simple("twice", 1), simple("twice", 1)
	second.Count = 7
	save(t, s, first, second)
	if got := get(t, s, "twice").Count; got != 7 {
		t.Errorf("Count = %d, want 7 (the later save)", got)
	}
}
