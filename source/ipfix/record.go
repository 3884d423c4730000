package ipfix

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-security/vigil/event"
)

// ntpEpoch is the NTP era-0 epoch (1900-01-01) in Unix seconds.
const ntpEpoch = -2208988800

// header is what records need from the header of their export message.
type header struct {
	version   uint16
	exportNs  int64  // export time, Unix nanoseconds
	uptime    uint32 // sysUpTime in milliseconds (v5, v9)
	hasUptime bool
	domain    uint32
	rate      uint32 // v5 header sampling interval (0: none)
}

// recState holds the values of one record that are resolved after all its
// fields have been read.
type recState struct {
	has                             uint8
	start, end, obs, dur, sysInit   uint64
	sampler                         uint64
	interval, pktInterval, pktSpace uint64
	sampSize, sampPop               uint64
}

const (
	hasStart uint8 = 1 << iota
	hasEnd
	hasObs
	hasDur
	hasSampler
	hasSysInit
)

var errShortRecord = fmt.Errorf("record runs past the end of its set: %w", ErrTruncated)

// uintN decodes a big-endian unsigned integer of 1 to 8 bytes (reduced-size
// encoding, RFC 7011 section 6.2).
func uintN(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	case 8:
		return binary.BigEndian.Uint64(b)
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

var ipv4Zero = netip.IPv4Unspecified()

// apply performs one field's step. The compiler only gives address kinds to
// fields of the address's exact size.
func apply(f *event.Flow, c *recState, k kind, b []byte) {
	switch k {
	case kSrc4:
		f.SrcAddr = netip.AddrFrom4([4]byte(b))
	case kDst4:
		f.DstAddr = netip.AddrFrom4([4]byte(b))
	case kSrc6:
		f.SrcAddr = netip.AddrFrom16([16]byte(b))
	case kDst6:
		f.DstAddr = netip.AddrFrom16([16]byte(b))
	case kSrc6Alt:
		if f.SrcAddr == ipv4Zero && !zero(b) {
			f.SrcAddr = netip.AddrFrom16([16]byte(b))
		}
	case kDst6Alt:
		if f.DstAddr == ipv4Zero && !zero(b) {
			f.DstAddr = netip.AddrFrom16([16]byte(b))
		}
	case kSrcPort:
		f.SrcPort = uint16(uintN(b))
	case kDstPort:
		f.DstPort = uint16(uintN(b))
	case kProto:
		f.Protocol = uint8(uintN(b))
	case kTCPFlags:
		f.TCPFlags = uint8(uintN(b))
	case kBytes:
		f.Bytes = uintN(b)
	case kBytesAdd:
		f.Bytes += uintN(b)
	case kPackets:
		f.Packets = uintN(b)
	case kPacketsAdd:
		f.Packets += uintN(b)
	case kDirection:
		switch uintN(b) {
		case 0:
			f.Direction = event.DirectionIngress
		case 1:
			f.Direction = event.DirectionEgress
		}
	case kStart:
		c.start, c.has = uintN(b), c.has|hasStart
	case kEnd:
		c.end, c.has = uintN(b), c.has|hasEnd
	case kObs:
		c.obs, c.has = uintN(b), c.has|hasObs
	case kDur:
		c.dur, c.has = uintN(b), c.has|hasDur
	case kSysInit:
		c.sysInit, c.has = uintN(b), c.has|hasSysInit
	case kSampler:
		c.sampler, c.has = uintN(b), c.has|hasSampler
	case kInterval:
		c.interval = uintN(b)
	case kPktInterval:
		c.pktInterval = uintN(b)
	case kPktSpace:
		c.pktSpace = uintN(b)
	case kSampSize:
		c.sampSize = uintN(b)
	case kSampPop:
		c.sampPop = uintN(b)
	}
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// applyFixed runs a fixed-layout plan over one record of t.recLen bytes.
func (t *template) applyFixed(f *event.Flow, c *recState, rec []byte) {
	for _, o := range t.ops {
		apply(f, c, o.kind, rec[o.off:int(o.off)+int(o.n)])
	}
}

// applyVariable walks a template with variable-length fields over the
// record at the start of b and returns the record's length.
func (t *template) applyVariable(f *event.Flow, c *recState, b []byte) (int, error) {
	off := 0
	for _, fl := range t.fields {
		n := int(fl.n)
		if fl.n == varLen {
			if off >= len(b) {
				return 0, errShortRecord
			}
			n = int(b[off])
			off++
			if n == 255 {
				if off+2 > len(b) {
					return 0, errShortRecord
				}
				n = int(binary.BigEndian.Uint16(b[off:]))
				off += 2
			}
		}
		if n > len(b)-off {
			return 0, errShortRecord
		}
		if fl.kind != kSkip {
			apply(f, c, fl.kind, b[off:off+n])
		}
		off += n
	}
	return off, nil
}

// abs converts a time field's value to Unix nanoseconds. It fails only for
// sysUpTime-based values when the exporter's boot time is unknown.
func (h *header) abs(m timeMode, v uint64, s *session) (int64, bool) {
	switch m {
	case tmUptime:
		if h.hasUptime {
			return h.exportNs - int64(int32(h.uptime-uint32(v)))*1e6, true
		}
		if s.sysInitMs != 0 {
			return (s.sysInitMs + int64(v)) * 1e6, true
		}
		return 0, false
	case tmSeconds:
		return int64(v) * 1e9, true
	case tmMillis:
		return int64(v) * 1e6, true
	case tmMicrosNTP:
		us := (v & 0xffffffff) * 1e6 >> 32
		return (int64(v>>32)+ntpEpoch)*1e9 + int64(us)*1e3, true
	case tmNanosNTP:
		ns := (v & 0xffffffff) * 1e9 >> 32
		return (int64(v>>32)+ntpEpoch)*1e9 + int64(ns), true
	case tmDeltaMicro:
		return h.exportNs - int64(v)*1e3, true
	}
	return 0, false
}

// setTimes resolves Start and End (see the package documentation, "Times").
func (t *template) setTimes(f *event.Flow, c *recState, h *header, s *session) {
	var sNs, eNs int64
	var okS, okE bool
	if c.has&hasStart != 0 {
		sNs, okS = h.abs(t.startMode, c.start, s)
	}
	if c.has&hasEnd != 0 {
		eNs, okE = h.abs(t.endMode, c.end, s)
	}
	if !okS && !okE && c.has&(hasStart|hasEnd) == hasStart|hasEnd &&
		t.startMode == tmUptime && t.endMode == tmUptime {
		// IPFIX sysUpTime times without the exporter's boot time: the flow
		// is taken to end at the export time, keeping its duration.
		eNs, okE = h.exportNs, true
		sNs, okS = eNs-int64(int32(uint32(c.end)-uint32(c.start)))*1e6, true
	}
	if !okE && c.has&hasObs != 0 {
		eNs, okE = h.abs(t.obsMode, c.obs, s)
	}
	var dur int64
	if c.has&hasDur != 0 {
		dur = int64(c.dur) * 1e6
		if t.durMode == tmDurMicros {
			dur = int64(c.dur) * 1e3
		}
		if !okE && okS {
			eNs, okE = sNs+dur, true
		}
	}
	if !okE {
		eNs = h.exportNs
	}
	if !okS {
		sNs = eNs - dur
	}
	if eNs < sNs {
		eNs = sNs
	}
	f.Start = time.Unix(0, sNs).UTC()
	f.End = time.Unix(0, eNs).UTC()
}

// rate returns the 1-in-N sampling rate a record or options record states,
// or 0 when it states none.
func (c *recState) rate() uint64 {
	switch {
	case c.interval != 0:
		return c.interval
	case c.pktInterval != 0:
		return (c.pktInterval + c.pktSpace) / c.pktInterval
	case c.sampSize != 0 && c.sampPop != 0:
		return c.sampPop / c.sampSize
	}
	return 0
}

// clampRate fits a rate into the Flow's field.
func clampRate(r uint64) uint32 {
	if r > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(r)
}
