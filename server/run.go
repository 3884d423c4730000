package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/metrics"
	"github.com/vigil-security/vigil/source/filetail"
)

// Serve runs the server on ln until ctx is done, then shuts down
// gracefully: the HTTP server stops accepting and finishes the requests in
// flight, the inputs stop, the pipeline drains the queue and the spool
// (for at most Server.ShutdownTimeout; what is left stays spooled), the
// engine's state is saved, and everything is closed. It returns nil after a
// clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.Close()
	srv, err := s.httpServer(ln)
	if err != nil {
		ln.Close()
		return err
	}
	stopNotify, err := s.startNotify(ctx, ln, srv.TLSConfig != nil) // issue 10: notifications
	if err != nil {
		ln.Close()
		return fmt.Errorf("notifications: %w", err)
	}
	defer stopNotify()
	httpDone := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			httpDone <- srv.ServeTLS(ln, "", "")
			return
		}
		httpDone <- srv.Serve(ln)
	}()

	// inputs stops the followers; hard stops everything still running when
	// the shutdown deadline passes.
	inputs, stopInputs := context.WithCancel(context.Background())
	defer stopInputs()
	hard, stopHard := context.WithCancel(context.Background())
	defer stopHard()

	var producers sync.WaitGroup
	producers.Go(func() { s.readSpool(hard) })
	for _, f := range s.tails {
		chunks := make(chan filetail.Chunk)
		producers.Go(func() {
			defer close(chunks)
			f.Run(inputs, chunks)
		})
		producers.Go(func() {
			for c := range chunks {
				select {
				case s.queue <- item{chunk: &c, tail: f, at: s.now()}:
				case <-hard.Done():
					return
				}
			}
		})
	}
	if s.flows != nil {
		producers.Go(func() { s.collectFlows(inputs, hard) })
	}
	go func() {
		producers.Wait()
		close(s.queue)
	}()
	pipeDone := make(chan error, 1)
	go func() { pipeDone <- s.runPipeline(hard) }()
	s.log.Info("serving", "listen", ln.Addr().String(), "data", s.dataDir, "inputs", len(s.tails))

	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down")
	case err := <-httpDone:
		runErr = fmt.Errorf("http server: %w", err)
		httpDone <- nil
	case err := <-pipeDone:
		runErr = fmt.Errorf("pipeline stopped: %w", err)
		pipeDone <- err
	}

	deadline := time.AfterFunc(s.cfg.Server.ShutdownTimeout, stopHard)
	defer deadline.Stop()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Error("http shutdown", "err", err)
	}
	if err := <-httpDone; err != nil && !errors.Is(err, http.ErrServerClosed) && runErr == nil {
		runErr = fmt.Errorf("http server: %w", err)
	}
	s.spool.CloseWriter() // no request is in flight any more
	stopInputs()
	if err := <-pipeDone; err != nil && runErr == nil {
		runErr = err
	}
	if hard.Err() != nil && runErr == nil {
		s.log.Warn("server.shutdownTimeout cut the drain short; what was accepted and not processed stays spooled for the next start",
			"shutdownTimeout", s.cfg.Server.ShutdownTimeout, "spoolBytesLeft", s.spool.Bytes())
	}
	s.log.Info("stopped", "records", s.live.p.Counters.Records.Load(), "alerts", s.live.p.Counters.Alerts.Load(),
		"spoolBytesLeft", s.spool.Bytes())
	return runErr
}

// rulesRefreshEvery is how often the suppression rules are reloaded.
const rulesRefreshEvery = time.Minute

// readAheadBytes bounds the spooled bodies held in memory, read but not
// yet processed.
const readAheadBytes = 64 << 20

// readSpool feeds spooled bodies to the queue until the spool is drained
// after CloseWriter, or ctx is done.
func (s *Server) readSpool(ctx context.Context) {
	for {
		rec, err := s.spool.Next(ctx)
		if err != nil {
			return // io.EOF when drained, or ctx's error
		}
		n := min(int64(len(rec.Body)), readAheadBytes)
		if err := s.readAhead.Acquire(ctx, n); err != nil {
			return
		}
		select {
		case s.queue <- item{push: &rec, release: func() { s.readAhead.Release(n) }}:
		case <-ctx.Done():
			return
		}
	}
}

// runPipeline is the pipeline goroutine: it owns the engine, the manager
// and the sink. It processes items as they come, running the pending batch
// whenever the queue runs dry; on a quiet input it moves event time on with
// the wall clock; it saves the engine's state every snapshotInterval. It
// returns once the queue is closed and drained, or ctx is done, after a
// last flush and snapshot.
func (s *Server) runPipeline(ctx context.Context) error {
	tick := time.NewTicker(s.tick)
	defer tick.Stop()
	now := s.now()
	lastInput, lastAdvance, lastSnapshot, lastRules := now, now, now, now
	idle := s.cfg.Server.IdleAdvance
	for {
		select {
		case it, ok := <-s.queue:
			if !ok {
				return s.finish(ctx)
			}
			lastInput = s.now()
			if err := s.live.process(ctx, it); err != nil {
				if errors.Is(err, context.Canceled) && ctx.Err() != nil {
					// The shutdown deadline cut an item short. The
					// detectors have seen part of it, so no checkpoint is
					// written: the next start resumes from the last one
					// and reads again what came after it, which the
					// inputs keep. Nothing is lost.
					s.log.Warn("shutdown timeout reached inside an input; it is read again at the next start, from the last checkpoint")
					return nil
				}
				return errors.Join(err, s.finish(ctx))
			}
			if len(s.queue) == 0 {
				if err := s.live.flush(ctx); err != nil {
					return errors.Join(err, s.finish(ctx))
				}
			}
		case <-tick.C:
			now := s.now()
			if idle > 0 && now.Sub(lastInput) >= idle && now.Sub(lastAdvance) >= idle {
				lastAdvance = now
				if err := s.live.advance(ctx, now.Add(-s.lateness)); err != nil {
					return errors.Join(err, s.finish(ctx))
				}
			}
			if now.Sub(lastRules) >= rulesRefreshEvery {
				// The API refreshes the rules it changes; this picks up
				// changes made by another process.
				lastRules = now
				if err := s.sil.Refresh(ctx); err != nil {
					s.log.Error("suppression rules", "err", err)
				}
			}
			if now.Sub(lastSnapshot) >= s.cfg.Server.SnapshotInterval || s.spool.Retained() > s.cfg.Server.Push.SpoolBytes/4 {
				lastSnapshot = now
				if err := s.live.checkpoint(ctx, s.cp); err != nil {
					s.log.Error("checkpoint", "err", err)
				}
			}
		case <-ctx.Done():
			return s.finish(ctx)
		}
	}
}

// finish runs what is pending, stores it and writes a last checkpoint.
// Windows stay open: the next start continues them from the checkpoint.
func (s *Server) finish(ctx context.Context) error {
	if err := s.live.checkpoint(ctx, s.cp); err != nil {
		// The input after the last checkpoint is read again at the next
		// start.
		return fmt.Errorf("final checkpoint: %w", err)
	}
	s.log.Info("checkpoint written", "path", s.cp.path, "watermark", s.engine.Watermark())
	return nil
}

// Close releases everything New opened. Serve calls it; call it yourself
// only when Serve is not called. It is safe to call more than once.
func (s *Server) Close() error {
	var errs []error
	s.closeOnce.Do(func() {
		if s.spool != nil {
			errs = append(errs, s.spool.Close())
		}
		if s.live != nil {
			s.live.p.Close()
		}
		if s.st != nil {
			errs = append(errs, s.st.Close())
		}
		if s.lock != nil {
			errs = append(errs, unlockDir(s.lock))
		}
	})
	return errors.Join(errs...)
}

// flowBatch is how many flows go to the pipeline in one queue item.
const flowBatch = 1024

// flowFlushEvery bounds how long a flow waits in a partly filled batch.
const flowFlushEvery = 250 * time.Millisecond

// collectFlows runs the UDP collector until inputs is done, handing flows to
// the queue in batches. When the pipeline is behind and the queue is full a
// batch is dropped and counted: a flood degrades by counted drops, never by
// stalling the socket reader or the other inputs.
func (s *Server) collectFlows(inputs, hard context.Context) {
	var (
		mu    sync.Mutex
		batch = make([]event.Flow, 0, flowBatch)
	)
	send := func() {
		if len(batch) == 0 {
			return
		}
		select {
		case s.queue <- item{flows: batch, at: s.now()}:
		case <-hard.Done():
		default:
			s.m.Drops.WithLabelValues(sourceFlow, metrics.DropQueueFull).Add(float64(len(batch)))
		}
		batch = make([]event.Flow, 0, flowBatch)
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(flowFlushEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				mu.Lock()
				send()
				mu.Unlock()
			}
		}
	}()
	err := s.flows.Run(inputs, func(f *event.Flow) {
		mu.Lock()
		batch = append(batch, *f)
		if len(batch) == flowBatch {
			send()
		}
		mu.Unlock()
	})
	close(done)
	mu.Lock()
	send()
	mu.Unlock()
	if err != nil && inputs.Err() == nil {
		s.log.Error("flow collector stopped", "err", err)
	}
}
