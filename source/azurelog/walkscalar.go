package azurelog

import (
	"encoding/binary"
	"math/bits"
)

// Scalars for the walker: literals, numbers and strings, validated strictly
// as RFC 8259 has them.

func (w *walker) literal(i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(w.d) {
			return i + k, errShort
		}
		if w.d[i+k] != lit[k] {
			return i + k, w.bad(i, "invalid literal")
		}
	}
	return i + len(lit), nil
}

// number validates a JSON number at d[i].
func (w *walker) number(i int) (int, error) {
	start := i
	d := w.d
	if d[i] == '-' {
		i++
	}
	if i >= len(d) {
		return i, errShort
	}
	switch {
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i++; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	default:
		return i, w.bad(start, "invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
		if i == j {
			if i >= len(d) {
				return i, errShort
			}
			return i, w.bad(start, "invalid number")
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
				return i, errShort
			}
			return i, w.bad(start, "invalid number")
		}
	}
	if i >= len(d) {
		return i, errShort // the number may go on
	}
	return i, nil
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

// str validates the string whose opening quote is at d[q] and returns the
// index just past its closing quote and whether it has escapes.
func (w *walker) str(q int) (int, bool, error) {
	d := w.d
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
			return j, esc, errShort
		}
		switch c := d[j]; {
		case c == '"':
			return j + 1, esc, nil
		case c < 0x20:
			return j, esc, w.bad(j, "control character in string")
		}
		esc = true
		if j+1 >= len(d) {
			return j, esc, errShort
		}
		switch d[j+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j += 2
		case 'u':
			if j+6 > len(d) {
				return j, esc, errShort
			}
			for _, h := range d[j+2 : j+6] {
				if !isHex(h) {
					return j, esc, w.bad(j, "invalid \\u escape")
				}
			}
			j += 6
		default:
			return j, esc, w.bad(j, "invalid escape")
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	const hex = "0123456789abcdef"
	return "byte 0x" + string([]byte{hex[c>>4], hex[c&15]})
}
