package ipfix

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// TestListenerCountsSocketDrops: datagrams sent while nobody reads the
// socket overflow its (small) receive buffer; the kernel drops the rest,
// and the listener counts them, so that every datagram sent is either
// received or counted as dropped.
func TestListenerCountsSocketDrops(t *testing.T) {
	l, err := Listen(ListenerOptions{Addr: "127.0.0.1:0", ReadBuffer: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if !l.countsDrops {
		t.Fatal("SO_RXQ_OVFL could not be enabled")
	}
	const n = 200
	v5 := testdata(t, "netflow5.dat")
	for range n { // Run has not started: nothing reads the socket
		send(t, l.Addr(), v5)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background(), func(*event.Flow) {}) }()
	// The kernel stamps each datagram with its drop count when it queues
	// it: one more datagram, sent once the queue is read, carries the
	// drops of the flood.
	waitStats(t, l, func(st ListenerStats) bool { return st.Received > 0 && len(l.queue) == 0 })
	time.Sleep(20 * time.Millisecond)
	send(t, l.Addr(), v5)
	waitStats(t, l, func(st ListenerStats) bool { return st.Received+st.SocketDrops == n+1 })
	l.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.SocketDrops == 0 || st.Received == 0 {
		t.Fatalf("received %d, socket drops %d: want both > 0 with a 4 KiB buffer and %d datagrams", st.Received, st.SocketDrops, n)
	}
	t.Logf("received %d, the kernel dropped %d", st.Received, st.SocketDrops)
}

func waitStats(t *testing.T, l *Listener, cond func(ListenerStats) bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond(l.Stats()) {
		if time.Now().After(deadline) {
			st := l.Stats()
			t.Fatalf("gave up: received %d, socket drops %d", st.Received, st.SocketDrops)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
