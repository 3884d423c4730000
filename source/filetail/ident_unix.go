//go:build unix

package filetail

import (
	"os"
	"syscall"
)

// fileID tells a file from another that later takes its name.
type fileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

func identity(info os.FileInfo) fileID {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
	}
	return fileID{}
}
