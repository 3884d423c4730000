package azurelog

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/event"
)

func TestMalformedRecords(t *testing.T) {
	good := variant(t, kvBase(t), nil)
	act := variant(t, activityBase(t), nil)
	noTime := variant(t, kvBase(t), func(m map[string]any) { delete(m, "time") })
	badTime := func(s string) []byte {
		return variant(t, kvBase(t), func(m map[string]any) { m["time"] = s })
	}
	tests := []struct {
		name      string
		data      []byte
		wantOps   int
		wantLines []int // line of each reported record error
		wantIdx   []int
		wantErr   error // each reported error wraps it
	}{
		{"bad literal mid json lines", lines(good, act, []byte(`{"time":"2016-01-05T01:32:01Z","operationName":tru}`), good, act), 4, []int{3}, []int{2}, ErrSyntax},
		{"truncated line mid json lines", lines(good, act, good[:len(good)/2], good, act), 4, []int{3}, []int{2}, ErrSyntax},
		{"line cut after a comma", lines(good, []byte(`{"time":"2016-01-05T01:32:01Z",`), good), 2, []int{2}, []int{1}, ErrSyntax},
		{"line cut before a value", lines(good, []byte(`{"time":`), act, good), 3, []int{2}, []int{1}, ErrSyntax},
		{"open object swallows the last line", lines(good, []byte(`{"time":"2016-01-05T01:32:01Z","operationName":`), act), 2, []int{2}, []int{1}, ErrTruncated},
		{"open object swallows the next lines", lines(good, []byte(`{"time":"2016-01-05T01:32:01Z","x":[`), act, good), 3, []int{2}, []int{1}, ErrSyntax},
		{"two bad lines", lines([]byte(`{"a":}`), good, []byte(`{"b" 1}`), good), 2, []int{1, 3}, []int{0, 2}, ErrSyntax},
		{"missing time", lines(good, noTime, good), 2, []int{2}, []int{1}, ErrNoTime},
		{"time not a timestamp", lines(good, badTime("yesterday")), 1, []int{2}, []int{1}, ErrBadTime},
		{"time out of range", lines(badTime("2016-13-05T01:32:01Z"), badTime("2016-02-30T01:32:01Z"), good), 1, []int{1, 2}, []int{0, 1}, ErrBadTime},
		{"time not a string", lines(variant(t, kvBase(t), func(m map[string]any) { m["time"] = 1452000000 }), good), 1, []int{1}, []int{0}, ErrBadTime},
		{"garbage line", lines(good, []byte("-- rotated --"), []byte("more junk"), act), 2, []int{2}, []int{1}, ErrSyntax},
		{"scalar line", lines(good, []byte(`"just a string"`), act), 2, []int{2}, []int{1}, ErrSyntax},
		{"bad record in envelope", envelope(good, []byte(`{"time":"2016-01-05T01:32:01Z","durationMs":-}`), act), 2, []int{1}, []int{1}, ErrSyntax},
		{"non-object in envelope", envelope(good, []byte(`42`), []byte(`[]`), act), 2, []int{1, 1}, []int{1, 2}, ErrNotObject},
		{"no time in array", array(good, noTime, act), 2, []int{2}, []int{1}, ErrNoTime},
		{"pretty objects, bad one in the middle", bytes.Join([][]byte{pretty(t, good), []byte("{\n  \"time\": \"2016-01-05T01:32:01Z\"\n  \"x\": 1\n}"), pretty(t, act)}, []byte("\n")), 2, []int{bytes.Count(pretty(t, good), []byte("\n")) + 2}, []int{1}, ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := readAll(t, tc.data, Options{})
			if res.err != nil {
				t.Fatalf("reading stopped: %v", res.err)
			}
			if len(res.ops) != tc.wantOps {
				t.Errorf("%d records, want %d", len(res.ops), tc.wantOps)
			}
			if len(res.errs) != len(tc.wantLines) {
				t.Fatalf("errors %v, want %d", res.errs, len(tc.wantLines))
			}
			for i, e := range res.errs {
				if e.Line != tc.wantLines[i] || e.Index != tc.wantIdx[i] || e.File != "in.json" || !errors.Is(e, tc.wantErr) {
					t.Errorf("error %d: %v (line %d index %d), want line %d index %d, %v", i, e, e.Line, e.Index, tc.wantLines[i], tc.wantIdx[i], tc.wantErr)
				}
			}
			for _, op := range res.ops {
				if op.Time.IsZero() {
					t.Errorf("delivered a record without time: %+v", op.Pos)
				}
			}
		})
	}
}

func pretty(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	if err := jsonIndent(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestErrorMessage(t *testing.T) {
	good := variant(t, kvBase(t), nil)
	res := readAll(t, lines(good, []byte(`{"time": "x"}`)), Options{})
	if len(res.errs) != 1 {
		t.Fatalf("errors %v", res.errs)
	}
	if got := res.errs[0].Error(); got != `in.json:2: record 1: invalid record time "x"` {
		t.Errorf("message %q", got)
	}
}

// TestFatalInput covers input that ends the reader: everything before the
// damage is delivered, then an error with the position.
func TestFatalInput(t *testing.T) {
	good := variant(t, kvBase(t), nil)
	act := variant(t, activityBase(t), nil)
	env := envelope(good, act, good)
	jl := lines(good, act, good)
	tests := []struct {
		name     string
		data     []byte
		opts     Options
		wantOps  int
		wantErr  error
		wantLine int
	}{
		{"json lines cut in the last record", jl[:len(jl)-40], Options{}, 2, ErrTruncated, 3},
		{"json lines cut inside a string", jl[:len(good)+1+len(act)+1+20], Options{}, 2, ErrTruncated, 3},
		{"envelope cut inside a record", env[:len(env)-40], Options{}, 2, ErrTruncated, 1},
		{"envelope cut after a record", env[:len(env)-len(good)-3], Options{}, 2, ErrTruncated, 1},
		{"envelope without its closing brace", env[:len(env)-1], Options{}, 3, ErrTruncated, 1},
		{"envelope structure broken", bytes.Replace(env, []byte("},{"), []byte("} {"), 1), Options{}, 1, ErrSyntax, 1},
		{"record structure broken inside envelope", envelope(good, []byte(`{"time" "x"}`), good), Options{}, 1, ErrSyntax, 1},
		{"not JSON", []byte("PK\x03\x04 zip archive"), Options{}, 0, ErrNotJSON, 1},
		{"text file", []byte("hello\nworld\n"), Options{}, 0, ErrNotJSON, 1},
		{"record too large", lines(good, act), Options{MaxRecordBytes: 512}, 0, ErrTooLarge, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := readAll(t, tc.data, tc.opts)
			if len(res.ops) != tc.wantOps {
				t.Errorf("%d records before the error, want %d", len(res.ops), tc.wantOps)
			}
			re := wantErr(t, res.err, tc.wantErr)
			if re.Line != tc.wantLine || re.File != "in.json" {
				t.Errorf("error at %s:%d, want line %d: %v", re.File, re.Line, tc.wantLine, re)
			}
		})
	}
}

func TestTruncatedGzip(t *testing.T) {
	good := variant(t, kvBase(t), nil)
	var recs [][]byte
	for range 200 {
		recs = append(recs, good)
	}
	z := gz(t, lines(recs...))
	res := readAll(t, z[:len(z)/2], Options{})
	if len(res.ops) == 0 || len(res.ops) >= 200 {
		t.Errorf("%d records before the cut", len(res.ops))
	}
	if !errors.Is(res.err, io.ErrUnexpectedEOF) {
		t.Errorf("error %v, want unexpected EOF", res.err)
	}

	if _, err := NewReader(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0}), "x.gz", Options{}); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("bad gzip header: %v", err)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk on fire")
	}
	f.n--
	return copy(p, "{\"time\":\"2016-01-05T01:32:01Z\"}\n"), nil
}

func TestReadError(t *testing.T) {
	r, err := NewReader(&failingReader{n: 3}, "in.json", Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		var op event.Op
		err = r.Next(&op)
		if err != nil {
			break
		}
		n++
	}
	if n != 3 || err == io.EOF || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("%d records, err %v", n, err)
	}
}
