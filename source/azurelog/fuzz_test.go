package azurelog

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// maxFuzzBytes caps the input FuzzReader reads. Every input that widens
// coverage is minimized (one execution per byte removed, up to quadratic in
// its length) before fuzzing goes on; on the multi-kilobyte samples that
// took the whole run. The seeds are the samples' records with long strings
// shortened, so that each fits.
const maxFuzzBytes = 512

// addSeeds adds the samples' records, shortened, in every shape, to a fuzz
// corpus.
func addSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/samples/*.json")
	var recs [][]byte
	for _, name := range files {
		recs = append(recs, variant(f, sampleRecord(f, filepath.Base(name)), shorten))
	}
	for _, r := range recs {
		f.Add(r)
		f.Add(envelope(r))
	}
	jl := lines(recs[0], recs[len(recs)-1])
	f.Add(jl)
	f.Add(array(recs[0], recs[len(recs)-1]))
	f.Add(gz(f, jl))
	f.Add(jl[:len(jl)/2])
	f.Add(lines(recs[0], []byte(`{"time":"2016-01-05T01:32:01Z","x":tru}`), recs[1]))
	f.Add([]byte(`{"records":[{"time":"2016-01-05T01:32:01.1Z","identity":{"claim":{"oid":"a\u00e9","upn":"x@y"}},"properties":{"addedAccessPolicy":[{"ObjectId":"o"}],"requestBody":{"a":[1,2.5e3,null]}}}]}`))
	f.Add([]byte(`[{"eventTimestamp":"2018-01-29T20:42:31+01:00","operationName":{"value":"A/B"},"authorization":[{"scope":"/s","evidence":{"principalType":"User"}}],"httpRequest":{"clientIpAddress":"[::1]:80"}},1,"x"]`))
}

// shorten cuts every string of m longer than 16 bytes to 16, and drops the
// Activity Log's claims (a dozen long URIs the reader does not read).
func shorten(m map[string]any) {
	delete(m, "claims")
	for k, v := range m {
		switch v := v.(type) {
		case string:
			if len(v) > 16 {
				m[k] = v[:16]
			}
		case map[string]any:
			shorten(v)
		case []any:
			for _, e := range v {
				if e, ok := e.(map[string]any); ok {
					shorten(e)
				}
			}
		}
	}
}

func FuzzReader(f *testing.F) {
	addSeeds(f)
	// One Reader for every input, as a consumer of many messages uses it.
	var reused *Reader
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if reused == nil {
			var err error
			if reused, err = NewReader(bytes.NewReader(nil), "", fuzzOptions()); err != nil {
				t.Fatal(err)
			}
		}
		checkReader(t, reused, data[:min(len(data), maxFuzzBytes)])
	})
}

var fuzzReported []*RecordError

func fuzzOptions() Options {
	return Options{
		MaxRecordBytes: 1 << 16,
		OnError:        func(e *RecordError) { fuzzReported = append(fuzzReported, e) },
	}
}

// checkReader makes r (or a new Reader when r is nil) read data to the end
// and checks every invariant of a Reader.
func checkReader(t *testing.T, r *Reader, data []byte) {
	fuzzReported = fuzzReported[:0]
	var err error
	if r == nil {
		r, err = NewReader(bytes.NewReader(data), "fuzz.json", fuzzOptions())
	} else {
		err = r.Reset(bytes.NewReader(data), "fuzz.json")
	}
	if err != nil {
		return // not a valid gzip header
	}
	{
		reported := &fuzzReported
		gzipped := len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b
		var op event.Op
		delivered := 0
		for n := 0; ; n++ {
			if n > 1e6 {
				t.Fatal("reader does not end")
			}
			err = r.Next(&op)
			if err != nil {
				break
			}
			delivered++
			if len(op.Raw) < 2 || op.Raw[0] != '{' || op.Raw[len(op.Raw)-1] != '}' || !json.Valid(op.Raw) {
				t.Fatalf("Raw is not one JSON object: %q", op.Raw)
			}
			if op.Kind == event.KindUnknown || op.Pos.File != "fuzz.json" || op.Pos.Line < 1 || op.Pos.Index < 0 {
				t.Fatalf("bad op %+v", op)
			}
			if op.Time.Location() != time.UTC {
				t.Fatalf("time not UTC: %v", op.Time)
			}
			if diff := compareWithOracle(&op); diff != "" {
				t.Fatalf("differs from the oracle: %s\nrecord %q", diff, op.Raw)
			}
		}
		if err != io.EOF {
			var re *RecordError
			if !errors.As(err, &re) || re.File != "fuzz.json" || re.Line < 1 || re.Err == nil {
				t.Fatalf("ending error %#v", err)
			}
		}
		if again := r.Next(&op); again != err {
			t.Fatalf("Next after %v returned %v", err, again)
		}
		st := r.Stats()
		if st.Records != int64(delivered) || st.Skipped != int64(len(*reported)) || st.Bytes < 0 {
			t.Fatalf("stats %+v, delivered %d, reported %d", st, delivered, len(*reported))
		}
		if !gzipped && (st.Bytes > int64(len(data)) || err == io.EOF && st.Bytes != int64(len(data))) {
			t.Fatalf("Bytes %d of %d input bytes (err %v)", st.Bytes, len(data), err)
		}
		for _, e := range *reported {
			if e.File != "fuzz.json" || e.Line < 1 || e.Index < 0 || e.Err == nil {
				t.Fatalf("bad record error %#v", e)
			}
		}
	}
}

var rfc3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

// FuzzParseTime checks the timestamp parser against the standard library
// on every input the latter accepts as RFC 3339.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2016-01-05T01:32:01.2691226Z", "2007-01-09T11:41:00+02:00", "2007-01-09T09:41:00",
		"2016-02-29T23:59:59.999999999-23:59", "2016-13-01T00:00:00Z", "2016-01-05T01:32:01.Z", "0001-01-01T00:00:00Z"} {
		f.Add(s)
	}
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseTime([]byte(s))
		if ok && got.Location() != time.UTC {
			t.Fatalf("%q: not UTC", s)
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return
		}
		// The standard library also takes forms RFC 3339 does not have
		// (a one-digit hour, a +24:00 offset); only strict RFC 3339 must
		// be accepted.
		if !ok && rfc3339.MatchString(s) {
			t.Fatalf("%q: rejected, the standard library reads %v", s, want)
		}
		if ok && !got.Equal(want) {
			t.Fatalf("%q: %v, want %v", s, got, want)
		}
	})
}

// TestOracleDetects makes sure the oracle comparison can fail.
func TestOracleDetects(t *testing.T) {
	res := readAll(t, variant(t, kvBase(t), nil), Options{})
	op := res.ops[0]
	if d := compareWithOracle(&op); d != "" {
		t.Fatalf("unexpected difference: %s", d)
	}
	op.Caller.UPN = "someone@else"
	if compareWithOracle(&op) == "" {
		t.Error("a changed UPN went unnoticed")
	}
	op = res.ops[0]
	op.RequestBody = `{"a":1}`
	if compareWithOracle(&op) == "" {
		t.Error("a changed body went unnoticed")
	}
}
