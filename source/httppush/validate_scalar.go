package httppush

import (
	"encoding/json"

	"github.com/vigil-security/vigil/internal/jsonscan"
)

// Scalars for the validator: literals, numbers and strings, validated
// strictly as RFC 8259 has them (package jsonscan, shared with the azurelog
// walker).

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

// result turns a scan's end into the validator's errors.
func (v *validator) result(r jsonscan.Result) error {
	switch r.Status {
	case jsonscan.Short:
		return v.short()
	case jsonscan.Bad:
		return v.bad(r.At, r.Msg)
	}
	return nil
}

func (v *validator) literal(i int, lit string) (int, error) {
	end, r := jsonscan.Literal(v.d, i, lit)
	return end, v.result(r)
}

// number validates a JSON number at d[i] (a number never ends a body).
func (v *validator) number(i int) (int, error) {
	end, r := jsonscan.Number(v.d, i)
	return end, v.result(r)
}

// str validates the string whose opening quote is at d[q] and returns the
// index just past its closing quote and whether it has escapes.
func (v *validator) str(q int) (int, bool, error) {
	end, esc, r := jsonscan.String(v.d, q)
	return end, esc, v.result(r)
}

var quoteByte = jsonscan.QuoteByte

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
