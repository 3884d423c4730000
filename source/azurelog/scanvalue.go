package azurelog

import (
	"bytes"
	"fmt"
)

// Scanner states inside one JSON value.
const (
	sValue      = iota // a value must follow
	sValueOrEnd        // after '[': a value or ']'
	sKeyOrEnd          // after '{': a key or '}'
	sKey               // after ',' in an object: a key
	sColon             // after a key
	sNext              // after a value: ',' or the closing bracket
)

// scanValue finds the end of the JSON value starting at r.pos and returns
// the index just past it; r.pos stays at the value's start (moved along with
// the buffer). It checks the structure (brackets, keys, colons, commas) so
// that a damaged record is caught near the damage instead of swallowing the
// records after it; scalars, escapes and string contents are left to the
// parser. Errors wrap ErrSyntax, ErrTruncated, ErrTooLarge or
// the read error.
func (r *Reader) scanValue() (int, error) {
	st := r.stack[:0]
	defer func() { r.stack = st[:0] }()
	state := sValue
	i := r.pos
	for {
		if i >= r.end {
			ok := false
			if i, ok = r.avail(i); !ok {
				return i, r.eofError()
			}
		}
		c := r.buf[i]
		done := false
		switch c {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		switch state {
		case sValue, sValueOrEnd:
			switch c {
			case '{', '[':
				if len(st) >= maxDepth {
					return i, r.syntax(i, "nesting too deep")
				}
				st = append(st, c)
				state = sKeyOrEnd
				if c == '[' {
					state = sValueOrEnd
				}
				i++
			case ']':
				if state != sValueOrEnd {
					return i, r.syntax(i, "unexpected ']'")
				}
				st = st[:len(st)-1]
				i++
				done = true
			case '"':
				var err error
				if i, err = r.scanString(i); err != nil {
					return i, err
				}
				done = true
			case ',', ':', '}':
				return i, r.syntax(i, fmt.Sprintf("unexpected %q", c))
			default:
				var err error
				if i, err = r.scanScalar(i); err != nil {
					return i, err
				}
				done = true
			}
		case sKeyOrEnd, sKey:
			switch {
			case c == '"':
				var err error
				if i, err = r.scanString(i); err != nil {
					return i, err
				}
				state = sColon
			case c == '}' && state == sKeyOrEnd:
				st = st[:len(st)-1]
				i++
				done = true
			default:
				return i, r.syntax(i, fmt.Sprintf("expected an object key, found %q", c))
			}
		case sColon:
			if c != ':' {
				return i, r.syntax(i, fmt.Sprintf("expected ':', found %q", c))
			}
			state = sValue
			i++
		case sNext:
			top := st[len(st)-1]
			switch {
			case c == ',':
				state = sValue
				if top == '{' {
					state = sKey
				}
				i++
			case c == '}' && top == '{', c == ']' && top == '[':
				st = st[:len(st)-1]
				i++
				done = true
			default:
				return i, r.syntax(i, fmt.Sprintf("expected ',' or closing bracket, found %q", c))
			}
		}
		if done {
			if len(st) == 0 {
				return i, nil
			}
			state = sNext
		}
	}
}

// scanString returns the index just past the string whose opening quote is
// at q.
func (r *Reader) scanString(q int) (int, error) {
	j := q + 1
	for {
		k := bytes.IndexByte(r.buf[j:r.end], '"')
		if k < 0 {
			old := r.end
			shift := 0
			if !r.eof {
				shift = r.fill()
			}
			if r.end == old-shift {
				return r.end, r.eofError()
			}
			q -= shift
			j = old - shift
			continue
		}
		e := j + k
		if r.buf[e-1] != '\\' {
			return e + 1, nil
		}
		n := 0
		for b := e - 1; b > q && r.buf[b] == '\\'; b-- {
			n++
		}
		if n%2 == 0 {
			return e + 1, nil
		}
		j = e + 1
	}
}

// scanScalar returns the index just past the number or literal at i.
func (r *Reader) scanScalar(i int) (int, error) {
	start := i
	for {
		for i < r.end && isScalarByte(r.buf[i]) {
			i++
		}
		if i < r.end || r.eof {
			break
		}
		shift := r.fill()
		i -= shift
		start -= shift
	}
	if i == start {
		if i >= r.end {
			return i, r.eofError()
		}
		return i, r.syntax(i, fmt.Sprintf("unexpected %q", r.buf[i]))
	}
	return i, nil
}

func isScalarByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '+' || c == '.'
}

// syntax builds a syntax error for position i.
func (r *Reader) syntax(i int, msg string) error {
	return fmt.Errorf("%w: %s (line %d)", ErrSyntax, msg, r.lineOf(i))
}

// lineOf returns the line of buf[i] without moving the line counter.
func (r *Reader) lineOf(i int) int {
	if i >= r.linePos {
		return r.line + bytes.Count(r.buf[r.linePos:min(i, r.end)], nl)
	}
	return r.line - bytes.Count(r.buf[i:r.linePos], nl)
}

// eofError is the error for input that ends inside a value.
func (r *Reader) eofError() error {
	if r.srcErr != nil {
		return r.srcErr
	}
	return ErrTruncated
}
