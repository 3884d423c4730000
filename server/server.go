// Package server runs Vigil as a service (`vigil serve`): the inputs (HTTP
// push into a durable spool, followed directories), one pipeline goroutine
// (enrich, detect, alert manager), the SQLite store with suppression rules
// and the system activity log, and one HTTP port for the REST API, the
// dashboard, the push endpoint, /metrics and /healthz.
//
// # Data directory
//
//	DATA/vigil.db              alerts, tokens, rules, activity (SQLite)
//	DATA/spool/                pushed bodies not yet processed, and the read position
//	DATA/state/checkpoint      detector state, open alerts and input positions, written together
//	                           every snapshotInterval and at shutdown (see checkpoint.go)
//	DATA/state/inputs/*.json   how far each followed file has been processed (as of the checkpoint)
//	DATA/vigil.lock            held while a server uses the directory
//
// # Delivery
//
// An input item (a pushed body, a chunk of a file) is acknowledged to its
// sender once it is durable (spooled and fsynced; a file is its own
// record). It is processed, its alerts stored at once (seconds), and its
// position becomes durable only with the next checkpoint, which also holds
// the detectors' state and open alerts that have seen it. A crash (`kill
// -9`) therefore resumes at the last checkpoint and reads again what came
// after it; that replay is idempotent (see checkpoint.go), so nothing
// acknowledged is lost and nothing is counted twice. A graceful shutdown
// writes a last checkpoint.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/api/odata"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/metrics"
	"github.com/vigil-security/vigil/pipeline"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/source/filetail"
	"github.com/vigil-security/vigil/source/httppush"
	"github.com/vigil-security/vigil/source/ipfix"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/web"
	"golang.org/x/sync/semaphore"
)

// PushPath is the path of the HTTP push endpoint.
const PushPath = "/ingest/azure"

// tickEvery is how often the pipeline goroutine checks the clock (idle
// advance, snapshots).
const tickEvery = time.Second

// Options configure a Server.
type Options struct {
	// Config is the whole configuration; Server.Listen is used by the
	// caller to listen, Server.DataDir here.
	Config config.Config
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// UI, when set, serves every path that the API, the push endpoint,
	// /metrics and /healthz do not; nil means the dashboard (package web)
	// at /.
	UI http.Handler
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
}

// Server is a running Vigil service. Create it with New, run it with Serve.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	now     func() time.Time
	dataDir string
	started time.Time

	lock   *os.File
	st     store.Database
	sil    *silence.Silencer
	m      *metrics.Metrics
	engine *detect.Engine
	// flowEngine runs the network detections on flows from the UDP
	// collector, with its own event time.
	flowEngine *detect.Engine
	flows      *ipfix.Listener // nil when server.flows.listen is empty
	manager    *alert.Manager
	spool      *httppush.Spool
	tails      []*filetail.Follower
	live       *live
	queue      chan item
	// readAhead bounds the bytes of spooled bodies in the queue.
	readAhead *semaphore.Weighted
	handler   http.Handler

	cp       *checkpointer
	lateness time.Duration
	tick     time.Duration // how often the pipeline checks the clock

	closeOnce sync.Once
}

// New opens the data directory (creating it), the store, the spool and the
// inputs, builds the pipeline, restores the engine's saved state and
// reloads the open alerts. Close it with Serve, or Close when Serve is not
// called.
func New(ctx context.Context, opts Options) (_ *Server, err error) {
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	s := &Server{cfg: cfg, log: opts.Logger, now: opts.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.started = s.now()
	s.tick = tickEvery
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.dataDir, err = filepath.Abs(cfg.Server.DataDir); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(s.dataDir, "state"), 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if s.lock, err = lockDir(s.dataDir); err != nil {
		return nil, err
	}
	db := cfg.Server.Database
	if db == "" {
		db = filepath.Join(s.dataDir, store.DefaultFile)
	}
	if s.st, err = store.Open(ctx, db); err != nil {
		return nil, err
	}
	s.sil = silence.New(s.st, &cfg.Directory)
	if err := s.sil.Refresh(ctx); err != nil {
		s.log.Error("suppression rules", "err", err) // the valid ones apply
	}
	s.m = metrics.New()
	s.lateness = cfg.Engine.Lateness
	if s.live, err = newLive(cfg, s.sil, s.st, s.m, s.log, s.now); err != nil {
		return nil, err
	}
	s.engine, s.flowEngine, s.manager = s.live.p.Engine(), s.live.p.FlowEngine(), s.live.p.Manager()
	s.cp = &checkpointer{path: filepath.Join(s.dataDir, "state", checkpointFile)}
	tailStates := map[string]string{}
	for _, in := range cfg.Server.Inputs {
		name := inputStateName(in)
		s.cp.tails = append(s.cp.tails, name)
		tailStates[name] = filepath.Join(s.dataDir, "state", "inputs", name)
	}
	resumeAt, found, err := s.restoreCheckpoint(ctx, s.cp.path, tailStates)
	if err != nil {
		return nil, fmt.Errorf("restore checkpoint: %w (move %s away to start with empty detector state)", err, s.cp.path)
	}
	if !found {
		if err := s.restoreLegacy(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.Server.Flows.Listen != "" {
		allowed, err := ipfix.ParseExporters(cfg.Server.Flows.AllowedExporters)
		if err != nil {
			return nil, fmt.Errorf("server.flows.allowedExporters: %w", err)
		}
		if s.flows, err = ipfix.Listen(ipfix.ListenerOptions{Addr: cfg.Server.Flows.Listen, ReadBuffer: cfg.Server.Flows.ReadBuffer,
			Decoder: ipfix.Options{AllowedExporters: allowed},
			OnError: func(err error) { s.log.Debug("flow datagram", "err", err) }}); err != nil {
			return nil, fmt.Errorf("flow collector: %w", err)
		}
		s.m.Registry.MustRegister(s.flows)
		s.m.Source(sourceFlow)
	}
	if s.spool, err = httppush.OpenSpool(filepath.Join(s.dataDir, "spool"), httppush.SpoolOptions{
		MaxBytes: cfg.Server.Push.SpoolBytes,
		OnCorrupt: func(seg uint64, off, n int64, err error) {
			s.m.Drops.WithLabelValues(sourcePush, metrics.DropCorrupt).Inc()
			s.log.Error("spool: skipped damaged data (a write cut short by a crash, never acknowledged)",
				"segment", seg, "offset", off, "bytes", n, "err", err)
		},
	}); err != nil {
		return nil, err
	}
	for _, in := range cfg.Server.Inputs {
		if info, err := os.Stat(in.Path); err != nil || !info.IsDir() {
			return nil, fmt.Errorf("input %s: not a directory (server.inputs[].path must name one)", in.Path)
		}
		f, err := filetail.New(filetail.Options{
			Dir: in.Path, Pattern: in.Pattern, Poll: in.Poll,
			StatePath: filepath.Join(s.dataDir, "state", "inputs", inputStateName(in)),
			OnError: func(path string, err error) {
				s.m.Drops.WithLabelValues(sourceFile, metrics.DropUnread).Inc()
				s.log.Warn("file input", "path", path, "err", err)
			},
		})
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", in.Path, err)
		}
		s.tails = append(s.tails, f)
	}
	s.queue = make(chan item, cfg.Server.QueueSize)
	s.readAhead = semaphore.NewWeighted(readAheadBytes)
	s.live.spool, s.live.tails, s.live.skipUntil = s.spool, s.tails, resumeAt
	s.m.Source(sourcePush)
	if len(s.tails) > 0 {
		s.m.Source(sourceFile)
	}
	s.m.Queue("pipeline", func() float64 { return float64(len(s.queue)) })
	s.m.Gauge("vigil_spool_bytes", "Bytes pushed and not yet processed.", func() float64 { return float64(s.spool.Bytes()) })
	s.m.Gauge("vigil_open_alerts", "Alerts open for repeats in the alert manager.", func() float64 { return float64(s.manager.Len()) })
	s.handler = s.routes(opts.UI)
	return s, nil
}

// inputStateName names the offsets file of an input after its directory
// and pattern.
func inputStateName(in config.Input) string {
	h := fnv.New64a()
	abs, err := filepath.Abs(in.Path)
	if err != nil {
		abs = in.Path
	}
	h.Write([]byte(abs + "\x00" + in.Pattern))
	return fmt.Sprintf("%016x.json", h.Sum64())
}

// restoreLegacy starts from the snapshot files of an earlier version (or
// nothing): the engines' state as last saved, the open alerts from the
// store. The first checkpoint replaces the files.
func (s *Server) restoreLegacy(ctx context.Context) error {
	engineFile := filepath.Join(s.dataDir, "state", "engine.snapshot")
	flowFile := filepath.Join(s.dataDir, "state", "flows.snapshot")
	rs, err := s.engine.RestoreFile(engineFile)
	if err != nil {
		return fmt.Errorf("restore engine state: %w (move the file away to start with empty detector state)", err)
	}
	if rs.Keys > 0 {
		s.log.Info("engine state restored from an earlier version's snapshot", "keys", rs.Keys, "watermark", s.engine.Watermark())
	}
	if _, err := s.flowEngine.RestoreFile(flowFile); err != nil {
		return fmt.Errorf("restore flow engine state: %w (move the file away to start with empty detector state)", err)
	}
	s.cp.legacy = []string{engineFile, flowFile}
	if rs.Keys == 0 && s.engine.Watermark().IsZero() {
		// No state at all: a first start, or a crash before the first
		// checkpoint, after which the spool replays everything it holds
		// from the start; the alerts stored meanwhile are made again, so
		// loading them would count their events twice.
		return nil
	}
	return s.loadOpenAlerts(ctx)
}

// loadOpenAlerts puts the stored alerts that may still take repeats into
// the manager: the unresolved ones, and the resolved ones recent enough
// that a repeat should link to them.
func (s *Server) loadOpenAlerts(ctx context.Context) error {
	var resolved []*alert.Alert
	if wm := s.engine.Watermark(); !wm.IsZero() {
		var err error
		resolved, err = s.st.ListAlerts(ctx, store.ListQuery{
			Statuses: []alert.Status{alert.StatusResolved},
			Filter:   odata.Cmp("last_observed_at", odata.Ge, odata.TimeValue(wm.Add(-s.cfg.Alerts.AggregationWindow))),
			OrderBy:  []store.Order{{Column: "last_observed_at"}},
		})
		if err != nil {
			return fmt.Errorf("load resolved alerts: %w", err)
		}
	}
	open, err := s.st.ListAlerts(ctx, store.ListQuery{
		Statuses: []alert.Status{alert.StatusActive, alert.StatusInvestigating},
		OrderBy:  []store.Order{{Column: "last_observed_at"}},
	})
	if err != nil {
		return fmt.Errorf("load open alerts: %w", err)
	}
	for _, a := range append(resolved, open...) {
		s.manager.Track(a)
	}
	s.log.Info("alerts reloaded", "open", len(open), "recentlyResolved", len(resolved))
	return nil
}

// routes is the server's one HTTP handler.
func (s *Server) routes(ui http.Handler) http.Handler {
	mux := http.NewServeMux()
	apiHandler := api.New(api.Options{
		Store: s.st, Directory: &s.cfg.Directory, Silencer: s.sil, Logger: s.log, Now: s.now,
		Language:      s.cfg.Alerts.Language,
		OnAlertChange: s.manager.Track,
		BaseURL:       s.cfg.Server.ExternalURL, AllowedHosts: s.cfg.Server.AllowedHosts, ListenAddr: s.cfg.Server.Listen,
		Outbox: s.st, WebhookGuard: s.webhookGuard(), // issue 10: webhook registrations
	})
	for _, p := range []string{"/security/", "/v1.0/", "/beta/", "/webhooks/", "/openapi.yaml", "/openapi.json"} {
		mux.Handle(p, apiHandler)
	}
	if ui == nil {
		ui = web.New(web.Options{
			Store: s.st, Directory: &s.cfg.Directory, Silencer: s.sil, Logger: s.log, Now: s.now,
			Language: s.cfg.Alerts.Language, OnAlertChange: s.manager.Track,
		})
	}
	mux.Handle("/", ui)
	var push http.Handler = httppush.NewHandler(s.spool, httppush.HandlerOptions{
		MaxBodyBytes:      s.cfg.Server.Push.MaxBodyBytes,
		MinBytesPerSecond: s.cfg.Server.Push.MinBytesPerSecond,
		ReadGrace:         s.cfg.Server.Push.ReadGrace,
		Now:               s.now,
		OnResult:          s.pushResult,
	})
	if s.cfg.Server.Push.TokenRequired(s.cfg.Server.Listen) {
		push = s.requireToken(push)
	}
	mux.Handle("POST "+PushPath, push)
	if s.cfg.Server.Metrics {
		mux.Handle("GET /metrics", s.m.Handler())
	}
	mux.HandleFunc("GET /healthz", s.healthz)
	return mux
}

// pushResult counts push requests and drops.
func (s *Server) pushResult(code, n int) {
	s.m.PushRequests.WithLabelValues(fmt.Sprint(code)).Inc()
	switch code {
	case http.StatusAccepted:
		s.m.PushBytes.Add(float64(n))
	case http.StatusServiceUnavailable:
		s.m.Drops.WithLabelValues(sourcePush, metrics.DropSpoolFull).Inc()
	case http.StatusRequestEntityTooLarge:
		s.m.Drops.WithLabelValues(sourcePush, metrics.DropTooLarge).Inc()
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		s.m.Drops.WithLabelValues(sourcePush, metrics.DropBadBody).Inc()
	}
}

// requireToken admits pushes with a valid, unrevoked read-write API token.
func (s *Server) requireToken(next http.Handler) http.Handler {
	deny := func(w http.ResponseWriter, code int, msg string) {
		s.pushResult(code, 0)
		w.Header().Set("Content-Type", "application/json")
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
		}
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		text, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(text) == "" {
			deny(w, http.StatusUnauthorized, "a bearer token is required")
			return
		}
		tok, err := s.st.TokenByHash(r.Context(), api.HashToken(strings.TrimSpace(text)))
		switch {
		case errors.Is(err, store.ErrNotFound) || (err == nil && !tok.Revoked.IsZero()):
			deny(w, http.StatusUnauthorized, "unknown or revoked token")
		case err != nil:
			s.log.Error("push: token look-up", "err", err)
			deny(w, http.StatusServiceUnavailable, "cannot check the token now")
		case !tok.Write:
			deny(w, http.StatusForbidden, "the token is read-only; pushing needs a read-write token")
		default:
			next.ServeHTTP(w, r.WithContext(httppush.WithOrigin(r.Context(), pushOrigin(tok))))
		}
	})
}

// health is the body of /healthz.
type health struct {
	Status     string `json:"status"` // ok, or failing while alerts cannot be stored
	Error      string `json:"error,omitempty"`
	Uptime     string `json:"uptime"`
	Watermark  string `json:"watermark,omitempty"`
	Records    int64  `json:"records"`
	Alerts     int64  `json:"alerts"`
	Queue      int    `json:"queue"`
	SpoolBytes int64  `json:"spoolBytes"`
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	h := health{
		Status: "ok", Uptime: s.now().Sub(s.started).Round(time.Second).String(),
		Records: s.live.p.Counters.Records.Load(), Alerts: s.live.p.Counters.Alerts.Load(),
		Queue: len(s.queue), SpoolBytes: s.spool.Bytes(),
	}
	code := http.StatusOK
	if e := s.live.storeErr.Load(); e != nil {
		h.Status, h.Error, code = "failing", (*e).Error(), http.StatusServiceUnavailable
	}
	if wm := s.live.watermark.Load(); wm != 0 {
		h.Watermark = time.Unix(0, wm).UTC().Format(time.RFC3339)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(h)
}

// Handler returns the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Store returns the server's store.
func (s *Server) Store() store.Security { return s.st }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *metrics.Metrics { return s.m }

// Counters returns the pipeline's running totals.
func (s *Server) Counters() *pipeline.Counters { return &s.live.p.Counters }

// isLoopback reports whether a listen address only accepts local clients.
func isLoopback(addr string) bool { return config.IsLoopback(addr) }
