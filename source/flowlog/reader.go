package flowlog

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/valyala/fastjson"
	"github.com/vigil-security/vigil/event"
)

// Errors a RecordError (or the error that ends a Reader) wraps, besides
// ErrTuple. Test with errors.Is.
var (
	// ErrSyntax: the input is not valid JSON at this point.
	ErrSyntax = errors.New("invalid JSON")
	// ErrTruncated: the input ends inside a record or container.
	ErrTruncated = errors.New("input ends inside a record")
	// ErrTooLarge: one record is longer than Options.MaxRecordBytes.
	ErrTooLarge = errors.New("record too large")
	// ErrNotJSON: the input does not start with a JSON object or array.
	ErrNotJSON = errors.New("not a JSON flow log")
	// ErrNotObject: a record is a JSON value other than an object.
	ErrNotObject = errors.New("record is not a JSON object")
	// ErrNotFlowRecord: a record has neither properties.flows (NSG) nor
	// flowRecords.flows (VNet) in the documented nesting.
	ErrNotFlowRecord = errors.New("not a flow log record")
)

// DefaultMaxRecordBytes is the default Options.MaxRecordBytes: room for a
// record of about a million tuples.
const DefaultMaxRecordBytes = 64 << 20

// Options configure a Reader. The zero value is usable.
type Options struct {
	// OnError, if set, is called for every malformed tuple or record that
	// is skipped. Reading goes on after it returns. The error may be kept.
	OnError func(*RecordError)
	// MaxRecordBytes bounds the size of one record, and so the memory the
	// Reader holds; 0 means DefaultMaxRecordBytes. A larger record is
	// skipped (ErrTooLarge) and reading goes on after it.
	MaxRecordBytes int
}

// Stats counts what a Reader has read so far.
type Stats struct {
	// Records is the number of flow log records whose tuples were read.
	Records int64
	// Tuples is the number of tuples delivered by Next.
	Tuples int64
	// SkippedRecords counts records skipped whole (bad JSON, not a flow
	// log record, too large); SkippedTuples counts single tuples skipped.
	SkippedRecords int64
	SkippedTuples  int64
	// Bytes is the number of bytes of JSON text consumed (after gzip).
	Bytes int64
}

// RecordError says where a malformed record or tuple was and why it was
// rejected. It is passed to Options.OnError for whatever is skipped, and is
// the error that ends a Reader on truncated or unreadable input.
type RecordError struct {
	File string // the name given to NewReader
	Line int    // 1-based line where the record (or the bad input) starts
	// Record is the 0-based index of the record in its envelope or array,
	// or among the top-level values of the input; -1 when unknown.
	Record int
	// Tuple is the 0-based index of the tuple within its record, counting
	// every tuple of every group, or -1 for an error about the record.
	Tuple int
	// Path is the tuple's JSON path within the record, e.g.
	// properties.flows[1].flows[0].flowTuples[2]; "" for a record.
	Path string
	Err  error
}

// Error formats the error as "file:line: record N: tuple M (path): cause".
func (e *RecordError) Error() string {
	switch {
	case e.Record < 0:
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	case e.Tuple < 0:
		return fmt.Sprintf("%s:%d: record %d: %v", e.File, e.Line, e.Record, e.Err)
	default:
		return fmt.Sprintf("%s:%d: record %d: tuple %d (%s): %v", e.File, e.Line, e.Record, e.Tuple, e.Path, e.Err)
	}
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// Detail is what a tuple says beyond event.Flow: its format version and
// flow state, the traffic in each direction, and where it was read.
type Detail struct {
	// Version is 1 or 2 for NSG flow logs (by the tuple's field count) and
	// 4 for VNet flow logs.
	Version int
	// State is 'B' (begin), 'C' (continuing), 'E' (end) or, in VNet flow
	// logs, 'D' (denied); 0 for NSG version 1, which has no state.
	State byte
	// Encryption is the VNet encryption status (X, NX, NX_HW_NOT_SUPPORTED
	// ...), "" for NSG flow logs.
	Encryption string
	// MAC is the network interface's MAC address as written (NSG mac, VNet
	// macAddress), ACL the VNet aclID.
	MAC, ACL string
	// The counts since the tuple before of the same flow, source to
	// destination ("sent") and back ("received"); zero when not given.
	PacketsSent, BytesSent, PacketsReceived, BytesReceived uint64
	// Line and Record locate the tuple's record, Tuple the tuple within
	// it, as in RecordError.
	Line, Record, Tuple int
}

// Reader reads NSG and VNet flow logs from one input and delivers each
// tuple as an event.Flow. A Reader is not safe for concurrent use.
type Reader struct {
	name string
	opts Options
	src  io.Reader     // br, or zr over br for gzip input
	br   *bufio.Reader // kept across Reset
	zr   *gzip.Reader

	buf            []byte // buf[mark:end] is kept across reads; pos is the scan position
	pos, end, mark int
	base           int64 // input offset of buf[0]
	eof            bool
	srcErr         error
	line           int // 1-based line number at pos

	frames   []frame
	topIndex int

	parser fastjson.Parser
	cur    cursor
	tup    tuple
	detail Detail
	strs   interner

	stats Stats
	err   error // sticky error that ended reading
}

// NewReader returns a Reader over r. name identifies the input in errors
// (a file name, or "-" for standard input). Gzip input is detected by its
// magic bytes and decompressed. NewReader fails only if the gzip header
// is invalid or r cannot be read.
func NewReader(r io.Reader, name string, opts Options) (*Reader, error) {
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	rd := &Reader{
		opts: opts,
		br:   bufio.NewReaderSize(r, 64<<10),
		buf:  make([]byte, min(256<<10, opts.MaxRecordBytes+1)),
	}
	if err := rd.Reset(r, name); err != nil {
		return nil, err
	}
	return rd, nil
}

// Reset makes the Reader read a new input, as NewReader does, keeping its
// buffers and Options.
func (r *Reader) Reset(src io.Reader, name string) error {
	r.name = name
	r.pos, r.end, r.mark, r.base = 0, 0, 0, 0
	r.eof, r.srcErr, r.err = false, nil, nil
	r.line = 1
	r.frames, r.topIndex = r.frames[:0], 0
	r.cur = cursor{}
	r.stats = Stats{}
	r.br.Reset(src)
	r.src = r.br
	magic, err := r.br.Peek(2)
	if err != nil && err != io.EOF {
		return fmt.Errorf("flowlog: read %s: %w", name, err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		if r.zr == nil {
			r.zr, err = gzip.NewReader(r.br)
		} else {
			err = r.zr.Reset(r.br)
		}
		if err != nil {
			return fmt.Errorf("flowlog: %s: gzip: %w", name, err)
		}
		r.src = r.zr
	}
	for r.end < 3 && r.fill() {
	}
	if r.end >= 3 && r.buf[0] == 0xef && r.buf[1] == 0xbb && r.buf[2] == 0xbf {
		r.pos = 3 // UTF-8 byte order mark
	}
	return nil
}

// Next decodes the next tuple into f, which it overwrites. It returns
// io.EOF at the end of the input. Malformed tuples and records do not stop
// it: they are counted in Stats, passed to Options.OnError and skipped.
// Any other error (truncated or garbage input, a read error) ends the
// Reader: every tuple before it has been delivered, and Next keeps
// returning it.
func (r *Reader) Next(f *event.Flow) error {
	if r.err != nil {
		return r.err
	}
	c := &r.cur
	for {
		v, ok := r.nextTuple(c)
		if !ok {
			if err := r.advanceRecord(); err != nil {
				r.err = err
				return err
			}
			continue
		}
		if err := r.decode(c, v, f); err != nil {
			r.skip(c.line, c.index, c.flat-1, c.path(), err)
			continue
		}
		r.stats.Tuples++
		return nil
	}
}

// advanceRecord loads the next record with a valid structure into the
// cursor, skipping (and reporting) the others.
func (r *Reader) advanceRecord() error {
	for {
		r.mark = r.pos
		rec, err := r.nextRecord()
		if err != nil {
			return err
		}
		if rec.err == nil {
			r.cur.line, r.cur.index = rec.line, rec.index
			rec.err = r.load(rec.raw, &r.cur)
		}
		if rec.err != nil {
			r.cur = cursor{}
			r.skip(rec.line, rec.index, -1, "", rec.err)
			continue
		}
		r.stats.Records++
		return nil
	}
}

// decode parses the tuple v of the current record into f and r.detail.
func (r *Reader) decode(c *cursor, v *fastjson.Value, f *event.Flow) error {
	if v.Type() != fastjson.TypeString {
		return fmt.Errorf("%w: not a string", ErrTuple)
	}
	b, _ := v.StringBytes()
	t := &r.tup
	var err error
	if c.source == event.FlowNSG {
		err = t.parseNSG(b)
	} else {
		err = t.parseVNet(b)
	}
	if err != nil {
		return err
	}
	*f = event.Flow{
		Source:       c.source,
		Start:        t.time,
		End:          t.time,
		SrcAddr:      t.src,
		DstAddr:      t.dst,
		SrcPort:      t.sport,
		DstPort:      t.dport,
		Protocol:     t.proto,
		Packets:      t.pktsSD + t.pktsDS,
		Bytes:        t.bytesSD + t.bytesDS,
		SamplingRate: 1,
		Decision:     t.decision,
		State:        t.state,
		Rule:         c.rule,
		Resource:     c.resource,
	}
	if t.dir == 'I' {
		f.Direction = event.DirectionIngress
	} else {
		f.Direction = event.DirectionEgress
	}
	mac := c.mac
	if c.source == event.FlowNSG {
		mac = c.groupMAC
	}
	r.detail = Detail{
		Version: t.version, State: t.state, Encryption: r.strs.get(t.enc), MAC: mac, ACL: c.acl,
		PacketsSent: t.pktsSD, BytesSent: t.bytesSD, PacketsReceived: t.pktsDS, BytesReceived: t.bytesDS,
		Line: c.line, Record: c.index, Tuple: c.flat - 1,
	}
	return nil
}

// Detail returns what the tuple last delivered by Next says beyond its
// event.Flow.
func (r *Reader) Detail() Detail { return r.detail }

// Stats returns the counts so far.
func (r *Reader) Stats() Stats {
	s := r.stats
	s.Bytes = r.base + int64(r.pos)
	return s
}

// skip counts and reports a malformed record (tuple < 0) or tuple.
func (r *Reader) skip(line, record, tuple int, path string, err error) {
	if tuple < 0 {
		r.stats.SkippedRecords++
	} else {
		r.stats.SkippedTuples++
	}
	if r.opts.OnError != nil {
		r.opts.OnError(&RecordError{File: r.name, Line: line, Record: record, Tuple: tuple, Path: path, Err: err})
	}
}

// fail builds the error that ends the Reader.
func (r *Reader) fail(line, record int, err error) error {
	return &RecordError{File: r.name, Line: line, Record: record, Tuple: -1, Err: err}
}

// ReadFile reads every tuple of the file at path ("-" for standard input)
// and calls fn for each; fn must not retain f. It stops at the first error
// from fn and returns it. Malformed tuples and records are handled as by
// Next (opts.OnError); ReadFile returns an error for input that is
// truncated or unreadable, after fn has seen every tuple before the damage.
func ReadFile(path string, opts Options, fn func(f *event.Flow, d *Detail) error) (Stats, error) {
	var in io.Reader = os.Stdin
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return Stats{}, fmt.Errorf("flowlog: %w", err)
		}
		defer fh.Close()
		in = fh
	}
	r, err := NewReader(in, path, opts)
	if err != nil {
		return Stats{}, err
	}
	var f event.Flow
	for {
		err := r.Next(&f)
		if err == io.EOF {
			return r.Stats(), nil
		}
		if err != nil {
			return r.Stats(), fmt.Errorf("flowlog: %w", err)
		}
		if err := fn(&f, &r.detail); err != nil {
			return r.Stats(), err
		}
	}
}
