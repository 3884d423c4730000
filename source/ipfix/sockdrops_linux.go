package ipfix

import (
	"encoding/binary"
	"net"

	"golang.org/x/sys/unix"
)

// enableSocketDrops asks the kernel to report, with every datagram, how
// many datagrams it has dropped on the socket since it was opened because
// its receive buffer was full (SO_RXQ_OVFL). It reports whether it could.
func enableSocketDrops(conn *net.UDPConn) bool {
	rc, err := conn.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	}); err != nil || serr != nil {
		return false
	}
	return true
}

// oobSize is the room for the SO_RXQ_OVFL control message.
var oobSize = unix.CmsgSpace(4)

// socketDrops reads the kernel's drop counter from a datagram's control
// messages; ok is false when they carry none.
func socketDrops(oob []byte) (drops uint32, ok bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_RXQ_OVFL && len(m.Data) >= 4 {
			return binary.NativeEndian.Uint32(m.Data), true
		}
	}
	return 0, false
}
