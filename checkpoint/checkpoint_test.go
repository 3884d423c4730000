package checkpoint

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

type meta struct {
	Seq   int               `json:"seq"`
	Tails map[string]string `json:"tails"`
}

func write(t testing.TB, path string, sections map[string]string, m meta) {
	t.Helper()
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"engine", "alerts", "empty"} {
		body, ok := sections[name]
		if !ok {
			continue
		}
		if err := w.Section(name, func(out io.Writer) error { _, err := io.WriteString(out, body); return err }); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(m); err != nil {
		t.Fatal(err)
	}
}

func readSection(t testing.TB, c *File, name string) (string, error) {
	t.Helper()
	r, ok := c.Section(name)
	if !ok {
		t.Fatalf("no section %s", name)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

func TestRoundTripAndReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint")
	if _, err := Open(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no checkpoint yet: %v", err)
	}
	big := strings.Repeat("state line\n", 200000)
	write(t, path, map[string]string{"engine": big, "alerts": "[1,2]", "empty": ""}, meta{Seq: 1, Tails: map[string]string{"a": "b"}})
	write(t, path, map[string]string{"engine": "second", "alerts": "[3]"}, meta{Seq: 2})
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var m meta
	if err := c.Meta(&m); err != nil || m.Seq != 2 {
		t.Fatalf("meta %+v, %v: want the second checkpoint", m, err)
	}
	if got, err := readSection(t, c, "engine"); err != nil || got != "second" {
		t.Errorf("engine %q, %v", got, err)
	}
	if _, ok := c.Section("empty"); ok {
		t.Error("a section of the first checkpoint is in the second")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files left beside the checkpoint", len(entries))
	}
}

// TestDamageIsDetected: a flipped byte in a section fails its checksum, and
// a cut file is not taken as a checkpoint.
func TestDamageIsDetected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint")
	write(t, path, map[string]string{"engine": "abcdefgh", "alerts": "[1]"}, meta{Seq: 1})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(data)
	flipped[2] ^= 0xff
	if err := os.WriteFile(path, flipped, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readSection(t, c, "engine"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped byte: %v, want ErrCorrupt", err)
	}
	c.Close()
	for _, n := range []int{0, 5, len(data) / 2, len(data) - 1} {
		if err := os.WriteFile(path, data[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
			t.Errorf("cut at %d: %v, want ErrCorrupt", n, err)
		}
	}
}

// TestAbortLeavesTheOldCheckpoint: a checkpoint abandoned half written
// (the process died) changes nothing.
func TestAbortLeavesTheOldCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoint")
	write(t, path, map[string]string{"engine": "old"}, meta{Seq: 1})
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Section("engine", func(out io.Writer) error { _, err := io.WriteString(out, "new"); return err })
	w.Abort()
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, _ := readSection(t, c, "engine"); got != "old" {
		t.Errorf("engine %q after an aborted checkpoint", got)
	}
}

// FuzzOpen: any file is read without a panic; a file that opens has
// sections inside it.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed")
	write(f, path, map[string]string{"engine": "abc", "alerts": "[]"}, meta{Seq: 3})
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("VIGILCP1"))
	f.Add([]byte{})
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		defer c.Close()
		var m meta
		_ = c.Meta(&m)
		for name := range c.tr.Sections {
			r, _ := c.Section(name)
			io.Copy(io.Discard, r)
		}
	})
}
