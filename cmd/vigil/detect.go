package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/pipeline"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/source/azurelog"
	"github.com/vigil-security/vigil/store"
)

// detectFlags are the flags of vigil detect.
type detectFlags struct {
	commonFlags
	format   string
	lang     string
	db       string
	progress time.Duration
	state    string
}

func runDetect(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var f detectFlags
	fs := flag.NewFlagSet("detect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.format, "format", "json", "output: json (one alert a line, Graph partnerSecurityAlert shape) or table")
	fs.StringVar(&f.lang, "lang", "", "language of alert texts: en, ja or nl (default: the config's, else en)")
	f.register(fs, "YAML configuration file (thresholds, intel files, engine)")
	fs.StringVar(&f.db, "db", "", "also store the alerts in this SQLite file, or the PostgreSQL database of a postgres:// URL")
	fs.StringVar(&f.state, "state", "", "directory of detector state (baselines, open windows): restored before, saved after the run, so runs over consecutive files learn as one")
	fs.DurationVar(&f.progress, "progress", 2*time.Second, "interval of the progress line on stderr (0 turns it off)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vigil detect [flags] FILE...\n\nReads Azure Activity Log and Key Vault audit logs (records envelope, JSON lines,\nJSON array or object, REST shape; gzip or not; - for standard input), runs every\ndetection and prints the alerts. Exit status 0 when it ran, found alerts or not.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("no input files (give FILE... or - for standard input)")}
	}
	if f.format != "json" && f.format != "table" {
		return usageError{fmt.Errorf("--format must be json or table, got %q", f.format)}
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	if f.lang != "" {
		cfg.Alerts.Language = f.lang
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	for _, name := range fs.Args() {
		if name == "-" {
			continue
		}
		if _, err := os.Stat(name); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	out := &alertWriter{format: f.format, lang: cfg.Alerts.Language, w: stdout}
	opts := pipeline.BuildOptions{
		Sinks: []pipeline.Sink{out},
		OnRecordError: func(e *azurelog.RecordError) {
			fmt.Fprintf(stderr, "vigil detect: skipped record: %v\n", e)
		},
		OnFlowError: func(e error) {
			fmt.Fprintf(stderr, "vigil detect: skipped flow data: %v\n", e)
		},
	}
	var saved *pipeline.StoreSink
	if f.db != "" {
		st, err := store.Open(ctx, f.db)
		if err != nil {
			return err
		}
		defer st.Close()
		// The database's suppression rules apply, as they do in vigil serve.
		opts.Silencer = silence.New(st, &cfg.Directory)
		if err := opts.Silencer.Refresh(ctx); err != nil {
			fmt.Fprintf(stderr, "vigil detect: %v (the valid rules apply)\n", err)
		}
		saved = pipeline.NewStoreSink(st, nil)
		opts.Sinks = append([]pipeline.Sink{saved}, opts.Sinks...)
		opts.AfterBatch = func() error { return saved.Commit(ctx) }
	}
	p, err := pipeline.Build(cfg, opts)
	if err != nil {
		return err
	}
	defer p.Close()

	snapshot, flowSnapshot := "", ""
	if f.state != "" {
		snapshot = filepath.Join(f.state, "engine.snapshot")
		flowSnapshot = filepath.Join(f.state, "flows.snapshot")
		st, err := p.Engine().RestoreFile(snapshot)
		if err != nil {
			return err
		}
		fst, err := p.FlowEngine().RestoreFile(flowSnapshot)
		if err != nil {
			return err
		}
		if n := st.Keys + fst.Keys; n > 0 {
			fmt.Fprintf(stderr, "vigil detect: restored state of %d keys from %s\n", n, f.state)
		}
	}

	started := time.Now()
	stopProgress := startProgress(stderr, f.progress, &p.Counters, started)
	if err := readInputs(ctx, p, fs.Args(), stdin); err != nil {
		stopProgress()
		return err
	}
	if snapshot != "" {
		// Saved before Finish closes every window, so the next run goes on
		// where this one stopped.
		if err := p.Flush(); err != nil {
			stopProgress()
			return err
		}
		if err := p.Engine().SnapshotFile(snapshot); err != nil {
			stopProgress()
			return err
		}
		if err := p.FlowEngine().SnapshotFile(flowSnapshot); err != nil {
			stopProgress()
			return err
		}
	}
	err = p.Finish()
	stopProgress()
	if err != nil {
		return err
	}
	if saved != nil {
		if err := saved.Commit(ctx); err != nil {
			return err
		}
	}
	if err := out.flush(); err != nil {
		return err
	}
	d := time.Since(started)
	read := p.Counters.Records.Load() + p.Counters.Flows.Load()
	fmt.Fprintf(stderr, "vigil detect: %d records read, %d skipped, %d alerts (%d repeats merged) in %s (%.0f records/s)\n",
		read, p.Counters.Skipped.Load(), p.Counters.Alerts.Load(), p.Counters.Updates.Load(),
		d.Round(time.Millisecond), float64(read)/d.Seconds())
	return nil
}

// startProgress prints a progress line every interval until the returned
// function is called; nothing is printed for inputs that finish quickly.
func startProgress(w io.Writer, every time.Duration, c *pipeline.Counters, started time.Time) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n := c.Records.Load() + c.Flows.Load()
				fmt.Fprintf(w, "vigil detect: %d records (%.0f/s), %d skipped, %d alerts so far\n",
					n, float64(n)/time.Since(started).Seconds(), c.Skipped.Load(), c.Alerts.Load())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// alertWriter prints closed alerts: JSON lines at once, or a table at the end.
type alertWriter struct {
	format string
	lang   string
	w      io.Writer
	enc    *json.Encoder
	table  []alert.GraphAlert
}

// Closed implements pipeline.Sink.
func (a *alertWriter) Closed(al *alert.Alert) error {
	g := alert.Render(al, a.lang)
	if a.format == "table" {
		a.table = append(a.table, g)
		return nil
	}
	if a.enc == nil {
		a.enc = json.NewEncoder(a.w)
		a.enc.SetEscapeHTML(false)
	}
	return a.enc.Encode(g)
}

func (a *alertWriter) flush() error {
	if a.format == "table" {
		return alert.RenderTable(a.w, a.table)
	}
	return nil
}
