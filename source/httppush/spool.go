package httppush

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Spool defaults.
const (
	DefaultSegmentBytes = 64 << 20
	DefaultMaxBytes     = 1 << 30
)

// Errors returned by the spool (test with errors.Is).
var (
	// ErrFull: the unconsumed data is over SpoolOptions.MaxBytes; retry later.
	ErrFull = errors.New("spool is full")
	// ErrClosed: the spool no longer accepts records.
	ErrClosed = errors.New("spool is closed")
)

// Record layout: magic, body length, CRC-32C of the body, time received
// (Unix nanoseconds), then the body. A record with metadata ("VSR2") has,
// after the header, the idempotency key and the origin (who pushed it),
// each as a 2-byte length and its bytes; its length and CRC-32C cover them
// and the body.
const (
	headerSize     = 20
	recordMagic    = 0x56535231 // "VSR1"
	keyRecordMagic = 0x56535232 // "VSR2"
	// MaxKeyBytes bounds an idempotency key, and an origin.
	MaxKeyBytes = 256
	segmentExt  = ".seg"
	posFile     = "position"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SpoolOptions configure a Spool. The zero value gives the defaults.
type SpoolOptions struct {
	// SegmentBytes is the size after which a new segment file is started.
	SegmentBytes int64
	// MaxBytes bounds the data appended but not yet consumed; Append fails
	// with ErrFull beyond it.
	MaxBytes int64
	// OnCorrupt is told about spooled bytes that failed their checksum or
	// were cut short (a crash while writing a request that was never
	// acknowledged); they are skipped. Nil: ignore.
	OnCorrupt func(segment uint64, offset, n int64, err error)
}

// Pos is a position in the spool: a segment's sequence number and a byte
// offset in it.
type Pos struct {
	Segment uint64 `json:"segment"`
	Offset  int64  `json:"offset"`
}

// String formats p as "segment.offset".
func (p Pos) String() string {
	return strconv.FormatUint(p.Segment, 10) + "." + strconv.FormatInt(p.Offset, 10)
}

// Record is one appended body as read back.
type Record struct {
	Pos      Pos // where it starts
	Next     Pos // where the following record starts: pass it to MarkConsumed
	Received time.Time
	Key      string // idempotency key, if the sender gave one
	Origin   string // who pushed it (Meta.Origin)
	Body     []byte
}

// splitMeta splits a VSR2 record's payload into its metadata and body.
func splitMeta(payload []byte) (Meta, []byte, error) {
	var out [2]string
	for i := range out {
		if len(payload) < 2 {
			return Meta{}, nil, errors.New("record metadata cut short")
		}
		n := int(binary.BigEndian.Uint16(payload))
		if n > MaxKeyBytes || 2+n > len(payload) {
			return Meta{}, nil, fmt.Errorf("record metadata field of %d bytes", n)
		}
		out[i], payload = string(payload[2:2+n]), payload[2+n:]
	}
	return Meta{Key: out[0], Origin: out[1]}, payload, nil
}

// loadKeys reads the idempotency keys of seg's records, at open.
func (s *Spool) loadKeys(seg *segment) error {
	f, err := os.Open(seg.path)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	var hdr [headerSize]byte
	for off := int64(0); off+headerSize <= seg.size; {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return fmt.Errorf("spool: read %s at %d: %w", seg.path, off, err)
		}
		m := binary.BigEndian.Uint32(hdr[0:])
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		if (m != recordMagic && m != keyRecordMagic) || off+headerSize+n > seg.size {
			return nil // damage: the reader reports and skips it
		}
		if m == keyRecordMagic && n >= 2 {
			var kl [2]byte
			if _, err := f.ReadAt(kl[:], off+headerSize); err != nil {
				return fmt.Errorf("spool: read %s at %d: %w", seg.path, off, err)
			}
			k := int64(binary.BigEndian.Uint16(kl[:]))
			if k > 0 && k <= MaxKeyBytes && 2+k <= n {
				key := make([]byte, k)
				if _, err := f.ReadAt(key, off+headerSize+2); err != nil {
					return fmt.Errorf("spool: read %s at %d: %w", seg.path, off, err)
				}
				s.keys[string(key)] = keyed{seg: seg, start: off, end: off + headerSize + n}
				seg.keys = append(seg.keys, string(key))
			}
		}
		off += headerSize + n
	}
	return nil
}

// segment is one file of the spool.
type segment struct {
	seq  uint64
	path string
	f    *os.File // write handle; nil for segments of an earlier run
	// Guarded by Spool.mu:
	size      int64    // bytes written
	published int64    // bytes synced, visible to the reader
	sealed    bool     // no more writes
	keys      []string // idempotency keys of its records
}

// keyed is where the record of an idempotency key ends.
type keyed struct {
	seg        *segment
	start, end int64
}

// Spool is a durable queue of request bodies on disk: segment files of
// records appended and synced before Append returns, read back in order by
// one consumer, which marks what it has processed; Commit persists that
// position and deletes segments wholly behind it. A restart resumes at the
// committed position: no acknowledged body is lost, and none that was
// committed is read again.
//
// Append is safe for concurrent use (concurrent appends share one fsync).
// Next is for one reader goroutine; MarkConsumed and Commit may be called
// from another (the one that processes what Next returned).
type Spool struct {
	dir  string
	opts SpoolOptions

	syncMu sync.Mutex // serialises fsyncs; taken before mu

	mu        sync.Mutex
	segs      []*segment // on disk, ascending
	cur       *segment   // being written; nil once the writer is closed
	changed   chan struct{}
	consumed  Pos
	committed Pos
	// keys are the idempotency keys of the records still on disk.
	keys map[string]keyed

	// Consumer state.
	rseg *segment
	rf   *os.File
	roff int64
}

// OpenSpool opens (creating it if needed) the spool in dir. Segments wholly
// before the committed position are removed; reading resumes at it.
// Appends go to a new segment.
func OpenSpool(dir string, opts SpoolOptions) (*Spool, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, opts: opts, changed: make(chan struct{}), keys: map[string]keyed{}}
	pos, err := readPos(filepath.Join(dir, posFile))
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	last := pos.Segment
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, segmentExt) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 16, 64)
		if err != nil {
			continue // not ours
		}
		last = max(last, seq)
		path := filepath.Join(dir, name)
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		if seq < pos.Segment || info.Size() == 0 {
			if err := os.Remove(path); err != nil {
				return nil, fmt.Errorf("spool: remove consumed segment: %w", err)
			}
			continue
		}
		s.segs = append(s.segs, &segment{seq: seq, path: path, size: info.Size(), published: info.Size(), sealed: true})
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return cmpU64(a.seq, b.seq) })
	if len(s.segs) > 0 && s.segs[0].seq != pos.Segment {
		pos = Pos{Segment: s.segs[0].seq} // the committed segment was empty and removed
	}
	s.consumed, s.committed = pos, pos
	for _, seg := range s.segs {
		if err := s.loadKeys(seg); err != nil {
			return nil, err
		}
	}
	if err := s.newSegment(last + 1); err != nil {
		return nil, err
	}
	s.rseg = s.segs[0]
	if s.rseg.seq == pos.Segment {
		s.roff = pos.Offset
	}
	return s, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func readPos(path string) (Pos, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Pos{}, nil
	}
	if err != nil {
		return Pos{}, fmt.Errorf("spool: %w", err)
	}
	var p Pos
	if err := json.Unmarshal(data, &p); err != nil {
		return Pos{}, fmt.Errorf("spool: position file %s: %w", path, err)
	}
	if p.Offset < 0 {
		return Pos{}, fmt.Errorf("spool: position file %s: negative offset %d", path, p.Offset)
	}
	return p, nil
}

// newSegment starts segment seq for writing. Called with mu held or before
// the spool is shared.
func (s *Spool) newSegment(seq uint64) error {
	path := filepath.Join(s.dir, fmt.Sprintf("%016x%s", seq, segmentExt))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("spool: new segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	seg := &segment{seq: seq, path: path, f: f}
	if s.cur != nil {
		s.cur.sealed = true
	}
	s.cur = seg
	s.segs = append(s.segs, seg)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync directory: %w", err)
	}
	return nil
}

// pendingLocked is the number of bytes appended and not yet consumed.
func (s *Spool) pendingLocked() int64 { return s.bytesFromLocked(s.consumed) }

// bytesFromLocked is the number of bytes appended from p on.
func (s *Spool) bytesFromLocked(p Pos) int64 {
	var n int64
	for _, seg := range s.segs {
		if seg.seq >= p.Segment {
			n += seg.size
		}
		if seg.seq == p.Segment {
			n -= min(p.Offset, seg.size)
		}
	}
	return n
}

// Bytes returns the bytes appended and not yet consumed.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pendingLocked()
}

// Full reports whether an append of n bytes would fail with ErrFull.
func (s *Spool) Full(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pendingLocked()+headerSize+n > s.opts.MaxBytes
}

// Append writes body as one record and returns once it is on stable
// storage. It fails with ErrFull when the spool is over its limit and
// ErrClosed after CloseWriter.
func (s *Spool) Append(body []byte, received time.Time) (Pos, error) {
	pos, _, err := s.AppendMeta(body, received, Meta{})
	return pos, err
}

// Meta is what a record carries besides its body.
type Meta struct {
	// Key is the sender's idempotency key (empty: none).
	Key string
	// Origin says who pushed the body (the push token's identity and
	// scope), for the pipeline and the audit trail (empty: anonymous).
	Origin string
}

// AppendMeta is Append with metadata: a body whose idempotency key is
// already in the spool is not written again, and AppendMeta returns the
// first one's position, with duplicate true, once that one is durable. A
// key is remembered while its record is on disk: until a commit after it
// was consumed drops its segment.
func (s *Spool) AppendMeta(body []byte, received time.Time, meta Meta) (pos Pos, duplicate bool, err error) {
	key := meta.Key
	if int64(len(body)) > int64(^uint32(0))-2*MaxKeyBytes-4 {
		return Pos{}, false, fmt.Errorf("spool: body of %d bytes is too large", len(body))
	}
	if len(key) > MaxKeyBytes || len(meta.Origin) > MaxKeyBytes {
		return Pos{}, false, fmt.Errorf("spool: idempotency key or origin over %d bytes", MaxKeyBytes)
	}
	payload := body
	magic := uint32(recordMagic)
	if key != "" || meta.Origin != "" {
		magic = keyRecordMagic
		payload = make([]byte, 0, 4+len(key)+len(meta.Origin)+len(body))
		payload = binary.BigEndian.AppendUint16(payload, uint16(len(key)))
		payload = append(payload, key...)
		payload = binary.BigEndian.AppendUint16(payload, uint16(len(meta.Origin)))
		payload = append(append(payload, meta.Origin...), body...)
	}
	n := int64(headerSize + len(payload))
	var hdr [headerSize]byte
	binary.BigEndian.PutUint32(hdr[0:], magic)
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(payload)))
	binary.BigEndian.PutUint32(hdr[8:], crc32.Checksum(payload, castagnoli))
	binary.BigEndian.PutUint64(hdr[12:], uint64(received.UnixNano()))
	body = payload

	s.mu.Lock()
	if s.cur == nil {
		s.mu.Unlock()
		return Pos{}, false, ErrClosed
	}
	if k, ok := s.keys[key]; ok && key != "" {
		s.mu.Unlock()
		if err := s.syncTo(k.seg, k.end); err != nil {
			return Pos{}, false, err
		}
		return Pos{Segment: k.seg.seq, Offset: k.start}, true, nil
	}
	if s.pendingLocked()+n > s.opts.MaxBytes {
		s.mu.Unlock()
		return Pos{}, false, ErrFull
	}
	if s.cur.size > 0 && s.cur.size+n > s.opts.SegmentBytes {
		if err := s.newSegment(s.cur.seq + 1); err != nil {
			s.mu.Unlock()
			return Pos{}, false, err
		}
	}
	seg := s.cur
	off := seg.size
	_, err = seg.f.WriteAt(hdr[:], off)
	if err == nil {
		_, err = seg.f.WriteAt(body, off+headerSize)
	}
	if err != nil {
		// Leave the segment as it was, so the reader never sees half a record.
		if terr := seg.f.Truncate(off); terr != nil {
			seg.sealed = true
			s.cur = nil
			s.mu.Unlock()
			return Pos{}, false, fmt.Errorf("spool: write: %w (and truncate: %v; spool closed)", err, terr)
		}
		s.mu.Unlock()
		return Pos{}, false, fmt.Errorf("spool: write: %w", err)
	}
	seg.size = off + n
	if key != "" {
		s.keys[key] = keyed{seg: seg, start: off, end: off + n}
		seg.keys = append(seg.keys, key)
	}
	s.mu.Unlock()
	if err := s.syncTo(seg, off+n); err != nil {
		return Pos{}, false, err
	}
	return Pos{Segment: seg.seq, Offset: off}, false, nil
}

// syncTo makes seg durable up to at least end and publishes it to the
// reader. One fsync covers every append written before it started.
func (s *Spool) syncTo(seg *segment, end int64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	if seg.published >= end {
		s.mu.Unlock()
		return nil
	}
	target := seg.size
	s.mu.Unlock()
	if err := seg.f.Sync(); err != nil {
		return fmt.Errorf("spool: sync: %w", err)
	}
	s.mu.Lock()
	seg.published = max(seg.published, target)
	s.notifyLocked()
	s.mu.Unlock()
	return nil
}

func (s *Spool) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// CloseWriter stops appends (they fail with ErrClosed). The reader then
// reaches io.EOF after the last record. Call it once no Append is running
// (after the HTTP server has shut down).
func (s *Spool) CloseWriter() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.sealed = true
		s.cur = nil
		s.notifyLocked()
	}
}

// Next returns the next record, waiting for one until ctx is done. It
// returns io.EOF once the writer is closed and every record has been read.
// Corrupt data (from a crash during an unacknowledged write) is reported to
// OnCorrupt and skipped.
func (s *Spool) Next(ctx context.Context) (Record, error) {
	for {
		s.mu.Lock()
		seg := s.rseg
		limit, sealed := seg.published, seg.sealed && seg.published == seg.size
		var next *segment
		if i := slices.Index(s.segs, seg); i >= 0 && i+1 < len(s.segs) {
			next = s.segs[i+1]
		}
		writerOpen := s.cur != nil
		ch := s.changed
		s.mu.Unlock()

		if s.roff+headerSize <= limit {
			rec, ok, err := s.readRecord(seg, limit)
			if err != nil {
				return Record{}, err
			}
			if ok {
				return rec, nil
			}
			continue // corrupt: skipped to limit
		}
		if s.roff < limit { // a few stray bytes: a torn header
			s.corrupt(seg, limit, io.ErrUnexpectedEOF)
			continue
		}
		if sealed && next != nil {
			s.closeReader()
			s.mu.Lock()
			s.rseg, s.roff = next, 0
			s.mu.Unlock()
			continue
		}
		if !writerOpen && sealed {
			return Record{}, io.EOF
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
}

func (s *Spool) closeReader() {
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
}

// readRecord reads the record at s.roff of seg, all of which lies before
// limit. ok is false when the data there is corrupt (then skipped).
func (s *Spool) readRecord(seg *segment, limit int64) (rec Record, ok bool, err error) {
	if s.rf == nil {
		if s.rf, err = os.Open(seg.path); err != nil {
			return Record{}, false, fmt.Errorf("spool: %w", err)
		}
	}
	var hdr [headerSize]byte
	if _, err := s.rf.ReadAt(hdr[:], s.roff); err != nil {
		return Record{}, false, fmt.Errorf("spool: read %s at %d: %w", seg.path, s.roff, err)
	}
	m := binary.BigEndian.Uint32(hdr[0:])
	if m != recordMagic && m != keyRecordMagic {
		s.corrupt(seg, limit, fmt.Errorf("bad record magic %#x", m))
		return Record{}, false, nil
	}
	n := int64(binary.BigEndian.Uint32(hdr[4:]))
	if s.roff+headerSize+n > limit {
		s.corrupt(seg, limit, fmt.Errorf("record of %d bytes cut short", n))
		return Record{}, false, nil
	}
	body := make([]byte, n)
	if _, err := s.rf.ReadAt(body, s.roff+headerSize); err != nil {
		return Record{}, false, fmt.Errorf("spool: read %s at %d: %w", seg.path, s.roff, err)
	}
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(hdr[8:]) {
		s.corrupt(seg, limit, errors.New("checksum mismatch"))
		return Record{}, false, nil
	}
	var meta Meta
	if m == keyRecordMagic {
		if meta, body, err = splitMeta(body); err != nil {
			s.corrupt(seg, limit, err)
			return Record{}, false, nil
		}
	}
	rec = Record{
		Pos:      Pos{Segment: seg.seq, Offset: s.roff},
		Next:     Pos{Segment: seg.seq, Offset: s.roff + headerSize + n},
		Received: time.Unix(0, int64(binary.BigEndian.Uint64(hdr[12:]))),
		Key:      meta.Key,
		Origin:   meta.Origin,
		Body:     body,
	}
	s.roff = rec.Next.Offset
	return rec, true, nil
}

// corrupt skips the reader to limit, reporting the bytes skipped.
func (s *Spool) corrupt(seg *segment, limit int64, err error) {
	if s.opts.OnCorrupt != nil {
		s.opts.OnCorrupt(seg.seq, s.roff, limit-s.roff, err)
	}
	s.roff = limit
}

// MarkConsumed records that every record before p has been processed. It is
// kept in memory until Commit.
func (s *Spool) MarkConsumed(p Pos) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Segment > s.consumed.Segment || (p.Segment == s.consumed.Segment && p.Offset > s.consumed.Offset) {
		s.consumed = p
	}
}

// Commit persists the consumed position (when it moved) and removes the
// segments wholly before it.
func (s *Spool) Commit() error {
	s.mu.Lock()
	p := s.consumed
	if p == s.committed {
		s.mu.Unlock()
		return nil
	}
	var drop []*segment
	keep := s.segs[:0]
	for _, seg := range s.segs {
		if seg.seq < p.Segment && seg.sealed && seg != s.rseg {
			drop = append(drop, seg)
			for _, k := range seg.keys {
				if s.keys[k].seg == seg {
					delete(s.keys, k)
				}
			}
			continue
		}
		keep = append(keep, seg)
	}
	clear(s.segs[len(keep):])
	s.segs = keep
	s.mu.Unlock()

	if err := writeFileAtomic(filepath.Join(s.dir, posFile), p); err != nil {
		return err
	}
	s.mu.Lock()
	s.committed = p
	s.mu.Unlock()
	for _, seg := range drop {
		if seg.f != nil {
			seg.f.Close()
		}
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: remove consumed segment: %w", err)
		}
	}
	return nil
}

// Committed returns the last position Commit persisted.
func (s *Spool) Committed() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed
}

// writeFileAtomic writes v as JSON to path through a synced temporary file
// and a rename, so a crash leaves the old or the new content.
func writeFileAtomic(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".pos-*")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("spool: write position: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("spool: sync position: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("spool: write position: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("spool: write position: %w", err)
	}
	return syncDir(dir)
}

// Close closes the writer and every file. The spool must not be used
// afterwards.
func (s *Spool) Close() error {
	s.CloseWriter()
	s.closeReader()
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, seg := range s.segs {
		if seg.f != nil {
			if err := seg.f.Close(); err != nil {
				errs = append(errs, err)
			}
			seg.f = nil
		}
	}
	return errors.Join(errs...)
}

// Consumed returns the position MarkConsumed last moved to (processed up to
// here, perhaps not yet committed).
func (s *Spool) Consumed() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.consumed
}

// Retained returns the bytes on disk from the committed position on: what
// a restart would read again. A consumer that commits only with a
// checkpoint watches it to checkpoint before the disk fills.
func (s *Spool) Retained() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytesFromLocked(s.committed)
}

// Before reports whether p comes before q in the spool.
func (p Pos) Before(q Pos) bool {
	return p.Segment < q.Segment || (p.Segment == q.Segment && p.Offset < q.Offset)
}
