//go:build unix

package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on DIR/vigil.lock, so two servers never
// share a data directory (their spools and snapshots would clash).
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "vigil.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by another vigil serve", dir)
		}
		return nil, fmt.Errorf("data directory: lock %s: %w", path, err)
	}
	return f, nil
}

// unlockDir releases the lock.
func unlockDir(f *os.File) error {
	return f.Close() // closing the descriptor releases the flock
}
