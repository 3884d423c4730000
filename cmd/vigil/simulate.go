package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vigil-security/vigil/evaluate"
	"github.com/vigil-security/vigil/simulate"
)

const simulateUsage = `usage: vigil simulate [flags]

Writes realistic Azure telemetry for demos, tests and benchmarks.

Estate mode (the default): an estate of tenants, subscriptions, key vaults,
users, service principals and managed identities over --days days, with their
daily rhythms (office hours, nightly jobs, deployments), noise (401 challenges,
refused and missing-secret calls, a vault created mid-run, new colleagues) and
an injected attack of every Key Vault and Resource Manager alert type after
the learning period. Key Vault AuditEvent and Activity Log records go to -o
in event-time order (or the Activity Log to --activity). --labels writes, one
JSON object a line, which alert must fire for which entities and when, which
benign look-alikes must not, and the learning periods. The same seed writes
the same bytes.

  vigil simulate --days 21 --seed 1 -o estate.jsonl --labels labels.jsonl

Load mode (--records N): N Key Vault records of a fixed 40-vault estate, for
throughput benchmarks, optionally with Tor accesses (--tor) every 50,000.

  vigil simulate --records 1000000 --inject-tor 185.220.101.1 -o kv.jsonl

Flags:`

// estateFlags are the flags of estate mode; loadFlags those of load mode.
var (
	estateFlags = []string{"days", "learning-days", "scale", "labels", "activity", "no-scenarios", "evaluate", "config", "workers", "geoip", "tor", "blocklist"}
	loadFlags   = []string{"records", "span", "inject-tor"}
)

func runSimulate(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "-", "output file (- for standard output)")
	format := fs.String("format", "jsonl", "jsonl (storage PT1H.json shape) or records (Event Hubs {\"records\":[...]} envelopes)")
	seed := fs.Uint64("seed", 1, "random seed; the same seed writes the same records")
	start := fs.String("start", "", "event time of the first record (RFC 3339); default 2026-11-01T00:00:00Z (load) or 2026-11-02T00:00:00Z, a Monday (estate)")
	// Estate mode.
	days := fs.Int("days", 21, "estate: days of telemetry")
	learning := fs.Int("learning-days", 7, "estate: learning period in days; attacks come after it")
	scale := fs.Float64("scale", 1, "estate: multiplies tenants, subscriptions, vaults and principals (1: 2 tenants, 4 subscriptions, 30 vaults, 60 users, 40 service principals, 20 managed identities)")
	labels := fs.String("labels", "", "estate: write the labels (JSON lines) to this file")
	activity := fs.String("activity", "", "estate: write Activity Log records to this file instead of -o")
	quiet := fs.Bool("no-scenarios", false, "estate: only the normal rhythm, no attacks or look-alikes")
	// Load mode.
	var intel commonFlags
	intel.register(fs, "estate, with --evaluate: YAML configuration of the detections (thresholds, intel files)")
	evaluateRun := fs.Bool("evaluate", false, "estate: instead of writing records, run every detection over the estate and print, per alert type, the attacks found, missed and the false positives (give the intel lists the attacks come from: --tor and --blocklist, or --config)")
	records := fs.Int("records", 100000, "load: number of Key Vault records to write (selects load mode)")
	span := fs.Duration("span", 24*time.Hour, "load: event time the records cover")
	tor := fs.String("inject-tor", "", "load: comma-separated Tor exit addresses to inject every 50,000 records")
	fs.Usage = func() {
		fmt.Fprintln(stderr, simulateUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	load := anySet(set, loadFlags)
	if load && anySet(set, estateFlags) {
		return usageError{fmt.Errorf("--%s is for estate mode, --%s for load mode: use one mode", firstSet(set, estateFlags), firstSet(set, loadFlags))}
	}
	f, err := simulate.ParseFormat(*format)
	if err != nil {
		return usageError{errors.New("--format must be jsonl or records")}
	}
	var t0 time.Time
	if *start != "" {
		if t0, err = time.Parse(time.RFC3339, *start); err != nil {
			return usageError{fmt.Errorf("--start: %w", err)}
		}
	}
	began := time.Now()
	if load {
		opts := simulate.KeyVaultOptions{Records: *records, Seed: *seed, Start: t0, Span: *span, Envelope: f == simulate.Records}
		if *tor != "" {
			opts.TorAddresses = strings.Split(*tor, ",")
		}
		var n int64
		err := writeFile(*out, stdout, func(w io.Writer) (err error) {
			n, err = simulate.KeyVaultLoad(w, opts)
			return err
		})
		if err != nil {
			return err
		}
		d := time.Since(began)
		fmt.Fprintf(stderr, "wrote %d records (%d bytes) in %s: %.0f records/s\n", *records, n, d.Round(time.Millisecond), float64(*records)/d.Seconds())
		return nil
	}
	e, err := simulate.NewEstate(simulate.EstateOptions{
		Seed: *seed, Start: t0, Days: *days, LearningDays: *learning, Scale: *scale, NoScenarios: *quiet,
	})
	if err != nil {
		return usageError{errors.New(strings.TrimPrefix(err.Error(), "simulate: "))}
	}
	if *evaluateRun {
		return runEvaluate(e, &intel, stdout)
	}
	var st simulate.Stats
	err = writeFile(*out, stdout, func(w io.Writer) (werr error) {
		if *activity == "" {
			st, werr = e.Write(w, f)
			return werr
		}
		return writeFile(*activity, stdout, func(aw io.Writer) (werr error) {
			st, werr = e.WriteSplit(w, aw, f)
			return werr
		})
	})
	if err != nil {
		return err
	}
	if *labels != "" {
		if err := writeFile(*labels, stdout, e.WriteLabels); err != nil {
			return err
		}
	}
	d := time.Since(began)
	fmt.Fprintf(stderr, "wrote %d records (%d Key Vault, %d Activity Log; %d bytes) of %d vaults from %s to %s (learning period until %s) in %s: %.0f records/s\n",
		st.Records, st.KeyVault, st.Activity, st.Bytes, len(e.Vaults()), e.Start().Format(time.RFC3339), e.End().Format(time.RFC3339),
		e.LearningEnd().Format(time.RFC3339), d.Round(time.Millisecond), float64(st.Records)/d.Seconds())
	return nil
}

// writeFile runs write on the file at path ("-": stdout), closing it and
// reporting the first error.
func writeFile(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		if err := write(stdout); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func anySet(set map[string]bool, names []string) bool { return firstSet(set, names) != "" }

func firstSet(set map[string]bool, names []string) string {
	for _, n := range names {
		if set[n] {
			return n
		}
	}
	return ""
}

// runEvaluate runs every detection over the estate and prints the efficacy
// table. The exit status is 0 whatever the score: the table is the result.
func runEvaluate(e *simulate.Estate, flags *commonFlags, stdout io.Writer) error {
	cfg, err := flags.load()
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	rep, err := evaluate.Run(context.Background(), e, cfg)
	if err != nil {
		return err
	}
	return rep.WriteTable(stdout)
}
