// Package jsonscan scans JSON scalars — literals, numbers and strings —
// strictly as RFC 8259 has them, without allocating: the one scanner the
// Azure log reader (source/azurelog) and the push endpoint's door
// (source/httppush) share. Each function returns the index just past the
// scalar and a Result saying whether it was whole, cut short by the end of
// the input, or bad (where, and why).
package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// Status says how a scan ended.
type Status uint8

// Statuses.
const (
	OK    Status = iota // the scalar is whole and valid
	Short               // the input ended inside the scalar (it may go on)
	Bad                 // the scalar is not valid JSON
)

// Result is how a scan ended; for Bad, At is the offending offset and Msg
// says what is wrong.
type Result struct {
	Status Status
	At     int
	Msg    string
}

var (
	ok    = Result{}
	short = Result{Status: Short}
)

func bad(at int, msg string) Result { return Result{Status: Bad, At: at, Msg: msg} }

// Literal checks that d[i:] starts with lit (true, false or null).
func Literal(d []byte, i int, lit string) (int, Result) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(d) {
			return i + k, short
		}
		if d[i+k] != lit[k] {
			return i + k, bad(i, "invalid literal")
		}
	}
	return i + len(lit), ok
}

// Number validates the number at d[i]. A number that reaches the end of d
// is Short: more digits may follow.
func Number(d []byte, i int) (int, Result) {
	start := i
	if d[i] == '-' {
		i++
	}
	if i >= len(d) {
		return i, short
	}
	switch {
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i++; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	default:
		return i, bad(start, "invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
		if i == j {
			if i >= len(d) {
				return i, short
			}
			return i, bad(start, "invalid number")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
		if i == j {
			if i >= len(d) {
				return i, short
			}
			return i, bad(start, "invalid number")
		}
	}
	if i >= len(d) {
		return i, short
	}
	return i, ok
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialBytes flags the bytes of x that end a plain run of string content:
// '"', '\\' and control characters. The lowest flag is exact.
func specialBytes(x uint64) uint64 {
	q := x ^ (lsb * '"')
	b := x ^ (lsb * '\\')
	return ((q - lsb) &^ q & msb) | ((b - lsb) &^ b & msb) | ((x - lsb*0x20) &^ x & msb)
}

// String validates the string whose opening quote is at d[q] and returns
// the index just past its closing quote and whether it has escapes.
func String(d []byte, q int) (int, bool, Result) {
	j := q + 1
	esc := false
	for {
		for j+8 <= len(d) {
			if m := specialBytes(binary.LittleEndian.Uint64(d[j:])); m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				break
			}
			j += 8
		}
		for j < len(d) && d[j] != '"' && d[j] != '\\' && d[j] >= 0x20 {
			j++
		}
		if j >= len(d) {
			return j, esc, short
		}
		switch c := d[j]; {
		case c == '"':
			return j + 1, esc, ok
		case c < 0x20:
			return j, esc, bad(j, "control character in string")
		}
		esc = true
		if j+1 >= len(d) {
			return j, esc, short
		}
		switch d[j+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j += 2
		case 'u':
			if j+6 > len(d) {
				return j, esc, short
			}
			for _, h := range d[j+2 : j+6] {
				if !IsHex(h) {
					return j, esc, bad(j, "invalid \\u escape")
				}
			}
			j += 6
		default:
			return j, esc, bad(j, "invalid escape")
		}
	}
}

// IsHex reports whether c is a hexadecimal digit.
func IsHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// QuoteByte names a byte for an error message: 'x', or byte 0x1f.
func QuoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	const hex = "0123456789abcdef"
	return "byte 0x" + string([]byte{hex[c>>4], hex[c&15]})
}
