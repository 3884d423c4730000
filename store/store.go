// Package store keeps alerts, their evidence and their status history in a
// database: SQLite by default (one file, pure Go), PostgreSQL when several
// instances share the work. Both implement [Store] and pass the same
// conformance suite (package storetest).
//
// # Model
//
// One row per alert in table alerts; its evidence in table evidence (alert
// id, ordinal, time, fields as JSON) and its status history in table
// activity_logs (alert id, from, to, by, when). Entities and details are JSON
// columns. Schemas are embedded migrations run with goose at open.
//
// # Writing
//
// [Store.SaveAlert] is an upsert by ID. The writer's view wins for what
// detection knows (type, fingerprint, severity, tenant, subscription,
// resource, times, count, entities, details, evidence, suppressedBy,
// previousId): the stored evidence becomes exactly the alert's evidence,
// ordinal by ordinal. The lifecycle never goes backwards: when the stored
// status is at least as far along as the incoming one (active <
// investigating < resolved) the stored status and resolution are kept, so a
// detector saving a repeat does not undo a triage made meanwhile through the
// API. Activity logs are merged: entries not yet stored (same from, to, by
// and time) are appended.
//
// [Store.UpdateStatus] is the only way to move an alert along its lifecycle
// once stored: active -> investigating -> resolved, or active -> resolved;
// resolved is final; a resolution reason is required exactly when the new
// status is resolved. The change and its activity log are one transaction.
//
// # Values as stored
//
// Updated is the wall-clock time of the last write: a zero Updated is saved
// as the time of the SaveAlert call, and UpdateStatus sets it to its time.
// Times are kept in UTC to the microsecond (PostgreSQL's resolution) and read
// back in UTC; finer digits are dropped. A zero time other than Detected
// (which is required) is stored as NULL and read back as the zero time.
// Empty collections (entities, evidence, details, activity logs) are read
// back as nil, whether they were saved nil or empty; so are the empty Intel
// lists inside entities (their JSON tag omits them). Text is stored as valid
// UTF-8 without NUL bytes, which PostgreSQL requires: invalid sequences and
// NUL become U+FFFD, except in the ID and fingerprint, where they are an
// error. An attacker who puts odd bytes in a user agent therefore cannot make
// an alert unstorable.
//
// # Querying
//
// [ListQuery] filters by tenants, subscriptions, statuses, types, severities
// and a detection-time range, and takes a parsed OData filter over the
// columns of [Columns] (ListQuery.Filter), never SQL text: each store
// checks it against the whitelist and compiles it for its dialect.
//
// # Tokens, rules and the activity log
//
// [Security] adds what the API needs: API tokens (only their SHA-256 is
// kept), suppression rules ([silence.Rule]) and the system activity log
// ([Activity]: detections, status changes, rule changes, token use). Every
// change through it is written together with its activity record in one
// transaction, so no change goes unrecorded. The SQLite file of a data
// directory is named [DefaultFile].
//
// # Outbox
//
// [Outbox] keeps the notifications to deliver. Every alert change a write
// makes — a new alert, a severity raised, a status moved on, by SaveAlerts,
// UpdateStatus, ChangeStatus or ResolveStale — writes one entry per
// notification [Target] in the same transaction, each with a random
// idempotency key: the change and its notifications are durable together
// or not at all. Dispatchers claim due entries under a lease
// ([Outbox.ClaimOutbox]) and finish them fenced by owner and attempt
// ([Outbox.FinishOutbox]), so a dispatcher killed mid-delivery gives its
// entries back when the lease ends, and a late finish of a lost lease does
// not overwrite the new holder's. Entries that fail for good stay, state
// failed, until someone looks.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api/odata"
)

// Errors returned (wrapped) by stores; test with errors.Is.
var (
	// ErrNotFound: no alert has the ID (or open alert the fingerprint).
	ErrNotFound = errors.New("alert not found")
	// ErrInvalid: an argument or alert breaks the store's rules.
	ErrInvalid = errors.New("invalid")
	// ErrInvalidTransition: the status change is not allowed from the alert's
	// current status (see [CheckTransition]).
	ErrInvalidTransition = errors.New("invalid status transition")
)

// Store keeps alerts. Implementations are safe for concurrent use; reads
// never fail because a write is in progress.
type Store interface {
	// SaveAlert inserts the alert or updates the stored one with the same ID,
	// with its evidence and activity logs, in one transaction (see the
	// package documentation for how an update merges). a is not modified.
	SaveAlert(ctx context.Context, a *alert.Alert) error
	// SaveAlerts saves the alerts as SaveAlert does, all in one transaction:
	// either all are saved or none.
	SaveAlerts(ctx context.Context, alerts []*alert.Alert) error
	// GetAlert returns the alert with the ID, with its evidence and activity
	// logs; ErrNotFound (wrapped) when there is none.
	GetAlert(ctx context.Context, id string) (*alert.Alert, error)
	// ListAlerts returns the alerts matching q, with their evidence and
	// activity logs, in q's order, read from one snapshot.
	ListAlerts(ctx context.Context, q ListQuery) ([]*alert.Alert, error)
	// CountAlerts counts the alerts matching q's filters, ignoring its
	// order, limit and offset.
	CountAlerts(ctx context.Context, q ListQuery) (int, error)
	// UpdateStatus moves the alert to status to, recording reason (required
	// iff to is resolved), by and at, and appends the activity log, in one
	// transaction. It returns the updated alert; ErrNotFound,
	// ErrInvalidTransition or ErrInvalid (wrapped) when it cannot.
	UpdateStatus(ctx context.Context, id string, to alert.Status, reason alert.ResolvedReason, by string, at time.Time) (*alert.Alert, error)
	// FindOpenByFingerprint returns the unresolved alert with the
	// fingerprint (the most recently observed one, should there be several);
	// ErrNotFound (wrapped) when there is none.
	FindOpenByFingerprint(ctx context.Context, fingerprint string) (*alert.Alert, error)
	// Close releases the database. Calls after Close fail.
	Close() error
}

// ListQuery selects alerts. The zero value selects all alerts, newest
// detection first.
//
// Every slice filter follows one rule: nil means "do not filter"; a non-nil
// empty slice matches nothing. So a token scoped to no tenant, passed as
// TenantIDs: []string{}, sees no alert rather than all of them.
type ListQuery struct {
	TenantIDs       []string
	SubscriptionIDs []string
	Statuses        []alert.Status
	Types           []string
	Severities      []alert.Severity

	// DetectedFrom and DetectedTo bound Detected to [DetectedFrom,
	// DetectedTo); a zero time leaves that side open.
	DetectedFrom, DetectedTo time.Time

	// Filter is an extra condition ANDed with the filters above: an OData
	// filter (package odata's typed tree, as parsed from $filter or built
	// with its helpers) over the column names listed by [Columns], each
	// column a property of its own name and kind (text columns allow
	// contains, startswith and endswith). Every store checks it against
	// that whitelist ([odata.CheckExpr]) and compiles it for its own SQL
	// dialect, literals as bound arguments; a filter that fails the check
	// is ErrInvalid. Text columns hold "" for "none", so comparing one
	// with null compares it with "".
	Filter odata.Expr

	// EntityText, when not empty (after trimming spaces), keeps the alerts
	// with an entity value starting with it, or equal to it when it is in
	// double quotes ("..."), ASCII letters compared without case. The
	// values are the address, UPN and its domain, object ID, app ID, name,
	// resource ID, AS organisation and threat-intelligence entries of each
	// entity, and "country:XX" and "asn:N" (the dashboard's search).
	EntityText string

	// OrderBy sorts the result; columns must be listed by [Columns]. Empty
	// means detected_at descending. The ID is always the last key, in the
	// direction of the first, so pages are stable. NULLs sort last.
	OrderBy []Order

	// Limit caps the number of alerts returned (0: no cap); Offset skips
	// that many first. Both must not be negative.
	Limit, Offset int
}

// Order is one sort key of a [ListQuery].
type Order struct {
	Column string // a column listed by Columns
	Desc   bool
}

// ColumnKind is the type of values a column holds, as query fragments see it.
type ColumnKind uint8

// Column kinds.
const (
	KindText ColumnKind = iota // compare with string values
	KindInt                    // compare with int / int64 values
	KindTime                   // compare with time.Time values
)

// Column is one column of the alerts table that ListQuery.Filter and
// ListQuery.OrderBy may name.
type Column struct {
	Name string
	Kind ColumnKind
	// Nullable columns hold NULL for a zero time.
	Nullable bool
}

// columns is the whitelist; the schema of every dialect has these names.
var columns = []Column{
	{Name: "id", Kind: KindText},
	{Name: "type", Kind: KindText},
	{Name: "fingerprint", Kind: KindText},
	{Name: "severity", Kind: KindText},
	// severity_rank orders severities: informational 0, low 1, medium 2,
	// high 3 (alert.Severity.Rank).
	{Name: "severity_rank", Kind: KindInt},
	{Name: "status", Kind: KindText},
	{Name: "tenant_id", Kind: KindText},
	{Name: "subscription_id", Kind: KindText},
	{Name: "resource", Kind: KindText},
	{Name: "detected_at", Kind: KindTime},
	{Name: "first_observed_at", Kind: KindTime, Nullable: true},
	{Name: "last_observed_at", Kind: KindTime, Nullable: true},
	{Name: "updated_at", Kind: KindTime, Nullable: true},
	{Name: "event_count", Kind: KindInt},
	{Name: "resolved_reason", Kind: KindText},
	{Name: "resolved_by", Kind: KindText},
	{Name: "resolved_on", Kind: KindTime, Nullable: true},
	{Name: "suppressed_by", Kind: KindText},
	{Name: "previous_id", Kind: KindText},
}

// Columns lists the alerts columns that query fragments and sort keys may
// name, with their kinds. The caller may keep and modify the result.
func Columns() []Column {
	out := make([]Column, len(columns))
	copy(out, columns)
	return out
}

func column(name string) (Column, bool) {
	for _, c := range columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}
