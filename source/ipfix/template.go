package ipfix

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// varLen is the field length that marks an IPFIX variable-length field
// (RFC 7011 section 7); some NetFlow v9 exporters (H3C) use it too.
const varLen = 0xffff

// maxTemplateFields bounds the fields of one template. Real templates have
// a few dozen; the bound keeps a hostile template from costing much memory.
const maxTemplateFields = 512

// Information elements the decoder reads (IANA IPFIX registry; the NetFlow
// v9 field types below 128 share these numbers, RFC 3954 section 8).
const (
	ieOctetDeltaCount          = 1
	iePacketDeltaCount         = 2
	ieProtocolIdentifier       = 4
	ieTCPControlBits           = 6
	ieSourceTransportPort      = 7
	ieSourceIPv4Address        = 8
	ieDestinationTransportPort = 11
	ieDestinationIPv4Address   = 12
	ieFlowEndSysUpTime         = 21
	ieFlowStartSysUpTime       = 22
	ieSourceIPv6Address        = 27
	ieDestinationIPv6Address   = 28
	ieSamplingInterval         = 34
	ieSamplerID                = 48
	ieSamplerRandomInterval    = 50
	ieFlowDirection            = 61
	ieOctetTotalCount          = 85
	iePacketTotalCount         = 86
	ieFlowStartSeconds         = 150
	ieFlowEndSeconds           = 151
	ieFlowStartMilliseconds    = 152
	ieFlowEndMilliseconds      = 153
	ieFlowStartMicroseconds    = 154
	ieFlowEndMicroseconds      = 155
	ieFlowStartNanoseconds     = 156
	ieFlowEndNanoseconds       = 157
	ieFlowStartDeltaMicro      = 158
	ieFlowEndDeltaMicro        = 159
	ieSystemInitTimeMillis     = 160
	ieFlowDurationMillis       = 161
	ieFlowDurationMicros       = 162
	ieInitiatorOctets          = 231
	ieResponderOctets          = 232
	ieInitiatorPackets         = 298
	ieResponderPackets         = 299
	ieSelectorID               = 302
	ieSamplingPacketInterval   = 305
	ieSamplingPacketSpace      = 306
	ieSamplingSize             = 309
	ieSamplingPopulation       = 310
	ieObservationTimeSeconds   = 322
	ieObservationTimeMillis    = 323
	ieObservationTimeMicros    = 324
	ieObservationTimeNanos     = 325
)

// kind is what one template field does to the record being decoded.
type kind uint8

const (
	kSkip        kind = iota
	kSrc4             // SrcAddr from an IPv4 address
	kDst4             // DstAddr from an IPv4 address
	kSrc6             // SrcAddr from an IPv6 address
	kDst6             // DstAddr from an IPv6 address
	kSrc6Alt          // SrcAddr from IPv6 when the IPv4 one is 0.0.0.0
	kDst6Alt          // DstAddr from IPv6 when the IPv4 one is 0.0.0.0
	kSrcPort          // SrcPort
	kDstPort          // DstPort
	kProto            // Protocol
	kTCPFlags         // TCPFlags (the low byte)
	kBytes            // Bytes
	kBytesAdd         // Bytes += (initiator + responder octets)
	kPackets          // Packets
	kPacketsAdd       // Packets += (initiator + responder packets)
	kDirection        // Direction (0 ingress, 1 egress)
	kStart            // the start time, converted by template.startMode
	kEnd              // the end time, converted by template.endMode
	kObs              // observation time, by template.obsMode
	kDur              // duration, by template.durMode
	kSampler          // sampler / selector ID, looked up in the session
	kInterval         // 1-in-N sampling interval
	kPktInterval      // samplingPacketInterval
	kPktSpace         // samplingPacketSpace
	kSampSize         // samplingSize
	kSampPop          // samplingPopulation
	kSysInit          // systemInitTimeMilliseconds (options records)
)

// timeMode says how a time field's value becomes a time.
type timeMode uint8

const (
	tmNone       timeMode = iota
	tmUptime              // milliseconds of the exporter's sysUpTime
	tmSeconds             // seconds since the Unix epoch
	tmMillis              // milliseconds since the Unix epoch
	tmMicrosNTP           // NTP timestamp, microsecond precision
	tmNanosNTP            // NTP timestamp
	tmDeltaMicro          // microseconds before the export time
	tmDurMillis           // a duration in milliseconds
	tmDurMicros           // a duration in microseconds
)

// op is one step of a compiled plan: read n bytes at off and apply kind.
type op struct {
	off  uint16
	n    uint16
	kind kind
}

// field is one field of a template with variable-length fields, walked in
// order because the offsets differ per record.
type field struct {
	n    uint16 // length, or varLen
	kind kind
}

// spec is one field specifier as received.
type spec struct {
	ie  uint16
	n   uint16
	pen uint32
}

// template is a compiled template: the plan that turns a record's bytes
// into an event.Flow (or, for options templates, into session facts).
type template struct {
	id      uint16
	options bool
	// fixed is true when no field has a variable length: then every record
	// has recLen bytes and ops hold absolute offsets.
	fixed  bool
	recLen int // fixed: record length; variable: the minimum length
	ops    []op
	fields []field // variable layout only

	startMode, endMode, obsMode, durMode timeMode
	// sampling is true when records carry their own sampling facts.
	sampling bool

	def  []byte // the definition as received, to recognise a refresh
	seen int64  // collector clock, Unix nanoseconds
}

// cost is the memory a template is charged against Options.MaxTemplateMemory.
func (t *template) cost() int {
	return 128 + len(t.def) + 6*len(t.ops) + 4*len(t.fields)
}

var errZeroLength = fmt.Errorf("records of length 0: %w", ErrMalformed)

// priority lists: the first element present wins.
var (
	startIEs = []uint16{ieFlowStartMilliseconds, ieFlowStartSeconds, ieFlowStartMicroseconds,
		ieFlowStartNanoseconds, ieFlowStartSysUpTime, ieFlowStartDeltaMicro}
	endIEs = []uint16{ieFlowEndMilliseconds, ieFlowEndSeconds, ieFlowEndMicroseconds,
		ieFlowEndNanoseconds, ieFlowEndSysUpTime, ieFlowEndDeltaMicro}
	obsIEs = []uint16{ieObservationTimeMillis, ieObservationTimeSeconds, ieObservationTimeMicros,
		ieObservationTimeNanos}
	durIEs = []uint16{ieFlowDurationMillis, ieFlowDurationMicros}
)

func timeModeOf(ie uint16) timeMode {
	switch ie {
	case ieFlowStartSysUpTime, ieFlowEndSysUpTime:
		return tmUptime
	case ieFlowStartSeconds, ieFlowEndSeconds, ieObservationTimeSeconds:
		return tmSeconds
	case ieFlowStartMilliseconds, ieFlowEndMilliseconds, ieObservationTimeMillis, ieSystemInitTimeMillis:
		return tmMillis
	case ieFlowStartMicroseconds, ieFlowEndMicroseconds, ieObservationTimeMicros:
		return tmMicrosNTP
	case ieFlowStartNanoseconds, ieFlowEndNanoseconds, ieObservationTimeNanos:
		return tmNanosNTP
	case ieFlowStartDeltaMicro, ieFlowEndDeltaMicro:
		return tmDeltaMicro
	case ieFlowDurationMillis:
		return tmDurMillis
	case ieFlowDurationMicros:
		return tmDurMicros
	}
	return tmNone
}

// usable reports whether a field of length n can hold the element: unsigned
// integers may use reduced-size encoding (1 to 8 bytes, RFC 7011 section
// 6.2); addresses and NTP timestamps need their full size.
func usable(ie uint16, n uint16) bool {
	switch ie {
	case ieSourceIPv4Address, ieDestinationIPv4Address:
		return n == 4
	case ieSourceIPv6Address, ieDestinationIPv6Address:
		return n == 16
	case ieFlowStartMicroseconds, ieFlowEndMicroseconds, ieFlowStartNanoseconds, ieFlowEndNanoseconds,
		ieObservationTimeMicros, ieObservationTimeNanos:
		return n == 8
	}
	return n >= 1 && n <= 8
}

// compile builds the plan of a template from its field specifiers. scope is
// the number of leading NetFlow v9 scope fields, which are not information
// elements and are skipped.
func compile(id uint16, specs []spec, options bool, v9scope int) (*template, error) {
	t := &template{id: id, options: options, fixed: true}
	kinds := make([]kind, len(specs))
	// find returns the index of the first usable field with element ie.
	find := func(ie uint16) int {
		for i := v9scope; i < len(specs); i++ {
			s := specs[i]
			if s.ie == ie && s.pen == 0 && s.n != varLen && usable(ie, s.n) {
				return i
			}
		}
		return -1
	}
	set := func(ie uint16, k kind) bool {
		if i := find(ie); i >= 0 && kinds[i] == kSkip {
			kinds[i] = k
			return true
		}
		return false
	}
	pick := func(ies []uint16, k kind) timeMode {
		for _, ie := range ies {
			if set(ie, k) {
				return timeModeOf(ie)
			}
		}
		return tmNone
	}
	if options {
		set(ieSystemInitTimeMillis, kSysInit)
	} else {
		src4, dst4 := set(ieSourceIPv4Address, kSrc4), set(ieDestinationIPv4Address, kDst4)
		src6, dst6 := kSrc6, kDst6
		if src4 {
			src6 = kSrc6Alt
		}
		if dst4 {
			dst6 = kDst6Alt
		}
		set(ieSourceIPv6Address, src6)
		set(ieDestinationIPv6Address, dst6)
		set(ieSourceTransportPort, kSrcPort)
		set(ieDestinationTransportPort, kDstPort)
		set(ieProtocolIdentifier, kProto)
		set(ieTCPControlBits, kTCPFlags)
		set(ieFlowDirection, kDirection)
		if !set(ieOctetDeltaCount, kBytes) && !set(ieOctetTotalCount, kBytes) {
			set(ieInitiatorOctets, kBytesAdd)
			set(ieResponderOctets, kBytesAdd)
		}
		if !set(iePacketDeltaCount, kPackets) && !set(iePacketTotalCount, kPackets) {
			set(ieInitiatorPackets, kPacketsAdd)
			set(ieResponderPackets, kPacketsAdd)
		}
		t.startMode = pick(startIEs, kStart)
		t.endMode = pick(endIEs, kEnd)
		t.obsMode = pick(obsIEs, kObs)
		t.durMode = pick(durIEs, kDur)
	}
	// Sampling facts, in flow records (H3C, ...) and in options records.
	s1 := set(ieSamplerID, kSampler) || set(ieSelectorID, kSampler)
	s2 := set(ieSamplingInterval, kInterval) || set(ieSamplerRandomInterval, kInterval)
	s3 := set(ieSamplingPacketInterval, kPktInterval)
	set(ieSamplingPacketSpace, kPktSpace)
	s4 := set(ieSamplingSize, kSampSize)
	set(ieSamplingPopulation, kSampPop)
	t.sampling = s1 || s2 || s3 || s4

	off, minLen := 0, 0
	for i, s := range specs {
		if s.n == varLen {
			t.fixed = false
			minLen++
			continue
		}
		minLen += int(s.n)
		if t.fixed && kinds[i] != kSkip {
			t.ops = append(t.ops, op{off: uint16(off), n: s.n, kind: kinds[i]})
		}
		off += int(s.n)
	}
	t.recLen = minLen
	if t.fixed {
		if off == 0 {
			return nil, errZeroLength
		}
		t.recLen = off
		// IPv4 before the IPv6 fallbacks, whatever the template order.
		sortOps(t.ops)
		return t, nil
	}
	t.ops = nil
	t.fields = make([]field, len(specs))
	for i, s := range specs {
		t.fields[i] = field{n: s.n, kind: kinds[i]}
	}
	return t, nil
}

// sortOps moves the conditional IPv6 ops after the others, keeping order.
func sortOps(ops []op) {
	alt := func(o op) int {
		if o.kind == kSrc6Alt || o.kind == kDst6Alt {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(ops, func(a, b op) int { return alt(a) - alt(b) })
}

// parseSpecsIPFIX reads count field specifiers (RFC 7011 section 3.2) from
// b and returns them with the bytes they took.
func parseSpecsIPFIX(b []byte, count int, specs []spec) ([]spec, int, error) {
	off := 0
	for i := 0; i < count; i++ {
		if len(b)-off < 4 {
			return specs, off, fmt.Errorf("field %d of %d: %w", i+1, count, errShortTemplate)
		}
		ie := binary.BigEndian.Uint16(b[off:])
		s := spec{ie: ie & 0x7fff, n: binary.BigEndian.Uint16(b[off+2:])}
		off += 4
		if ie&0x8000 != 0 {
			if len(b)-off < 4 {
				return specs, off, fmt.Errorf("field %d of %d: enterprise number: %w", i+1, count, errShortTemplate)
			}
			s.pen = binary.BigEndian.Uint32(b[off:])
			off += 4
		}
		specs = append(specs, s)
	}
	return specs, off, nil
}

// parseSpecsV9 reads count NetFlow v9 field definitions (type, length).
func parseSpecsV9(b []byte, count int, specs []spec) ([]spec, error) {
	if len(b) < 4*count {
		return specs, fmt.Errorf("%d fields need %d bytes, %d left: %w", count, 4*count, len(b), errShortTemplate)
	}
	for i := 0; i < count; i++ {
		specs = append(specs, spec{ie: binary.BigEndian.Uint16(b[4*i:]), n: binary.BigEndian.Uint16(b[4*i+2:])})
	}
	return specs, nil
}

var errShortTemplate = fmt.Errorf("template cut short: %w", ErrTruncated)

// v5Template is the fixed NetFlow v5 record (48 bytes) as a compiled plan:
// v5 is decoded by the same code as a v9 template.
var v5Template = mustCompile(0, []spec{
	{ie: ieSourceIPv4Address, n: 4}, {ie: ieDestinationIPv4Address, n: 4}, {ie: 15, n: 4},
	{ie: 10, n: 2}, {ie: 14, n: 2}, {ie: iePacketDeltaCount, n: 4}, {ie: ieOctetDeltaCount, n: 4},
	{ie: ieFlowStartSysUpTime, n: 4}, {ie: ieFlowEndSysUpTime, n: 4},
	{ie: ieSourceTransportPort, n: 2}, {ie: ieDestinationTransportPort, n: 2},
	{ie: 210, n: 1}, {ie: ieTCPControlBits, n: 1}, {ie: ieProtocolIdentifier, n: 1}, {ie: 5, n: 1},
	{ie: 16, n: 2}, {ie: 17, n: 2}, {ie: 9, n: 1}, {ie: 13, n: 1}, {ie: 210, n: 2},
})

func mustCompile(id uint16, specs []spec) *template {
	t, err := compile(id, specs, false, 0)
	if err != nil {
		panic(err)
	}
	return t
}
