package azurelog

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"

	"github.com/vigil-security/vigil/event"
)

// Errors a RecordError (or the error that ends a Reader) wraps. Test with
// errors.Is.
var (
	// ErrSyntax: the input is not valid JSON at this point.
	ErrSyntax = errors.New("invalid JSON")
	// ErrTruncated: the input ends inside a record or container.
	ErrTruncated = errors.New("input ends inside a record")
	// ErrTooLarge: one record is longer than Options.MaxRecordBytes.
	ErrTooLarge = errors.New("record too large")
	// ErrNotJSON: the input does not start with a JSON object or array.
	ErrNotJSON = errors.New("not a JSON log")
	// ErrNotObject: a record is a JSON value other than an object.
	ErrNotObject = errors.New("record is not a JSON object")
	// ErrNoTime: a record has neither time nor eventTimestamp.
	ErrNoTime = errors.New("record has no time")
	// ErrBadTime: a record's time is not an RFC 3339 timestamp.
	ErrBadTime = errors.New("invalid record time")
)

// DefaultMaxRecordBytes is the default Options.MaxRecordBytes.
const DefaultMaxRecordBytes = 16 << 20

// Options configure a Reader. The zero value is usable.
type Options struct {
	// OnError, if set, is called for every malformed record that is
	// skipped (bad JSON, not an object, missing or invalid time, a garbage
	// line). Reading goes on after it returns. The error must not be
	// retained past the call if it is mutated; it may be kept as is.
	OnError func(*RecordError)
	// MaxRecordBytes bounds the size of one record (and so the reader's
	// buffer); 0 means DefaultMaxRecordBytes.
	MaxRecordBytes int
}

// Stats counts what a Reader has read so far.
type Stats struct {
	// Records is the number of records delivered by Next.
	Records int64
	// Skipped is the number of malformed records passed to Options.OnError.
	Skipped int64
	// Bytes is the number of bytes of JSON text consumed (after gzip).
	Bytes int64
}

// RecordError says where a malformed record was and why it was rejected. It
// is passed to Options.OnError for a skipped record, and is the error that
// ends a Reader on truncated or unreadable input.
type RecordError struct {
	File string // the name given to NewReader
	Line int    // 1-based line where the record (or the bad input) starts
	// Index is the 0-based index of the record in its envelope or array,
	// or among the top-level values of the input.
	Index int
	Err   error
}

// Error formats the error as "file:line: record N: cause".
func (e *RecordError) Error() string {
	return fmt.Sprintf("%s:%d: record %d: %v", e.File, e.Line, e.Index, e.Err)
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// Reader reads Azure Activity Log and Key Vault AuditEvent records from one
// input, in any of the shapes described in the package documentation, and
// decodes them into event.Op. A Reader is not safe for concurrent use.
type Reader struct {
	name string
	opts Options
	src  io.Reader     // br, or zr over br for gzip input
	br   *bufio.Reader // kept across Reset
	zr   *gzip.Reader

	// buf[mark:end] is kept across reads; pos is the scan position.
	buf            []byte
	pos, end, mark int
	base           int64 // input offset of buf[0]
	eof            bool  // no more bytes will be read into buf
	srcErr         error // why reading stopped, if not the end of input

	line    int // 1-based line number of buf[linePos]
	linePos int

	frames   []frame
	topIndex int
	started  bool // a top-level JSON value has been seen
	resync   bool // skipping lines after bad input until one starts a value
	stack    []byte

	w       walker
	caps    captures // what the walker found in the pending record
	scratch []byte
	unesc   []byte // unescaped strings of the record being decoded

	strs    interner // repeated values
	targets interner // Key Vault object URIs
	ips     ipCache
	res     resourceCache

	stats Stats
	err   error // sticky error that ended reading
}

// NewReader returns a Reader over r. name identifies the input in positions
// and errors (a file name, or "-" for standard input). Gzip input is detected
// by its magic bytes and decompressed; the JSON shape is detected from the
// content. NewReader reads the first bytes of r; it fails only if the gzip
// header is invalid or r cannot be read.
func NewReader(r io.Reader, name string, opts Options) (*Reader, error) {
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	seed := maphash.MakeSeed()
	rd := &Reader{
		opts:    opts,
		br:      bufio.NewReaderSize(r, 64<<10),
		buf:     make([]byte, min(128<<10, opts.MaxRecordBytes+1)),
		stack:   make([]byte, 0, 32),
		strs:    newInterner(seed, 4096),
		targets: newInterner(seed, 1024),
		ips:     ipCache{seed: seed},
		res:     resourceCache{seed: seed, tab: make([]resourceInfo, 1024)},
	}
	if err := rd.Reset(r, name); err != nil {
		return nil, err
	}
	return rd, nil
}

// Reset makes the Reader read a new input, as NewReader does, keeping its
// buffers and caches and its Options: a consumer of many small inputs (an
// Event Hubs message each) reuses one Reader instead of allocating one per
// input. Records delivered before are no longer valid.
func (r *Reader) Reset(src io.Reader, name string) error {
	buf, br, zr, stack, frames, policies := r.buf, r.br, r.zr, r.stack[:0], r.frames[:0], r.caps.policies[:0]
	r.name = name
	r.pos, r.end, r.mark, r.base = 0, 0, 0, 0
	r.eof, r.srcErr, r.err = false, nil, nil
	r.line, r.linePos = 1, 0
	r.frames, r.topIndex, r.started, r.resync, r.stack = frames, 0, false, false, stack
	r.caps = captures{policies: policies}
	r.stats = Stats{}
	r.buf = buf

	br.Reset(src)
	r.src = br
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return fmt.Errorf("azurelog: read %s: %w", name, err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		if zr == nil {
			zr, err = gzip.NewReader(br)
		} else {
			err = zr.Reset(br)
		}
		if err != nil {
			return fmt.Errorf("azurelog: %s: gzip: %w", name, err)
		}
		r.zr = zr
		r.src = zr
	}
	r.fill()
	if r.end >= 3 && r.buf[0] == 0xef && r.buf[1] == 0xbb && r.buf[2] == 0xbf {
		r.pos = 3 // UTF-8 byte order mark
	}
	return nil
}

// Next decodes the next record into op, which it resets first. It returns
// io.EOF at the end of the input. Malformed records do not stop it: they are
// counted in Stats().Skipped, passed to Options.OnError, and skipped. Any
// other error (truncated or garbage input, a read error) ends the Reader:
// every record before it has been delivered, and Next keeps returning it.
// op.Raw aliases the Reader's buffer and is valid until the next call.
func (r *Reader) Next(op *event.Op) error {
	op.Reset()
	if r.err != nil {
		return r.err
	}
	for {
		r.mark = r.pos
		rec, err := r.nextRecord()
		if err != nil {
			r.err = err
			return err
		}
		op.Reset()
		if err := r.decode(rec.raw, &r.caps, op); err != nil {
			r.skip(rec.line, rec.index, err)
			continue
		}
		op.Raw = rec.raw
		op.Pos = event.Position{File: r.name, Line: rec.line, Index: rec.index}
		r.stats.Records++
		return nil
	}
}

// Stats returns the counts so far.
func (r *Reader) Stats() Stats {
	s := r.stats
	s.Bytes = r.base + int64(r.pos)
	return s
}

// skip counts and reports a malformed record.
func (r *Reader) skip(line, index int, err error) {
	r.stats.Skipped++
	if r.opts.OnError != nil {
		r.opts.OnError(&RecordError{File: r.name, Line: line, Index: index, Err: err})
	}
}

// fail builds the error that ends the Reader.
func (r *Reader) fail(line, index int, err error) error {
	return &RecordError{File: r.name, Line: line, Index: index, Err: err}
}

// ReadFile reads every record of the file at path ("-" for standard input)
// and calls fn for each; fn must not retain op or op.Raw. It stops at the
// first error from fn and returns it. Malformed records are handled as by
// Next (opts.OnError); ReadFile returns an error for input that is truncated
// or unreadable, after fn has seen every record before the damage.
func ReadFile(path string, opts Options, fn func(op *event.Op) error) (Stats, error) {
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return Stats{}, fmt.Errorf("azurelog: %w", err)
		}
		defer f.Close()
		in = f
	}
	r, err := NewReader(in, path, opts)
	if err != nil {
		return Stats{}, err
	}
	var op event.Op
	for {
		err := r.Next(&op)
		if err == io.EOF {
			return r.Stats(), nil
		}
		if err != nil {
			return r.Stats(), fmt.Errorf("azurelog: %w", err)
		}
		if err := fn(&op); err != nil {
			return r.Stats(), err
		}
	}
}
