package silence

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/tenancy"
)

// Source gives the stored rules; the SQLite store implements it.
type Source interface {
	// SuppressionRules returns every stored rule, enabled or not.
	SuppressionRules(ctx context.Context) ([]Rule, error)
}

// Silencer applies the enabled rules to new alerts. It is safe for
// concurrent use: Match and Apply read a snapshot that Refresh replaces.
type Silencer struct {
	src Source
	dir *tenancy.Index

	mu    sync.RWMutex
	rules []*matcher // enabled, valid, ordered by creation then ID
}

// New returns a Silencer over src. dir resolves partner-wide rules (a rule
// with a PartnerID and no TenantID applies to the partner's customers);
// nil means no partner manages any tenant. The Silencer holds no rule
// until the first Refresh.
func New(src Source, dir *tenancy.Directory) *Silencer {
	return &Silencer{src: src, dir: tenancy.NewIndex(dir)}
}

// Refresh reloads the rules from the source. Disabled rules are left out;
// expired ones are kept (expiry is checked at match time, so a rule stops
// at its expiry without a refresh). A stored rule that no longer validates
// is left out and reported in the error, while the valid ones take effect.
func (s *Silencer) Refresh(ctx context.Context) error {
	rules, err := s.src.SuppressionRules(ctx)
	if err != nil {
		return fmt.Errorf("silence: refresh: %w", err)
	}
	var (
		ms   []*matcher
		errs []error
	)
	for i := range rules {
		if !rules[i].Enabled {
			continue
		}
		m, err := compileRule(&rules[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", rules[i].ID, err))
			continue
		}
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *matcher) int {
		return cmp.Or(a.rule.Created.Compare(b.rule.Created), strings.Compare(a.rule.ID, b.rule.ID))
	})
	s.mu.Lock()
	s.rules = ms
	s.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("silence: refresh: %w", err)
	}
	return nil
}

// Len returns the number of enabled rules held.
func (s *Silencer) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.rules)
}

// inScope reports whether the alert's tenant is within the rule's scope.
func (s *Silencer) inScope(r *Rule, a *alert.Alert) bool {
	if r.TenantID != "" {
		return tenancy.NormalizeID(r.TenantID) == tenancy.NormalizeID(a.TenantID)
	}
	return a.TenantID != "" && s.dir.Manages(r.PartnerID, a.TenantID)
}

// Match returns the first enabled, unexpired rule (oldest first) whose
// scope, type and conditions fit the alert at now, as a copy.
func (s *Silencer) Match(a *alert.Alert, now time.Time) (*Rule, bool) {
	if a == nil {
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, m := range s.rules {
		if m.matches(a, now) && s.inScope(m.rule, a) {
			return m.rule.Clone(), true
		}
	}
	return nil, false
}

// Apply suppresses the alert when a rule matches it and it is not resolved
// yet: it sets Status resolved, ResolvedReason from the rule (ignore by
// default), ResolvedBy "suppression:<rule id>", ResolvedOn now,
// SuppressedBy the rule's ID, and appends the activity log entry. It
// reports whether it did. Call it before saving a new alert; the alert is
// then saved as usual (never dropped).
func (s *Silencer) Apply(a *alert.Alert, now time.Time) bool {
	if a == nil || a.Status == alert.StatusResolved {
		return false
	}
	r, ok := s.Match(a, now)
	if !ok {
		return false
	}
	from := a.Status
	if from == "" {
		from = alert.StatusActive
	}
	by := ResolvedByPrefix + r.ID
	a.Status = alert.StatusResolved
	a.ResolvedReason = r.Resolution()
	a.ResolvedBy = by
	a.ResolvedOn = now
	a.SuppressedBy = r.ID
	a.ActivityLogs = append(a.ActivityLogs, alert.ActivityLog{
		StatusFrom: from, StatusTo: alert.StatusResolved, UpdatedBy: by, UpdatedTime: now,
	})
	return true
}
