package azurelog

import "github.com/vigil-security/vigil/internal/jsonscan"

// Scalars for the walker: literals, numbers and strings, validated strictly
// as RFC 8259 has them (package jsonscan, shared with the push endpoint).

// result turns a scan's end into the walker's errors.
func (w *walker) result(r jsonscan.Result) error {
	switch r.Status {
	case jsonscan.Short:
		return errShort
	case jsonscan.Bad:
		return w.bad(r.At, r.Msg)
	}
	return nil
}

func (w *walker) literal(i int, lit string) (int, error) {
	end, r := jsonscan.Literal(w.d, i, lit)
	return end, w.result(r)
}

// number validates a JSON number at d[i].
func (w *walker) number(i int) (int, error) {
	end, r := jsonscan.Number(w.d, i)
	return end, w.result(r)
}

// str validates the string whose opening quote is at d[q] and returns the
// index just past its closing quote and whether it has escapes.
func (w *walker) str(q int) (int, bool, error) {
	end, esc, r := jsonscan.String(w.d, q)
	return end, esc, w.result(r)
}

var quoteByte = jsonscan.QuoteByte
