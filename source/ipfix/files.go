package ipfix

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/vigil-security/vigil/event"
)

// maxDatagram is the largest UDP payload (IPv4).
const maxDatagram = 65507

// maxKeptErrors bounds the datagram errors a FileReader keeps.
const maxKeptErrors = 20

// ReadOptions configure a FileReader.
type ReadOptions struct {
	Decoder Options
	// OnError receives each datagram that failed to decode, naming the
	// file and packet; reading goes on. When nil, the first errors are
	// returned by Close.
	OnError func(error)
}

// FileReader decodes captures into flows: pcap or pcapng files, or raw
// datagram files (one UDP payload a file, as `nc -u -l > f` writes). All input read
// by one FileReader is one collector session: templates learnt from one
// file decode the data of the next, as in a live exporter session.
//
// Raw datagrams have no exporter address (Flow.Exporter is the zero
// Addr) and no arrival time: the collector clock advances 1 ms per
// datagram. Datagrams from pcap files carry the packet's source address
// and capture time.
type FileReader struct {
	dec     *Decoder
	opts    ReadOptions
	clock   time.Time // collector clock for raw datagrams
	errs    []error
	dropped int
}

// NewFileReader returns a reader with a fresh Decoder.
func NewFileReader(opts ReadOptions) *FileReader {
	return &FileReader{dec: NewDecoder(opts.Decoder), opts: opts, clock: time.Unix(0, 0).UTC()}
}

// ReadFile reads one file (see Read).
func (r *FileReader) ReadFile(path string, emit func(*event.Flow)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return r.Read(path, f, emit)
}

// Read decodes one input named name: a capture when it starts with a pcap
// or pcapng magic, else one raw datagram. It returns an error when the input
// cannot be read or is neither; datagrams that fail to decode go to
// OnError (or Close) and reading goes on.
func (r *FileReader) Read(name string, rd io.Reader, emit func(*event.Flow)) error {
	br := bufio.NewReaderSize(rd, 64<<10)
	magic, _ := br.Peek(4)
	if len(magic) == 4 && isPcapMagic(magic) {
		return r.readPcap(name, br, emit)
	}
	b, err := io.ReadAll(io.LimitReader(br, maxDatagram+1))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxDatagram {
		return fmt.Errorf("%s: not a pcap file, and over %d bytes: not one datagram either", name, maxDatagram)
	}
	r.clock = r.clock.Add(time.Millisecond)
	if _, err := r.dec.Decode(netip.AddrPort{}, b, r.clock, emit); err != nil {
		r.report(fmt.Errorf("%s: %w", name, err))
	}
	return nil
}

func isPcapMagic(b []byte) bool {
	be, le := binary.BigEndian.Uint32(b), binary.LittleEndian.Uint32(b)
	return be == pcapMagicMicros || be == pcapMagicNanos || le == pcapMagicMicros || le == pcapMagicNanos ||
		be == pcapngMagic
}

func (r *FileReader) readPcap(name string, rd io.Reader, emit func(*event.Flow)) error {
	p, err := NewPcapReader(rd)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for i := 1; ; i++ {
		dg, err := p.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if _, err := r.dec.Decode(dg.Src, dg.Payload, dg.Time, emit); err != nil {
			r.report(fmt.Errorf("%s: UDP datagram %d: %w", name, i, err))
		}
	}
}

func (r *FileReader) report(err error) {
	if r.opts.OnError != nil {
		r.opts.OnError(err)
		return
	}
	if len(r.errs) < maxKeptErrors {
		r.errs = append(r.errs, err)
	} else {
		r.dropped++
	}
}

// Close ends the session: data still waiting for a template is counted as
// dropped. It returns the totals and, when OnError is nil, the datagram
// errors joined.
func (r *FileReader) Close() (Stats, error) {
	r.dec.Flush()
	errs := r.errs
	if r.dropped > 0 {
		errs = append(errs, fmt.Errorf("and %d more datagram errors", r.dropped))
	}
	return r.dec.Totals(), errors.Join(errs...)
}

// ReadFiles decodes the files in order as one session (see FileReader) and
// calls emit for each flow with a reused Flow. It stops at the first file
// that cannot be read; datagram errors are returned joined at the end
// (or given to opts.OnError).
func ReadFiles(paths []string, opts ReadOptions, emit func(*event.Flow)) (Stats, error) {
	r := NewFileReader(opts)
	for _, p := range paths {
		if err := r.ReadFile(p, emit); err != nil {
			st, _ := r.Close()
			return st, err
		}
	}
	return r.Close()
}
