package httppush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func openSpool(t testing.TB, dir string, opts SpoolOptions) *Spool {
	t.Helper()
	s, err := OpenSpool(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAppend(t testing.TB, s *Spool, body string) Pos {
	t.Helper()
	p, err := s.Append([]byte(body), t0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// drain reads every record until io.EOF (the writer must be closed).
func drain(t testing.TB, s *Spool) []Record {
	t.Helper()
	var out []Record
	for {
		rec, err := s.Next(context.Background())
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
}

func bodies(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Body))
	}
	return out
}

func TestSpoolResumesAtCommittedPosition(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		mustAppend(t, s, fmt.Sprintf(`{"n":%d}`, i))
	}
	s.CloseWriter()
	recs := drain(t, s)
	if got, want := bodies(recs), []string{`{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`}; !slices.Equal(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
	if !recs[0].Received.Equal(t0) {
		t.Errorf("received %s, want %s", recs[0].Received, t0)
	}
	// Processed the first three; crash before the rest.
	s.MarkConsumed(recs[2].Next)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2 := openSpool(t, dir, SpoolOptions{})
	if got := s2.Committed(); got != recs[2].Next {
		t.Errorf("committed %v, want %v", got, recs[2].Next)
	}
	mustAppend(t, s2, `{"n":5}`)
	s2.CloseWriter()
	if got, want := bodies(drain(t, s2)), []string{`{"n":3}`, `{"n":4}`, `{"n":5}`}; !slices.Equal(got, want) {
		t.Fatalf("after restart read %q, want %q", got, want)
	}
}

func TestSpoolRotatesAndRemovesConsumedSegments(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{SegmentBytes: 100})
	body := strings.Repeat("x", 60) // one record per segment
	for range 4 {
		mustAppend(t, s, "{"+body+"}")
	}
	segs := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
		return len(m)
	}
	if n := segs(); n != 4 {
		t.Fatalf("%d segments, want 4", n)
	}
	var last Record
	for range 3 {
		rec, err := s.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		last = rec
	}
	if want := int64(4 * (headerSize + 62)); s.Bytes() != want {
		t.Errorf("Bytes %d before commit, want %d", s.Bytes(), want)
	}
	s.MarkConsumed(last.Next)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := segs(); n != 2 {
		t.Errorf("%d segments after consuming 3 of 4, want 2 (the third's and the fourth's)", n)
	}
	if want := int64(headerSize + 62); s.Bytes() != want {
		t.Errorf("Bytes %d after commit, want %d", s.Bytes(), want)
	}
}

func TestSpoolFull(t *testing.T) {
	s := openSpool(t, t.TempDir(), SpoolOptions{MaxBytes: 3 * (headerSize + 10)})
	body := `{"a":"12"}` // 10 bytes
	for range 3 {
		mustAppend(t, s, body)
	}
	if !s.Full(10) {
		t.Error("Full(10) is false at the limit")
	}
	if _, err := s.Append([]byte(body), t0); !errors.Is(err, ErrFull) {
		t.Fatalf("append over the limit: %v, want ErrFull", err)
	}
	rec, err := s.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.MarkConsumed(rec.Next)
	if s.Full(10) {
		t.Error("still full after one record was consumed")
	}
	mustAppend(t, s, body)
}

func TestSpoolSkipsTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, `{"n":1}`)
	p := mustAppend(t, s, `{"n":2}`)
	s.Close()
	// A crash cut the second record short (it was never acknowledged).
	seg := filepath.Join(dir, fmt.Sprintf("%016x%s", p.Segment, segmentExt))
	if err := os.Truncate(seg, p.Offset+headerSize+3); err != nil {
		t.Fatal(err)
	}
	var corrupt []string
	s2 := openSpool(t, dir, SpoolOptions{OnCorrupt: func(seq uint64, off, n int64, err error) {
		corrupt = append(corrupt, fmt.Sprintf("%d@%d+%d: %v", seq, off, n, err))
	}})
	mustAppend(t, s2, `{"n":3}`)
	s2.CloseWriter()
	if got, want := bodies(drain(t, s2)), []string{`{"n":1}`, `{"n":3}`}; !slices.Equal(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
	if len(corrupt) != 1 || !strings.Contains(corrupt[0], "cut short") {
		t.Errorf("corruption reports %q, want one 'cut short'", corrupt)
	}
}

func TestSpoolChecksum(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := mustAppend(t, s, `{"n":1}`)
	s.Close()
	seg := filepath.Join(dir, fmt.Sprintf("%016x%s", p.Segment, segmentExt))
	data, _ := os.ReadFile(seg)
	data[len(data)-2] ^= 0xff
	os.WriteFile(seg, data, 0o600)
	var n int
	s2 := openSpool(t, dir, SpoolOptions{OnCorrupt: func(uint64, int64, int64, error) { n++ }})
	s2.CloseWriter()
	if recs := drain(t, s2); len(recs) != 0 || n != 1 {
		t.Fatalf("read %d records and %d corruption reports, want 0 and 1", len(recs), n)
	}
}

func TestSpoolConcurrentAppends(t *testing.T) {
	s := openSpool(t, t.TempDir(), SpoolOptions{SegmentBytes: 4096})
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.Append(fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i), t0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Read concurrently with the writers.
	got := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(got) < writers*each {
			rec, err := s.Next(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			got[string(rec.Body)]++
			s.MarkConsumed(rec.Next)
			if err := s.Commit(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	<-done
	if len(got) != writers*each {
		t.Fatalf("read %d distinct records, want %d", len(got), writers*each)
	}
	for b, n := range got {
		if n != 1 {
			t.Errorf("%s read %d times", b, n)
		}
	}
	if s.Bytes() != 0 {
		t.Errorf("Bytes %d after consuming everything", s.Bytes())
	}
}

func TestSpoolNextWaitsForAppend(t *testing.T) {
	s := openSpool(t, t.TempDir(), SpoolOptions{})
	got := make(chan string, 1)
	go func() {
		rec, err := s.Next(context.Background())
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(rec.Body)
	}()
	mustAppend(t, s, `{"late":true}`)
	if b := <-got; b != `{"late":true}` {
		t.Fatalf("Next returned %q", b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next on a cancelled context: %v", err)
	}
	s.CloseWriter()
	if _, err := s.Append([]byte(`{}`), t0); !errors.Is(err, ErrClosed) {
		t.Errorf("append after CloseWriter: %v", err)
	}
}

func TestOpenSpoolBadPosition(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, posFile), []byte("{not json"), 0o600)
	if _, err := OpenSpool(dir, SpoolOptions{}); err == nil || !strings.Contains(err.Error(), "position file") {
		t.Fatalf("err = %v, want a position file error", err)
	}
}

// FuzzSpoolRead reads arbitrary bytes as a segment left by an earlier run:
// every valid record comes back, the rest is reported and skipped, and the
// reader always ends.
func FuzzSpoolRead(f *testing.F) {
	dir := f.TempDir()
	s, err := OpenSpool(dir, SpoolOptions{})
	if err != nil {
		f.Fatal(err)
	}
	p := mustAppend(f, s, `{"records":[]}`)
	mustAppend(f, s, "{}\n{}\n")
	s.Close()
	valid, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%016x%s", p.Segment, segmentExt)))
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:headerSize-1])
	f.Add([]byte("VSR1\xff\xff\xff\xff"))
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%016x%s", 1, segmentExt)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		var skipped int64
		s, err := OpenSpool(dir, SpoolOptions{OnCorrupt: func(_ uint64, _, n int64, _ error) { skipped += n }})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.CloseWriter()
		var read int64
		for _, r := range drain(t, s) {
			read += headerSize + int64(len(r.Body))
			if !bytes.Equal(data[r.Pos.Offset+headerSize:r.Next.Offset], r.Body) {
				t.Fatal("body differs from the file")
			}
		}
		if read+skipped != int64(len(data)) {
			t.Fatalf("read %d + skipped %d bytes of %d", read, skipped, len(data))
		}
	})
}

func BenchmarkSpoolAppend(b *testing.B) {
	body := bytes.Repeat([]byte(`{"time":"2026-11-01T00:00:00Z","operationName":"SecretGet"}`+"\n"), 16000) // ~1 MB
	s := openSpool(b, b.TempDir(), SpoolOptions{MaxBytes: 1 << 40, SegmentBytes: 256 << 20})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Append(body, t0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestSpoolIdempotencyKey: a body sent again with its key is stored once,
// across a restart, and its key is forgotten once the segment holding it
// is committed away; bodies without a key are never deduplicated.
func TestSpoolIdempotencyKey(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{SegmentBytes: 64})
	add := func(s *Spool, body, key string) (Pos, bool) {
		t.Helper()
		p, dup, err := s.AppendMeta([]byte(body), t0, Meta{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return p, dup
	}
	p1, dup := add(s, `{"a":1}`, "k1")
	if dup {
		t.Fatal("first body taken as a duplicate")
	}
	if p, dup := add(s, `{"a":1}`, "k1"); !dup || p != p1 {
		t.Fatalf("retry: duplicate %v at %v, want the first at %v", dup, p, p1)
	}
	add(s, `{"b":2}`, "")
	add(s, `{"b":2}`, "")
	s.Close()

	s = openSpool(t, dir, SpoolOptions{SegmentBytes: 64})
	if p, dup := add(s, `{"a":1}`, "k1"); !dup || p != p1 {
		t.Fatalf("retry after a restart: duplicate %v at %v", dup, p)
	}
	add(s, `{"c":3}`, "k2")
	s.CloseWriter()
	recs := drain(t, s)
	if got := bodies(recs); !slices.Equal(got, []string{`{"a":1}`, `{"b":2}`, `{"b":2}`, `{"c":3}`}) {
		t.Fatalf("bodies %q", got)
	}
	if recs[0].Key != "k1" || recs[1].Key != "" || recs[3].Key != "k2" {
		t.Errorf("keys %q %q %q", recs[0].Key, recs[1].Key, recs[3].Key)
	}
	s.MarkConsumed(recs[len(recs)-1].Next)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openSpool(t, dir, SpoolOptions{SegmentBytes: 64})
	if _, dup := add(s, `{"a":1}`, "k1"); dup {
		t.Error("a key whose segment was committed away is still remembered")
	}
	if _, _, err := s.AppendMeta([]byte(`{}`), t0, Meta{Key: strings.Repeat("k", MaxKeyBytes+1)}); err == nil {
		t.Error("an overlong key was taken")
	}
}
