//go:build unix

package store

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSQLiteFilesArePrivate opens a fresh database with an umask that lets
// everything through and checks that the database, its -wal and its -shm
// are readable and writable by the owner only. An existing file keeps its
// mode.
func TestSQLiteFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), DefaultFile)
	st, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	// A write, so that the WAL has content.
	if _, err := st.w.ExecContext(ctx, "CREATE TABLE mode_probe (x)"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", filepath.Base(p), m)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// An operator's own mode stays.
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	st, err = OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("existing file's mode changed: %v %v", fi.Mode(), err)
	}
}
