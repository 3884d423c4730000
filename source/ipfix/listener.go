package ipfix

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-security/vigil/event"
)

// Listener defaults.
const (
	DefaultListenAddr  = ":2055"
	DefaultReadBuffer  = 8 << 20
	DefaultQueue       = 1024
	DefaultExpireEvery = 10 * time.Second
	// bufSize holds any datagram of a jumbo-frame network; larger ones
	// get a buffer of their own.
	bufSize = 9216
	// maxReadErrors ends Run after that many socket errors in a row.
	maxReadErrors = 1000
)

// ListenerOptions configure a Listener. Zero fields take the defaults.
type ListenerOptions struct {
	// Addr is the UDP address to listen on, host:port (":2055").
	Addr string
	// ReadBuffer is the socket receive buffer (SO_RCVBUF) in bytes; the
	// kernel may cap it (net.core.rmem_max on Linux). Datagrams that
	// arrive while it is full are dropped by the kernel and counted in
	// ListenerStats.SocketDrops.
	ReadBuffer int
	// Queue is how many datagrams may wait between the reading goroutine
	// and the decoding one; datagrams beyond it are dropped and counted,
	// so a flood never stalls the socket reader.
	Queue int
	// Decoder bounds the decoder's state.
	Decoder Options
	// ExpireEvery is how often old templates, sessions and held data sets
	// are swept.
	ExpireEvery time.Duration
	// Now is the collector clock (time.Now).
	Now func() time.Time
	// OnError receives decode errors, on the decoding goroutine. Errors
	// are counted in Stats either way.
	OnError func(error)
}

// ListenerStats are a Listener's counters.
type ListenerStats struct {
	Received   uint64 // datagrams read from the socket
	QueueDrops uint64 // datagrams dropped because the decoder was behind
	// SocketDrops are datagrams the kernel dropped because the socket's
	// receive buffer (ListenerOptions.ReadBuffer) was full, as it reports
	// them (Linux: SO_RXQ_OVFL, with the next datagram read); 0 elsewhere.
	SocketDrops uint64
	ReadErrors  uint64 // socket read errors
	Exporters   int    // sessions held by the decoder
	Templates   int    // templates held by the decoder
	Decoder     Stats  // the decoder's totals
	// Refusals are the datagrams the exporter table refused per source
	// (Decoder.Refusals), RefusedOther those of further sources; updated
	// every ExpireEvery.
	Refusals     []Refusal
	RefusedOther uint64
}

// packet is one datagram on its way to the decoder.
type packet struct {
	from netip.AddrPort
	buf  []byte
}

// Listener receives export datagrams on a UDP socket: one goroutine reads
// the socket into a bounded queue, one decodes. It does not depend on the
// port: any NetFlow v5, v9 or IPFIX datagram is decoded.
type Listener struct {
	conn  *net.UDPConn
	opts  ListenerOptions
	dec   *Decoder
	queue chan packet
	free  chan []byte

	received, queueDrops, readErrors atomic.Uint64
	socketDrops                      atomic.Uint64
	countsDrops                      bool // the kernel reports its drops
	started                          atomic.Bool

	mu           sync.Mutex // guards the copies below
	totals       Stats
	refusals     []Refusal
	refusedOther uint64
	exporters    int
	templates    int
}

// Listen opens the socket.
func Listen(opts ListenerOptions) (*Listener, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultListenAddr
	}
	if opts.ReadBuffer <= 0 {
		opts.ReadBuffer = DefaultReadBuffer
	}
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.ExpireEvery <= 0 {
		opts.ExpireEvery = DefaultExpireEvery
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ua, err := net.ResolveUDPAddr("udp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("flow listener %s: %w", opts.Addr, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("flow listener: %w", err)
	}
	if err := conn.SetReadBuffer(opts.ReadBuffer); err != nil {
		conn.Close()
		return nil, fmt.Errorf("flow listener %s: SO_RCVBUF %d: %w", opts.Addr, opts.ReadBuffer, err)
	}
	l := &Listener{
		conn:  conn,
		opts:  opts,
		dec:   NewDecoder(opts.Decoder),
		queue: make(chan packet, opts.Queue),
		free:  make(chan []byte, opts.Queue),
	}
	for range opts.Queue {
		l.free <- make([]byte, 0, bufSize)
	}
	l.countsDrops = enableSocketDrops(conn)
	return l, nil
}

// Addr returns the socket's address (useful with port 0).
func (l *Listener) Addr() net.Addr { return l.conn.LocalAddr() }

// Close closes the socket; Run returns once the queue is decoded.
func (l *Listener) Close() error {
	err := l.conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Run reads and decodes until ctx is done or Close is called, calling emit
// on the decoding goroutine for each flow (with a reused Flow). It returns
// nil after a Close or cancellation, or the error that stopped the socket.
// Run may be called once.
func (l *Listener) Run(ctx context.Context, emit func(*event.Flow)) error {
	if !l.started.CompareAndSwap(false, true) {
		return errors.New("flow listener: Run called twice")
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			l.Close()
		case <-stop:
		}
	}()
	decoded := make(chan struct{})
	go func() {
		defer close(decoded)
		l.decodeLoop(emit)
	}()
	err := l.readLoop()
	close(l.queue)
	<-decoded
	return err
}

func (l *Listener) readLoop() error {
	scratch := make([]byte, maxDatagram+1)
	oob := make([]byte, oobSize)
	errs := 0
	for {
		var (
			n, oobn int
			from    netip.AddrPort
			err     error
		)
		if l.countsDrops {
			n, oobn, _, from, err = l.conn.ReadMsgUDPAddrPort(scratch, oob)
			if d, ok := socketDrops(oob[:oobn]); ok && err == nil {
				l.socketDrops.Store(uint64(d)) // the kernel's running total
			}
		} else {
			n, from, err = l.conn.ReadFromUDPAddrPort(scratch)
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			l.readErrors.Add(1)
			if errs++; errs >= maxReadErrors {
				l.conn.Close()
				return fmt.Errorf("flow listener %s: %w", l.Addr(), err)
			}
			continue
		}
		errs = 0
		l.received.Add(1)
		select {
		case buf := <-l.free:
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			copy(buf, scratch[:n])
			l.queue <- packet{from: from, buf: buf} // a free buffer means a free slot
		default:
			l.queueDrops.Add(1)
		}
	}
}

func (l *Listener) decodeLoop(emit func(*event.Flow)) {
	tick := time.NewTicker(l.opts.ExpireEvery)
	defer tick.Stop()
	for {
		select {
		case p, ok := <-l.queue:
			if !ok {
				return
			}
			_, err := l.dec.Decode(p.from, p.buf, l.opts.Now(), emit)
			if cap(p.buf) > bufSize {
				p.buf = make([]byte, 0, bufSize)
			}
			l.free <- p.buf[:0]
			if err != nil && l.opts.OnError != nil {
				l.opts.OnError(err)
			}
		case <-tick.C:
			l.dec.Expire(l.opts.Now())
			by, other := l.dec.Refusals()
			l.mu.Lock()
			l.refusals, l.refusedOther = by, other
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.totals, l.exporters, l.templates = l.dec.Totals(), l.dec.Exporters(), l.dec.Templates()
		l.mu.Unlock()
	}
}

// Stats returns the counters; safe to call from any goroutine.
func (l *Listener) Stats() ListenerStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ListenerStats{
		Received:    l.received.Load(),
		QueueDrops:  l.queueDrops.Load(),
		SocketDrops: l.socketDrops.Load(),
		ReadErrors:  l.readErrors.Load(),
		Exporters:   l.exporters,
		Templates:   l.templates,
		Decoder:     l.totals,
		Refusals:    slices.Clone(l.refusals), RefusedOther: l.refusedOther,
	}
}
