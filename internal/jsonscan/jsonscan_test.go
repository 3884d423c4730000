package jsonscan

import "testing"

func TestScalars(t *testing.T) {
	for _, tc := range []struct {
		in     string
		end    int
		status Status
	}{
		{`-12.5e+3,`, 8, OK}, {`0,`, 1, OK}, {`01`, 1, OK}, {`-`, 1, Short}, {`12`, 2, Short},
		{`1.x`, 2, Bad}, {`1e,`, 2, Bad}, {`-a`, 1, Bad},
	} {
		end, r := Number([]byte(tc.in), 0)
		if end != tc.end || r.Status != tc.status {
			t.Errorf("Number(%q) = %d, %+v; want %d, %d", tc.in, end, r, tc.end, tc.status)
		}
	}
	for _, tc := range []struct {
		in     string
		end    int
		esc    bool
		status Status
	}{
		{`"plain text that is long enough for words"x`, 42, false, OK},
		{`"a\"b\u00e9"`, 12, true, OK}, {`"abc`, 4, false, Short}, {`"a\`, 2, true, Short},
		{"\"a\x01\"", 2, false, Bad}, {`"\q"`, 1, true, Bad}, {`"\u12g4"`, 1, true, Bad},
	} {
		end, esc, r := String([]byte(tc.in), 0)
		if end != tc.end || esc != tc.esc || r.Status != tc.status {
			t.Errorf("String(%q) = %d, %v, %+v; want %d, %v, %d", tc.in, end, esc, r, tc.end, tc.esc, tc.status)
		}
	}
	if end, r := Literal([]byte("tru"), 0, "true"); end != 3 || r.Status != Short {
		t.Errorf("Literal(tru) = %d, %+v", end, r)
	}
	if end, r := Literal([]byte("nul!"), 0, "null"); end != 3 || r.Status != Bad || r.At != 0 {
		t.Errorf("Literal(nul!) = %d, %+v", end, r)
	}
}
