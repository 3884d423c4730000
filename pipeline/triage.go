package pipeline

import (
	"slices"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/tenancy"
)

// triage is the stage between the alert manager and the sinks: it names
// the customer tenant of alerts whose records named none (Key Vault audit
// records carry no tenant ID) from the directory, then applies the
// suppression rules to new alerts. Every alert the manager hands on passes
// it, updates and closed alerts included, so every sink sees the same
// alert whatever the command.
type triage struct {
	tenantOf func(subscriptionID string) (string, bool)
	sil      *silence.Silencer // nil: no rules
	now      func() time.Time
	// suppressed holds the resolution of open alerts a rule resolved, so
	// that later states of them (the manager's copy is still active) carry
	// it; entries leave when the alert closes.
	suppressed map[string]*alert.Alert
}

func newTriage(dir *tenancy.Directory, sil *silence.Silencer, now func() time.Time) *triage {
	if now == nil {
		now = time.Now
	}
	return &triage{tenantOf: tenancy.NewIndex(dir).TenantOfSubscription, sil: sil, now: now,
		suppressed: map[string]*alert.Alert{}}
}

// tenant fills a's tenant from the directory when it has none.
func (t *triage) tenant(a *alert.Alert) {
	if a.TenantID == "" && a.SubscriptionID != "" {
		if id, ok := t.tenantOf(a.SubscriptionID); ok {
			a.TenantID = id
		}
	}
}

// updated triages a new or changed alert (a copy the stage may change).
func (t *triage) updated(a *alert.Alert, created bool) {
	t.tenant(a)
	if created {
		if t.sil != nil && t.sil.Apply(a, t.now()) {
			t.suppressed[a.ID] = a.Clone()
		}
		return
	}
	t.carry(a)
}

// closed triages an alert leaving the manager, for the last time.
func (t *triage) closed(a *alert.Alert) {
	t.tenant(a)
	t.carry(a)
	delete(t.suppressed, a.ID)
}

// carry gives a later state of a suppressed alert its resolution.
func (t *triage) carry(a *alert.Alert) {
	sup, ok := t.suppressed[a.ID]
	if !ok {
		return
	}
	a.Status, a.ResolvedReason, a.ResolvedBy, a.ResolvedOn = sup.Status, sup.ResolvedReason, sup.ResolvedBy, sup.ResolvedOn
	a.SuppressedBy = sup.SuppressedBy
	a.ActivityLogs = append(a.ActivityLogs[:0:0], sup.ActivityLogs...)
}

// Suppressed returns copies of the open alerts a suppression rule resolved,
// for a checkpoint.
func (p *Pipeline) Suppressed() []*alert.Alert {
	out := make([]*alert.Alert, 0, len(p.triage.suppressed))
	for _, a := range p.triage.suppressed {
		out = append(out, a.Clone())
	}
	slices.SortFunc(out, func(a, b *alert.Alert) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// RestoreSuppressed puts back what Suppressed returned.
func (p *Pipeline) RestoreSuppressed(as []*alert.Alert) {
	for _, a := range as {
		p.triage.suppressed[a.ID] = a.Clone()
	}
}
