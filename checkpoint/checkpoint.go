// Package checkpoint writes and reads one durable checkpoint file: named
// sections of state (a detection engine's snapshot, open alerts, ...) and a
// small metadata document (input positions), made durable together by one
// rename, so a restart finds either the whole previous checkpoint or the
// whole new one, never half of each.
//
// # Format
//
//	section bytes ... | trailer JSON | trailer length (8 bytes, big endian) | "VIGILCP1"
//
// The trailer names each section with its offset, length and CRC-32C, and
// carries the metadata. Sections are streamed to the file as they are
// written, so a large state is never held in memory twice.
package checkpoint

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// magic ends every checkpoint file.
const magic = "VIGILCP1"

// maxTrailer bounds the trailer a reader accepts.
const maxTrailer = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is returned (wrapped) for a file that is not a whole checkpoint.
var ErrCorrupt = errors.New("checkpoint: corrupt file")

// section is one section's place in the file.
type section struct {
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	CRC    uint32 `json:"crc"`
}

// trailer is the index of a checkpoint file.
type trailer struct {
	Sections map[string]section `json:"sections"`
	Meta     json.RawMessage    `json:"meta,omitempty"`
}

// Writer writes one checkpoint to a temporary file beside its final path.
type Writer struct {
	path string
	f    *os.File
	bw   *bufio.Writer
	off  int64
	tr   trailer
	done bool
}

// Create starts a checkpoint that Commit will make the file at path.
func Create(path string) (*Writer, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	f, err := os.CreateTemp(dir, ".checkpoint-*")
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return &Writer{path: path, f: f, bw: bufio.NewWriterSize(f, 1<<20), tr: trailer{Sections: map[string]section{}}}, nil
}

// countingWriter counts and checksums what passes.
type countingWriter struct {
	w   io.Writer
	n   int64
	crc hash.Hash32
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.crc.Write(p[:n])
	return n, err
}

// Section writes one named section with write.
func (w *Writer) Section(name string, write func(io.Writer) error) error {
	if _, dup := w.tr.Sections[name]; dup {
		return fmt.Errorf("checkpoint: section %q written twice", name)
	}
	cw := &countingWriter{w: w.bw, crc: crc32.New(castagnoli)}
	if err := write(cw); err != nil {
		return fmt.Errorf("checkpoint: section %s: %w", name, err)
	}
	w.tr.Sections[name] = section{Offset: w.off, Length: cw.n, CRC: cw.crc.Sum32()}
	w.off += cw.n
	return nil
}

// Commit writes the trailer with meta (JSON-encoded), syncs the file, and
// renames it into place; once it returns, the checkpoint is durable.
func (w *Writer) Commit(meta any) error {
	if w.done {
		return errors.New("checkpoint: already committed or aborted")
	}
	defer w.Abort()
	m, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("checkpoint: metadata: %w", err)
	}
	w.tr.Meta = m
	tr, err := json.Marshal(w.tr)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	var tail [8]byte
	binary.BigEndian.PutUint64(tail[:], uint64(len(tr)))
	for _, b := range [][]byte{tr, tail[:], []byte(magic)} {
		if _, err := w.bw.Write(b); err != nil {
			return fmt.Errorf("checkpoint: write: %w", err)
		}
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("checkpoint: write: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("checkpoint: sync: %w", err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("checkpoint: close: %w", err)
	}
	if err := os.Rename(w.f.Name(), w.path); err != nil {
		return fmt.Errorf("checkpoint: rename: %w", err)
	}
	w.done = true
	return syncDir(filepath.Dir(w.path))
}

// Abort drops an uncommitted checkpoint; after Commit it does nothing.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("checkpoint: sync directory: %w", err)
	}
	return nil
}

// File is a checkpoint read back.
type File struct {
	f     io.ReaderAt
	tr    trailer
	close func() error
}

// Open reads the checkpoint at path: os.ErrNotExist (wrapped) when there is
// none, ErrCorrupt (wrapped) when it is not whole. Sections are checked
// against their checksums when read.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	c, err := read(f, info.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	c.close = f.Close
	return c, nil
}

// read reads a checkpoint's trailer from f, size bytes long.
func read(f io.ReaderAt, size int64) (*File, error) {
	if size < 16 {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorrupt, size)
	}
	var end [16]byte
	if _, err := f.ReadAt(end[:], size-16); err != nil {
		return nil, err
	}
	if string(end[8:]) != magic {
		return nil, fmt.Errorf("%w: no end marker", ErrCorrupt)
	}
	n := binary.BigEndian.Uint64(end[:8])
	if n > maxTrailer || int64(n) > size-16 {
		return nil, fmt.Errorf("%w: trailer of %d bytes", ErrCorrupt, n)
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-16-int64(n)); err != nil {
		return nil, err
	}
	var tr trailer
	if err := json.Unmarshal(buf, &tr); err != nil {
		return nil, fmt.Errorf("%w: trailer: %v", ErrCorrupt, err)
	}
	limit := size - 16 - int64(n)
	for name, s := range tr.Sections {
		if s.Offset < 0 || s.Length < 0 || s.Offset+s.Length > limit {
			return nil, fmt.Errorf("%w: section %s out of the file", ErrCorrupt, name)
		}
	}
	return &File{f: f, tr: tr, close: func() error { return nil }}, nil
}

// Meta decodes the checkpoint's metadata into v.
func (c *File) Meta(v any) error {
	if err := json.Unmarshal(c.tr.Meta, v); err != nil {
		return fmt.Errorf("checkpoint: metadata: %w", err)
	}
	return nil
}

// Section returns a reader of the named section, checked against its
// checksum (the reader's last Read fails with ErrCorrupt on a mismatch);
// ok is false when the checkpoint has no such section.
func (c *File) Section(name string) (r io.Reader, ok bool) {
	s, ok := c.tr.Sections[name]
	if !ok {
		return nil, false
	}
	return &checkedReader{r: io.NewSectionReader(c.f, s.Offset, s.Length), want: s.CRC, crc: crc32.New(castagnoli), name: name}, true
}

// Close releases the file.
func (c *File) Close() error { return c.close() }

// checkedReader verifies a section's checksum at its end.
type checkedReader struct {
	r    io.Reader
	crc  hash.Hash32
	want uint32
	name string
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc.Write(p[:n])
	if err == io.EOF && c.crc.Sum32() != c.want {
		return n, fmt.Errorf("%w: section %s fails its checksum", ErrCorrupt, c.name)
	}
	return n, err
}
