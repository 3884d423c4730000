package ipfix

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// pcapng block types (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html).
const (
	ngSectionHeader  = 0x0a0d0d0a
	ngInterface      = 1
	ngSimplePacket   = 3
	ngEnhancedPacket = 6
	ngByteOrderMagic = 0x1a2b3c4d
	ngOptTSResol     = 9 // if_tsresol
)

// pcapng is the state of a pcapng section: its byte order and interfaces.
type pcapng struct {
	order  binary.ByteOrder
	ifaces []ngInterfaceInfo
}

type ngInterfaceInfo struct {
	link    uint32
	snaplen uint32
	resol   uint8 // if_tsresol: 10^-n, or 2^-n when the high bit is set
}

// maxNGInterfaces bounds the interfaces a section may declare.
const maxNGInterfaces = 256

// nextNG returns the next UDP datagram of a pcapng file.
func (p *PcapReader) nextNG() (Datagram, error) {
	for {
		var head [8]byte
		if _, err := io.ReadFull(p.r, head[:]); err != nil {
			if err == io.EOF {
				return Datagram{}, io.EOF
			}
			return Datagram{}, fmt.Errorf("pcapng block %d: %w", p.packets+1, ErrTruncated)
		}
		p.packets++
		typ := binary.BigEndian.Uint32(head[:])
		if typ == ngSectionHeader {
			m, err := p.r.Peek(4)
			if err != nil {
				return Datagram{}, fmt.Errorf("pcapng section header: %w", ErrTruncated)
			}
			switch {
			case binary.BigEndian.Uint32(m) == ngByteOrderMagic:
				p.ng.order = binary.BigEndian
			case binary.LittleEndian.Uint32(m) == ngByteOrderMagic:
				p.ng.order = binary.LittleEndian
			default:
				return Datagram{}, fmt.Errorf("pcapng section header: byte-order magic %x: %w", m, ErrNotPcap)
			}
			p.ng.ifaces = p.ng.ifaces[:0]
		} else if p.ng.order == nil {
			return Datagram{}, fmt.Errorf("pcapng: block type %#x before the section header: %w", typ, ErrNotPcap)
		} else {
			typ = p.ng.order.Uint32(head[:])
		}
		total := p.ng.order.Uint32(head[4:])
		if total < 12 || total%4 != 0 || total > maxPcapRecord {
			return Datagram{}, fmt.Errorf("pcapng block %d: length %d: %w", p.packets, total, ErrMalformed)
		}
		n := int(total) - 8
		if cap(p.buf) < n {
			p.buf = make([]byte, n)
		}
		body := p.buf[:n]
		if _, err := io.ReadFull(p.r, body); err != nil {
			return Datagram{}, fmt.Errorf("pcapng block %d: %w", p.packets, ErrTruncated)
		}
		body = body[:n-4] // the trailing copy of the length
		switch typ {
		case ngInterface:
			if err := p.ng.addInterface(body); err != nil {
				return Datagram{}, fmt.Errorf("pcapng block %d: %w", p.packets, err)
			}
		case ngEnhancedPacket, ngSimplePacket:
			dg, ok, err := p.ng.packet(typ, body)
			if err != nil {
				return Datagram{}, fmt.Errorf("pcapng block %d: %w", p.packets, err)
			}
			if ok {
				return dg, nil
			}
			p.Skipped++
		}
	}
}

func (ng *pcapng) addInterface(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("interface description: %w", ErrTruncated)
	}
	if len(ng.ifaces) >= maxNGInterfaces {
		return fmt.Errorf("over %d interfaces: %w", maxNGInterfaces, ErrMalformed)
	}
	in := ngInterfaceInfo{link: uint32(ng.order.Uint16(b)), snaplen: ng.order.Uint32(b[4:]), resol: 6}
	if err := checkLink(in.link); err != nil {
		return err
	}
	for opts := b[8:]; len(opts) >= 4; {
		code, l := ng.order.Uint16(opts), int(ng.order.Uint16(opts[2:]))
		if code == 0 || 4+l > len(opts) {
			break
		}
		if code == ngOptTSResol && l >= 1 {
			in.resol = opts[4]
		}
		opts = opts[4+(l+3)&^3:]
	}
	ng.ifaces = append(ng.ifaces, in)
	return nil
}

// packet reads an enhanced or simple packet block.
func (ng *pcapng) packet(typ uint32, b []byte) (Datagram, bool, error) {
	var in ngInterfaceInfo
	var data []byte
	var ts uint64
	var orig uint32
	if typ == ngSimplePacket {
		if len(b) < 4 || len(ng.ifaces) == 0 {
			return Datagram{}, false, fmt.Errorf("simple packet: %w", ErrMalformed)
		}
		in, orig, data = ng.ifaces[0], ng.order.Uint32(b), b[4:]
		if uint32(len(data)) > orig {
			data = data[:orig]
		}
	} else {
		if len(b) < 20 {
			return Datagram{}, false, fmt.Errorf("enhanced packet: %w", ErrTruncated)
		}
		id := ng.order.Uint32(b)
		if id >= uint32(len(ng.ifaces)) {
			return Datagram{}, false, fmt.Errorf("enhanced packet: interface %d undeclared: %w", id, ErrMalformed)
		}
		in = ng.ifaces[id]
		ts = uint64(ng.order.Uint32(b[4:]))<<32 | uint64(ng.order.Uint32(b[8:]))
		caplen := ng.order.Uint32(b[12:])
		orig = ng.order.Uint32(b[16:])
		if int(caplen) > len(b)-20 {
			return Datagram{}, false, fmt.Errorf("enhanced packet: captured length %d: %w", caplen, ErrTruncated)
		}
		data = b[20 : 20+caplen]
	}
	if uint32(len(data)) < orig {
		return Datagram{}, false, nil // cut by the snap length
	}
	dg, ok := datagram(in.link, data)
	if ok {
		dg.Time = time.Unix(0, in.nanos(ts)).UTC()
	}
	return dg, ok, nil
}

// nanos converts a timestamp in the interface's resolution.
func (in ngInterfaceInfo) nanos(ts uint64) int64 {
	n := int(in.resol & 0x7f)
	if in.resol&0x80 != 0 { // 2^-n seconds
		if n >= 64 {
			return 0
		}
		sec := ts >> n
		frac := ts & (1<<n - 1)
		return int64(sec)*1e9 + int64((frac*1e9)>>n)
	}
	ns := int64(ts)
	for ; n < 9; n++ {
		ns *= 10
	}
	for ; n > 9; n-- {
		ns /= 10
	}
	return ns
}
