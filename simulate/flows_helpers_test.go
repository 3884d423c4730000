package simulate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// smallFlowOpts is a small estate with a Sunday (the weekly scan) after its
// learning period: Thursday to Sunday, two days of learning.
var smallFlowOpts = FlowEstateOptions{
	Seed: 3, Start: time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC), Days: 4, LearningDays: 2, Scale: 0.3,
}

// flowOutput is everything a small estate writes.
type flowOutput struct {
	e                 *FlowEstate
	pcap, nsg, vnet   []byte
	pcapSt, nsgSt     FlowStats
	vnetSt            FlowStats
	flows             []event.Flow
	labels, assets    []byte
	flowsSt           FlowStats
	flowsErr, outErrs error
}

// smallFlows builds the small estate once and writes every output.
var smallFlows = sync.OnceValue(func() *flowOutput { return writeAllFlows(smallFlowOpts) })

func writeAllFlows(opts FlowEstateOptions) *flowOutput {
	o := &flowOutput{}
	e, err := NewFlowEstate(opts)
	if err != nil {
		o.outErrs = err
		return o
	}
	o.e = e
	var errs []error
	var b bytes.Buffer
	o.pcapSt, err = e.WriteIPFIXPcap(&b)
	o.pcap = bytes.Clone(b.Bytes())
	errs = append(errs, err)
	b.Reset()
	o.nsgSt, err = e.WriteFlowLog(&b, NSGFlowLog)
	o.nsg = bytes.Clone(b.Bytes())
	errs = append(errs, err)
	b.Reset()
	o.vnetSt, err = e.WriteFlowLog(&b, VNetFlowLog)
	o.vnet = bytes.Clone(b.Bytes())
	errs = append(errs, err)
	b.Reset()
	errs = append(errs, e.WriteLabels(&b))
	o.labels = bytes.Clone(b.Bytes())
	b.Reset()
	errs = append(errs, e.WriteAssets(&b))
	o.assets = bytes.Clone(b.Bytes())
	o.flowsSt, o.flowsErr = e.Flows(func(f *event.Flow) error {
		o.flows = append(o.flows, *f)
		return nil
	})
	o.outErrs = errors.Join(errs...)
	return o
}

func (o *flowOutput) check(t testing.TB) {
	t.Helper()
	if o.outErrs != nil || o.flowsErr != nil {
		t.Fatal(o.outErrs, o.flowsErr)
	}
}

// pcapPackets splits a classic pcap file into the UDP payloads of its
// packets, checking every header, the IPv4 and UDP checksums on the way.
func pcapPackets(data []byte) (payloads [][]byte, stamps []time.Time, err error) {
	if len(data) < 24 || binary.LittleEndian.Uint32(data) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(data[20:]) != 1 {
		return nil, nil, errors.New("not a little-endian microsecond Ethernet pcap")
	}
	for p := data[24:]; len(p) > 0; {
		if len(p) < pcapHeaderLen {
			return nil, nil, errors.New("truncated packet header")
		}
		incl, orig := int(binary.LittleEndian.Uint32(p[8:])), int(binary.LittleEndian.Uint32(p[12:]))
		if incl != orig || len(p) < pcapHeaderLen+incl || incl < ethLen+ipv4Len+udpLen {
			return nil, nil, fmt.Errorf("packet lengths %d/%d of %d bytes left", incl, orig, len(p))
		}
		sec, us := binary.LittleEndian.Uint32(p), binary.LittleEndian.Uint32(p[4:])
		frame := p[pcapHeaderLen : pcapHeaderLen+incl]
		p = p[pcapHeaderLen+incl:]
		if frame[12] != 0x08 || frame[13] != 0 {
			return nil, nil, errors.New("not IPv4")
		}
		ip := frame[ethLen:]
		if ip[0] != 0x45 || ip[9] != 17 || int(binary.BigEndian.Uint16(ip[2:])) != len(ip) {
			return nil, nil, errors.New("bad IPv4 header")
		}
		if fold(sum16(0, ip[:ipv4Len])) != 0xffff {
			return nil, nil, errors.New("bad IPv4 checksum")
		}
		udp := ip[ipv4Len:]
		if binary.BigEndian.Uint16(udp[2:]) != IPFIXPort || int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
			return nil, nil, errors.New("bad UDP header")
		}
		s := sum16(0, ip[12:20]) + 17 + uint32(len(udp))
		if fold(sum16(s, udp)) != 0xffff {
			return nil, nil, errors.New("bad UDP checksum")
		}
		payloads = append(payloads, udp[udpLen:])
		stamps = append(stamps, time.Unix(int64(sec), int64(us)*1000).UTC())
	}
	return payloads, stamps, nil
}

// ipfixMsg is what parseIPFIX read from one message.
type ipfixMsg struct {
	exportTime, seq, domain uint32
	templates, options      int // template records, options template records
	optionData              [][]uint32
	recs                    []event.Flow
}

// parseIPFIX decodes one message of the simulator's IPFIX, strictly: the
// header, every set's length, templates (IDs >= 256) before their data,
// data records without trailing garbage. templates persists across the
// messages of a stream.
func parseIPFIX(msg []byte, templates map[uint16][][2]uint16) (ipfixMsg, error) {
	var m ipfixMsg
	if len(msg) < ipfixHeaderLen {
		return m, errors.New("short message")
	}
	if v := binary.BigEndian.Uint16(msg); v != 10 {
		return m, fmt.Errorf("version %d", v)
	}
	if n := int(binary.BigEndian.Uint16(msg[2:])); n != len(msg) {
		return m, fmt.Errorf("header length %d, message %d bytes", n, len(msg))
	}
	m.exportTime, m.seq, m.domain = binary.BigEndian.Uint32(msg[4:]), binary.BigEndian.Uint32(msg[8:]), binary.BigEndian.Uint32(msg[12:])
	for p := msg[ipfixHeaderLen:]; len(p) > 0; {
		if len(p) < ipfixSetHeaderLen {
			return m, errors.New("truncated set header")
		}
		id, n := binary.BigEndian.Uint16(p), int(binary.BigEndian.Uint16(p[2:]))
		if n < ipfixSetHeaderLen || n > len(p) {
			return m, fmt.Errorf("set %d length %d of %d bytes left", id, n, len(p))
		}
		body := p[ipfixSetHeaderLen:n]
		p = p[n:]
		switch {
		case id == 2 || id == 3:
			for len(body) >= 4 {
				tid, count := binary.BigEndian.Uint16(body), int(binary.BigEndian.Uint16(body[2:]))
				hdr := 4
				if id == 3 {
					if len(body) < 6 || binary.BigEndian.Uint16(body[4:]) == 0 {
						return m, errors.New("options template without scope")
					}
					hdr = 6
				}
				if tid < 256 || len(body) < hdr+4*count {
					return m, fmt.Errorf("template %d with %d fields in %d bytes", tid, count, len(body))
				}
				var fields [][2]uint16
				for i := range count {
					f := body[hdr+4*i:]
					fields = append(fields, [2]uint16{binary.BigEndian.Uint16(f), binary.BigEndian.Uint16(f[2:])})
				}
				templates[tid] = fields
				body = body[hdr+4*count:]
				if id == 2 {
					m.templates++
				} else {
					m.options++
				}
			}
			if len(body) != 0 {
				return m, fmt.Errorf("%d bytes after the templates", len(body))
			}
		case id >= 256:
			fields, ok := templates[id]
			if !ok {
				return m, fmt.Errorf("data set %d before its template", id)
			}
			size := 0
			for _, f := range fields {
				size += int(f[1])
			}
			if len(body)%size != 0 {
				return m, fmt.Errorf("data set %d: %d bytes is not a whole number of %d-byte records", id, len(body), size)
			}
			for ; len(body) > 0; body = body[size:] {
				if id == IPFIXTemplateID {
					m.recs = append(m.recs, decodeRecord(body, fields))
					continue
				}
				var vals []uint32
				for off, i := 0, 0; i < len(fields); i++ {
					vals = append(vals, uint32(be(body[off:off+int(fields[i][1])])))
					off += int(fields[i][1])
				}
				m.optionData = append(m.optionData, vals)
			}
		default:
			return m, fmt.Errorf("reserved set ID %d", id)
		}
	}
	return m, nil
}

func be(b []byte) uint64 {
	var x uint64
	for _, c := range b {
		x = x<<8 | uint64(c)
	}
	return x
}

// decodeRecord reads a data record by its template's information elements.
func decodeRecord(b []byte, fields [][2]uint16) event.Flow {
	var f event.Flow
	for _, fl := range fields {
		v := be(b[:fl[1]])
		switch fl[0] {
		case 152:
			f.Start = time.UnixMilli(int64(v)).UTC()
		case 153:
			f.End = time.UnixMilli(int64(v)).UTC()
		case 8:
			f.SrcAddr = addr4(uint32(v))
		case 12:
			f.DstAddr = addr4(uint32(v))
		case 7:
			f.SrcPort = uint16(v)
		case 11:
			f.DstPort = uint16(v)
		case 4:
			f.Protocol = uint8(v)
		case 6:
			f.TCPFlags = uint8(v)
		case 2:
			f.Packets = v
		case 1:
			f.Bytes = v
		}
		b = b[fl[1]:]
	}
	return f
}

// decodePcap reads every record of an IPFIX pcap with the test decoder.
func decodePcap(t testing.TB, data []byte) ([]ipfixMsg, []time.Time) {
	t.Helper()
	payloads, stamps, err := pcapPackets(data)
	if err != nil {
		t.Fatal(err)
	}
	templates := map[uint16][][2]uint16{}
	msgs := make([]ipfixMsg, 0, len(payloads))
	for i, p := range payloads {
		m, err := parseIPFIX(p, templates)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		msgs = append(msgs, m)
	}
	return msgs, stamps
}
