package azurelog

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vigil-security/vigil/event"
)

// sampleRecord returns the first record of a sample file as a map, so tests
// can derive variations that keep the real shape.
func sampleRecord(t testing.TB, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata/samples", name))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if recs, ok := v["records"].([]any); ok {
		return recs[0].(map[string]any)
	}
	return v
}

// Base records from the real samples.
func kvBase(t testing.TB) map[string]any {
	return sampleRecord(t, "keyvault-logging.md.auditevent-sample.json")
}

func activityBase(t testing.TB) map[string]any {
	return sampleRecord(t, "activity-log-schema.md.eventhub-storage-records-sample.json")
}

func restBase(t testing.TB) map[string]any {
	return sampleRecord(t, "activity-log-schema.md.administrative-sample.json")
}

// variant deep-copies base, applies fn and returns the compact JSON.
func variant(t testing.TB, base map[string]any, fn func(m map[string]any)) []byte {
	t.Helper()
	b, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if fn != nil {
		fn(m)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

// sub returns the nested map at path, creating it.
func sub(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		n, ok := m[k].(map[string]any)
		if !ok {
			n = map[string]any{}
			m[k] = n
		}
		m = n
	}
	return m
}

func lines(recs ...[]byte) []byte {
	return append(bytes.Join(recs, []byte("\n")), '\n')
}

func envelope(recs ...[]byte) []byte {
	return append(append([]byte(`{"records":[`), bytes.Join(recs, []byte(","))...), "]}"...)
}

func array(recs ...[]byte) []byte {
	return append(append([]byte("["), bytes.Join(recs, []byte(",\n"))...), "]"...)
}

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// result is everything a Reader produced for one input.
type result struct {
	ops    []event.Op // copies, Raw copied
	errs   []*RecordError
	err    error // the error that ended reading, nil for io.EOF
	stats  Stats
	reader *Reader
}

func readAll(t testing.TB, data []byte, opts Options) result {
	t.Helper()
	var res result
	opts.OnError = func(e *RecordError) { res.errs = append(res.errs, e) }
	r, err := NewReader(bytes.NewReader(data), "in.json", opts)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	res.reader = r
	for {
		var op event.Op
		err := r.Next(&op)
		if err == io.EOF {
			break
		}
		if err != nil {
			res.err = err
			if again := r.Next(&op); again != err {
				t.Errorf("Next after %v returned %v", err, again)
			}
			break
		}
		if diff := compareWithOracle(&op); diff != "" {
			t.Errorf("record at %+v differs from the fastjson oracle: %s", op.Pos, diff)
		}
		op.Raw = append([]byte(nil), op.Raw...)
		res.ops = append(res.ops, op)
	}
	res.stats = r.Stats()
	if res.stats.Records != int64(len(res.ops)) || res.stats.Skipped != int64(len(res.errs)) {
		t.Errorf("stats %+v, delivered %d, reported %d", res.stats, len(res.ops), len(res.errs))
	}
	return res
}

func wantErr(t *testing.T, err, target error) *RecordError {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
	var re *RecordError
	if !errors.As(err, &re) {
		t.Fatalf("error %T is not a *RecordError", err)
	}
	return re
}

func jsonIndent(w *bytes.Buffer, b []byte) error { return json.Indent(w, b, "", "  ") }

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
