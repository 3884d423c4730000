// Package export is the continuous export of alerts and their changes, as
// Defender for Cloud's continuous export to Event Hubs gives: each outbox
// entry of an export target becomes one JSON record — the change (event,
// old and new value, time, idempotency key) and the alert in the API's
// shape — appended to a rotating JSON-lines file or produced to a Kafka
// topic (or an Event Hub through its Kafka endpoint), filtered by
// severity, alert type, tenant and subscription. Delivery is at least once:
// a record may be written again after a crash, with the same
// idempotencyKey.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/store"
)

// Kind is the store.Target.Kind of export sinks.
const Kind = "export"

// Record is one exported change.
type Record struct {
	IdempotencyKey  string            `json:"idempotencyKey"`
	Event           string            `json:"event"`
	ChangedDateTime string            `json:"changedDateTime"`
	OldValue        string            `json:"oldValue,omitempty"`
	NewValue        string            `json:"newValue,omitempty"`
	AlertID         string            `json:"alertId"`
	Alert           *alert.GraphAlert `json:"alert"`
}

// Sink receives the records of one target.
type Sink interface {
	// Write stores the records durably (or returns an error), in order.
	Write(ctx context.Context, recs []Record, lines [][]byte) error
}

// Options configures the notifier.
type Options struct {
	Alerts interface {
		GetAlert(ctx context.Context, id string) (*alert.Alert, error)
	}
	// Sinks by target ID.
	Sinks map[string]Sink
	// Language of the alert texts (default en).
	Language string
}

// Notifier exports entries.
type Notifier struct{ o Options }

// New returns a notifier.
func New(o Options) (*Notifier, error) {
	if o.Alerts == nil {
		return nil, errors.New("export: no alert store")
	}
	if o.Language == "" {
		o.Language = "en"
	}
	return &Notifier{o: o}, nil
}

// Kind implements notify.Notifier.
func (n *Notifier) Kind() string { return Kind }

// Target returns an export target with its filter as settings.
func Target(id string, f notify.Filter) (store.Target, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return store.Target{}, err
	}
	return store.Target{ID: id, Kind: Kind, Source: "config", Config: b}, nil
}

// Deliver implements notify.Notifier: the wanted entries of the batch are
// written in one call of the sink.
func (n *Notifier) Deliver(ctx context.Context, t store.Target, es []store.OutboxEntry, _ time.Time) []notify.Result {
	out := make([]notify.Result, len(es))
	sink := n.o.Sinks[t.ID]
	var f notify.Filter
	err := json.Unmarshal(t.Config, &f)
	if sink == nil && err == nil {
		err = fmt.Errorf("export: no sink for %s in this process's configuration", t.ID)
	}
	if err != nil {
		for i := range out {
			out[i] = notify.Result{Outcome: notify.Retry, Err: err}
		}
		return out
	}
	var (
		recs  []Record
		lines [][]byte
		idx   []int
	)
	for i := range es {
		e := &es[i]
		if !slices.Contains([]string{store.EventAlertCreated, store.EventSeverityRaised, store.EventStatusChanged}, e.Event) {
			out[i] = notify.Result{Outcome: notify.Skipped, Detail: "not an alert change"}
			continue
		}
		if !f.Match(e.TenantID, e.SubscriptionID, e.AlertType, e.Severity) {
			out[i] = notify.Result{Outcome: notify.Skipped, Detail: "outside the export's filter"}
			continue
		}
		r := Record{IdempotencyKey: e.Key, Event: e.Event, ChangedDateTime: e.Created.UTC().Format(time.RFC3339Nano),
			OldValue: e.Old, NewValue: e.New, AlertID: e.AlertID}
		a, err := n.o.Alerts.GetAlert(ctx, e.AlertID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			out[i] = notify.Result{Outcome: notify.Retry, Err: err}
			continue
		default:
			g := alert.Render(a, n.o.Language)
			r.Alert = &g
		}
		b, err := json.Marshal(r)
		if err != nil {
			out[i] = notify.Result{Outcome: notify.Permanent, Err: err}
			continue
		}
		recs, lines, idx = append(recs, r), append(lines, append(b, '\n')), append(idx, i)
	}
	if len(recs) == 0 {
		return out
	}
	res := notify.Result{Outcome: notify.Delivered, Detail: "exported"}
	if err := sink.Write(ctx, recs, lines); err != nil {
		res = notify.Result{Outcome: notify.Retry, Err: err}
	}
	for _, i := range idx {
		out[i] = res
	}
	return out
}

// FileSink writes records to a rotating file.
type FileSink struct{ W *FileWriter }

// Write implements Sink.
func (s FileSink) Write(_ context.Context, _ []Record, lines [][]byte) error { return s.W.Write(lines) }
