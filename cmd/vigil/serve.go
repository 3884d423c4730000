package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/server"
)

// serveFlags are the flags of vigil serve.
type serveFlags struct {
	commonFlags
	listen    string
	data      string
	db        string
	logLevel  string
	logFormat string
	flows     string
	tlsCert   string
	tlsKey    string
	insecure  bool
}

func runServe(args []string, _ io.Reader, _, stderr io.Writer) error {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs, "YAML configuration file (server, inputs, thresholds, intel, directory)")
	fs.StringVar(&f.listen, "listen", "", "address of the API, dashboard, push endpoint, /metrics and /healthz (default: the config's, else "+config.DefaultListen+")")
	fs.StringVar(&f.data, "data", "", "data directory: SQLite file, push spool, saved state (default: the config's, else ./"+config.DefaultDataDir+")")
	fs.StringVar(&f.db, "db", "", "store: a postgres:// URL for a PostgreSQL database several instances share, or a SQLite file (default: the config's server.database, else vigil.db in the data directory)")
	fs.StringVar(&f.flows, "flows", "", "UDP address of the NetFlow v5/v9/IPFIX collector, e.g. :4739 (default: the config's server.flows.listen, else off)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS and HTTP/2, reloading the file when it changes (default: the config's server.tls.cert); with --tls-key")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key file of --tls-cert (default: the config's server.tls.key)")
	fs.BoolVar(&f.insecure, "allow-insecure", false, "allow plain HTTP on a non-loopback address (bearer tokens in clear text): only behind a proxy that terminates TLS (server.allowInsecure)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format on stderr: text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: vigil serve [flags]

Runs Vigil as a service, with no configuration needed: the REST API and the
dashboard, POST /ingest/azure for Azure logs (records envelope or JSON lines,
gzip or not; 202 once stored durably), the directories listed under
server.inputs, detection, the store (SQLite in the data directory, or
PostgreSQL with --db postgres://...), /metrics and /healthz, all on one
port. With --tls-cert and --tls-key it speaks HTTPS (and HTTP/2); without
them it listens only on the loopback unless --allow-insecure, as API clients
send bearer tokens. SIGTERM or SIGINT shuts down gracefully: requests in flight finish, the
inputs stop, queued input is processed, and a last checkpoint (detector
state, open alerts, input positions) is written; after a crash the next
start resumes from the last checkpoint.

Flags:`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q (inputs go in the config file, under server.inputs)", fs.Args())}
	}
	cfg, err := f.load()
	if err != nil {
		return err
	}
	if f.listen != "" {
		cfg.Server.Listen = f.listen
	}
	if f.data != "" {
		cfg.Server.DataDir = f.data
	}
	if f.db != "" {
		cfg.Server.Database = f.db
	}
	if f.flows != "" {
		cfg.Server.Flows.Listen = f.flows
	}
	if f.tlsCert != "" || f.tlsKey != "" {
		cfg.Server.TLS = config.TLS{Cert: f.tlsCert, Key: f.tlsKey}
	}
	if f.insecure {
		cfg.Server.AllowInsecure = true
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	logger, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return usageError{err}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s, err := server.New(ctx, server.Options{Config: cfg, Logger: logger})
	if err != nil {
		ln.Close()
		return err
	}
	data, _ := filepath.Abs(cfg.Server.DataDir)
	scheme := "http"
	if cfg.Server.TLS.Enabled() {
		scheme = "https"
	}
	fmt.Fprintf(stderr, "vigil serve: listening on %s://%s (data in %s)\n", scheme, ln.Addr(), data)
	if err := s.Serve(ctx, ln); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "vigil serve: stopped")
	return nil
}

// newLogger returns a slog logger on w.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, got %q", format)
}
