package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"syscall"
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

Flow mode (--flows ipfix|nsg|vnet): the network traffic of virtual machines in
two subscriptions over --days days (web servers, DNS, nightly backups, admin
SSH and RDP from the office, a bastion, build agents, a weekly vulnerability
scan, the internet's background probes) with an attack of every network alert
type after the learning period (SSH and RDP brute force in and out, one-to-one,
many-to-one and one-to-many, a port scan, C2 beacons, crypto mining) and benign
look-alikes. ipfix writes IPFIX datagrams as a pcap file (Ethernet/IPv4/UDP to
port 4739) or sends them to --udp HOST:PORT (--speed, --pps pace them); nsg
and vnet write one NSG (version 2) or VNet (version 4) flow log. --assets-out
writes the inventory detections attribute addresses with, --mining-pools-out
and --c2-out the mining pools' and the C2 server's addresses (intel lists of
categories mining-pool and c2), --labels the labels.

  vigil simulate --flows ipfix --days 21 -o flows.pcap --labels labels.jsonl \
      --assets-out assets.csv --mining-pools-out pools.txt
  vigil simulate --flows ipfix --udp 127.0.0.1:4739 --speed 3600

Flags:`

// estateFlags are the flags of estate mode; loadFlags those of load mode.
var (
	estateFlags = []string{"days", "learning-days", "scale", "labels", "activity", "no-scenarios", "evaluate", "config", "workers", "geoip", "tor", "blocklist", "geoip-out"}
	loadFlags   = []string{"records", "span", "inject-tor"}
	// flowFlags need --flows; keyVaultFlags are estate flags flow mode
	// does not take.
	flowFlags     = []string{"udp", "speed", "pps", "sampling", "assets-out", "mining-pools-out", "c2-out"}
	keyVaultFlags = []string{"format", "activity", "geoip-out"}
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
	geoOut := fs.String("geoip-out", "", "estate: write a GeoIP (MaxMind City) database placing the estate's addresses to this file, for detect --geoip")
	// Load mode.
	var intel commonFlags
	intel.register(fs, "estate, with --evaluate: YAML configuration of the detections (thresholds, intel files)")
	evaluateRun := fs.Bool("evaluate", false, "estate: instead of writing records, run every detection over the estate and print, per alert type, the attacks found, missed and the false positives (give the intel lists the attacks come from: --tor and --blocklist, or --config)")
	records := fs.Int("records", 100000, "load: number of Key Vault records to write (selects load mode)")
	span := fs.Duration("span", 24*time.Hour, "load: event time the records cover")
	tor := fs.String("inject-tor", "", "load: comma-separated Tor exit addresses to inject every 50,000 records")
	// Flow mode.
	var fl flowArgs
	fs.StringVar(&fl.kind, "flows", "", "flows: write network flows instead of Key Vault and Activity Log records: ipfix (a pcap of IPFIX datagrams), nsg (NSG flow log version 2) or vnet (VNet flow log version 4)")
	fs.StringVar(&fl.udp, "udp", "", "flows: send the IPFIX datagrams to this HOST:PORT instead of writing -o")
	fs.Float64Var(&fl.speed, "speed", 0, "flows, with --udp: replay at this many times real time (3600: an hour a second); 0 sends at once")
	fs.IntVar(&fl.pps, "pps", 0, "flows, with --udp: send at most this many datagrams a second; 0: no limit")
	fs.UintVar(&fl.sampling, "sampling", 0, "flows, ipfix: export about one packet in N (announced in an options record); 0 or 1: unsampled")
	fs.StringVar(&fl.assets, "assets-out", "", "flows: write the assets inventory (CSV: ip,resource_id,subscription_id,valid_from,valid_to) to this file")
	fs.StringVar(&fl.pools, "mining-pools-out", "", "flows: write the mining pools' addresses (an intel list of category mining-pool) to this file")
	fs.StringVar(&fl.c2, "c2-out", "", "flows: write the C2 server's address (an intel list of category c2; it is also on examples/intel/ipsum.txt) to this file")
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
	if !set["flows"] && anySet(set, flowFlags) {
		return usageError{fmt.Errorf("--%s needs --flows", firstSet(set, flowFlags))}
	}
	if set["flows"] {
		switch {
		case load:
			return usageError{fmt.Errorf("--%s is for load mode, not --flows", firstSet(set, loadFlags))}
		case anySet(set, keyVaultFlags):
			return usageError{fmt.Errorf("--%s is not for --flows", firstSet(set, keyVaultFlags))}
		}
		fl.out, fl.labels, fl.outSet = *out, *labels, set["o"]
		if *evaluateRun {
			fl.evaluate = &intel
		}
		var t0 time.Time
		if *start != "" {
			var err error
			if t0, err = time.Parse(time.RFC3339, *start); err != nil {
				return usageError{fmt.Errorf("--start: %w", err)}
			}
		}
		return runSimulateFlows(&fl, simulate.FlowEstateOptions{
			Seed: *seed, Start: t0, Days: *days, LearningDays: *learning, Scale: *scale, NoScenarios: *quiet,
		}, stdout, stderr)
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
	if *geoOut != "" {
		if err := writeFile(*geoOut, stdout, e.WriteGeoIP); err != nil {
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
	dir, err := os.MkdirTemp("", "vigil-evaluate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if cfg, err = evaluate.ForEstate(cfg, e, dir); err != nil {
		return err
	}
	rep, err := evaluate.Run(context.Background(), e, cfg)
	if err != nil {
		return err
	}
	return rep.WriteTable(stdout)
}

// flowArgs are the flags of flow mode.
type flowArgs struct {
	kind, udp, out, labels string
	assets, pools, c2      string
	outSet                 bool
	speed                  float64
	pps                    int
	sampling               uint
	// evaluate, when set, runs the network detections over the estate
	// (with these flags' configuration) instead of writing it.
	evaluate *commonFlags
}

// runSimulateFlows writes (or sends) the flow estate's traffic and its
// labels, inventory and mining pools.
func runSimulateFlows(fl *flowArgs, opts simulate.FlowEstateOptions, stdout, stderr io.Writer) error {
	var kind simulate.FlowLogKind
	switch fl.kind {
	case "ipfix":
	case "nsg", "vnet":
		kind, _ = simulate.ParseFlowLogKind(fl.kind)
		if fl.udp != "" || fl.sampling > 1 {
			return usageError{errors.New("--udp and --sampling are for --flows ipfix")}
		}
	default:
		return usageError{fmt.Errorf("--flows must be ipfix, nsg or vnet, not %q", fl.kind)}
	}
	switch {
	case fl.udp != "" && fl.outSet:
		return usageError{errors.New("--udp sends the datagrams: give it or -o, not both")}
	case fl.udp == "" && (fl.speed != 0 || fl.pps != 0):
		return usageError{errors.New("--speed and --pps pace --udp")}
	case fl.speed < 0 || fl.pps < 0 || math.IsNaN(fl.speed) || math.IsInf(fl.speed, 0):
		return usageError{errors.New("--speed and --pps must not be negative")}
	case fl.sampling > math.MaxUint32:
		return usageError{errors.New("--sampling is too large")}
	}
	opts.SamplingRate = uint32(fl.sampling)
	e, err := simulate.NewFlowEstate(opts)
	if err != nil {
		return usageError{errors.New(strings.TrimPrefix(err.Error(), "simulate: "))}
	}
	if fl.evaluate != nil {
		cfg, err := fl.evaluate.load()
		if err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return usageError{err}
		}
		rep, err := evaluate.RunFlows(context.Background(), e, cfg)
		if err != nil {
			return err
		}
		return rep.WriteTable(stdout)
	}
	began := time.Now()
	var st simulate.FlowStats
	switch {
	case fl.udp != "":
		conn, err := net.Dial("udp", fl.udp)
		if err != nil {
			return fmt.Errorf("--udp: %w", err)
		}
		p := &pacer{conn: conn, speed: fl.speed, pps: fl.pps, began: began}
		st, err = e.IPFIXDatagrams(p.send)
		if cerr := conn.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if p.refused > 0 {
			fmt.Fprintf(stderr, "%d datagrams were refused (no collector listening at %s)\n", p.refused, fl.udp)
		}
	case kind == 0:
		err = writeFile(fl.out, stdout, func(w io.Writer) (werr error) {
			st, werr = e.WriteIPFIXPcap(w)
			return werr
		})
	default:
		err = writeFile(fl.out, stdout, func(w io.Writer) (werr error) {
			st, werr = e.WriteFlowLog(w, kind)
			return werr
		})
	}
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path  string
		write func(io.Writer) error
	}{{fl.labels, e.WriteLabels}, {fl.assets, e.WriteAssets}, {fl.pools, e.WriteMiningPools}, {fl.c2, e.WriteC2Addresses}} {
		if f.path != "" {
			if err := writeFile(f.path, stdout, f.write); err != nil {
				return err
			}
		}
	}
	d := time.Since(began)
	unit := "flow-log tuples in %d records"
	if kind == 0 {
		unit = "IPFIX records in %d datagrams"
	}
	fmt.Fprintf(stderr, "wrote %d connections as %d "+unit+" (%d bytes) of %d VMs from %s to %s (learning period until %s) in %s: %.0f records/s\n",
		st.Connections, st.Records, st.Messages, st.Bytes, len(e.VMs()), e.Start().Format(time.RFC3339), e.End().Format(time.RFC3339),
		e.LearningEnd().Format(time.RFC3339), d.Round(time.Millisecond), float64(st.Records)/d.Seconds())
	return nil
}

// pacer sends datagrams, at most pps a second and, with a speed, when
// their event time comes round at that many times real time.
type pacer struct {
	conn    net.Conn
	speed   float64
	pps     int
	began   time.Time
	first   time.Time
	n       int64
	refused int64
}

func (p *pacer) send(msg []byte, sent time.Time) error {
	if p.speed > 0 {
		if p.first.IsZero() {
			p.first = sent
		}
		sleepUntil(p.began.Add(time.Duration(float64(sent.Sub(p.first)) / p.speed)))
	}
	if p.pps > 0 {
		sleepUntil(p.began.Add(time.Duration(p.n) * time.Second / time.Duration(p.pps)))
	}
	p.n++
	if _, err := p.conn.Write(msg); err != nil {
		// A collector that is not (yet) listening answers with ICMP port
		// unreachable, reported on a later write: keep sending.
		if errors.Is(err, syscall.ECONNREFUSED) {
			p.refused++
			return nil
		}
		return fmt.Errorf("--udp: %w", err)
	}
	return nil
}

func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}
