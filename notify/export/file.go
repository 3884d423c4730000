package export

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// FileWriter appends JSON lines to a file and rotates it by size: the
// full file becomes PATH.1, the previous PATH.1 becomes PATH.2, and so on;
// files past MaxFiles are deleted. Each Write is synced before it returns,
// so what it reported written survives a crash.
type FileWriter struct {
	path     string
	maxBytes int64
	maxFiles int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenFile opens (creating) the file at path; maxBytes 0 means 64 MiB,
// maxFiles 0 means 10 rotated files kept.
func OpenFile(path string, maxBytes int64, maxFiles int) (*FileWriter, error) {
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	if maxFiles <= 0 {
		maxFiles = 10
	}
	w := &FileWriter{path: path, maxBytes: maxBytes, maxFiles: maxFiles}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *FileWriter) open() error {
	if err := os.MkdirAll(filepath.Dir(w.path), 0o750); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("export: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Write appends lines (each ending in '\n'), rotating first when they
// would take the file past its size (a file holds at least one line).
func (w *FileWriter) Write(lines [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("export: file closed")
	}
	var buf bytes.Buffer
	flush := func() error {
		if buf.Len() == 0 {
			return nil
		}
		n, err := w.f.Write(buf.Bytes())
		w.size += int64(n)
		buf.Reset()
		if err != nil {
			return fmt.Errorf("export: write %s: %w", w.path, err)
		}
		return nil
	}
	for _, l := range lines {
		if w.size+int64(buf.Len())+int64(len(l)) > w.maxBytes && w.size+int64(buf.Len()) > 0 {
			if err := flush(); err != nil {
				return err
			}
			if err := w.rotate(); err != nil {
				return err
			}
		}
		buf.Write(l)
	}
	if err := flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("export: sync %s: %w", w.path, err)
	}
	return nil
}

// rotate shifts the files and starts a new one.
func (w *FileWriter) rotate() error {
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("export: sync %s: %w", w.path, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("export: close %s: %w", w.path, err)
	}
	w.f = nil
	_ = os.Remove(w.path + "." + strconv.Itoa(w.maxFiles))
	for i := w.maxFiles - 1; i >= 1; i-- {
		from := w.path + "." + strconv.Itoa(i)
		if err := os.Rename(from, w.path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("export: rotate: %w", err)
		}
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return fmt.Errorf("export: rotate: %w", err)
	}
	return w.open()
}

// Close closes the file.
func (w *FileWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
