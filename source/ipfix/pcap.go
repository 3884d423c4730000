package ipfix

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Classic libpcap file magics (https://www.tcpdump.org/manpages/pcap-savefile.5.html).
const (
	pcapMagicMicros = 0xa1b2c3d4
	pcapMagicNanos  = 0xa1b23c4d
	pcapngMagic     = 0x0a0d0d0a
	maxPcapRecord   = 256 << 10
)

// Link types read (https://www.tcpdump.org/linktypes.html).
const (
	linkNull     = 0
	linkEthernet = 1
	linkRawBSD   = 12
	linkRaw      = 101
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
)

// ErrNotPcap: the input does not start with a classic pcap header.
var ErrNotPcap = errors.New("not a pcap file")

// Datagram is one UDP payload read from a capture.
type Datagram struct {
	Time     time.Time
	Src, Dst netip.AddrPort
	// Payload aliases the reader's buffer: valid until the next Next.
	Payload []byte
}

// PcapReader reads the UDP datagrams of a capture: classic libpcap
// (either byte order, microsecond or nanosecond timestamps) or pcapng, over
// Ethernet (with VLAN tags), Linux cooked (v1, v2), BSD loopback or raw IP,
// IPv4 or IPv6. Other packets, IP fragments and packets cut by the snap
// length are skipped and counted in Skipped.
type PcapReader struct {
	r       *bufio.Reader
	order   binary.ByteOrder
	nanos   bool
	link    uint32
	hdr     [16]byte
	buf     []byte
	packets int
	ng      *pcapng // non-nil for pcapng
	// Skipped counts packets that held no whole UDP datagram.
	Skipped int
}

// NewPcapReader reads the file header. It fails with ErrNotPcap (wrapped)
// when the input is neither a pcap nor a pcapng file.
func NewPcapReader(r io.Reader) (*PcapReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	p := &PcapReader{r: br}
	if m, _ := br.Peek(4); len(m) == 4 && binary.BigEndian.Uint32(m) == pcapngMagic {
		p.ng = &pcapng{}
		return p, nil
	}
	var h [24]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", ErrNotPcap)
	}
	switch be, le := binary.BigEndian.Uint32(h[:]), binary.LittleEndian.Uint32(h[:]); {
	case be == pcapMagicMicros || be == pcapMagicNanos:
		p.order, p.nanos = binary.BigEndian, be == pcapMagicNanos
	case le == pcapMagicMicros || le == pcapMagicNanos:
		p.order, p.nanos = binary.LittleEndian, le == pcapMagicNanos
	default:
		return nil, fmt.Errorf("magic %#08x: %w", be, ErrNotPcap)
	}
	p.link = p.order.Uint32(h[20:]) & 0xffff
	if err := checkLink(p.link); err != nil {
		return nil, err
	}
	return p, nil
}

func checkLink(link uint32) error {
	switch link {
	case linkNull, linkEthernet, linkRawBSD, linkRaw, linkSLL, linkIPv4, linkIPv6, linkSLL2:
		return nil
	}
	return fmt.Errorf("link type %d is not read (Ethernet, Linux cooked, loopback and raw IP are): %w", link, ErrMalformed)
}

// Next returns the next UDP datagram, or io.EOF after the last.
func (p *PcapReader) Next() (Datagram, error) {
	if p.ng != nil {
		return p.nextNG()
	}
	for {
		if _, err := io.ReadFull(p.r, p.hdr[:]); err != nil {
			if err == io.EOF {
				return Datagram{}, io.EOF
			}
			return Datagram{}, fmt.Errorf("pcap record %d header: %w", p.packets+1, ErrTruncated)
		}
		p.packets++
		sec, frac := p.order.Uint32(p.hdr[0:]), p.order.Uint32(p.hdr[4:])
		incl, orig := p.order.Uint32(p.hdr[8:]), p.order.Uint32(p.hdr[12:])
		if incl > maxPcapRecord {
			return Datagram{}, fmt.Errorf("pcap record %d: length %d over %d: %w", p.packets, incl, maxPcapRecord, ErrMalformed)
		}
		if cap(p.buf) < int(incl) {
			p.buf = make([]byte, incl)
		}
		pkt := p.buf[:incl]
		if _, err := io.ReadFull(p.r, pkt); err != nil {
			return Datagram{}, fmt.Errorf("pcap record %d: %d bytes: %w", p.packets, incl, ErrTruncated)
		}
		if incl < orig {
			p.Skipped++ // cut by the snap length
			continue
		}
		ns := int64(frac) * 1e3
		if p.nanos {
			ns = int64(frac)
		}
		dg, ok := datagram(p.link, pkt)
		if !ok {
			p.Skipped++
			continue
		}
		dg.Time = time.Unix(int64(sec), ns).UTC()
		return dg, nil
	}
}

// datagram finds the UDP datagram in one link-layer packet.
func datagram(link uint32, b []byte) (Datagram, bool) {
	var etype uint16
	switch link {
	case linkEthernet:
		if len(b) < 14 {
			return Datagram{}, false
		}
		etype, b = binary.BigEndian.Uint16(b[12:]), b[14:]
		for (etype == 0x8100 || etype == 0x88a8 || etype == 0x9100) && len(b) >= 4 {
			etype, b = binary.BigEndian.Uint16(b[2:]), b[4:]
		}
	case linkSLL:
		if len(b) < 16 {
			return Datagram{}, false
		}
		etype, b = binary.BigEndian.Uint16(b[14:]), b[16:]
	case linkSLL2:
		if len(b) < 20 {
			return Datagram{}, false
		}
		etype, b = binary.BigEndian.Uint16(b[0:]), b[20:]
	case linkNull:
		if len(b) < 4 {
			return Datagram{}, false
		}
		fam := binary.LittleEndian.Uint32(b) // the capturing host's order
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(b)
		}
		switch fam {
		case 2:
			etype = 0x0800
		case 24, 28, 30:
			etype = 0x86dd
		}
		b = b[4:]
	default: // raw IP
		if len(b) > 0 {
			switch b[0] >> 4 {
			case 4:
				etype = 0x0800
			case 6:
				etype = 0x86dd
			}
		}
	}
	switch etype {
	case 0x0800:
		return ipv4(b)
	case 0x86dd:
		return ipv6(b)
	}
	return Datagram{}, false
}

func ipv4(b []byte) (Datagram, bool) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return Datagram{}, false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl || total > len(b) || b[9] != 17 {
		return Datagram{}, false
	}
	if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
		return Datagram{}, false // a fragment (MF set or an offset)
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	return udp(b[ihl:total], src, dst)
}

func ipv6(b []byte) (Datagram, bool) {
	if len(b) < 40 || b[0]>>4 != 6 {
		return Datagram{}, false
	}
	plen := int(binary.BigEndian.Uint16(b[4:]))
	if 40+plen > len(b) {
		return Datagram{}, false
	}
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	next, rest := b[6], b[40:40+plen]
	for {
		switch next {
		case 17:
			return udp(rest, src, dst)
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(rest) < 8 {
				return Datagram{}, false
			}
			n := 8 * (int(rest[1]) + 1)
			if n > len(rest) {
				return Datagram{}, false
			}
			next, rest = rest[0], rest[n:]
		default: // fragments (44) and anything else
			return Datagram{}, false
		}
	}
}

func udp(b []byte, src, dst netip.Addr) (Datagram, bool) {
	if len(b) < 8 {
		return Datagram{}, false
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	if n < 8 || n > len(b) {
		return Datagram{}, false
	}
	return Datagram{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:])),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:])),
		Payload: b[8:n],
	}, true
}
