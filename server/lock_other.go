//go:build !unix

package server

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir marks DIR/vigil.lock as in use. Without flock, a lock file left
// by a crash must be removed by hand.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "vigil.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data directory %s is in use by another vigil serve (or %s was left by a crash): %w", dir, path, err)
	}
	return f, nil
}

// unlockDir releases the lock.
func unlockDir(f *os.File) error {
	f.Close()
	return os.Remove(f.Name())
}
