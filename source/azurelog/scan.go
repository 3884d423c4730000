package azurelog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// This file finds record boundaries in the byte stream without parsing whole
// containers: an envelope or array of a million records is walked element by
// element, and only one record at a time is held in the buffer.

const (
	maxFrames = 8   // nesting of arrays / envelopes holding records
	maxDepth  = 512 // nesting inside one record
)

type frameKind uint8

const (
	frameArray    frameKind = iota // an array of records
	frameEnvelope                  // the object around a "records" array
)

type frame struct {
	kind  frameKind
	count int // elements seen (arrays)
	line  int // line where the container starts
	index int // index of the container among its siblings
}

// record is one candidate record: its bytes and where it starts.
type record struct {
	raw         []byte
	line, index int
}

// nextRecord returns the next candidate record, reporting (and skipping)
// garbage between records. Its error ends the Reader.
func (r *Reader) nextRecord() (record, error) {
	for {
		if len(r.frames) == 0 {
			c, ok := r.skipSpace()
			if !ok {
				if r.srcErr != nil {
					return record{}, r.fail(r.lineAt(r.pos), r.topIndex, r.srcErr)
				}
				return record{}, io.EOF
			}
			if r.resync && c != '{' && c != '[' {
				r.skipLine()
				continue
			}
			r.resync = false
			switch c {
			case '[':
				r.started = true
				r.frames = append(r.frames, frame{kind: frameArray, line: r.lineAt(r.pos), index: r.topIndex})
				r.topIndex++
				r.pos++
				continue
			case '{':
				r.started = true
				if r.enterEnvelope(r.topIndex) {
					r.topIndex++
					continue
				}
				rec, ok, err := r.topRecord()
				if err != nil || ok {
					return rec, err
				}
				continue
			}
			line := r.lineAt(r.pos)
			if !r.started {
				return record{}, r.fail(line, 0, fmt.Errorf("%w: starts with %q", ErrNotJSON, c))
			}
			r.skip(line, r.topIndex, fmt.Errorf("%w: unexpected %q between records", ErrSyntax, c))
			r.topIndex++
			r.skipLine()
			r.resync = true
			continue
		}

		f := &r.frames[len(r.frames)-1]
		if f.kind == frameEnvelope {
			if err := r.envelopeTail(); err != nil {
				return record{}, err
			}
			continue
		}
		c, ok := r.skipSpace()
		if !ok {
			return record{}, r.endError(f.line, f.count)
		}
		if c == ']' {
			r.pos++
			r.frames = r.frames[:len(r.frames)-1]
			continue
		}
		if f.count > 0 {
			if c != ',' {
				return record{}, r.fail(r.lineAt(r.pos), f.count, fmt.Errorf("%w: expected ',' or ']' between records, found %q", ErrSyntax, c))
			}
			r.pos++
			if c, ok = r.skipSpace(); !ok {
				return record{}, r.endError(f.line, f.count)
			}
		}
		index := f.count
		f.count++
		line := r.lineAt(r.pos)
		if c == '{' && len(r.frames) < maxFrames && r.enterEnvelope(index) {
			continue
		}
		if c == '{' {
			end, err := r.walk()
			if err == nil {
				raw := r.buf[r.pos:end]
				r.pos = end
				return record{raw: raw, line: line, index: index}, nil
			}
			if !errors.Is(err, ErrSyntax) {
				return record{}, r.fail(line, index, err)
			}
			// An invalid record: skip it if its brackets still match.
			end, serr := r.scanValue()
			if serr != nil {
				return record{}, r.fail(line, index, serr)
			}
			r.skip(line, index, err)
			r.pos = end
			continue
		}
		end, err := r.scanValue()
		if err != nil {
			return record{}, r.fail(line, index, err)
		}
		r.pos = end
		r.skip(line, index, ErrNotObject)
	}
}

// topRecord reads a record that is a top-level value (JSON lines, a single
// object, concatenated objects). ok is false when the record was bad and has
// been reported and skipped.
func (r *Reader) topRecord() (rec record, ok bool, err error) {
	rec.line = r.lineAt(r.pos)
	rec.index = r.topIndex
	r.topIndex++
	end, err := r.walk()
	if err == nil {
		rec.raw = r.buf[r.pos:end]
		r.pos = end
		return rec, true, nil
	}
	if !errors.Is(err, ErrSyntax) {
		if errors.Is(err, ErrTruncated) && r.nextLineStartsRecord() {
			// JSON lines: a record cut short on its line swallowed the
			// lines after it. It is one bad record; the next line is the
			// next record.
			r.skip(rec.line, rec.index, err)
			r.skipLine()
			r.resync = true
			return rec, false, nil
		}
		return rec, false, r.fail(rec.line, rec.index, err)
	}
	// An invalid record: go on after it if its brackets still match, else
	// at the next line, which in JSON lines is the next record.
	end, serr := r.scanValue()
	switch {
	case serr == nil:
		r.skip(rec.line, rec.index, err)
		r.pos = end
	case errors.Is(serr, ErrSyntax):
		r.skip(rec.line, rec.index, err)
		r.skipLine()
		r.resync = true
	default:
		return rec, false, r.fail(rec.line, rec.index, serr)
	}
	return rec, false, nil
}

// nextLineStartsRecord reports whether a line after the one at r.pos, in
// what is buffered, begins with '{' (after spaces): the sign of JSON lines,
// where a record never spans lines.
func (r *Reader) nextLineStartsRecord() bool {
	rest := r.buf[r.pos:r.end]
	for {
		k := bytes.IndexByte(rest, '\n')
		if k < 0 {
			return false
		}
		rest = rest[k+1:]
		line := bytes.TrimLeft(rest, " \t\r")
		if len(line) > 0 && line[0] == '{' {
			return true
		}
	}
}

// walk parses the record at r.pos, reading more input as needed, and
// returns the index just past it; r.caps holds what the record says.
func (r *Reader) walk() (int, error) {
	for {
		r.caps.reset()
		r.w.c = &r.caps
		r.w.d = r.buf[r.pos:r.end]
		end, err := r.w.record()
		switch err {
		case nil:
			return r.pos + end, nil
		case errShort:
			if r.eof {
				return 0, r.eofError()
			}
			// Read (up to a full buffer) at least as much again before
			// walking the record anew, so that a long record read in
			// small pieces is not walked once per piece.
			want := max(2*(r.end-r.pos), r.end-r.pos+4096)
			for !r.eof {
				r.fill()
				if r.end-r.pos >= want || r.end == len(r.buf) {
					break
				}
			}
			continue
		}
		return 0, fmt.Errorf("%w: %s (line %d)", ErrSyntax, r.w.msg, r.lineOf(r.pos+r.w.off))
	}
}

// reset clears the captures for another record.
func (c *captures) reset() {
	p := c.policies[:0]
	*c = captures{}
	c.policies = p
}

// enterEnvelope checks whether the object at r.pos is an envelope: its
// first key is "records" (diagnostic settings) or "value" (an Activity Log
// REST list response) and holds an array. If so it enters the array. It
// reads ahead without moving r.pos.
func (r *Reader) enterEnvelope(index int) bool {
	i, ok := r.avail(r.pos + 1)
	if i, ok = r.skipSpaceAt(i, ok); !ok || r.buf[i] != '"' {
		return false
	}
	q := i - r.pos // relative to r.pos, which moves with the buffer
	for {
		if i, ok = r.avail(i + 1); !ok {
			return false
		}
		c := r.buf[i]
		if c == '"' {
			break
		}
		if c == '\\' || i-r.pos-q > 16 {
			return false
		}
	}
	key := r.buf[r.pos+q+1 : i]
	if !equalFold(key, "records") && !equalFold(key, "value") {
		return false
	}
	i, ok = r.avail(i + 1)
	if i, ok = r.skipSpaceAt(i, ok); !ok || r.buf[i] != ':' {
		return false
	}
	i, ok = r.avail(i + 1)
	if i, ok = r.skipSpaceAt(i, ok); !ok || r.buf[i] != '[' {
		return false
	}
	line := r.lineAt(r.pos)
	r.frames = append(r.frames,
		frame{kind: frameEnvelope, line: line, index: index},
		frame{kind: frameArray, line: line, index: index})
	r.pos = i + 1
	return true
}

// envelopeTail reads what follows the records array in an envelope: more
// keys (skipped; another "records" array is entered) and the closing brace.
func (r *Reader) envelopeTail() error {
	f := r.frames[len(r.frames)-1]
	c, ok := r.skipSpace()
	if !ok {
		return r.endError(f.line, f.index)
	}
	if c == '}' {
		r.pos++
		r.frames = r.frames[:len(r.frames)-1]
		return nil
	}
	if c != ',' {
		return r.fail(r.lineAt(r.pos), f.index, fmt.Errorf("%w: expected ',' or '}' after records, found %q", ErrSyntax, c))
	}
	r.pos++
	if c, ok = r.skipSpace(); !ok {
		return r.endError(f.line, f.index)
	}
	if c != '"' {
		return r.fail(r.lineAt(r.pos), f.index, fmt.Errorf("%w: expected a key, found %q", ErrSyntax, c))
	}
	end, err := r.scanValue()
	if err != nil {
		return r.fail(r.lineAt(r.pos), f.index, err)
	}
	isRecords := equalFold(r.buf[r.pos+1:end-1], "records")
	r.pos = end
	if c, ok = r.skipSpace(); !ok {
		return r.endError(f.line, f.index)
	}
	if c != ':' {
		return r.fail(r.lineAt(r.pos), f.index, fmt.Errorf("%w: expected ':', found %q", ErrSyntax, c))
	}
	r.pos++
	if c, ok = r.skipSpace(); !ok {
		return r.endError(f.line, f.index)
	}
	if c == '[' && isRecords {
		r.pos++
		r.frames = append(r.frames, frame{kind: frameArray, line: r.lineAt(r.pos), index: f.index})
		return nil
	}
	end, err = r.scanValue()
	if err != nil {
		return r.fail(r.lineAt(r.pos), f.index, err)
	}
	r.pos = end
	return nil
}

// endError is the error for input that ends inside a container.
func (r *Reader) endError(line, index int) error {
	if r.srcErr != nil {
		return r.fail(line, index, r.srcErr)
	}
	return r.fail(line, index, ErrTruncated)
}

// skipSpace advances r.pos to the next non-space byte and returns it; ok is
// false at the end of the input.
func (r *Reader) skipSpace() (byte, bool) {
	i, ok := r.avail(r.pos)
	i, ok = r.skipSpaceAt(i, ok)
	r.pos = i
	if !ok {
		return 0, false
	}
	return r.buf[i], true
}

// skipSpaceAt advances i past white space, reading as needed.
func (r *Reader) skipSpaceAt(i int, ok bool) (int, bool) {
	for ok {
		switch r.buf[i] {
		case ' ', '\t', '\n', '\r':
			i, ok = r.avail(i + 1)
		default:
			return i, true
		}
	}
	return i, false
}

// skipLine moves r.pos past the next newline (or to the end of the input),
// letting the buffer discard what it skips.
func (r *Reader) skipLine() {
	for {
		if k := bytes.IndexByte(r.buf[r.pos:r.end], '\n'); k >= 0 {
			r.pos += k + 1
			return
		}
		r.pos = r.end
		r.mark = r.pos
		if _, ok := r.avail(r.end); !ok {
			return
		}
	}
}

// avail makes buf[i] readable, reading more input if needed, and returns i
// adjusted for any move of the buffer; ok is false at the end of the input.
func (r *Reader) avail(i int) (int, bool) {
	for i >= r.end {
		if r.eof {
			return i, false
		}
		i -= r.fill()
	}
	return i, true
}

// fill reads more input into buf, first discarding buf[:mark] (which moves
// every index left by the returned shift) and growing buf when one record
// fills it. It sets eof (and srcErr on failure) when no more can be read.
func (r *Reader) fill() (shift int) {
	if r.mark > 0 {
		r.lineAt(r.mark)
		shift = r.mark
		r.end = copy(r.buf, r.buf[r.mark:r.end])
		r.base += int64(shift)
		r.pos -= shift
		r.linePos -= shift
		r.mark = 0
	}
	if r.end == len(r.buf) {
		if r.end > r.opts.MaxRecordBytes {
			r.eof = true
			r.srcErr = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, r.opts.MaxRecordBytes)
			return shift
		}
		nb := make([]byte, min(2*len(r.buf), r.opts.MaxRecordBytes+1+len(r.buf)/2))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for tries := 0; tries < 100; tries++ {
		n, err := r.src.Read(r.buf[r.end:])
		r.end += n
		if err == io.EOF {
			r.eof = true
			return shift
		}
		if err != nil {
			r.eof = true
			r.srcErr = fmt.Errorf("read: %w", err)
			return shift
		}
		if n > 0 {
			return shift
		}
	}
	r.eof = true
	r.srcErr = fmt.Errorf("read: %w", io.ErrNoProgress)
	return shift
}

// lineAt returns the 1-based line number of buf[p], counting newlines from
// the last position asked about (forwards or backwards).
func (r *Reader) lineAt(p int) int {
	if p >= r.linePos {
		r.line += bytes.Count(r.buf[r.linePos:p], nl)
	} else {
		r.line -= bytes.Count(r.buf[p:r.linePos], nl)
	}
	r.linePos = p
	return r.line
}

var nl = []byte{'\n'}
