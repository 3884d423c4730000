// Package notify carries alerts to the people and systems that act on them,
// through the store's outbox (see store.Outbox): every alert change writes
// one outbox entry per target in the change's own transaction; the
// dispatcher (notify/dispatch) claims due entries under a lease and hands
// each target's entries to the notifier of its kind — signed webhooks in
// Partner Center's event shape (notify/webhook), e-mail per alert and the
// daily summary (notify/mail), continuous export as JSON lines and to Kafka
// (notify/export). Delivery is at least once: an entry is finished only
// after its notifier said how it went, retried with exponential backoff and
// jitter, and kept as failed after the last try, never dropped. Each entry
// carries an idempotency key that every attempt sends, so a receiver can
// drop the repeat of an attempt whose answer was lost.
package notify

import (
	"context"
	"time"

	"github.com/vigil-security/vigil/store"
)

// Outcome is how one entry's delivery attempt went.
type Outcome uint8

// Outcomes.
const (
	// Delivered: the target has it; the entry is done.
	Delivered Outcome = iota
	// Skipped: the target does not want it (out of its scope, below its
	// severity, an event it did not ask for); the entry is done, its result
	// says why.
	Skipped
	// Retry: a transient failure; try again after a backoff.
	Retry
	// Defer: hold the entry until Result.Until, not a failure (a throttled
	// mail waiting for its window).
	Defer
	// Permanent: it can never succeed (the target's address is refused);
	// the entry is failed at once.
	Permanent
)

var outcomeNames = [...]string{"delivered", "skipped", "retry", "defer", "permanent"}

// String returns the outcome's name, as used in metric labels.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Result is the outcome of one entry.
type Result struct {
	Outcome Outcome
	// Until is when a deferred entry is due again.
	Until time.Time
	// Err says what went wrong (Retry, Permanent).
	Err error
	// Detail is a short text kept with a done entry ("200 OK", "below
	// minimum severity").
	Detail string
}

// Suppressed reports whether an entry is the creation of an alert that was
// stored resolved at once (a suppression rule matched it): webhooks and
// mail stay quiet about those, as Defender does; the export records them.
func Suppressed(e *store.OutboxEntry) bool {
	return e.Event == store.EventAlertCreated && e.New == "resolved"
}

// Notifier delivers the outbox entries of targets of one kind.
type Notifier interface {
	// Kind is the store.Target.Kind it delivers.
	Kind() string
	// Deliver attempts the entries of one target, claimed together, in ID
	// order, and returns one result per entry, in their order. now is the
	// dispatcher's clock. It must return within the dispatcher's lease.
	Deliver(ctx context.Context, target store.Target, entries []store.OutboxEntry, now time.Time) []Result
}
