package filetail

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/azurelog"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// clock is a manual clock: tests move it, never sleep.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) add(d time.Duration)     { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)} }
func settleOf(f *Follower) time.Duration { return f.opts.Settle }

func newFollower(t testing.TB, dir string, c *clock, opts Options) *Follower {
	t.Helper()
	opts.Dir, opts.Now = dir, c.now
	if opts.OnError == nil {
		opts.OnError = func(path string, err error) { t.Errorf("%s: %v", path, err) }
	}
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// scan runs one scan and returns the chunks it sent.
func scan(t testing.TB, f *Follower) []Chunk {
	t.Helper()
	out := make(chan Chunk, 1000)
	if err := f.Scan(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	close(out)
	var cs []Chunk
	for c := range out {
		cs = append(cs, c)
	}
	return cs
}

func content(t testing.TB, c Chunk) string {
	t.Helper()
	rc, err := c.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func write(t testing.TB, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// kvLine is the Key Vault sample record on one line (testdata/PROVENANCE.md).
func kvLine(t testing.TB) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/keyvault-logging.md.auditevent-sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestFollowJSONLines(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	f := newFollower(t, dir, c, Options{})
	path := filepath.Join(dir, "PT1H.json")
	line := kvLine(t)
	write(t, path, line+"\n"+line+"\n"+line[:40])

	cs := scan(t, f)
	if len(cs) != 1 || content(t, cs[0]) != line+"\n"+line+"\n" || cs[0].Start != 0 {
		t.Fatalf("first scan: %d chunks %+v", len(cs), cs)
	}
	if cs[0].Name() != path {
		t.Errorf("Name %q, want the path", cs[0].Name())
	}
	if got := scan(t, f); len(got) != 0 {
		t.Fatalf("rescan without change sent %d chunks", len(got))
	}
	appendTo(t, path, line[40:]+"\n"+line+"\n")
	cs2 := scan(t, f)
	if len(cs2) != 1 || content(t, cs2[0]) != line+"\n"+line+"\n" {
		t.Fatalf("after append: %+v", cs2)
	}
	if want := path + "@" + itoa(cs[0].End); cs2[0].Name() != want {
		t.Errorf("Name %q, want %q", cs2[0].Name(), want)
	}
	// Every chunk reads as records.
	n := 0
	for _, ch := range append(cs, cs2...) {
		n += countRecords(t, ch)
	}
	if n != 4 {
		t.Errorf("read %d records, want 4", n)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func countRecords(t testing.TB, c Chunk) int {
	t.Helper()
	rc, err := c.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rd, err := azurelog.NewReader(rc, c.Name(), azurelog.Options{OnError: func(e *azurelog.RecordError) { t.Errorf("record error: %v", e) }})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var op event.Op
	for {
		err := rd.Next(&op)
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
}

func TestLastLineWithoutNewlineWaitsForQuiet(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	f := newFollower(t, dir, c, Options{Poll: time.Second})
	path := filepath.Join(dir, "a.json")
	write(t, path, `{"a":1}`+"\n"+`{"b":2}`)
	if cs := scan(t, f); len(cs) != 1 || content(t, cs[0]) != `{"a":1}`+"\n" {
		t.Fatalf("first scan %+v", cs)
	}
	c.add(settleOf(f) - time.Millisecond)
	if cs := scan(t, f); len(cs) != 0 {
		t.Fatalf("read a partial line before the file settled: %+v", cs)
	}
	c.add(time.Millisecond)
	if cs := scan(t, f); len(cs) != 1 || content(t, cs[0]) != `{"b":2}` {
		t.Fatalf("after settling: %+v", cs)
	}
}

func TestFollowDocuments(t *testing.T) {
	envelope, err := os.ReadFile("testdata/activity-log-schema.md.eventhub-storage-records-sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(envelope)
	zw.Close()
	tests := []struct {
		name, file string
		data       []byte
	}{
		{"pretty-printed envelope", "records.json", envelope},
		{"gzip", "records.json.gz", gz.Bytes()},
		{"array", "array.json", []byte("[\n" + kvLine(t) + ",\n" + kvLine(t) + "\n]")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := newClock()
			f := newFollower(t, dir, c, Options{Pattern: "*.json*"})
			write(t, filepath.Join(dir, tc.file), string(tc.data))
			if cs := scan(t, f); len(cs) != 0 {
				t.Fatalf("read a document before it settled")
			}
			c.add(settleOf(f))
			cs := scan(t, f)
			if len(cs) != 1 || cs[0].Data != nil || content(t, cs[0]) != string(tc.data) {
				t.Fatalf("got %d chunks", len(cs))
			}
			if n := countRecords(t, cs[0]); n < 1 {
				t.Errorf("no records read from the document")
			}
		})
	}
}

func TestResumeAfterRestart(t *testing.T) {
	dir, state := t.TempDir(), filepath.Join(t.TempDir(), "state", "files.json")
	c := newClock()
	f := newFollower(t, dir, c, Options{StatePath: state})
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "sub", "deeper", "b.json")
	write(t, a, "{\"n\":1}\n{\"n\":2}\n")
	write(t, b, "{\"n\":3}\n")
	write(t, filepath.Join(dir, "ignored.txt"), "{\"n\":0}\n")
	cs := scan(t, f)
	if len(cs) != 2 || cs[0].Path != a || cs[1].Path != b {
		t.Fatalf("chunks %+v", cs)
	}
	f.Done(cs[0]) // b's chunk is sent but not processed when we "crash"
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	appendTo(t, a, "{\"n\":4}\n")

	f2 := newFollower(t, dir, c, Options{StatePath: state})
	var got []string
	for _, ch := range scan(t, f2) {
		got = append(got, ch.Path+" "+strings.TrimSpace(content(t, ch)))
	}
	want := []string{a + ` {"n":4}`, b + ` {"n":3}`}
	if !slices.Equal(got, want) {
		t.Fatalf("after restart %q, want %q", got, want)
	}
}

func TestReplacedAndRemovedFiles(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	f := newFollower(t, dir, c, Options{})
	path := filepath.Join(dir, "a.json")
	write(t, path, "{\"n\":1}\n{\"n\":2}\n")
	for _, ch := range scan(t, f) {
		f.Done(ch)
	}
	// Rotated: a new, shorter file under the same name.
	tmp := filepath.Join(dir, "new.tmp")
	write(t, tmp, "{\"n\":3}\n")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	cs := scan(t, f)
	if len(cs) != 1 || cs[0].Start != 0 || content(t, cs[0]) != "{\"n\":3}\n" {
		t.Fatalf("after rotation %+v", cs)
	}
	// A chunk of the old file done late does not move the new file's offset.
	f.Done(Chunk{Path: path, End: 16, gen: cs[0].gen - 1})
	if off := f.Offsets()[path]; off != 0 {
		t.Errorf("offset %d after a stale Done", off)
	}
	f.Done(cs[0])
	os.Remove(path)
	scan(t, f)
	if _, ok := f.Offsets()[path]; ok {
		t.Error("a removed file is still tracked")
	}
}

func TestChunksEndAtNewlines(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	f := newFollower(t, dir, c, Options{ChunkBytes: 100})
	var all strings.Builder
	for i := range 50 {
		all.WriteString(`{"i":` + itoa(int64(i)) + `,"pad":"` + strings.Repeat("x", i) + "\"}\n")
	}
	path := filepath.Join(dir, "big.json")
	write(t, path, all.String())
	var got strings.Builder
	cs := scan(t, f)
	for _, ch := range cs {
		s := content(t, ch)
		if !strings.HasSuffix(s, "\n") {
			t.Fatalf("chunk %q does not end a line", s)
		}
		got.WriteString(s)
	}
	if got.String() != all.String() || len(cs) < 10 {
		t.Fatalf("%d chunks do not add up to the file", len(cs))
	}
}

func TestBadStateFile(t *testing.T) {
	state := filepath.Join(t.TempDir(), "files.json")
	write(t, state, `{"x":{"offset":-1}}`)
	if _, err := New(Options{Dir: t.TempDir(), StatePath: state}); err == nil || !strings.Contains(err.Error(), "bad entry") {
		t.Errorf("negative offset: %v", err)
	}
	write(t, state, `[`)
	if _, err := New(Options{Dir: t.TempDir(), StatePath: state}); err == nil || !strings.Contains(err.Error(), "state file") {
		t.Errorf("broken JSON: %v", err)
	}
	if _, err := New(Options{Dir: t.TempDir(), Pattern: "[x"}); err == nil {
		t.Error("a bad pattern is accepted")
	}
}

func TestRunStopsWithContext(t *testing.T) {
	dir := t.TempDir()
	f := newFollower(t, dir, newClock(), Options{Poll: time.Hour})
	write(t, filepath.Join(dir, "a.json"), "{\"n\":1}\n")
	out := make(chan Chunk) // nobody reads: Run blocks sending
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx, out); close(done) }()
	cancel()
	<-done
}

func TestRunReportsAndRetries(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	errs := make(chan error, 10)
	f, err := New(Options{Dir: dir, Poll: time.Millisecond, OnError: func(_ string, err error) {
		select {
		case errs <- err:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan Chunk, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx, out)
	if err := <-errs; !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reported %v", err)
	}
	// The directory appears: the follower picks it up.
	write(t, filepath.Join(dir, "a.json"), "{\"n\":1}\n")
	if c := <-out; c.Path != filepath.Join(dir, "a.json") {
		t.Fatalf("chunk of %s", c.Path)
	}
}

func TestMissingDirectory(t *testing.T) {
	f, err := New(Options{Dir: filepath.Join(t.TempDir(), "nope")})
	if err != nil {
		t.Fatal(err)
	}
	err = f.Scan(context.Background(), make(chan Chunk, 1))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("scan of a missing directory: %v", err)
	}
}

// FuzzFollow writes arbitrary content and checks that the chunks of a
// settled file add up to it exactly, whatever its kind.
func FuzzFollow(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n{\"b\":2}\n"), 7)
	f.Add([]byte("{\n\"records\": [{}]\n}"), 100)
	f.Add([]byte("\x1f\x8b\x08\x00"), 4)
	f.Add([]byte("{\"a\":1}"), 3)
	f.Add([]byte("  \n\n"), 1)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		dir := t.TempDir()
		c := newClock()
		fl := newFollower(t, dir, c, Options{ChunkBytes: max(chunk%4096, 1)})
		write(t, filepath.Join(dir, "f.json"), string(data))
		var got []byte
		for range 2 {
			for _, ch := range scan(t, fl) {
				if ch.Start != int64(len(got)) {
					t.Fatalf("chunk starts at %d, want %d", ch.Start, len(got))
				}
				got = append(got, content(t, ch)...)
			}
			c.add(settleOf(fl))
		}
		if len(bytes.TrimLeft(data, " \t\r\n")) == 0 {
			return // whitespace only: nothing to read yet
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("chunks give %q, file holds %q", got, data)
		}
	})
}

func BenchmarkScanJSONLines(b *testing.B) {
	dir := b.TempDir()
	line := kvLine(b) + "\n"
	data := strings.Repeat(line, 50000) // ~45 MB
	write(b, filepath.Join(dir, "PT1H.json"), data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := New(Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		out := make(chan Chunk, 1000)
		if err := f.Scan(context.Background(), out); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLineCutByAPausingWriterIsReadAgainWhole: a writer that pauses
// mid-line for longer than Settle makes the follower read the fragment as
// the file's last line; when the rest arrives, the line is read again from
// its start, whole, and the lines after it follow — across a restart too.
func TestLineCutByAPausingWriterIsReadAgainWhole(t *testing.T) {
	for _, restart := range []bool{false, true} {
		dir := t.TempDir()
		c := newClock()
		state := filepath.Join(t.TempDir(), "state.json")
		f := newFollower(t, dir, c, Options{Poll: time.Second, StatePath: state})
		path := filepath.Join(dir, "PT1H.json")
		write(t, path, `{"a":1}`+"\n"+`{"b":`)
		done := func(cs []Chunk) {
			for _, ch := range cs {
				f.Done(ch)
			}
		}
		done(scan(t, f))
		c.add(settleOf(f))
		cs := scan(t, f)
		if len(cs) != 1 || content(t, cs[0]) != `{"b":` {
			t.Fatalf("the settled fragment: %+v", cs)
		}
		done(cs)
		if restart {
			if err := f.Commit(); err != nil {
				t.Fatal(err)
			}
			f = newFollower(t, dir, c, Options{Poll: time.Second, StatePath: state})
		}
		appendTo(t, path, `2}`+"\n"+`{"c":3}`+"\n")
		cs = scan(t, f)
		var got string
		for _, ch := range cs {
			got += content(t, ch)
		}
		if got != `{"b":2}`+"\n"+`{"c":3}`+"\n" {
			t.Fatalf("restart %v: after the rest arrived, read %q", restart, got)
		}
		done(cs)
		if off := f.Offsets()[path]; off != int64(len(`{"a":1}`+"\n"+`{"b":2}`+"\n"+`{"c":3}`+"\n")) {
			t.Errorf("restart %v: offset %d", restart, off)
		}
	}
}
