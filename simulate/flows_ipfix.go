package simulate

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/vigil-security/vigil/event"
)

// IPFIX (RFC 7011) export of the flow estate: one exporter on the path of
// all traffic (the edge router, which also sees east-west traffic) sends
// messages of at most one Ethernet MTU, templates first and again every
// five minutes of export time or 1,000 messages.

// The exporter and collector of the simulated IPFIX stream.
var (
	// IPFIXExporter is the simulated exporter's address: the UDP source of
	// the datagrams in the pcap file, and event.Flow.Exporter.
	IPFIXExporter = netip.MustParseAddr("10.255.0.1")
	// IPFIXCollector is the destination address of the pcap's datagrams.
	IPFIXCollector = netip.MustParseAddr("10.255.0.10")
)

const (
	// IPFIXObservationDomain is the exporter's observation domain ID.
	IPFIXObservationDomain = 1
	// IPFIXPort is the IANA port of IPFIX: the datagrams' destination port.
	IPFIXPort = 4739
	// IPFIXTemplateID is the data template's ID; IPFIXOptionsTemplateID the
	// sampling options template's (sent only when sampling).
	IPFIXTemplateID        = 256
	IPFIXOptionsTemplateID = 257
	// IPFIXMaxMessage is the largest message: 1500-byte MTU less the IPv4
	// and UDP headers.
	IPFIXMaxMessage = 1472

	ipfixExporterPort  = 49152
	ipfixHeaderLen     = 16
	ipfixSetHeaderLen  = 4
	ipfixRecordLen     = 47
	templateRefreshMs  = 5 * msPerMinute
	templateRefreshMsg = 1000
	exportDelayMs      = 20 // from a record's end to its message's departure
	maxMessageSpanMs   = 1000
)

// ipfixFields is the data template: IANA information element ID and length.
var ipfixFields = [...][2]uint16{
	{152, 8}, // flowStartMilliseconds
	{153, 8}, // flowEndMilliseconds
	{8, 4},   // sourceIPv4Address
	{12, 4},  // destinationIPv4Address
	{7, 2},   // sourceTransportPort
	{11, 2},  // destinationTransportPort
	{4, 1},   // protocolIdentifier
	{6, 2},   // tcpControlBits
	{2, 8},   // packetDeltaCount
	{1, 8},   // octetDeltaCount
}

// ipfixOptionFields is the sampling options template: the scope
// (observationDomainId) first, then samplingInterval (deprecated but what
// many collectors read), samplingPacketInterval and samplingPacketSpace
// (RFC 5477: one packet selected, N-1 skipped).
var ipfixOptionFields = [...][2]uint16{{149, 4}, {34, 4}, {305, 4}, {306, 4}}

// templateSets renders the template set, and when sampling the options
// template set and its data set.
func templateSets(sampling uint32) []byte {
	b := binary.BigEndian.AppendUint16(nil, 2)
	b = binary.BigEndian.AppendUint16(b, uint16(ipfixSetHeaderLen+4+4*len(ipfixFields)))
	b = binary.BigEndian.AppendUint16(b, IPFIXTemplateID)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ipfixFields)))
	for _, f := range ipfixFields {
		b = binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, f[0]), f[1])
	}
	if sampling <= 1 {
		return b
	}
	b = binary.BigEndian.AppendUint16(b, 3)
	b = binary.BigEndian.AppendUint16(b, uint16(ipfixSetHeaderLen+6+4*len(ipfixOptionFields)))
	b = binary.BigEndian.AppendUint16(b, IPFIXOptionsTemplateID)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ipfixOptionFields)))
	b = binary.BigEndian.AppendUint16(b, 1) // scope field count
	for _, f := range ipfixOptionFields {
		b = binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, f[0]), f[1])
	}
	b = binary.BigEndian.AppendUint16(b, IPFIXOptionsTemplateID)
	b = binary.BigEndian.AppendUint16(b, ipfixSetHeaderLen+16)
	for _, v := range []uint32{IPFIXObservationDomain, sampling, 1, sampling - 1} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// ipfixEncoder packs records into messages.
type ipfixEncoder struct {
	buf       []byte
	templates []byte
	optRecs   uint32 // options data records in the templates
	nrec      int    // data records in the message
	extra     uint32 // options data records in the message
	dataSet   int    // offset of the data set header
	seq       uint32 // data records sent before the message
	firstEnd  int64
	lastEnd   int64
	lastTmpl  int64
	sinceTmpl int
	msgs      int64
	recs      int64
	emit      func(msg []byte, sentMs int64) error
}

func newIPFIXEncoder(sampling uint32, emit func(msg []byte, sentMs int64) error) *ipfixEncoder {
	x := &ipfixEncoder{buf: make([]byte, 0, IPFIXMaxMessage), templates: templateSets(sampling), emit: emit}
	if sampling > 1 {
		x.optRecs = 1
	}
	return x
}

// add appends one record, sending the message first when the record does
// not fit or comes a second after the message's first.
func (x *ipfixEncoder) add(r *frec) error {
	if x.nrec > 0 && (len(x.buf)+ipfixRecordLen > IPFIXMaxMessage || r.end-x.firstEnd >= maxMessageSpanMs) {
		if err := x.flush(); err != nil {
			return err
		}
	}
	if x.nrec == 0 {
		x.begin(r.end)
	}
	b := binary.BigEndian.AppendUint64(x.buf, uint64(r.start))
	b = binary.BigEndian.AppendUint64(b, uint64(r.end))
	b = binary.BigEndian.AppendUint32(b, r.src)
	b = binary.BigEndian.AppendUint32(b, r.dst)
	b = binary.BigEndian.AppendUint16(b, r.sport)
	b = binary.BigEndian.AppendUint16(b, r.dport)
	b = append(b, r.proto, 0, r.flags)
	b = binary.BigEndian.AppendUint64(b, r.pkts)
	x.buf = binary.BigEndian.AppendUint64(b, r.bytes)
	x.nrec++
	x.lastEnd = r.end
	return nil
}

// begin starts a message, with the templates when they are due.
func (x *ipfixEncoder) begin(end int64) {
	x.buf = x.buf[:ipfixHeaderLen] // filled in by flush
	x.extra = 0
	if x.msgs == 0 || end-x.lastTmpl >= templateRefreshMs || x.sinceTmpl >= templateRefreshMsg {
		x.buf = append(x.buf, x.templates...)
		x.extra = x.optRecs
		x.lastTmpl, x.sinceTmpl = end, 0
	}
	x.dataSet = len(x.buf)
	x.buf = append(x.buf, byte(IPFIXTemplateID>>8), byte(IPFIXTemplateID&0xff), 0, 0)
	x.firstEnd = end
}

// flush fills in the lengths and the header and sends the message.
func (x *ipfixEncoder) flush() error {
	if x.nrec == 0 {
		return nil
	}
	sent := x.lastEnd + exportDelayMs
	binary.BigEndian.PutUint16(x.buf[x.dataSet+2:], uint16(len(x.buf)-x.dataSet))
	binary.BigEndian.PutUint16(x.buf[0:], 10)
	binary.BigEndian.PutUint16(x.buf[2:], uint16(len(x.buf)))
	binary.BigEndian.PutUint32(x.buf[4:], uint32(sent/1000))
	binary.BigEndian.PutUint32(x.buf[8:], x.seq)
	binary.BigEndian.PutUint32(x.buf[12:], IPFIXObservationDomain)
	x.seq += uint32(x.nrec) + x.extra
	x.recs += int64(x.nrec)
	x.msgs++
	x.sinceTmpl++
	x.nrec = 0
	return x.emit(x.buf, sent)
}

// records runs the hour loop for IPFIX: every record, sampled when the
// options say so, in export order.
func (e *FlowEstate) records(emit func(r *frec) error) (int64, error) {
	rate := e.opts.SamplingRate
	var pcg rand.PCG
	r := rand.New(&pcg)
	hour := int64(-1)
	var y frec // the sampled record, reused
	return flowHours(e, e.expandIPFIX, ipfixDue, ipfixKey, ipfixIndexBits, func(x *frec) error {
		if rate <= 1 {
			return emit(x)
		}
		if h := (x.end - e.start) / msPerHour; h != hour {
			hour = h
			pcg.Seed(e.opts.Seed^mix(0x5a3b1e), uint64(h))
		}
		n, flags := sampleRecord(r, x, rate)
		if n == 0 {
			return nil
		}
		y = *x
		y.bytes, y.pkts, y.flags = x.bytes*n/x.pkts, n, flags
		return emit(&y)
	})
}

// sampleRecord draws which of a record's packets 1-in-rate sampling
// selects: how many, and the OR of their TCP flags. The packets that carry
// SYN, FIN or RST are one each, sampled like any other, so a sampled
// session shows its SYN only when that packet was selected; every one of
// them but the initiator's SYN also carries ACK (SYN-ACK, FIN-ACK, RST-ACK).
func sampleRecord(r *rand.Rand, x *frec, rate uint32) (uint64, uint8) {
	ctrl := uint64(bits.OnesCount8(x.flags & (tcpSYN | tcpFIN | tcpRST)))
	if x.flags&(tcpACK|tcpPSH) == 0 || ctrl >= x.pkts { // only control packets: SYNs, resets, or UDP
		if n := sampleCount(r, x.pkts, rate); n > 0 {
			return n, x.flags
		}
		return 0, 0
	}
	var n uint64
	var flags uint8
	for _, f := range [...]uint8{tcpSYN, tcpFIN, tcpRST} {
		if x.flags&f != 0 && r.Uint32N(rate) == 0 {
			n++
			flags |= f
			if f != tcpSYN || x.reply { // only the initiator's SYN carries no ACK
				flags |= tcpACK
			}
		}
	}
	if d := sampleCount(r, x.pkts-ctrl, rate); d > 0 {
		n += d
		flags |= x.flags & (tcpACK | tcpPSH)
	}
	return n, flags
}

// IPFIXDatagrams passes each IPFIX message (the payload of one UDP
// datagram) to emit with the time the exporter sends it, in order. msg is
// reused after emit returns. It stops at emit's first error.
func (e *FlowEstate) IPFIXDatagrams(emit func(msg []byte, sent time.Time) error) (FlowStats, error) {
	enc := newIPFIXEncoder(e.opts.SamplingRate, func(msg []byte, sentMs int64) error { return emit(msg, msTime(sentMs)) })
	conns, err := e.records(enc.add)
	if err == nil {
		err = enc.flush()
	}
	st := FlowStats{Connections: conns, Records: enc.recs, Messages: enc.msgs}
	if err != nil {
		return st, fmt.Errorf("simulate: ipfix: %w", err)
	}
	return st, nil
}

// WriteIPFIXPcap writes the IPFIX messages to w as a classic libpcap file
// (microsecond timestamps, Ethernet), each in an IPv4/UDP datagram from
// IPFIXExporter to IPFIXCollector port 4739, stamped with its send time.
func (e *FlowEstate) WriteIPFIXPcap(w io.Writer) (FlowStats, error) {
	cw := &countWriter{w: w}
	pw := newPcapWriter(cw)
	st, err := e.IPFIXDatagrams(pw.packet)
	if err == nil {
		err = pw.bw.Flush()
	}
	st.Bytes = cw.n
	if err != nil {
		return st, fmt.Errorf("simulate: write pcap: %w", err)
	}
	return st, nil
}

// Flows passes every IPFIX record, as the IPFIX decoder would give it, to
// emit in export order: for feeding a pipeline without encoding. f is
// reused after emit returns.
func (e *FlowEstate) Flows(emit func(f *event.Flow) error) (FlowStats, error) {
	f := event.Flow{Source: event.FlowIPFIX, SamplingRate: max(1, e.opts.SamplingRate),
		Exporter: IPFIXExporter, ObservationDomain: IPFIXObservationDomain}
	var recs int64
	conns, err := e.records(func(r *frec) error {
		recs++
		f.Start, f.End = msTime(r.start), msTime(r.end)
		f.SrcAddr, f.DstAddr = addr4(r.src), addr4(r.dst)
		f.SrcPort, f.DstPort, f.Protocol, f.TCPFlags = r.sport, r.dport, r.proto, r.flags
		f.Packets, f.Bytes = r.pkts, r.bytes
		return emit(&f)
	})
	st := FlowStats{Connections: conns, Records: recs}
	if err != nil {
		return st, fmt.Errorf("simulate: flows: %w", err)
	}
	return st, nil
}

// pcapWriter writes datagrams as a libpcap capture.
type pcapWriter struct {
	bw  *bufio.Writer
	hdr []byte
	id  uint16
}

const (
	pcapHeaderLen = 16
	ethLen        = 14
	ipv4Len       = 20
	udpLen        = 8
)

func newPcapWriter(w io.Writer) *pcapWriter {
	p := &pcapWriter{bw: bufio.NewWriterSize(w, 1<<20), hdr: make([]byte, pcapHeaderLen+ethLen+ipv4Len+udpLen)}
	var g [24]byte
	binary.LittleEndian.PutUint32(g[0:], 0xa1b2c3d4) // microsecond timestamps
	binary.LittleEndian.PutUint16(g[4:], 2)
	binary.LittleEndian.PutUint16(g[6:], 4)
	binary.LittleEndian.PutUint32(g[16:], 65535) // snaplen
	binary.LittleEndian.PutUint32(g[20:], 1)     // LINKTYPE_ETHERNET
	p.bw.Write(g[:])
	h := p.hdr[pcapHeaderLen:]
	copy(h[0:6], []byte{0x02, 0, 0, 0, 0, 0x0a}) // locally administered MACs
	copy(h[6:12], []byte{0x02, 0, 0, 0, 0, 0x01})
	h[12], h[13] = 0x08, 0x00
	ip := h[ethLen:]
	ip[0], ip[6], ip[8], ip[9] = 0x45, 0x40, 64, 17 // version/IHL, DF, TTL, UDP
	src, dst := IPFIXExporter.As4(), IPFIXCollector.As4()
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	udp := ip[ipv4Len:]
	binary.BigEndian.PutUint16(udp[0:], ipfixExporterPort)
	binary.BigEndian.PutUint16(udp[2:], IPFIXPort)
	return p
}

// packet writes one datagram carrying msg, sent at t.
func (p *pcapWriter) packet(msg []byte, t time.Time) error {
	n := len(msg) + ethLen + ipv4Len + udpLen
	h := p.hdr
	us := t.UnixMicro()
	binary.LittleEndian.PutUint32(h[0:], uint32(us/1_000_000))
	binary.LittleEndian.PutUint32(h[4:], uint32(us%1_000_000))
	binary.LittleEndian.PutUint32(h[8:], uint32(n))
	binary.LittleEndian.PutUint32(h[12:], uint32(n))
	ip := h[pcapHeaderLen+ethLen:]
	binary.BigEndian.PutUint16(ip[2:], uint16(n-ethLen))
	binary.BigEndian.PutUint16(ip[4:], p.id)
	p.id++
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(0, ip[:ipv4Len])))
	udp := ip[ipv4Len:]
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen+len(msg)))
	udp[6], udp[7] = 0, 0
	// The UDP checksum covers a pseudo-header, the UDP header and the data.
	s := sum16(0, ip[12:20])
	s += 17 + uint32(udpLen+len(msg))
	s = sum16(s, udp[:udpLen])
	s = sum16(s, msg)
	c := ^fold(s)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	p.bw.Write(h)
	_, err := p.bw.Write(msg)
	return err
}

// sum16 adds b as big-endian 16-bit words (an odd last byte padded) to s.
func sum16(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// fold folds a one's-complement sum to 16 bits.
func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
