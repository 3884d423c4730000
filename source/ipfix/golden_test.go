package ipfix

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/event"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the decoder")

// testSession is one line of testdata/sessions.tsv: datagram files that
// one exporter sent, in order.
type testSession struct {
	slug, name string
	files      []string // paths
}

func loadSessions(t testing.TB) []testSession {
	t.Helper()
	f, err := os.Open("testdata/sessions.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []testSession
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 3 {
			t.Fatalf("sessions.tsv: %q: want 3 columns", line)
		}
		s := testSession{slug: cols[0], name: cols[1]}
		for _, f := range strings.Fields(cols[2]) {
			s.files = append(s.files, filepath.Join("testdata", "netflow", f))
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// goldenResult is what a session decodes to.
type goldenResult struct {
	Session string            `json:"session"`
	Name    string            `json:"name"`
	Files   []string          `json:"files"`
	Stats   Stats             `json:"stats"`
	Errors  []string          `json:"errors,omitempty"`
	Flows   []json.RawMessage `json:"flows"`
}

// decodeSession replays a session's datagram files through one decoder.
func decodeSession(t testing.TB, s testSession) goldenResult {
	t.Helper()
	res := goldenResult{Session: s.slug, Name: s.name, Flows: []json.RawMessage{}}
	for _, f := range s.files {
		res.Files = append(res.Files, filepath.Base(f))
	}
	st, err := ReadFiles(s.files, ReadOptions{OnError: func(err error) {
		res.Errors = append(res.Errors, err.Error())
	}}, func(f *event.Flow) {
		res.Flows = append(res.Flows, AppendJSON(nil, f))
	})
	if err != nil {
		t.Fatalf("%s: %v", s.slug, err)
	}
	res.Stats = st
	return res
}

// marshalGolden writes one flow a line, for reviewable diffs.
func marshalGolden(r goldenResult) []byte {
	var b bytes.Buffer
	head := r
	head.Flows = nil
	h, _ := json.MarshalIndent(head, "", "  ")
	h = bytes.TrimSuffix(h, []byte("\n}"))
	h = bytes.TrimSuffix(h, []byte(`,
  "flows": null`))
	b.Write(h)
	b.WriteString(",\n  \"flows\": [")
	for i, f := range r.Flows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    ")
		b.Write(f)
	}
	if len(r.Flows) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("]\n}\n")
	return b.Bytes()
}

func goldenPath(slug string) string { return filepath.Join("testdata", "golden", slug+".json") }

func readGolden(t testing.TB, slug string) goldenResult {
	t.Helper()
	b, err := os.ReadFile(goldenPath(slug))
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	var g goldenResult
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", goldenPath(slug), err)
	}
	return g
}

// TestGolden decodes every session of testdata/sessions.tsv and compares
// the flows, counters and errors with testdata/golden/<slug>.json.
func TestGolden(t *testing.T) {
	for _, s := range loadSessions(t) {
		t.Run(s.slug, func(t *testing.T) {
			got := marshalGolden(decodeSession(t, s))
			path := goldenPath(s.slug)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the decoder's output:\n%s", path, firstDiff(string(want), string(got)))
			}
		})
	}
}

// firstDiff shows the first differing line.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n want " + a + "\n  got " + b
		}
	}
	return ""
}
