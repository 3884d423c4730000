package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/enrich"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/metrics"
	"github.com/vigil-security/vigil/pipeline"
	"github.com/vigil-security/vigil/source/azurelog"
	"github.com/vigil-security/vigil/source/filetail"
	"github.com/vigil-security/vigil/source/httppush"
)

// Input sources, as metrics label them.
const (
	sourcePush = "push"
	sourceFile = "file"
)

// item is one unit of input for the pipeline: a spooled push body or a
// chunk of a followed file.
type item struct {
	push  *httppush.Record
	chunk *filetail.Chunk
	tail  *filetail.Follower // the chunk's follower
	// release, when set, is called once the item has been read (its
	// memory may go).
	release func()
}

// source returns the metrics label of the item's input.
func (it *item) source() string {
	if it.push != nil {
		return sourcePush
	}
	return sourceFile
}

// live is the pipeline of a running server: the stages of package pipeline
// (enrich, detect in batches on event time, the alert manager, a sink), fed
// with items from the inputs instead of files, with two things a finite run
// does not need: the pending batch is processed whenever the input queue
// runs dry, and each item is acknowledged to its input (spool position,
// file offset) only once the alerts of the batch holding its last record are
// stored. It is used from one goroutine.
type live struct {
	enricher *enrich.Enricher
	engine   *detect.Engine
	manager  *alert.Manager
	sink     *alertSink
	spool    *httppush.Spool
	tails    []*filetail.Follower
	m        *metrics.Metrics
	log      *slog.Logger
	counters *pipeline.Counters

	batch   []event.Op
	n       int
	arena   []byte             // copies of the batch's raw records
	sources map[string]float64 // events of the batch by source
	// read are the items wholly read into the pending batch or an earlier
	// one, not yet acknowledged.
	read []item
	// storeErr is the last failure to store alerts, nil once storing works.
	storeErr atomic.Pointer[error]
	// watermark is the engine's, in Unix nanoseconds, for /healthz.
	watermark atomic.Int64
}

// init allocates the batch; call it once the fields above are set.
func (l *live) init() {
	l.batch = make([]event.Op, pipeline.BatchSize)
	l.sources = map[string]float64{}
}

// process reads every record of one item into the pipeline, running full
// batches as they fill. An item that cannot be read to its end (garbage,
// cut-off gzip) is logged and counted; the records before the damage count.
// An error means alerts could not be stored before ctx ended.
func (l *live) process(ctx context.Context, it item) error {
	if it.release != nil {
		defer it.release()
	}
	src := it.source()
	var (
		name string
		r    io.Reader
	)
	switch {
	case it.push != nil:
		name = "push:" + it.push.Pos.String()
		r = bytes.NewReader(it.push.Body)
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
	err := l.readAzure(ctx, r, name, src)
	var rerr *readError
	if errors.As(err, &rerr) {
		l.unreadable(src, name, rerr.err)
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

// readError is an input that could not be read (not a store error).
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }

// readAzure is pipeline.Pipeline.ReadAzure over the live batch.
func (l *live) readAzure(ctx context.Context, r io.Reader, name, src string) error {
	skipped := l.m.EventsSkipped.WithLabelValues(src)
	in := l.m.EventsIn.WithLabelValues(src)
	rd, err := azurelog.NewReader(r, name, azurelog.Options{OnError: func(e *azurelog.RecordError) {
		l.counters.Skipped.Add(1)
		skipped.Inc()
		l.log.Debug("skipped record", "err", e)
	}})
	if err != nil {
		return &readError{err}
	}
	for {
		if l.n == len(l.batch) {
			if err := l.flush(ctx); err != nil {
				return err
			}
		}
		op := &l.batch[l.n]
		err := rd.Next(op)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &readError{err}
		}
		if len(op.Raw) > 0 {
			start := len(l.arena)
			l.arena = append(l.arena, op.Raw...)
			op.Raw = l.arena[start:len(l.arena):len(l.arena)]
		}
		if l.enricher != nil {
			l.enricher.Enrich(op)
		}
		l.n++
		l.sources[src]++
		in.Inc()
		l.counters.Records.Add(1)
	}
}

// flush runs the pending batch through the engine and the manager, stores
// the alerts, and acknowledges the items read so far. With nothing pending
// it only retries what a failed flush left.
func (l *live) flush(ctx context.Context) error {
	if l.n > 0 {
		start := time.Now()
		late := l.engine.Stats().Late
		cands := l.engine.Process(l.batch[:l.n])
		if l.engine.Stats().Late > late {
			// Records older than the watermark (a backfill after the wall
			// clock moved event time on) wait in the detectors for the
			// next advance, which newer events may never bring: release
			// them now.
			cands = append(cands, l.engine.AdvanceTo(l.engine.Watermark().Add(time.Nanosecond))...)
		}
		l.m.BatchSeconds.Observe(time.Since(start).Seconds())
		l.m.BatchEvents.Observe(float64(l.n))
		for src, n := range l.sources {
			l.m.EventsOut.WithLabelValues(src).Add(n)
		}
		clear(l.sources)
		clear(l.batch[:l.n]) // drop references into the arena and strings
		l.n = 0
		l.arena = l.arena[:0]
		if err := l.take(cands); err != nil {
			return err
		}
	}
	return l.commitRetry(ctx)
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

// advance moves event time to t (wall clock minus lateness on a quiet
// input) and stores what that closes.
func (l *live) advance(ctx context.Context, t time.Time) error {
	if l.n > 0 {
		if err := l.flush(ctx); err != nil {
			return err
		}
	}
	if err := l.take(l.engine.AdvanceTo(t)); err != nil {
		return err
	}
	return l.commitRetry(ctx)
}

// take hands candidates to the manager and its changes to the sink, then
// lets the windows that ended close.
func (l *live) take(cands []alert.Candidate) error {
	for _, c := range cands {
		a, created, err := l.manager.Add(c)
		if err != nil {
			// A detector bug must not stop the server: log and go on.
			l.log.Error("candidate rejected", "type", c.Type, "err", err)
			continue
		}
		if err := l.sink.Updated(a, created); err != nil {
			return err
		}
		if created {
			l.counters.Alerts.Add(1)
		} else {
			l.counters.Updates.Add(1)
		}
	}
	for _, a := range l.manager.Expire(l.engine.Watermark()) {
		if err := l.sink.Closed(a); err != nil {
			return err
		}
	}
	if wm := l.engine.Watermark(); !wm.IsZero() {
		l.m.Watermark.Set(float64(wm.UnixNano()) / 1e9)
		l.watermark.Store(wm.UnixNano())
	}
	return nil
}

// commit stores the pending alerts, then acknowledges the items wholly
// processed and persists the inputs' positions.
func (l *live) commit(ctx context.Context) error {
	if err := l.sink.commit(ctx); err != nil {
		return err
	}
	if len(l.read) == 0 {
		return nil
	}
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
		// The positions stay marked; the next commit writes them.
		l.log.Error("saving input positions", "err", err)
	}
	return nil
}

// snapshot writes the engine's state between batches.
func (l *live) snapshot(path string) error {
	if err := l.engine.SnapshotFile(path); err != nil {
		l.m.SnapshotErrors.Inc()
		return fmt.Errorf("snapshot engine state: %w", err)
	}
	l.m.Snapshots.Inc()
	return nil
}
