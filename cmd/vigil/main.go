// Command vigil is Vigil's single binary: threat detection for Azure estates.
//
//	vigil serve [flags]            the service: REST API, push endpoint, file inputs, detection
//	vigil detect [flags] FILE...   offline detection over log files, alerts out
//	vigil token create|list|revoke API tokens scoped to a partner or a customer tenant
//	vigil simulate [flags]         realistic telemetry for demos and benchmarks
//	vigil version                  build information
//
// Run "vigil COMMAND -h" for a command's flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// command is one subcommand: its name, a one-line summary and its entry.
type command struct {
	name    string
	summary string
	run     func(args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the service: API, dashboard, push endpoint, file inputs, detection", runServe},
		{"token", "create, list and revoke API tokens", runToken},
		{"outbox", "show the notification outbox: counts, failed (or pending, done) entries", runOutbox},
		{"detect", "read Azure log files, print alerts (JSON lines or a table)", runDetect},
		{"flows", "decode NetFlow/IPFIX captures or datagram files and NSG/VNet flow logs, print the flows", runFlows},
		{"simulate", "write a realistic labelled estate (Key Vault and Activity Log) or a Key Vault load", runSimulate},
		{"version", "print the version", runVersion},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit status: 0 when
// the command ran (whether or not it found alerts), 2 for a usage error, 1
// when it could not do its work.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdin, stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "vigil %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "vigil %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "vigil: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: vigil COMMAND [flags] [args]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"vigil COMMAND -h\" for a command's flags.")
}

// usageError is a bad flag or argument: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// parseFlags parses args with fs, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}

// listFlag is a repeatable string flag: --tor a --tor b.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runVersion(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	version, revision := "devel", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	fmt.Fprintf(stdout, "vigil %s %s\n", version, revision)
	return nil
}
