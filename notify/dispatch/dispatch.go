// Package dispatch delivers the store's outbox: it claims due entries under
// a lease, groups them by target, hands each group to the notifier of the
// target's kind and records every outcome — done, retried after an
// exponential backoff with jitter, deferred, or failed after the last
// attempt. Several dispatchers, in one process or many, may share an
// outbox: the lease gives each entry to one of them at a time, and a
// dispatcher that dies gives its entries back when its lease ends.
package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/store"
)

// Backoff is the retry schedule: attempt n (from 1) waits
// min(Max, Base*Factor^(n-1)), of which the last Jitter fraction is random.
type Backoff struct {
	Base, Max time.Duration
	Factor    float64
	Jitter    float64 // 0..1
}

// Delay returns the wait after the attempt-th failed attempt; r in [0,1).
func (b Backoff) Delay(attempt int, r float64) time.Duration {
	d := float64(b.Base) * math.Pow(b.Factor, float64(max(attempt, 1)-1))
	if d > float64(b.Max) || math.IsInf(d, 1) {
		d = float64(b.Max)
	}
	j := min(max(b.Jitter, 0), 1)
	return time.Duration(d*(1-j) + d*j*r)
}

// DefaultBackoff is 2 s doubling to 15 minutes, half of each wait random.
var DefaultBackoff = Backoff{Base: 2 * time.Second, Max: 15 * time.Minute, Factor: 2, Jitter: 0.5}

// Options configures a Dispatcher.
type Options struct {
	// Outbox is the store's outbox. Required.
	Outbox store.Outbox
	// Notifiers deliver by target kind. A target of a kind without one has
	// its entries failed ("no notifier").
	Notifiers []notify.Notifier
	// Owner names this dispatcher in claims; empty means a random name.
	Owner string
	// Lease is how long a claim holds (default 2 minutes): longer than a
	// notifier takes for one batch.
	Lease time.Duration
	// Batch is the most entries claimed at a time (default 256).
	Batch int
	// Workers is how many batches are delivered at once (default 4).
	Workers int
	// Poll is how often the outbox is looked at without a signal (default
	// 1 s): entries written by another process, retries coming due.
	Poll time.Duration
	// Backoff is the retry schedule (default DefaultBackoff).
	Backoff Backoff
	// MaxAttempts is the attempts after which an entry is failed (default
	// 30: about six hours with the default backoff).
	MaxAttempts int
	// Now is the clock (default time.Now); tests move it by hand.
	Now func() time.Time
	// Rand gives the jitter, in [0,1) (default math/rand/v2).
	Rand func() float64
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives failures; nil discards them.
	Logger *slog.Logger
}

// Dispatcher delivers the outbox. Create it with New.
type Dispatcher struct {
	o         Options
	notifiers map[string]notify.Notifier

	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	entries  *prometheus.GaugeVec
}

// New returns a dispatcher; it fails when the options are unusable.
func New(o Options) (*Dispatcher, error) {
	if o.Outbox == nil {
		return nil, errors.New("dispatch: no outbox")
	}
	if o.Owner == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		o.Owner = "dispatch-" + hex.EncodeToString(b[:])
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Backoff == (Backoff{}) {
		o.Backoff = DefaultBackoff
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 30
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = mrand.Float64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{o: o, notifiers: map[string]notify.Notifier{}}
	for _, n := range o.Notifiers {
		if _, dup := d.notifiers[n.Kind()]; dup {
			return nil, fmt.Errorf("dispatch: two notifiers of kind %q", n.Kind())
		}
		d.notifiers[n.Kind()] = n
	}
	d.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_notify_attempts_total",
		Help: "Outbox delivery attempts by target kind and outcome (delivered, skipped, retry, defer, failed).",
	}, []string{"kind", "outcome"})
	d.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vigil_notify_delivery_seconds",
		Help:    "Time from an outbox entry's creation to its delivery, by target kind.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 300, 3600, 21600},
	}, []string{"kind"})
	d.entries = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vigil_notify_outbox_entries",
		Help: "Outbox entries pending and failed, as last counted (every 5 s).",
	}, []string{"state"})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{d.attempts, d.latency, d.entries} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("dispatch: metrics: %w", err)
			}
		}
	}
	return d, nil
}

// Owner returns the name the dispatcher claims under.
func (d *Dispatcher) Owner() string { return d.o.Owner }

// Run delivers until ctx is done, then waits for the batches in flight and
// returns nil. Entries claimed but not finished when it returns are given
// back when their lease ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range d.o.Workers {
		wg.Go(func() { d.loop(ctx) })
	}
	wg.Go(func() { d.countLoop(ctx) })
	wg.Wait()
	return nil
}

// loop is one worker: step while there is work, else wait for a signal or
// the poll interval.
func (d *Dispatcher) loop(ctx context.Context) {
	t := time.NewTicker(d.o.Poll)
	defer t.Stop()
	for ctx.Err() == nil {
		n, err := d.Step(context.WithoutCancel(ctx))
		if err != nil {
			d.o.Logger.Warn("notify: dispatch step failed", slog.Any("error", err))
		}
		if n == d.o.Batch && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
		case <-d.o.Outbox.OutboxSignal():
		case <-t.C:
		}
	}
}

// countLoop refreshes the outbox gauge.
func (d *Dispatcher) countLoop(ctx context.Context) {
	t := time.NewTicker(max(d.o.Poll, 5*time.Second))
	defer t.Stop()
	for {
		// Done entries are counted by vigil_notify_attempts_total; counting
		// them here would read the whole retention period.
		if n, err := d.o.Outbox.OutboxCounts(ctx, store.OutboxPending, store.OutboxFailed); err == nil {
			for st, c := range n {
				d.entries.WithLabelValues(st).Set(float64(c))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Step claims one batch of due entries, delivers it and records the
// outcomes; it returns how many entries it claimed. Tests drive the
// dispatcher with Step and a clock of their own.
func (d *Dispatcher) Step(ctx context.Context) (int, error) {
	now := d.o.Now()
	claimed, err := d.o.Outbox.ClaimOutbox(ctx, store.Claim{Owner: d.o.Owner, Now: now, Lease: d.o.Lease, Limit: d.o.Batch})
	if err != nil {
		return 0, fmt.Errorf("dispatch: %w", err)
	}
	if len(claimed) == 0 {
		return 0, nil
	}
	targets, err := d.targetsFor(ctx)
	if err != nil {
		return len(claimed), err // the lease gives them back
	}
	groups := map[string][]store.OutboxEntry{}
	var order []string
	for _, e := range claimed {
		if _, ok := groups[e.TargetID]; !ok {
			order = append(order, e.TargetID)
		}
		groups[e.TargetID] = append(groups[e.TargetID], e)
	}
	finishes := make([][]store.Finish, len(order))
	// Notifiers get three quarters of the lease, so the outcomes are
	// recorded before another dispatcher may claim the entries again.
	dctx, cancel := context.WithTimeout(ctx, d.o.Lease*3/4)
	var wg sync.WaitGroup
	for i, id := range order {
		wg.Go(func() { finishes[i] = d.deliver(dctx, targets, id, groups[id]) })
	}
	wg.Wait()
	cancel()
	var all []store.Finish
	for _, f := range finishes {
		all = append(all, f...)
	}
	lost, err := d.o.Outbox.FinishOutbox(ctx, d.o.Owner, all)
	if err != nil {
		return len(claimed), fmt.Errorf("dispatch: %w", err)
	}
	if len(lost) > 0 {
		d.o.Logger.Warn("notify: leases lost before finishing; another dispatcher redelivers", slog.Int("entries", len(lost)))
	}
	return len(claimed), nil
}

// targetsFor returns the targets as they are now: a registration
// changed a moment ago applies to the entries delivered after it.
func (d *Dispatcher) targetsFor(ctx context.Context) (map[string]store.Target, error) {
	list, err := d.o.Outbox.ListTargets(ctx)
	if err != nil {
		return nil, fmt.Errorf("dispatch: %w", err)
	}
	out := make(map[string]store.Target, len(list))
	for _, t := range list {
		out[t.ID] = t
	}
	return out, nil
}

// deliver runs one target's entries through its notifier and turns the
// results into finishes.
func (d *Dispatcher) deliver(ctx context.Context, targets map[string]store.Target, id string, es []store.OutboxEntry) []store.Finish {
	t, ok := targets[id]
	var results []notify.Result
	kind := "unknown"
	switch n := d.notifiers[t.Kind]; {
	case !ok:
		results = repeat(notify.Result{Outcome: notify.Permanent, Err: errors.New("target deleted")}, len(es))
	case n == nil:
		kind = t.Kind
		results = repeat(notify.Result{Outcome: notify.Permanent, Err: fmt.Errorf("no notifier for kind %q", t.Kind)}, len(es))
	default:
		kind = t.Kind
		results = n.Deliver(ctx, t, es, d.o.Now())
		if len(results) != len(es) {
			results = repeat(notify.Result{Outcome: notify.Retry,
				Err: fmt.Errorf("notifier %s returned %d results for %d entries", kind, len(results), len(es))}, len(es))
		}
	}
	at := d.o.Now()
	out := make([]store.Finish, len(es))
	for i, e := range es {
		r := results[i]
		f := store.Finish{ID: e.ID, Attempts: e.Attempts, At: at, Result: r.Detail}
		if r.Err != nil {
			f.Error = r.Err.Error()
		}
		outcome := r.Outcome.String()
		switch r.Outcome {
		case notify.Delivered, notify.Skipped:
			f.State = store.OutboxDone
			if f.Result == "" {
				f.Result = outcome
			} else if r.Outcome == notify.Skipped {
				f.Result = "skipped: " + f.Result
			}
			if r.Outcome == notify.Delivered {
				d.latency.WithLabelValues(kind).Observe(at.Sub(e.Created).Seconds())
			}
		case notify.Defer:
			f.State, f.Next = store.OutboxPending, r.Until
			if !f.Next.After(at) {
				f.Next = at
			}
		case notify.Retry:
			if e.Attempts >= d.o.MaxAttempts {
				f.State, outcome = store.OutboxFailed, "failed"
				f.Error = fmt.Sprintf("gave up after %d attempts: %s", e.Attempts, f.Error)
				d.o.Logger.Error("notify: delivery failed for good", slog.String("target", id),
					slog.Int64("entry", e.ID), slog.String("error", f.Error))
				break
			}
			f.State, f.Next = store.OutboxPending, at.Add(d.o.Backoff.Delay(e.Attempts, d.o.Rand()))
		default:
			f.State, outcome = store.OutboxFailed, "failed"
			d.o.Logger.Error("notify: delivery failed", slog.String("target", id),
				slog.Int64("entry", e.ID), slog.String("error", f.Error))
		}
		d.attempts.WithLabelValues(kind, outcome).Inc()
		out[i] = f
	}
	return out
}

func repeat(r notify.Result, n int) []notify.Result {
	out := make([]notify.Result, n)
	for i := range out {
		out[i] = r
	}
	return out
}
