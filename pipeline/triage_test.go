package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// memStore records what the sink stores.
type memStore struct {
	saves [][]*alert.Alert
	acts  []store.Activity
	fail  error
}

func (m *memStore) SaveAlerts(_ context.Context, as []*alert.Alert) error {
	if m.fail != nil {
		return m.fail
	}
	cp := make([]*alert.Alert, len(as))
	for i, a := range as {
		cp[i] = a.Clone()
	}
	m.saves = append(m.saves, cp)
	return nil
}

func (m *memStore) RecordActivity(_ context.Context, acts ...store.Activity) error {
	if m.fail != nil {
		return m.fail
	}
	m.acts = append(m.acts, acts...)
	return nil
}

type ruleSource []silence.Rule

func (r ruleSource) SuppressionRules(context.Context) ([]silence.Rule, error) { return r, nil }

const (
	sinkTenant = "1889e718-414b-4bad-8bbe-c1135bd39a41"
	sinkSub    = "5f6e6521-6e5f-4b0b-80aa-bd44fad7a398"
)

const torAddress = "185.220.101.1"

var sinkNow = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func torAlert(count int) *alert.Alert {
	return &alert.Alert{
		ID: "a1", Type: "KV_TORAccess", Fingerprint: "f1", Severity: alert.SeverityMedium, Status: alert.StatusActive,
		SubscriptionID: sinkSub, Detected: sinkNow, FirstObserved: sinkNow, LastObserved: sinkNow, Count: count,
		Entities: []alert.Entity{{Type: alert.EntityIP, Address: torAddress}},
	}
}

// stagedSink is the chain's end as the pipeline drives it: triage, then a
// StoreSink.
type stagedSink struct {
	tri    *triage
	stored *StoreSink
}

func (s stagedSink) Updated(a *alert.Alert, created bool) error {
	s.tri.updated(a, created)
	return s.stored.Updated(a, created)
}

func (s stagedSink) Closed(a *alert.Alert) error {
	s.tri.closed(a)
	return s.stored.Closed(a)
}

func (s stagedSink) Pending() int { return s.stored.Pending() }

func (s stagedSink) commit(ctx context.Context) error { return s.stored.Commit(ctx) }

func newTestSink(t *testing.T, rules ...silence.Rule) (stagedSink, *memStore) {
	t.Helper()
	dir := &tenancy.Directory{Customers: []tenancy.Customer{{TenantID: sinkTenant, Subscriptions: []tenancy.Subscription{{ID: sinkSub}}}}}
	sil := silence.New(ruleSource(rules), dir)
	if err := sil.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := &memStore{}
	now := func() time.Time { return sinkNow }
	return stagedSink{tri: newTriage(dir, sil, now), stored: NewStoreSink(st, now)}, st
}

func TestSinkStoresNewAlertWithActivity(t *testing.T) {
	s, st := newTestSink(t)
	a := torAlert(1)
	s.Updated(a, true)
	b := torAlert(3) // a later state of the same alert, same batch
	s.Updated(b, false)
	if s.Pending() != 1 {
		t.Fatalf("%d pending, want 1 (the latest state)", s.Pending())
	}
	if err := s.commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(st.saves) != 1 || len(st.saves[0]) != 1 || st.saves[0][0].Count != 3 {
		t.Fatalf("saves %+v", st.saves)
	}
	if got := st.saves[0][0].TenantID; got != sinkTenant {
		t.Errorf("tenant %q, want the directory's tenant of the subscription", got)
	}
	if len(st.acts) != 1 || st.acts[0].OperationType != store.OpAlertDetected || st.acts[0].ResourceID != "a1" || st.acts[0].TenantID != sinkTenant {
		t.Errorf("activity %+v", st.acts)
	}
	if err := s.commit(context.Background()); err != nil || len(st.saves) != 1 {
		t.Errorf("an empty commit stored something: %v", err)
	}
}

func TestSinkSuppression(t *testing.T) {
	rule := silence.Rule{
		ID: "r1", AlertType: "KV_TORAccess", Reason: "FalsePositive", Enabled: true, TenantID: sinkTenant,
		Conditions: []silence.Condition{{Field: "entities.ip.address", In: []string{torAddress}}},
	}
	s, st := newTestSink(t, rule)
	s.Updated(torAlert(1), true)
	if err := s.commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := st.saves[0][0]
	if got.Status != alert.StatusResolved || got.SuppressedBy != "r1" || got.ResolvedReason != alert.ReasonIgnore {
		t.Fatalf("stored %s / %q / %s, want resolved by r1 as ignore", got.Status, got.SuppressedBy, got.ResolvedReason)
	}
	if len(st.acts) != 2 || st.acts[1].OperationType != store.OpAlertSuppressed {
		t.Errorf("activities %+v", st.acts)
	}
	// A repeat arrives as the manager's copy, still active: it is stored
	// suppressed all the same.
	s.Updated(torAlert(2), false)
	s.commit(context.Background())
	if got := st.saves[1][0]; got.Status != alert.StatusResolved || got.SuppressedBy != "r1" || got.Count != 2 || len(got.ActivityLogs) != 1 {
		t.Errorf("repeat stored as %s / %q, count %d, %d logs", got.Status, got.SuppressedBy, got.Count, len(got.ActivityLogs))
	}
	s.Closed(torAlert(2))
	if len(s.tri.suppressed) != 0 {
		t.Error("a closed alert stays in memory")
	}
}

func TestSinkKeepsAlertsWhileStoreFails(t *testing.T) {
	s, st := newTestSink(t)
	st.fail = errors.New("disk full")
	s.Updated(torAlert(1), true)
	if err := s.commit(context.Background()); err == nil {
		t.Fatal("commit succeeded on a failing store")
	}
	st.fail = nil
	if err := s.commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(st.saves) != 1 || len(st.acts) != 1 {
		t.Errorf("after recovery: %d saves, %d activities", len(st.saves), len(st.acts))
	}
}
