package server

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/metrics"
	"github.com/vigil-security/vigil/pipeline"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// alertStore is what the sink needs of the store.
type alertStore interface {
	SaveAlerts(ctx context.Context, alerts []*alert.Alert) error
	RecordActivity(ctx context.Context, acts ...store.Activity) error
}

// alertSink collects every alert the pipeline creates or updates during a
// batch and stores them together (commit): suppression rules are applied
// to new alerts first, and each new alert gets its system activity records.
// It is used from the pipeline goroutine only.
type alertSink struct {
	st  alertStore
	sil *silence.Silencer // nil: no rules
	m   *metrics.Metrics
	now func() time.Time
	// tenantOf finds the customer tenant of a subscription in the
	// directory, for alerts whose records named none (Key Vault audit
	// records carry no tenant ID).
	tenantOf func(subscriptionID string) (string, bool)

	pending []*alert.Alert
	index   map[string]int // alert ID -> position in pending
	acts    []store.Activity
	// suppressed holds the resolution of open alerts a rule resolved, so
	// that later repeats (the manager's copy is still active) are stored
	// with it; entries leave when the alert closes.
	suppressed map[string]*alert.Alert
}

var _ pipeline.Updater = (*alertSink)(nil)

func newAlertSink(st alertStore, sil *silence.Silencer, dir *tenancy.Directory, m *metrics.Metrics, now func() time.Time) *alertSink {
	return &alertSink{
		st: st, sil: sil, m: m, now: now, tenantOf: tenancy.NewIndex(dir).TenantOfSubscription,
		index: map[string]int{}, suppressed: map[string]*alert.Alert{},
	}
}

// Updated implements pipeline.Updater.
func (s *alertSink) Updated(a *alert.Alert, created bool) error {
	if a.TenantID == "" && a.SubscriptionID != "" {
		if t, ok := s.tenantOf(a.SubscriptionID); ok {
			a.TenantID = t
		}
	}
	if created {
		s.m.Alerts.WithLabelValues(a.Type).Inc()
		if s.sil != nil && s.sil.Apply(a, s.now()) {
			s.m.Suppressed.WithLabelValues(a.Type).Inc()
			s.suppressed[a.ID] = a.Clone()
		}
		s.acts = append(s.acts, store.AlertActivities(a, s.now())...)
	} else {
		s.m.AlertUpdates.WithLabelValues(a.Type).Inc()
		if sup, ok := s.suppressed[a.ID]; ok {
			a.Status, a.ResolvedReason, a.ResolvedBy, a.ResolvedOn = sup.Status, sup.ResolvedReason, sup.ResolvedBy, sup.ResolvedOn
			a.SuppressedBy = sup.SuppressedBy
			a.ActivityLogs = append(a.ActivityLogs[:0:0], sup.ActivityLogs...)
		}
	}
	if i, ok := s.index[a.ID]; ok {
		s.pending[i] = a // a later state of the same alert in this batch
		return nil
	}
	s.index[a.ID] = len(s.pending)
	s.pending = append(s.pending, a)
	return nil
}

// Closed implements pipeline.Sink: every state was stored as it came, so a
// closed alert only leaves the suppression memory.
func (s *alertSink) Closed(a *alert.Alert) error {
	delete(s.suppressed, a.ID)
	return nil
}

// Pending returns the number of alerts waiting for commit.
func (s *alertSink) Pending() int { return len(s.pending) }

// commit stores the pending alerts in one transaction, then their activity
// records. On error nothing is forgotten: the next commit tries again.
func (s *alertSink) commit(ctx context.Context) error {
	if len(s.pending) > 0 {
		if err := s.st.SaveAlerts(ctx, s.pending); err != nil {
			return fmt.Errorf("store %d alerts: %w", len(s.pending), err)
		}
		clear(s.pending)
		s.pending = s.pending[:0]
		clear(s.index)
	}
	if len(s.acts) > 0 {
		if err := s.st.RecordActivity(ctx, s.acts...); err != nil {
			return fmt.Errorf("record %d activity entries: %w", len(s.acts), err)
		}
		clear(s.acts)
		s.acts = s.acts[:0]
	}
	return nil
}
