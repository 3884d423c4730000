package httppush

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
)

// Scalars for the validator: literals, numbers and strings, validated
// strictly as RFC 8259 has them (as the azurelog walker does).

// unescape decodes the escapes of a string's content (rare in keys and
// times; the content is already validated).
func unescape(b []byte) []byte {
	var s string
	quoted := make([]byte, 0, len(b)+2)
	quoted = append(append(append(quoted, '"'), b...), '"')
	if json.Unmarshal(quoted, &s) != nil {
		return b
	}
	return []byte(s)
}

func (v *validator) literal(i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(v.d) {
			return i + k, v.short()
		}
		if v.d[i+k] != lit[k] {
			return i + k, v.bad(i, "invalid literal")
		}
	}
	return i + len(lit), nil
}

// number validates a JSON number at d[i].
func (v *validator) number(i int) (int, error) {
	start := i
	d := v.d
	if d[i] == '-' {
		i++
	}
	if i >= len(d) {
		return i, v.short()
	}
	switch {
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i++; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	default:
		return i, v.bad(start, "invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
		if i == j {
			if i >= len(d) {
				return i, v.short()
			}
			return i, v.bad(start, "invalid number")
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
				return i, v.short()
			}
			return i, v.bad(start, "invalid number")
		}
	}
	if i >= len(d) {
		return i, v.short() // a number never ends a body
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
func (v *validator) str(q int) (int, bool, error) {
	d := v.d
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
			return j, esc, v.short()
		}
		switch c := d[j]; {
		case c == '"':
			return j + 1, esc, nil
		case c < 0x20:
			return j, esc, v.bad(j, "control character in string")
		}
		esc = true
		if j+1 >= len(d) {
			return j, esc, v.short()
		}
		switch d[j+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j += 2
		case 'u':
			if j+6 > len(d) {
				return j, esc, v.short()
			}
			for _, h := range d[j+2 : j+6] {
				if !isHex(h) {
					return j, esc, v.bad(j, "invalid \\u escape")
				}
			}
			j += 6
		default:
			return j, esc, v.bad(j, "invalid escape")
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

// equalFold reports whether b equals s ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
