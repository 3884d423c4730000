package flowlog

import (
	"bytes"
	"errors"
	"io"

	"github.com/valyala/fastjson"
)

// frameKind is one level of the structure around the records.
type frameKind uint8

const (
	// frameArray: inside a top-level JSON array; elements are records or
	// envelopes.
	frameArray frameKind = iota + 1
	// frameRecords: inside an envelope's "records" array; every element
	// is a record.
	frameRecords
	// frameTail: inside an envelope object after its records array; any
	// other members are skipped until the closing brace.
	frameTail
)

type frame struct {
	kind      frameKind
	needComma bool // an element has been read; a comma or the close must follow
	index     int  // index of the next element
}

// rawRecord is one record's bytes, found by the scanner.
type rawRecord struct {
	raw   []byte // aliases the scanner's buffer until the next scan
	line  int
	index int
	err   error // set when the element is not a record (not an object, too large)
}

// errPassedOver is returned by valueEnd for a value longer than
// Options.MaxRecordBytes that it passed over: scanning can go on after it.
var errPassedOver = errors.New("value passed over")

// isSpace reports JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// advance moves pos to p, counting the lines passed.
func (r *Reader) advance(p int) {
	r.line += bytes.Count(r.buf[r.pos:p], newline)
	r.pos = p
}

var newline = []byte{'\n'}

// fill reads more input into buf, first dropping everything before mark
// and growing buf when it is full. It reports false when no byte could be
// added (end of input or a read error, kept in srcErr).
func (r *Reader) fill() bool {
	if r.eof {
		return false
	}
	if r.mark > 0 {
		n := copy(r.buf, r.buf[r.mark:r.end])
		r.pos -= r.mark
		r.base += int64(r.mark)
		r.end = n
		r.mark = 0
	}
	if r.end == len(r.buf) {
		limit := r.opts.MaxRecordBytes + 1
		if len(r.buf) >= limit {
			return false // the caller sees a full buffer and handles it
		}
		nb := make([]byte, min(2*len(r.buf), limit))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for {
		n, err := r.src.Read(r.buf[r.end:])
		r.end += n
		if err != nil {
			r.eof = true
			if err != io.EOF {
				r.srcErr = err
			}
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
}

// skipSpace advances over whitespace, reading more as needed. It returns
// the next byte, or false at the end of the input.
func (r *Reader) skipSpace() (byte, bool) {
	for {
		for r.pos < r.end {
			c := r.buf[r.pos]
			if !isSpace(c) {
				return c, true
			}
			if c == '\n' {
				r.line++
			}
			r.pos++
		}
		r.mark = r.pos
		if !r.fill() {
			return 0, false
		}
	}
}

// endOfInput is the error for input that ends where more was expected.
func (r *Reader) endOfInput() error {
	if r.srcErr != nil {
		return r.fail(r.line, -1, r.srcErr)
	}
	return r.fail(r.line, -1, ErrTruncated)
}

// nextRecord finds the next record in the input. It returns io.EOF at the
// end of the input, a *RecordError that ends the Reader for broken
// structure, or a rawRecord (whose err may be set for an element that is
// skipped).
func (r *Reader) nextRecord() (rawRecord, error) {
	for {
		c, ok := r.skipSpace()
		if len(r.frames) == 0 {
			if !ok {
				if r.srcErr != nil {
					return rawRecord{}, r.fail(r.line, -1, r.srcErr)
				}
				return rawRecord{}, io.EOF
			}
			switch c {
			case '{':
				env, err := r.envelopeStart()
				if err != nil {
					return rawRecord{}, err
				}
				if env {
					continue
				}
				i := r.topIndex
				r.topIndex++
				return r.element(i)
			case '[':
				r.advance(r.pos + 1)
				r.frames = append(r.frames, frame{kind: frameArray})
				continue
			default:
				return rawRecord{}, r.fail(r.line, -1, ErrNotJSON)
			}
		}
		if !ok {
			return rawRecord{}, r.endOfInput()
		}
		f := &r.frames[len(r.frames)-1]
		switch f.kind {
		case frameArray, frameRecords:
			if c == ']' {
				r.advance(r.pos + 1)
				kind := f.kind
				r.frames = r.frames[:len(r.frames)-1]
				if kind == frameRecords {
					r.frames = append(r.frames, frame{kind: frameTail})
				}
				continue
			}
			if f.needComma {
				if c != ',' {
					return rawRecord{}, r.fail(r.line, f.index, ErrSyntax)
				}
				r.advance(r.pos + 1)
				f.needComma = false
				if c, ok = r.skipSpace(); !ok {
					return rawRecord{}, r.endOfInput()
				}
				if c == ']' {
					return rawRecord{}, r.fail(r.line, f.index, ErrSyntax) // trailing comma
				}
			}
			i := f.index
			f.index++
			f.needComma = true
			if c == '{' && f.kind == frameArray {
				env, err := r.envelopeStart()
				if err != nil {
					return rawRecord{}, err
				}
				if env {
					continue
				}
			}
			return r.element(i)
		case frameTail:
			switch c {
			case '}':
				r.advance(r.pos + 1)
				r.frames = r.frames[:len(r.frames)-1]
				continue
			case ',':
				r.advance(r.pos + 1)
				if err := r.skipMember(); err != nil {
					return rawRecord{}, err
				}
				continue
			default:
				return rawRecord{}, r.fail(r.line, -1, ErrSyntax)
			}
		}
	}
}

// element reads the value at pos as the record with the given index: an
// object is returned whole; anything else, or an object larger than
// Options.MaxRecordBytes, is skipped and returned with its error.
func (r *Reader) element(index int) (rawRecord, error) {
	line := r.line
	r.mark = r.pos
	n, err := r.valueEnd()
	if err != nil {
		if err == errPassedOver {
			return rawRecord{line: line, index: index, err: ErrTooLarge}, nil
		}
		return rawRecord{}, err
	}
	raw := r.buf[r.pos : r.pos+n]
	r.advance(r.pos + n)
	if raw[0] != '{' {
		if err := fastjson.ValidateBytes(raw); err != nil {
			return rawRecord{}, r.fail(line, index, ErrSyntax)
		}
		return rawRecord{line: line, index: index, err: ErrNotObject}, nil
	}
	return rawRecord{raw: raw, line: line, index: index}, nil
}

// envelopeStart looks at the object at pos: when its first member is
// "records" holding an array, it consumes the object's start through the
// array's '[', pushes a frameRecords and reports true. Otherwise it
// consumes nothing.
func (r *Reader) envelopeStart() (bool, error) {
	r.mark = r.pos
	const key = `"records"`
	i := 1 // offset from mark
	// peek returns the byte at mark+i after skipping whitespace when ws.
	peek := func(ws bool) (byte, bool) {
		for {
			for r.mark+i < r.end {
				c := r.buf[r.mark+i]
				if !ws || !isSpace(c) {
					return c, true
				}
				i++
			}
			if !r.fill() {
				return 0, false
			}
		}
	}
	if c, ok := peek(true); !ok || c != '"' {
		return false, nil
	}
	for k := 0; k < len(key); k++ {
		c, ok := peek(false)
		if !ok || c != key[k] {
			return false, nil
		}
		i++
	}
	if c, ok := peek(true); !ok || c != ':' {
		return false, nil
	}
	i++
	if c, ok := peek(true); !ok || c != '[' {
		return false, nil
	}
	r.advance(r.mark + i + 1)
	r.frames = append(r.frames, frame{kind: frameRecords})
	return true, nil
}

// skipMember skips `"key": value` in an envelope after its records.
func (r *Reader) skipMember() error {
	if c, ok := r.skipSpace(); !ok {
		return r.endOfInput()
	} else if c != '"' {
		return r.fail(r.line, -1, ErrSyntax)
	}
	if err := r.skipValue(); err != nil {
		return err
	}
	if c, ok := r.skipSpace(); !ok {
		return r.endOfInput()
	} else if c != ':' {
		return r.fail(r.line, -1, ErrSyntax)
	}
	r.advance(r.pos + 1)
	if _, ok := r.skipSpace(); !ok {
		return r.endOfInput()
	}
	return r.skipValue()
}

// skipValue passes over the valid JSON value at pos.
func (r *Reader) skipValue() error {
	line := r.line
	r.mark = r.pos
	n, err := r.valueEnd()
	if err != nil {
		if err == errPassedOver {
			return r.fail(line, -1, ErrTooLarge)
		}
		return err
	}
	if err := fastjson.ValidateBytes(r.buf[r.pos : r.pos+n]); err != nil {
		return r.fail(line, -1, ErrSyntax)
	}
	r.advance(r.pos + n)
	return nil
}

// valueEnd finds the end of the JSON value starting at pos and returns its
// length; the value is then buf[pos:pos+n]. It reads more input as needed,
// keeping everything from pos. A value longer than MaxRecordBytes is
// passed over without being kept and reported as errPassedOver, with pos
// after it. Brackets are only counted, not matched:
// the caller validates what it keeps.
func (r *Reader) valueEnd() (int, error) {
	var (
		depth      int
		inStr, esc bool
		scalar     bool
		discarding bool
		i          = r.pos
		first      = true
	)
	for {
		b := r.buf[:r.end]
		for i < len(b) {
			if inStr {
				if esc {
					esc = false
					i++
					continue
				}
				seg := b[i:]
				q := bytes.IndexByte(seg, '"')
				if q < 0 {
					q = len(seg)
				}
				if bs := bytes.IndexByte(seg[:q], '\\'); bs >= 0 {
					q = bs
				}
				i += q
				if i == len(b) {
					break
				}
				if b[i] == '\\' {
					esc = true
				} else {
					inStr = false
					if depth == 0 {
						return r.valueDone(i+1, discarding)
					}
				}
				i++
				continue
			}
			c := b[i]
			if first {
				first = false
				switch c {
				case '{', '[':
					depth = 1
				case '"':
					inStr = true
				default:
					scalar = true
				}
				i++
				continue
			}
			if scalar {
				if c == ',' || c == ']' || c == '}' || isSpace(c) {
					return r.valueDone(i, discarding)
				}
				i++
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return r.valueDone(i+1, discarding)
				}
			}
			i++
		}
		// Out of buffered input: read more, or pass the value over.
		if discarding {
			r.advance(i)
			r.mark = i
		} else {
			r.mark = r.pos
		}
		off := i - r.mark
		more := r.fill()
		i = r.mark + off // fill may have moved the kept bytes to the front
		if more {
			continue
		}
		if scalar && r.eof && r.srcErr == nil && !discarding {
			return i - r.pos, nil // a scalar ends with the input
		}
		if !r.eof && !discarding && r.end == len(r.buf) {
			// The buffer is at its limit: pass the rest of the value over.
			discarding = true
			r.advance(i)
			r.mark = i
			continue
		}
		return 0, r.endOfInput()
	}
}

// valueDone finishes valueEnd for a value ending before buf[end].
func (r *Reader) valueDone(end int, discarding bool) (int, error) {
	if discarding {
		r.advance(end)
		return 0, errPassedOver
	}
	return end - r.pos, nil
}
