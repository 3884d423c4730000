package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/ipfix"
)

// runFlows is `vigil flows`: decode NetFlow v5/v9 and IPFIX captures and
// print the flows, as nfdump -r does.
func runFlows(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flows", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "table", "output: table (nfdump -r style, counts multiplied by the sampling rate) or json (one flow a line, counts as exported)")
	sampling := fs.Uint("sampling", 0, "1-in-N packet sampling of exporters that report none (default 1)")
	stats := fs.Bool("stats", false, "print the decoder's counters (JSON) to stderr at the end")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vigil flows [flags] FILE...\n\n"+
			"Decodes NetFlow v5, NetFlow v9 and IPFIX from pcap or pcapng files (Ethernet, Linux\n"+
			"cooked, loopback or raw IP; any UDP port) or raw datagram files (one UDP payload a file;\n"+
			"- for standard input) and prints the flows. All files are one collector session,\n"+
			"in order: templates from one file decode the data of the next. Datagrams that\n"+
			"fail to decode are reported on stderr and make the exit status 1.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("no input files (give FILE... or - for standard input)")}
	}
	if *sampling > 1<<32-1 {
		return usageError{fmt.Errorf("--sampling %d is too large", *sampling)}
	}
	out, err := ipfix.NewFlowWriter(stdout, *format)
	if err != nil {
		return usageError{fmt.Errorf("--format: %w", err)}
	}
	bad := 0
	r := ipfix.NewFileReader(ipfix.ReadOptions{
		Decoder: ipfix.Options{DefaultSampling: uint32(*sampling)},
		OnError: func(err error) {
			bad++
			fmt.Fprintf(stderr, "vigil flows: %v\n", err)
		},
	})
	var werr error
	emit := func(f *event.Flow) {
		if werr == nil {
			werr = out.Write(f)
		}
	}
	for _, name := range fs.Args() {
		if name == "-" {
			err = r.Read("-", stdin, emit)
		} else {
			err = r.ReadFile(name, emit)
		}
		if err != nil {
			break
		}
	}
	st, _ := r.Close()
	if cerr := out.Close(); werr == nil {
		werr = cerr
	}
	if *stats {
		b, _ := json.Marshal(st)
		fmt.Fprintf(stderr, "%s\n", b)
	}
	switch {
	case err != nil:
		return err
	case werr != nil:
		return werr
	case st.DroppedSets > 0:
		fmt.Fprintf(stderr, "vigil flows: %d data sets not decoded: their template was not in the input\n", st.DroppedSets)
	}
	switch {
	case bad == 1:
		return errors.New("1 datagram could not be decoded")
	case bad > 1:
		return fmt.Errorf("%d datagrams could not be decoded", bad)
	}
	return nil
}
