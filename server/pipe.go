package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/metrics"
	"github.com/vigil-security/vigil/pipeline"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/source/azurelog"
	"github.com/vigil-security/vigil/source/filetail"
	"github.com/vigil-security/vigil/source/httppush"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// Input sources, as metrics label them.
const (
	sourcePush = "push"
	sourceFile = "file"
	sourceFlow = "flow"
)

// item is one unit of input for the pipeline: a spooled push body or a
// chunk of a followed file.
type item struct {
	// flows is a batch from the UDP collector (no acknowledgement: UDP
	// has none to give).
	flows []event.Flow
	push  *httppush.Record
	chunk *filetail.Chunk
	tail  *filetail.Follower // the chunk's follower
	// release, when set, is called once the item has been read (its
	// memory may go).
	release func()
	// at is when the input was accepted (a push: when it was spooled).
	at time.Time
}

// source returns the metrics label of the item's input.
func (it *item) source() string {
	if it.flows != nil {
		return sourceFlow
	}
	if it.push != nil {
		return sourcePush
	}
	return sourceFile
}

// live is the pipeline of a running server: the one stage chain
// (pipeline.Build) fed with items from the inputs instead of files, with
// what only a server needs: the pending batch is processed whenever the
// input queue runs dry, and each item is acknowledged to its input (spool
// position, file offset) only once the alerts of the batch holding its last
// record are stored. It is used from one goroutine.
type live struct {
	p      *pipeline.Pipeline
	engine *detect.Engine
	stored *pipeline.StoreSink
	spool  *httppush.Spool
	tails  []*filetail.Follower
	m      *metrics.Metrics
	log    *slog.Logger
	now    func() time.Time

	// ctx is the context of the current process/flush/advance call, for
	// the AfterBatch hook that stores alerts.
	ctx context.Context
	// sources counts the pending batch's events by source.
	sources map[string]float64
	// read are the items wholly read into the pending batch or an earlier
	// one, not yet acknowledged.
	read []item
	// batchOldest is when the oldest input of the pending batch was
	// accepted; oldest the same for the batches run since the last commit:
	// for the alert latency histogram.
	batchOldest, oldest time.Time
	// dir is the directory, to hold pushes to their token's scope.
	dir *tenancy.Index
	// skipUntil is the spool position of the checkpoint restored at start:
	// records before it were processed before the restart.
	skipUntil httppush.Pos
	// storeErr is the last failure to store alerts, nil once storing works.
	storeErr atomic.Pointer[error]
	// watermark is the engine's, in Unix nanoseconds, for /healthz.
	watermark atomic.Int64
}

// newLive builds the server's stage chain from the configuration, storing
// into st and counting into m.
func newLive(cfg config.Config, sil *silence.Silencer, st pipeline.AlertStore, m *metrics.Metrics, log *slog.Logger, now func() time.Time) (*live, error) {
	l := &live{stored: pipeline.NewStoreSink(st, now), m: m, log: log, now: now, dir: tenancy.NewIndex(&cfg.Directory),
		ctx: context.Background(), sources: map[string]float64{}}
	p, err := pipeline.Build(cfg, pipeline.BuildOptions{
		Sinks: []pipeline.Sink{l.stored, countingSink{m}}, Silencer: sil, Now: now, Live: true,
		OnFlowError: func(err error) { log.Debug("skipped flow data", "err", err) },
		OnRecordError: func(e *azurelog.RecordError) {
			log.Debug("skipped record", "err", e)
		},
		OnCandidateError: func(c alert.Candidate, err error) {
			// A detector bug must not stop the server: log and go on.
			log.Error("candidate rejected", "type", c.Type, "err", err)
		},
		OnBatch: func(events int, took time.Duration) {
			m.BatchSeconds.Observe(took.Seconds())
			m.BatchEvents.Observe(float64(events))
			for src, n := range l.sources {
				m.EventsOut.WithLabelValues(src).Add(n)
			}
			clear(l.sources)
			if !l.batchOldest.IsZero() && (l.oldest.IsZero() || l.batchOldest.Before(l.oldest)) {
				l.oldest = l.batchOldest
			}
			l.batchOldest = time.Time{}
		},
		AfterBatch: func() error {
			if wm := l.engine.Watermark(); !wm.IsZero() {
				m.Watermark.Set(float64(wm.UnixNano()) / 1e9)
				l.watermark.Store(wm.UnixNano())
			}
			return l.commitRetry(l.ctx)
		},
	})
	if err != nil {
		return nil, err
	}
	l.p, l.engine = p, p.Engine()
	return l, nil
}

// accepted notes when an input of the pending batch was accepted.
func (l *live) accepted(t time.Time) {
	if !t.IsZero() && (l.batchOldest.IsZero() || t.Before(l.batchOldest)) {
		l.batchOldest = t
	}
}

// countingSink counts alerts by type into the metrics: new, merged and
// suppressed by a rule.
type countingSink struct{ m *metrics.Metrics }

// Updated implements pipeline.Updater.
func (c countingSink) Updated(a *alert.Alert, created bool) error {
	if !created {
		c.m.AlertUpdates.WithLabelValues(a.Type).Inc()
		return nil
	}
	c.m.Alerts.WithLabelValues(a.Type).Inc()
	if a.SuppressedBy != "" {
		c.m.Suppressed.WithLabelValues(a.Type).Inc()
	}
	return nil
}

// Closed implements pipeline.Sink.
func (countingSink) Closed(*alert.Alert) error { return nil }

// process reads every record of one item into the pipeline, running full
// batches as they fill. An item that cannot be read to its end (garbage,
// cut-off gzip) is logged and counted; the records before the damage count.
// An error means alerts could not be stored before ctx ended.
func (l *live) process(ctx context.Context, it item) error {
	if it.release != nil {
		defer it.release()
	}
	l.ctx = ctx
	src := it.source()
	if it.push != nil && !l.skipUntil.Before(it.push.Next) {
		// Seen by the restored checkpoint already.
		l.spool.MarkConsumed(it.push.Next)
		return nil
	}
	if it.push != nil {
		l.accepted(it.push.Received)
	} else {
		l.accepted(it.at)
	}
	if it.flows != nil {
		in := l.m.EventsIn.WithLabelValues(src)
		for i := range it.flows {
			if err := l.p.AddFlow(&it.flows[i]); err != nil {
				return err
			}
		}
		in.Add(float64(len(it.flows)))
		l.sources[src] += float64(len(it.flows))
		return nil
	}
	var (
		name  string
		r     io.Reader
		scope pushScope
		toked bool
	)
	switch {
	case it.push != nil:
		name = "push:" + it.push.Pos.String()
		r = bytes.NewReader(it.push.Body)
		if scope, toked = parseOrigin(it.push.Origin, l.dir); toked {
			name = "push:" + scope.tokenID + ":" + it.push.Pos.String()
		}
	default:
		name = it.chunk.Name()
		rc, err := it.chunk.Open()
		if err != nil {
			l.unreadable(src, name, err)
			l.read = append(l.read, it)
			return nil
		}
		defer rc.Close()
		r = rc
	}
	in := l.m.EventsIn.WithLabelValues(src)
	skipped := l.m.EventsSkipped.WithLabelValues(src)
	before := l.p.Counters.Skipped.Load()
	var admitted, refused int
	err := l.p.ReadAzureFunc(ctx, r, name, func(op *event.Op) bool {
		in.Inc()
		if toked && !scope.admits(op, l.dir) {
			refused++
			if refused == 1 {
				l.log.Warn("push: records outside the token's scope refused", "input", name, "token", scope.tokenID,
					"subscription", op.SubscriptionID, "tenant", op.TenantID, "line", op.Pos.Line, "record", op.Pos.Index)
			}
			return false
		}
		admitted++
		l.sources[src]++
		return true
	})
	skipped.Add(float64(l.p.Counters.Skipped.Load() - before))
	if refused > 0 {
		l.m.Drops.WithLabelValues(src, metrics.DropOutOfScope).Add(float64(refused))
	}
	if toked {
		l.stored.Record(store.Activity{
			Time: l.now(), OperationType: store.OpLogsPushed, Actor: scope.name,
			ResourceType: store.ResourcePush, ResourceID: it.push.Pos.String(),
			Details: map[string]string{"tokenId": scope.tokenID, "records": strconv.Itoa(admitted),
				"refusedOutOfScope": strconv.Itoa(refused), "received": it.push.Received.UTC().Format(time.RFC3339Nano)},
		})
	}
	var ierr *pipeline.InputError
	if errors.As(err, &ierr) {
		l.unreadable(src, name, ierr.Err)
		err = nil
	}
	if err != nil {
		return err
	}
	if it.push != nil {
		it.push.Body = nil // only its position is needed now
	}
	it.release = nil
	l.read = append(l.read, it)
	return nil
}

func (l *live) unreadable(src, name string, err error) {
	l.m.Drops.WithLabelValues(src, metrics.DropUnread).Inc()
	l.log.Warn("input not read to its end", "input", name, "err", err)
}

// flush runs the pending batch through the engine and the manager, stores
// the alerts, and acknowledges the items read so far. With nothing pending
// it only retries what a failed flush left.
func (l *live) flush(ctx context.Context) error {
	l.ctx = ctx
	return l.p.Flush()
}

// advance moves event time to t (wall clock minus lateness on a quiet
// input) and stores what that closes.
func (l *live) advance(ctx context.Context, t time.Time) error {
	l.ctx = ctx
	return l.p.AdvanceTo(t)
}

// Store retries.
const (
	storeTimeout  = 30 * time.Second
	retryFirst    = 100 * time.Millisecond
	retryMaxDelay = 10 * time.Second
)

// commitRetry commits, retrying with backoff while the store fails (a full
// disk, a locked database): the pipeline waits, input backs up into the
// spool (which then answers 503), and nothing is lost. It gives up only
// when ctx is done, returning the store's error.
func (l *live) commitRetry(ctx context.Context) error {
	delay := retryFirst
	for {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		err := l.commit(sctx)
		cancel()
		if err == nil {
			l.storeErr.Store(nil)
			return nil
		}
		l.storeErr.Store(&err)
		l.log.Error("storing alerts failed; retrying", "err", err, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		delay = min(2*delay, retryMaxDelay)
	}
}

// commit stores the pending alerts, then acknowledges the items wholly
// processed and persists the inputs' positions.
func (l *live) commit(ctx context.Context) error {
	hadAlerts := l.stored.Pending() > 0
	if err := l.stored.Commit(ctx); err != nil {
		return err
	}
	if hadAlerts && !l.oldest.IsZero() {
		l.m.AlertLatency.Observe(l.now().Sub(l.oldest).Seconds())
	}
	l.oldest = time.Time{}
	// The items are processed and their alerts stored: mark them so. The
	// positions become durable only with the next checkpoint, together
	// with the detector state that has seen them.
	for _, it := range l.read {
		switch {
		case it.push != nil:
			l.spool.MarkConsumed(it.push.Next)
		default:
			it.tail.Done(*it.chunk)
		}
	}
	clear(l.read)
	l.read = l.read[:0]
	return nil
}

// checkpoint runs the pending batch, stores its alerts, and makes the
// detectors' state, the open alerts and the input positions durable
// together (see checkpoint.go); then the inputs may forget what it covers.
func (l *live) checkpoint(ctx context.Context, cp *checkpointer) error {
	if err := l.flush(ctx); err != nil {
		return err
	}
	if err := cp.write(l); err != nil {
		l.m.SnapshotErrors.Inc()
		return err
	}
	l.m.Snapshots.Inc()
	var errs []error
	if l.spool != nil {
		if err := l.spool.Commit(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, t := range l.tails {
		if err := t.Commit(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		// The checkpoint holds the positions; these files only let the
		// inputs drop what it covers, and the next checkpoint retries.
		l.log.Error("saving input positions", "err", err)
	}
	return nil
}
