package azurelog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/event"
)

// threeRecords is a Key Vault, an Activity Log and a REST-shape record.
func threeRecords(t *testing.T) [][]byte {
	return [][]byte{
		variant(t, kvBase(t), nil),
		variant(t, activityBase(t), nil),
		variant(t, restBase(t), nil),
	}
}

func TestShapes(t *testing.T) {
	recs := threeRecords(t)
	pretty := func(b []byte) []byte {
		var out bytes.Buffer
		if err := jsonIndent(&out, b); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	jl := lines(recs...)
	env := envelope(recs...)
	prettyEnv := pretty(env)
	prettyObjs := bytes.Join([][]byte{pretty(recs[0]), pretty(recs[1]), pretty(recs[2])}, []byte("\n"))
	tests := []struct {
		name  string
		data  []byte
		lines []int // line of each record
		index []int
	}{
		{"json lines", jl, []int{1, 2, 3}, []int{0, 1, 2}},
		{"json lines CRLF", bytes.ReplaceAll(jl, []byte("\n"), []byte("\r\n")), []int{1, 2, 3}, []int{0, 1, 2}},
		{"json lines no final newline", bytes.TrimSpace(jl), []int{1, 2, 3}, []int{0, 1, 2}},
		{"json lines with BOM and blank lines", append([]byte("\xef\xbb\xbf\n"), bytes.ReplaceAll(jl, []byte("\n"), []byte("\n\n"))...), []int{2, 4, 6}, []int{0, 1, 2}},
		{"envelope compact", env, []int{1, 1, 1}, []int{0, 1, 2}},
		{"envelope pretty", prettyEnv, prettyLines(prettyEnv), []int{0, 1, 2}},
		{"envelope per line", lines(envelope(recs[0]), envelope(recs[1], recs[2])), []int{1, 2, 2}, []int{0, 0, 1}},
		{"envelope with trailing keys", append(append([]byte(`{"records":[`), bytes.Join(recs, []byte(","))...), `],"x":{"records":[1]},"records":[`+string(recs[0])+`]}`...), []int{1, 1, 1, 1}, []int{0, 1, 2, 0}},
		{"REST list", append(append([]byte(`{"value":[`), bytes.Join(recs, []byte(","))...), `],"nextLink":null}`...), []int{1, 1, 1}, []int{0, 1, 2}},
		{"array", array(recs...), []int{1, 2, 3}, []int{0, 1, 2}},
		{"array of envelopes", array(envelope(recs[0], recs[1]), envelope(recs[2])), []int{1, 1, 2}, []int{0, 1, 0}},
		{"concatenated pretty objects", prettyObjs, prettyLines(prettyObjs), []int{0, 1, 2}},
		{"concatenated on one line", bytes.Join(recs, nil), []int{1, 1, 1}, []int{0, 1, 2}},
		{"gzip json lines", gz(t, jl), []int{1, 2, 3}, []int{0, 1, 2}},
		{"gzip envelope", gz(t, env), []int{1, 1, 1}, []int{0, 1, 2}},
		{"gzip multi-member", append(gz(t, lines(recs[0])), gz(t, lines(recs[1], recs[2]))...), []int{1, 2, 3}, []int{0, 1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := readAll(t, tc.data, Options{})
			if res.err != nil || len(res.errs) != 0 {
				t.Fatalf("err %v, record errors %v", res.err, res.errs)
			}
			if len(res.ops) != len(tc.lines) {
				t.Fatalf("%d records, want %d", len(res.ops), len(tc.lines))
			}
			for i, op := range res.ops {
				if op.Pos.Line != tc.lines[i] || op.Pos.Index != tc.index[i] || op.Pos.File != "in.json" {
					t.Errorf("record %d at %+v, want line %d index %d", i, op.Pos, tc.lines[i], tc.index[i])
				}
				// Raw is the record exactly: re-encoding it gives the input record.
				if !jsonEqual(op.Raw, recs[i%3]) {
					t.Errorf("record %d Raw = %.100q", i, op.Raw)
				}
			}
			kinds := []event.Kind{event.KindKeyVault, event.KindActivity, event.KindActivity}
			for i, op := range res.ops[:3] {
				if op.Kind != kinds[i] {
					t.Errorf("record %d kind %v", i, op.Kind)
				}
			}
			if res.ops[0].Operation != "VaultGet" || res.ops[2].Operation != "microsoft.network/networksecuritygroups/write" {
				t.Errorf("operations %q %q", res.ops[0].Operation, res.ops[2].Operation)
			}
			if !strings.HasPrefix(tc.name, "gzip") && res.stats.Bytes != int64(len(tc.data)) {
				t.Errorf("Bytes %d, want %d", res.stats.Bytes, len(tc.data))
			}
		})
	}
}

// prettyLines returns the line of each record start in indented JSON: a
// line that is just "{" at the record's indentation.
func prettyLines(b []byte) []int {
	var out []int
	indent := ""
	if bytes.HasPrefix(b, []byte(`{`+"\n"+`  "records"`)) {
		indent = "    "
	}
	for i, l := range strings.Split(string(b), "\n") {
		if l == indent+"{" {
			out = append(out, i+1)
		}
	}
	return out
}

func TestEmptyInput(t *testing.T) {
	for _, in := range []string{"", "\n\n  \r\n", "\xef\xbb\xbf", `{"records":[]}`, "[]", "[\n]\n"} {
		res := readAll(t, []byte(in), Options{})
		if res.err != nil || len(res.ops) != 0 || len(res.errs) != 0 {
			t.Errorf("%q: %d ops, errs %v, err %v", in, len(res.ops), res.errs, res.err)
		}
	}
}

// TestStreaming reads an envelope and an array far larger than
// MaxRecordBytes: this only works if the reader never holds more than one
// record.
func TestStreaming(t *testing.T) {
	rec := variant(t, kvBase(t), nil)
	const n = 20000
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = rec
	}
	for name, data := range map[string][]byte{"envelope": envelope(recs...), "array": array(recs...), "lines": lines(recs...)} {
		t.Run(name, func(t *testing.T) {
			res := readAll(t, data, Options{MaxRecordBytes: 4 << 10})
			if res.err != nil || len(res.ops) != n {
				t.Fatalf("%d records, err %v", len(res.ops), res.err)
			}
			if c := len(res.reader.buf); c > 64<<10 {
				t.Errorf("buffer grew to %d bytes", c)
			}
			if last := res.ops[n-1].Pos.Index; last != n-1 {
				t.Errorf("last index %d", last)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	recs := threeRecords(t)
	plain := filepath.Join(dir, "PT1H.json")
	zipped := filepath.Join(dir, "records.bin") // shape is never taken from the name
	if err := os.WriteFile(plain, lines(recs...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(zipped, gz(t, envelope(recs...)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{plain, zipped} {
		var got []string
		st, err := ReadFile(path, Options{}, func(op *event.Op) error {
			got = append(got, op.Kind.String()+" "+op.Operation+" "+op.Pos.File)
			return nil
		})
		if err != nil || st.Records != 3 || len(got) != 3 || !strings.HasSuffix(got[0], path) {
			t.Errorf("%s: %v %+v %q", path, err, st, got)
		}
	}

	stop := fmt.Errorf("stop")
	if _, err := ReadFile(plain, Options{}, func(*event.Op) error { return stop }); err != stop {
		t.Errorf("fn error not returned: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), Options{}, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	// "-" reads standard input.
	f, err := os.Open(zipped)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = saved }()
	n := 0
	st, err := ReadFile("-", Options{}, func(op *event.Op) error {
		if op.Pos.File != "-" {
			t.Errorf("stdin file name %q", op.Pos.File)
		}
		n++
		return nil
	})
	if err != nil || n != 3 || st.Records != 3 {
		t.Errorf("stdin: %v %d %+v", err, n, st)
	}
}

// TestReset reuses one Reader over inputs of every shape, as a consumer of
// Event Hubs messages does, and compares with fresh Readers.
func TestReset(t *testing.T) {
	recs := threeRecords(t)
	inputs := [][]byte{envelope(recs...), gz(t, lines(recs...)), lines(recs[0][:50]), array(recs...), {}, gz(t, envelope(recs[1]))}
	r, err := NewReader(bytes.NewReader(nil), "none", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range inputs {
		want := readAll(t, in, Options{})
		if err := r.Reset(bytes.NewReader(in), "in.json"); err != nil {
			t.Fatal(err)
		}
		var got []string
		var op event.Op
		var end error
		for {
			if end = r.Next(&op); end != nil {
				break
			}
			got = append(got, fmt.Sprintf("%v %s %s %+v", op.Kind, op.Operation, op.Raw, op.Pos))
		}
		if len(got) != len(want.ops) || r.Stats() != want.stats {
			t.Fatalf("input %d: %d ops %+v, want %d %+v", i, len(got), r.Stats(), len(want.ops), want.stats)
		}
		for j, op := range want.ops {
			if w := fmt.Sprintf("%v %s %s %+v", op.Kind, op.Operation, op.Raw, op.Pos); got[j] != w {
				t.Errorf("input %d record %d: %s, want %s", i, j, got[j], w)
			}
		}
		if (end == io.EOF) != (want.err == nil) {
			t.Errorf("input %d: end %v, want %v", i, end, want.err)
		}
	}
	if err := r.Reset(bytes.NewReader([]byte{0x1f, 0x8b, 1}), "bad.gz"); err == nil {
		t.Error("Reset accepted a bad gzip header")
	}
}
