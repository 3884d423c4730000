package network

import (
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/event"
)

// IANA protocol numbers and TCP flag bits (RFC 9293) as flows carry them.
const (
	protoTCP = 6
	protoUDP = 17

	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
)

// class is what a flow record says about one connection.
type class uint8

const (
	// classNone: the record starts no connection we can count (a later
	// record of a long connection, or a sampled packet that is neither).
	classNone class = iota
	// classAttempt: a connection attempt that got no session.
	classAttempt
	// classSession: an established session (a login that worked, or use).
	classSession
	// classRepeat: a connection within Attempt.Repeated's bounds, an
	// attempt when it repeats the peer's previous one.
	classRepeat
)

// reason says why a record is an attempt or a session (evidence "result").
type reason uint8

const (
	reasonNone     reason = iota
	reasonNoAnswer        // SYN without ACK: the handshake never completed
	reasonRefused         // RST without payload
	reasonShort           // a full connection within Attempt's bounds
	reasonSampled         // a sampled connection start
	reasonSession         // larger than an attempt
	reasonRepeated        // one of near-identical connections from one peer
)

var reasonText = [...]string{"", "no answer", "refused", "short exchange", "sampled connection", "session", "repeated exchange"}

// sampled reports whether the record comes from packet sampling.
func sampled(f *event.Flow) bool { return f.SamplingRate > 1 }

// weight is how many connections a record stands for: 1, or N for 1-in-N
// packet sampling (a sampled connection start stands for N of them).
func weight(f *event.Flow) uint32 { return max(f.SamplingRate, 1) }

// classify sorts a TCP record toward a service port.
//
// Unsampled records see whole connections: a RST without payload or a SYN
// without ACK is a failed attempt; a record with TCP flags but no SYN is a
// later record of a long connection (exporters split them on their active
// timeout) and starts nothing; otherwise a connection within Attempt's
// bounds is an attempt (a password tried and refused), one within
// Attempt.Repeated's an attempt if it repeats the peer's previous one
// (classRepeat: the caller decides), and a larger one a session. Without
// TCP flags (NSG flow logs, some exporters) only the size decides.
//
// Sampled records are not classified here: see Sampling and
// bruteForceSampled.
func (a *Attempt) classify(f *event.Flow) (class, reason) {
	fl := f.TCPFlags
	if fl != 0 {
		switch {
		case fl&flagRST != 0 && fl&flagPSH == 0:
			return classAttempt, reasonRefused
		case fl&flagSYN != 0 && fl&flagACK == 0:
			return classAttempt, reasonNoAnswer
		case fl&flagSYN == 0:
			return classNone, reasonNone
		}
	}
	d := f.End.Sub(f.Start)
	if f.Packets <= a.MaxPackets && f.Bytes <= a.MaxBytes && d <= a.MaxDuration {
		return classAttempt, reasonShort
	}
	if r := &a.Repeated; f.Packets <= r.MaxPackets && f.Bytes <= r.MaxBytes && d <= r.MaxDuration {
		return classRepeat, reasonRepeated
	}
	return classSession, reasonSession
}

// valid reports whether the bounds are usable: positive, the repeated
// ones no tighter, the tolerance within [0, 1).
func (a *Attempt) valid() bool {
	r := &a.Repeated
	return a.MaxPackets >= 1 && a.MaxBytes >= 1 && a.MaxDuration > 0 &&
		r.MaxPackets >= a.MaxPackets && r.MaxBytes >= a.MaxBytes && r.MaxDuration >= a.MaxDuration &&
		a.RepeatTolerance >= 0 && a.RepeatTolerance < 1
}

// similar reports whether two connections' packets and bytes are within
// tol of each other (relative to the larger).
func similar(p0, b0, p1, b1 uint64, tol float64) bool {
	near := func(x, y uint64) bool {
		hi, lo := max(x, y), min(x, y)
		return float64(hi-lo) <= tol*float64(hi)
	}
	return near(p0, p1) && near(b0, b1)
}

// failedInitiation reports whether a record from our side is a TCP
// connection we started that failed: SYN without ACK; without TCP flags, an
// unsampled record of at most 3 packets from an ephemeral-looking port to a
// lower one (a reply from a server comes from the lower, service port).
func failedInitiation(f *event.Flow) bool {
	if f.Protocol != protoTCP {
		return false
	}
	if fl := f.TCPFlags; fl != 0 {
		return fl&flagSYN != 0 && fl&flagACK == 0
	}
	return !sampled(f) && f.Packets <= 3 && f.SrcPort >= 1024 && f.DstPort < f.SrcPort
}

// initiated reports whether a record from our side belongs to a connection
// our side opened (not a reply of one of our listening ports): TCP with SYN
// and no ACK is our SYN; a bare reset is a reply; otherwise the ports tell,
// as in a client's connection its port is the ephemeral one, above the
// service port it calls (1024 or more and higher than the remote port).
// Flows without ports (ICMP) are ours. A connection to a remote port above
// our ephemeral one reads as a reply: a rare miss, never a false alarm.
func initiated(f *event.Flow) bool {
	if f.Protocol == protoTCP {
		fl := f.TCPFlags
		switch {
		case fl&flagSYN != 0 && fl&flagACK == 0:
			return true
		case fl&flagRST != 0 && fl&(flagSYN|flagPSH) == 0:
			return false
		}
	}
	if f.SrcPort == 0 && f.DstPort == 0 {
		return f.Protocol != protoTCP && f.Protocol != protoUDP
	}
	return f.SrcPort >= 1024 && f.SrcPort > f.DstPort
}

// sends reports whether a record from our side to a remote address carries
// communication: not a bare reset or SYN-ACK answering the remote side
// (which every public address sends to the scanners that probe it).
func sends(f *event.Flow) bool {
	fl := f.TCPFlags
	if f.Protocol != protoTCP || fl == 0 || fl&flagPSH != 0 {
		return true
	}
	if fl&flagRST != 0 {
		return false
	}
	if fl&(flagSYN|flagACK) == flagSYN|flagACK && !sampled(f) && f.Packets <= 2 {
		return false
	}
	return true
}

// established reports whether a record from our side belongs to a connection
// that was answered (for stratum ports): TCP with ACK and no reset, or any
// record without flags.
func established(f *event.Flow) bool {
	if f.Protocol != protoTCP {
		return false
	}
	fl := f.TCPFlags
	return fl == 0 || (fl&flagACK != 0 && fl&flagRST == 0)
}

// addrKey maps an address to a 64-bit key (SplitMix64's finaliser over its
// 16 bytes), the same in every process, so snapshots keep their keys.
func addrKey(a netip.Addr) uint64 {
	b := a.Unmap().As16()
	return mix(binary.BigEndian.Uint64(b[:8]) ^ mix(binary.BigEndian.Uint64(b[8:])+0x9e3779b97f4a7c15))
}

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// poissonLower is the one-sided lower confidence bound of a Poisson mean
// when k events were seen, by Byar's approximation (Breslow and Day,
// "Statistical Methods in Cancer Research" vol. II, 1987, p. 69):
// k (1 - 1/(9k) - z/(3 sqrt k))^3. z = 1.645 gives 95%.
func poissonLower(k uint64, z float64) float64 {
	if k == 0 {
		return 0
	}
	x := float64(k)
	v := 1 - 1/(9*x) - z/(3*math.Sqrt(x))
	if v <= 0 {
		return 0
	}
	return x * v * v * v
}

// conservative turns a weighted count w made of n records into the count a
// threshold is compared with: w itself when every record weighs 1
// (unsampled); under sampling, w scaled by the lower confidence bound of
// the n records seen (z = 0: the point estimate). One sampled record at
// 1-in-100 estimates 100 connections but only proves about 5 at 95%.
func conservative(w uint64, n uint32, z float64) float64 {
	if n == 0 {
		return 0
	}
	if uint64(n) >= w || z == 0 {
		return float64(w)
	}
	return float64(w) * poissonLower(uint64(n), z) / float64(n)
}

// chao1 estimates how many distinct peers a sampled window held from the d
// seen, f1 of them in one sampled packet and f2 in two: the bias-corrected
// Chao1 estimator d + f1(f1-1)/(2(f2+1)) (Chao, "Species estimation and
// applications", Encyclopedia of Statistical Sciences, 2005), at most d
// times the sampling rate. Unsampled windows see every peer: d.
func chao1(d, f1, f2 uint32, rate uint32) float64 {
	if rate <= 1 {
		return float64(d)
	}
	est := float64(d)
	if f1 > 1 {
		est += float64(f1) * float64(f1-1) / (2 * float64(f2+1))
	}
	return min(est, float64(d)*float64(rate))
}

// flowRec is the part of a flow record kept as evidence. Times are Unix
// nanoseconds so a record holds no pointer but its strings.
type flowRec struct {
	Start    int64            `json:"s"`
	End      int64            `json:"e"`
	Src      netip.Addr       `json:"src"`
	Dst      netip.Addr       `json:"dst"`
	SrcPort  uint16           `json:"sp,omitempty"`
	DstPort  uint16           `json:"dp,omitempty"`
	Proto    uint8            `json:"p"`
	Flags    uint8            `json:"f,omitempty"`
	Packets  uint64           `json:"pk,omitempty"`
	Bytes    uint64           `json:"b,omitempty"`
	Rate     uint32           `json:"r,omitempty"`
	Source   event.FlowSource `json:"src_t,omitempty"`
	Exporter netip.Addr       `json:"x,omitzero"`
	Reason   reason           `json:"why,omitempty"`
	Country  string           `json:"cc,omitempty"`
	ASN      uint32           `json:"asn,omitempty"`
	ASOrg    string           `json:"as,omitempty"`
}

// setRec copies f into r without allocating.
func setRec(r *flowRec, f *event.Flow, why reason) {
	*r = flowRec{
		Start: f.Start.UnixNano(), End: f.End.UnixNano(),
		Src: f.SrcAddr.Unmap(), Dst: f.DstAddr.Unmap(), SrcPort: f.SrcPort, DstPort: f.DstPort,
		Proto: f.Protocol, Flags: f.TCPFlags, Packets: f.Packets, Bytes: f.Bytes, Rate: f.SamplingRate,
		Source: f.Source, Exporter: f.Exporter, Reason: why,
		Country: f.Geo.Country, ASN: f.Geo.ASN, ASOrg: f.Geo.ASOrg,
	}
}

func (r *flowRec) time() time.Time { return time.Unix(0, r.End).UTC() }

// protoName names an IANA protocol number.
func protoName(p uint8) string {
	switch p {
	case protoTCP:
		return "TCP"
	case protoUDP:
		return "UDP"
	case 1:
		return "ICMP"
	case 58:
		return "ICMPv6"
	}
	return "proto " + strconv.Itoa(int(p))
}

// flagText renders TCP flags in tcpdump's order and letters ("S", "S.",
// "R.", "FP."): F S R P, "." for ACK, then U E W.
func flagText(fl uint8) string {
	var b strings.Builder
	for _, x := range [...]struct {
		bit uint8
		c   byte
	}{{flagFIN, 'F'}, {flagSYN, 'S'}, {flagRST, 'R'}, {flagPSH, 'P'}, {flagACK, '.'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}} {
		if fl&x.bit != 0 {
			b.WriteByte(x.c)
		}
	}
	return b.String()
}

func hostPort(a netip.Addr, port uint16, proto uint8) string {
	if proto != protoTCP && proto != protoUDP && port == 0 {
		return a.String()
	}
	return netip.AddrPortFrom(a, port).String()
}

// evidence renders the record: operation "TCP 203.0.113.5:51234 ->
// 10.0.0.4:22 3 pkts [S]", the remote address as CallerIP, our address and
// port as Target, the classification (and sampling) as Result, the exporter
// as Source.
func (r *flowRec) evidence(resource string, remote netip.Addr) alert.Evidence {
	var op strings.Builder
	op.WriteString(protoName(r.Proto))
	op.WriteByte(' ')
	op.WriteString(hostPort(r.Src, r.SrcPort, r.Proto))
	op.WriteString(" -> ")
	op.WriteString(hostPort(r.Dst, r.DstPort, r.Proto))
	op.WriteByte(' ')
	op.WriteString(strconv.FormatUint(r.Packets, 10))
	if r.Packets == 1 {
		op.WriteString(" pkt")
	} else {
		op.WriteString(" pkts")
	}
	if r.Flags != 0 {
		op.WriteString(" [" + flagText(r.Flags) + "]")
	}
	target := hostPort(r.Dst, r.DstPort, r.Proto)
	if remote == r.Dst {
		target = hostPort(r.Src, r.SrcPort, r.Proto)
	}
	res := reasonText[min(int(r.Reason), len(reasonText)-1)]
	if r.Rate > 1 {
		res = strings.TrimPrefix(res+", sampled 1-in-"+strconv.FormatUint(uint64(r.Rate), 10), ", ")
	}
	src := r.Source.String()
	if r.Exporter.IsValid() {
		src += " " + r.Exporter.String()
	}
	return alert.Evidence{
		Time:      r.time(),
		Operation: op.String(),
		CallerIP:  remote.String(),
		Resource:  resource,
		Target:    target,
		Result:    res,
		Source:    src,
	}
}

// serviceName names a well-known TCP port for descriptions ("SMB" for 445);
// other ports are "TCP/<port>".
func serviceName(port uint16) string {
	switch port {
	case 21:
		return "FTP"
	case 22:
		return "SSH"
	case 23:
		return "Telnet"
	case 25:
		return "SMTP"
	case 80:
		return "HTTP"
	case 443:
		return "HTTPS"
	case 445:
		return "SMB"
	case 1433:
		return "SQL Server"
	case 3306:
		return "MySQL"
	case 3389:
		return "RDP"
	case 5432:
		return "PostgreSQL"
	case 5900:
		return "VNC"
	case 5985, 5986:
		return "WinRM"
	case 6379:
		return "Redis"
	}
	return "TCP/" + strconv.Itoa(int(port))
}

// formatTime renders an event time for details (RFC 3339, UTC).
func formatTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339) }

// formatDuration renders a window without zero units ("5m", "1h", "1h30m").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// intelStrings renders hits as "source (category, yyyy-mm-dd)".
func intelStrings(hits []event.IntelHit) []string {
	if len(hits) == 0 {
		return nil
	}
	out := make([]string, 0, len(hits))
	for _, h := range hits {
		s := h.Source + " (" + h.Category
		if !h.Date.IsZero() {
			s += ", " + h.Date.UTC().Format(time.DateOnly)
		}
		out = append(out, s+")")
	}
	return out
}

// formatCount renders an estimate as an integer.
func formatCount(x float64) string { return strconv.FormatUint(uint64(math.Round(x)), 10) }
