package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/flowlog"
	"github.com/vigil-security/vigil/source/ipfix"
)

// runFlows is `vigil flows`: decode NetFlow v5/v9 and IPFIX captures, and
// NSG and VNet flow logs, and print the flows, as nfdump -r does.
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
			"- for standard input), and Azure NSG (v1, v2) and VNet (v4) flow logs (JSON, gzip or\n"+
			"not; one flow a tuple), told by content, and prints the flows. All capture files are\n"+
			"one collector session, in order: templates from one file decode the data of the next.\n"+
			"Datagrams that fail to decode and malformed flow-log records or tuples are reported\n"+
			"on stderr (with their file and line) and make the exit status 1.\n\nFlags:")
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
		if err = readFlowInput(name, stdin, r, emit, func(e error) {
			bad++
			fmt.Fprintf(stderr, "vigil flows: %v\n", e)
		}); err != nil {
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
		return errors.New("1 datagram or flow-log record could not be decoded")
	case bad > 1:
		return fmt.Errorf("%d datagrams or flow-log records could not be decoded", bad)
	}
	return nil
}

// readFlowInput reads one input of `vigil flows`: an NSG or VNet flow log
// (told by content) tuple by tuple, anything else through the capture and
// datagram reader r. Malformed flow-log records and tuples go to bad and
// reading goes on; an input that cannot be read to its end is an error.
func readFlowInput(name string, stdin io.Reader, r *ipfix.FileReader, emit func(*event.Flow), bad func(error)) error {
	var src io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	br := bufio.NewReaderSize(src, sniffLen)
	prefix, _ := br.Peek(sniffLen)
	if sniff(prefix) != kindFlowLog {
		if name == "-" {
			return r.Read("-", br, emit)
		}
		return r.ReadFile(name, emit)
	}
	fr, err := flowlog.NewReader(br, name, flowlog.Options{OnError: func(e *flowlog.RecordError) { bad(e) }})
	if err != nil {
		return err
	}
	var f event.Flow
	for {
		switch err := fr.Next(&f); {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
		emit(&f)
	}
}
