package store

import (
	"context"
	"time"

	"github.com/vigil-security/vigil/alert"
)

// ErrPlaybookStepNotFound: the alert has no such playbook step (or no such
// alert exists). errors.Is(err, ErrNotFound) holds for it.
var ErrPlaybookStepNotFound error = notFoundError("playbook step not found")

// MaxPlaybookStep bounds a playbook step's number.
const MaxPlaybookStep = 100

// PlaybookTick is the state of one step of an alert's playbook checklist.
type PlaybookTick struct {
	AlertID string
	// Step numbers the remediation steps from 0, in the catalogue's order.
	Step int
	Done bool
	// By and At say who last ticked or unticked the step, and when (wall
	// clock).
	By string
	At time.Time
}

// AlertGroup counts the alerts of one day (UTC) that share type, severity,
// status, tenant and subscription.
type AlertGroup struct {
	Day            time.Time
	Type           string
	Severity       alert.Severity
	Status         alert.Status
	TenantID       string
	SubscriptionID string
	Count          int
}

// Dashboard is what the web dashboard needs beyond [Security]: the ticks
// of an alert's playbook checklist, counts for its pictures, and a text
// search over entities ([ListQuery.EntityText], which every store
// compiles). It is a separate interface so that a store can serve the API
// without it; the SQLite and PostgreSQL stores implement it.
type Dashboard interface {
	// PlaybookTicks returns the alert's ticked and unticked steps, by step.
	PlaybookTicks(ctx context.Context, alertID string) ([]PlaybookTick, error)
	// SetPlaybookTick records a step's state (replacing the previous one);
	// ErrNotFound (wrapped) when the alert does not exist, ErrInvalid for a
	// step outside [0, MaxPlaybookStep].
	SetPlaybookTick(ctx context.Context, t PlaybookTick) error
	// CountBySeverity counts the alerts matching q's filters by severity,
	// reading at most limit of them (0: all); the counts add up to limit
	// when there are more.
	CountBySeverity(ctx context.Context, q ListQuery, limit int) (map[alert.Severity]int, error)
	// AlertGroups counts the alerts matching q's filters by day (of
	// detection, UTC), type, severity, status, tenant and subscription.
	AlertGroups(ctx context.Context, q ListQuery) ([]AlertGroup, error)
}

var (
	_ Dashboard = (*SQLite)(nil)
	_ Dashboard = (*Postgres)(nil)
)
