//go:build !linux

package ipfix

import "net"

// enableSocketDrops: the kernel's drop counter is read on Linux only.
func enableSocketDrops(*net.UDPConn) bool { return false }

const oobSize = 0

func socketDrops([]byte) (uint32, bool) { return 0, false }
