package simulate

import (
	"bytes"
	"flag"
	"os"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestRecordShapesGolden keeps the first record of every shape (log,
// operation, status, result, access grant) the small estate writes in
// testdata/shapes.golden.jsonl: a change of any field of any shape shows in
// review. Regenerate with go test -run TestRecordShapesGolden -update.
func TestRecordShapesGolden(t *testing.T) {
	_, data := smallOutput()
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	recs := readBack(t, data, "small.jsonl")
	if len(lines) != len(recs) {
		t.Fatalf("%d lines, %d records", len(lines), len(recs))
	}
	seen := map[string]bool{}
	var got bytes.Buffer
	for i, x := range recs {
		key := x.kind.String() + "|" + x.op + "|" + strconv.Itoa(x.status) + "|" + x.result + "|" + strconv.FormatBool(len(x.added) > 0)
		if !seen[key] {
			seen[key] = true
			got.Write(lines[i])
			got.WriteByte('\n')
		}
	}
	const path = "testdata/shapes.golden.jsonl"
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		gl, wl := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := range min(len(gl), len(wl)) {
			if !bytes.Equal(gl[i], wl[i]) {
				t.Fatalf("shape %d differs:\n got %s\nwant %s", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%d shapes, golden has %d", len(gl), len(wl))
	}
	if len(seen) < 30 {
		t.Errorf("only %d record shapes", len(seen))
	}
}
