package store

import (
	"context"
	"errors"
	"time"

	"github.com/vigil-security/vigil/alert"
)

// Outbox events: what change of an alert an outbox entry reports. Entries
// enqueued directly (test events, summaries) carry their own event names.
const (
	// EventAlertCreated: a new alert was stored.
	EventAlertCreated = "alertCreated"
	// EventSeverityRaised: a stored alert's severity went up.
	EventSeverityRaised = "severityRaised"
	// EventStatusChanged: a stored alert's status changed.
	EventStatusChanged = "statusChanged"
)

// Outbox entry states.
const (
	OutboxPending = "pending" // waiting for (another) delivery attempt
	OutboxDone    = "done"    // delivered (or deliberately not: see Result)
	OutboxFailed  = "failed"  // gave up after the last attempt; kept, visible
)

// ErrLeaseLost: a finish named an entry the caller no longer holds (its
// lease expired and another dispatcher claimed it, or it is no longer
// pending). The other holder's delivery counts.
var ErrLeaseLost = errors.New("outbox lease lost")

// Target is one place notifications go: a webhook registration, an e-mail
// recipient, an export sink. Every alert change writes one outbox entry per
// target, in the change's transaction; which of them are of interest to a
// target is decided at delivery, by its notifier.
type Target struct {
	// ID names the target, such as "webhook:partner:<id>" or
	// "mail:soc@example.com". Required.
	ID string
	// Kind says which notifier delivers its entries ("webhook", "mail",
	// "export"). Required.
	Kind string
	// PartnerID or TenantID is the scope of a target registered through the
	// API; both empty for targets from the configuration.
	PartnerID, TenantID string
	// Source is "api" or "config".
	Source string
	// Config is the notifier's settings as JSON.
	Config []byte
	// Created and Updated are set by the store when zero.
	Created, Updated time.Time
}

// OutboxEntry is one notification to deliver to one target.
type OutboxEntry struct {
	ID int64
	// Key is the idempotency key: unique, sent with every attempt, so a
	// receiver can drop the repeat of an attempt whose answer was lost.
	Key      string
	TargetID string
	Event    string

	// The alert the change is about, as it was at the change.
	AlertID, AlertType       string
	Severity                 alert.Severity
	TenantID, SubscriptionID string
	// Old and New are the values that changed: statuses or severities; for
	// a new alert, New is its status.
	Old, New string
	// Payload is the content of an entry enqueued directly (nil for alert
	// changes).
	Payload []byte

	Created time.Time
	State   string
	// Attempts counts claims, the current one included.
	Attempts int
	// Next is when the entry is due: its next attempt, or the end of the
	// current claim's lease.
	Next time.Time
	// Owner is the dispatcher that claimed it last.
	Owner     string
	Done      time.Time
	LastError string
	// Result says how a done entry ended ("delivered", "skipped: ...").
	Result string
}

// Claim asks for due entries.
type Claim struct {
	// Owner names the claiming dispatcher; required.
	Owner string
	// Now is the claim's time: entries with Next <= Now are due.
	Now time.Time
	// Lease is how long the claim holds: an entry not finished by Now+Lease
	// is due again. Must be positive.
	Lease time.Duration
	// Limit caps the entries claimed; must be positive.
	Limit int
}

// Finish is the outcome of one claimed entry's attempt.
type Finish struct {
	ID       int64
	Attempts int    // the Attempts of the claim, fencing a stale finish
	State    string // OutboxDone, OutboxFailed, or OutboxPending to retry at Next
	Next     time.Time
	Error    string
	Result   string
	At       time.Time
}

// OutboxQuery selects entries for inspection. nil slices do not filter.
type OutboxQuery struct {
	States    []string
	TargetIDs []string
	AlertIDs  []string
	// AfterID lists entries with a larger ID only (for paging).
	AfterID int64
	// Limit caps the result (0: 1000).
	Limit int
}

// Outbox is the notification outbox, beside [Store]: alert changes saved
// through the Store write their entries in the same transaction; a
// dispatcher claims due entries under a lease, delivers them and finishes
// them. Implementations are safe for concurrent use, by several processes.
type Outbox interface {
	// PutTarget inserts or replaces the target with t.ID.
	PutTarget(ctx context.Context, t Target) error
	// GetTarget returns the target; ErrNotFound when there is none.
	GetTarget(ctx context.Context, id string) (Target, error)
	// ListTargets returns every target, by ID.
	ListTargets(ctx context.Context) ([]Target, error)
	// DeleteTarget removes the target; its pending entries become failed
	// ("target deleted"), so none disappears unseen. ErrNotFound when there
	// is none.
	DeleteTarget(ctx context.Context, id string, at time.Time) error
	// Enqueue adds an entry for e.TargetID (which must exist) with e's
	// event, alert fields and payload, due at e.Next (e.Created when zero),
	// and returns it as stored, with its ID and key.
	Enqueue(ctx context.Context, e OutboxEntry) (OutboxEntry, error)
	// EnqueueOnce is Enqueue unless the target already has an entry (in
	// any state) of e's Event and AlertID: then it returns that entry and
	// false. Instances enqueueing the same entry at once add it once (a
	// daily summary is sent once).
	EnqueueOnce(ctx context.Context, e OutboxEntry) (OutboxEntry, bool, error)
	// ClaimOutbox leases up to c.Limit due pending entries to c.Owner, the
	// oldest due first, counting an attempt on each.
	ClaimOutbox(ctx context.Context, c Claim) ([]OutboxEntry, error)
	// FinishOutbox records outcomes of entries claimed by owner, in one
	// transaction. Outcomes of entries the owner no longer holds (other
	// Attempts, not pending) are not applied; their IDs are returned.
	FinishOutbox(ctx context.Context, owner string, fs []Finish) (lost []int64, err error)
	// GetOutbox returns one entry; ErrNotFound when there is none.
	GetOutbox(ctx context.Context, id int64) (OutboxEntry, error)
	// ListOutbox returns entries matching q, by ID.
	ListOutbox(ctx context.Context, q OutboxQuery) ([]OutboxEntry, error)
	// OutboxCounts counts entries by state: the states given, or all three
	// (every state is in the map, zero when none).
	OutboxCounts(ctx context.Context, states ...string) (map[string]int, error)
	// RequeueOutbox makes the failed entries of the targets (all targets
	// when targetIDs is nil) pending again, due at at, with their attempts
	// reset, and returns how many: after a receiver is fixed, what it
	// missed is delivered. Entries of targets that no longer exist stay.
	RequeueOutbox(ctx context.Context, targetIDs []string, at time.Time) (int, error)
	// PruneOutbox deletes done entries finished before t and returns how
	// many. Failed entries are kept.
	PruneOutbox(ctx context.Context, before time.Time) (int, error)
	// Mark returns the time stored under key (zero when none); SetMark
	// stores it. Notifiers keep their durable state there (when a throttled
	// mail last went out).
	Mark(ctx context.Context, key string) (time.Time, error)
	SetMark(ctx context.Context, key string, at time.Time) error
	// OutboxSignal returns a channel that receives (without blocking the
	// writer, so several commits may give one receive) after a commit of
	// this store instance wrote outbox entries. Other processes' writes are
	// seen by polling.
	OutboxSignal() <-chan struct{}
}
