package simulate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// TestScenariosFitEveryEstateSize builds estates of several sizes and
// seeds: every one holds every scenario.
func TestScenariosFitEveryEstateSize(t *testing.T) {
	for _, opts := range []EstateOptions{
		{Seed: 1, Scale: 0.01, Days: 4, LearningDays: 2},
		{Seed: 2, Scale: 0.1, Days: 9},
		{Seed: 3, Scale: 0.5},
		{Seed: 4, Scale: 3, Days: 30, LearningDays: 14},
		{Seed: 5, Start: time.Date(2027, 3, 5, 17, 30, 0, 0, time.FixedZone("x", 3600))},
	} {
		e, err := NewEstate(opts)
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		attacks := 0
		for _, l := range e.Labels() {
			if l.MustFire {
				attacks++
			}
			if l.Kind != LabelLearning && (l.From.Before(e.LearningEnd()) || l.To.After(e.End())) {
				t.Errorf("%+v: label %s %s [%s, %s] outside [%s, %s]", opts, l.ID, l.AlertType, l.From, l.To, e.LearningEnd(), e.End())
			}
		}
		// Every Key Vault and Resource Manager TI attack; the behaviour and
		// fraud scenarios where the estate has room (GPU fleet: 3 labels).
		if attacks < len(attackTypes) || attacks > len(attackTypes)+len(armTypes)+2 {
			t.Errorf("%+v: %d attacks", opts, attacks)
		}
	}
}

// FuzzEstateOptions: any options either fail with an error or give an
// estate whose first records (a megabyte) read back whole.
func FuzzEstateOptions(f *testing.F) {
	f.Add(uint64(1), 3, 1, 0.05, "185.183.159.40", false)
	f.Add(uint64(9), 2, 0, 0.0, "", true)
	f.Add(uint64(2), -1, 5, -3.0, "::1", false)
	f.Add(uint64(3), 4000, 2, 0.02, "not an address", false)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, seed uint64, days, learning int, scale float64, tor string, quiet bool) {
		opts := EstateOptions{Seed: seed, Days: days, LearningDays: learning, Scale: scale, NoScenarios: quiet}
		if tor != "" {
			opts.TorExits = []string{tor}
		}
		e, err := NewEstate(opts)
		if err != nil || e.End().Sub(e.Start()) > 5*24*time.Hour || len(e.Vaults()) > 12 {
			return // an error, or too large to write in a fuzz iteration
		}
		// The first megabyte: the smallest estate writes some 70 MB, a
		// second a time, which kept the fuzzer in its seed corpus.
		w := &capWriter{max: maxFuzzOutput}
		st, err := e.Write(w, Records)
		switch {
		case errors.Is(err, errCapped):
			whole := w.buf.Bytes()[:bytes.LastIndexByte(w.buf.Bytes(), '\n')+1]
			want := bytes.Count(whole, []byte{'\n'}) * RecordsPerEnvelope
			if recs := readBack(t, whole, "fuzz"); len(recs) != want {
				t.Fatalf("read %d records of %d whole envelopes, want %d", len(recs), want/RecordsPerEnvelope, want)
			}
		case err != nil:
			t.Fatal(err)
		default:
			if recs := readBack(t, w.buf.Bytes(), "fuzz"); int64(len(recs)) != st.Records {
				t.Fatalf("read %d of %d records", len(recs), st.Records)
			}
		}
	})
}

// maxFuzzOutput is how much of an estate a fuzz iteration writes.
const maxFuzzOutput = 1 << 20

// errCapped is capWriter's error once it is full.
var errCapped = errors.New("fuzz output cap reached")

// capWriter keeps the first max bytes written to it, then fails, which
// stops the writer feeding it.
type capWriter struct {
	buf bytes.Buffer
	max int
}

func (w *capWriter) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); len(p) > room {
		w.buf.Write(p[:room])
		return room, errCapped
	}
	return w.buf.Write(p)
}

// validJSONPrefix reports whether b is JSON text or the start of some: it
// tokenizes without error up to its end.
func validJSONPrefix(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return errors.Is(err, io.ErrUnexpectedEOF)
		}
	}
}

func TestValidJSONPrefix(t *testing.T) {
	for in, want := range map[string]bool{
		`{"records":[{"a":1},`: true,
		`{"records":[{"a":tr`:  true,
		`{"records":[{"a":"x`:  true,
		`{"a":[1,2]}`:          true,
		`{"a":[1,2}`:           false,
		`{"a"}`:                false,
		`{"a":1]`:              false,
	} {
		if got := validJSONPrefix([]byte(in)); got != want {
			t.Errorf("validJSONPrefix(%s) = %v, want %v", in, got, want)
		}
	}
}
