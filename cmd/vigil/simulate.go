package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vigil-security/vigil/simulate"
)

func runSimulate(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	records := fs.Int("records", 100000, "number of Key Vault records to write")
	out := fs.String("o", "-", "output file (- for standard output)")
	format := fs.String("format", "jsonl", "jsonl (storage PT1H.json shape) or records (Event Hubs {\"records\":[...]} envelope)")
	seed := fs.Uint64("seed", 1, "random seed; the same seed writes the same records")
	start := fs.String("start", "2026-11-01T00:00:00Z", "event time of the first record (RFC 3339)")
	span := fs.Duration("span", 24*time.Hour, "event time the records cover")
	tor := fs.String("tor", "", "comma-separated Tor exit addresses to inject every 50,000 records")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vigil simulate [flags]\n\nWrites realistic Key Vault AuditEvent records.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	t0, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return usageError{fmt.Errorf("--start: %w", err)}
	}
	if *format != "jsonl" && *format != "records" {
		return usageError{errors.New("--format must be jsonl or records")}
	}
	opts := simulate.KeyVaultOptions{Records: *records, Seed: *seed, Start: t0, Span: *span, Envelope: *format == "records"}
	if *tor != "" {
		opts.TorAddresses = strings.Split(*tor, ",")
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close() // after the explicit Close below: a no-op
		w = f
	}
	t := time.Now()
	n, err := simulate.KeyVaultLoad(w, opts)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout {
		if err := f.Close(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	d := time.Since(t)
	fmt.Fprintf(stderr, "wrote %d records (%d bytes) in %s: %.0f records/s\n", *records, n, d.Round(time.Millisecond), float64(*records)/d.Seconds())
	return nil
}
