package flowlog

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unsafe"
)

// ErrTuple is wrapped by every error about one malformed flow tuple.
var ErrTuple = errors.New("malformed flow tuple")

// msThreshold separates second from millisecond timestamps: a value at or
// above it is milliseconds. 1e11 seconds is the year 5138, 1e11
// milliseconds is March 1973, so no real flow log is ambiguous.
const msThreshold = 100_000_000_000

// Field counts of the tuple formats.
const (
	// fieldsNSGv1: time,src,dst,sport,dport,protocol(T/U),direction,decision.
	fieldsNSGv1 = 8
	// fieldsV2: NSG version 2 adds state and four counts to version 1; VNet
	// version 4 has time,src,dst,sport,dport,protocol number,direction,
	// state,encryption and the same four counts.
	fieldsV2 = 13
)

// tuple is one flow tuple, parsed by hand from its comma-separated text.
type tuple struct {
	time            time.Time
	src, dst        netip.Addr
	sport, dport    uint16
	proto           uint8
	dir             byte // 'I' or 'O'
	decision        byte // 'A' or 'D'
	state           byte // 'B', 'C', 'E', 'D' (VNet), 0 for NSG version 1
	enc             []byte
	pktsSD, bytesSD uint64
	pktsDS, bytesDS uint64
	version         int // 1 or 2 (NSG), 4 (VNet)
	nfields         int
	fields          [fieldsV2][]byte
}

// nsgNames and vnetNames name the tuple fields in error messages, as the
// Azure documentation does.
var (
	nsgNames = [fieldsV2]string{"time", "source IP", "destination IP", "source port", "destination port",
		"protocol", "direction", "decision", "flow state", "packets sent", "bytes sent", "packets received", "bytes received"}
	vnetNames = [fieldsV2]string{"time", "source IP", "destination IP", "source port", "destination port",
		"protocol", "direction", "flow state", "encryption", "packets sent", "bytes sent", "packets received", "bytes received"}
)

// split cuts b at commas into t.fields; it reports false when b has more
// than fieldsV2 fields.
func (t *tuple) split(b []byte) bool {
	n := 0
	start := 0
	for i := 0; i < len(b); i++ {
		if b[i] == ',' {
			if n == fieldsV2-1 {
				return false
			}
			t.fields[n] = b[start:i]
			n++
			start = i + 1
		}
	}
	t.fields[n] = b[start:]
	t.nfields = n + 1
	return true
}

// parseNSG parses an NSG flow log tuple, version 1 (8 fields) or 2 (13).
func (t *tuple) parseNSG(b []byte) error {
	if !t.split(b) || (t.nfields != fieldsNSGv1 && t.nfields != fieldsV2) {
		return fieldCountError(b, "8 (version 1) or 13 (version 2)")
	}
	f := &t.fields
	if err := t.common(f, &nsgNames); err != nil {
		return err
	}
	switch p := f[5]; {
	case len(p) == 1 && p[0] == 'T':
		t.proto = 6
	case len(p) == 1 && p[0] == 'U':
		t.proto = 17
	default:
		return fieldError(&nsgNames, 5, p, "T or U")
	}
	if d := f[7]; len(d) == 1 && (d[0] == 'A' || d[0] == 'D') {
		t.decision = d[0]
	} else {
		return fieldError(&nsgNames, 7, d, "A or D")
	}
	t.enc = nil
	if t.nfields == fieldsNSGv1 {
		t.version = 1
		t.state = 0
		t.pktsSD, t.bytesSD, t.pktsDS, t.bytesDS = 0, 0, 0, 0
		return nil
	}
	t.version = 2
	if s := f[8]; len(s) == 1 && (s[0] == 'B' || s[0] == 'C' || s[0] == 'E') {
		t.state = s[0]
	} else {
		return fieldError(&nsgNames, 8, s, "B, C or E")
	}
	return t.counts(f, &nsgNames)
}

// parseVNet parses a VNet flow log (version 4) tuple: 13 fields, the
// protocol as a number, no decision (state D means denied), and an
// encryption status.
func (t *tuple) parseVNet(b []byte) error {
	if !t.split(b) || t.nfields != fieldsV2 {
		return fieldCountError(b, "13")
	}
	f := &t.fields
	if err := t.common(f, &vnetNames); err != nil {
		return err
	}
	p, ok := parseUint(f[5], 255)
	if !ok {
		return fieldError(&vnetNames, 5, f[5], "a protocol number 0-255")
	}
	t.proto = uint8(p)
	switch s := f[7]; {
	case len(s) == 1 && (s[0] == 'B' || s[0] == 'C' || s[0] == 'E'):
		t.state, t.decision = s[0], 'A'
	case len(s) == 1 && s[0] == 'D':
		t.state, t.decision = 'D', 'D'
	default:
		return fieldError(&vnetNames, 7, s, "B, C, E or D")
	}
	if !validEncryption(f[8]) {
		return fieldError(&vnetNames, 8, f[8], "an encryption status such as X or NX")
	}
	t.enc = f[8]
	t.version = 4
	return t.counts(f, &vnetNames)
}

// common parses the fields both formats share: time, addresses, ports,
// direction.
func (t *tuple) common(f *[fieldsV2][]byte, names *[fieldsV2]string) error {
	ts, ok := parseUint(f[0], 1<<62)
	if !ok {
		return fieldError(names, 0, f[0], "a UNIX time in seconds or milliseconds")
	}
	if ts >= msThreshold {
		t.time = time.UnixMilli(int64(ts)).UTC()
	} else {
		t.time = time.Unix(int64(ts), 0).UTC()
	}
	var err error
	if t.src, err = parseAddr(f[1]); err != nil {
		return fieldError(names, 1, f[1], "an IP address")
	}
	if t.dst, err = parseAddr(f[2]); err != nil {
		return fieldError(names, 2, f[2], "an IP address")
	}
	sp, ok := parseUint(f[3], 65535)
	if !ok {
		return fieldError(names, 3, f[3], "a port 0-65535")
	}
	dp, ok := parseUint(f[4], 65535)
	if !ok {
		return fieldError(names, 4, f[4], "a port 0-65535")
	}
	t.sport, t.dport = uint16(sp), uint16(dp)
	if d := f[6]; len(d) == 1 && (d[0] == 'I' || d[0] == 'O') {
		t.dir = d[0]
	} else {
		return fieldError(names, 6, d, "I or O")
	}
	return nil
}

// counts parses the four packet and byte counts (fields 9-12); an empty
// field, as in Begin tuples, is zero.
func (t *tuple) counts(f *[fieldsV2][]byte, names *[fieldsV2]string) error {
	var v [4]uint64
	for i := range v {
		b := f[9+i]
		if len(b) == 0 {
			continue
		}
		n, ok := parseUint(b, 1<<63-1)
		if !ok {
			return fieldError(names, 9+i, b, "a count")
		}
		v[i] = n
	}
	t.pktsSD, t.bytesSD, t.pktsDS, t.bytesDS = v[0], v[1], v[2], v[3]
	return nil
}

// parseUint parses a non-empty decimal number no greater than max.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		d := uint64(c - '0')
		if d > 9 || n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseAddr parses an IPv4 address by hand and anything else with
// netip.ParseAddr, without copying b. IPv4-mapped IPv6 addresses are
// unmapped; zones are rejected.
func parseAddr(b []byte) (netip.Addr, error) {
	if a, ok := parseIPv4(b); ok {
		return a, nil
	}
	if len(b) == 0 {
		return netip.Addr{}, errBadAddr
	}
	// netip.ParseAddr keeps no reference to its argument on success, and
	// its error (which would) is dropped here, so b need not be copied.
	a, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, errBadAddr
	}
	return a.Unmap(), nil
}

var errBadAddr = errors.New("bad address")

// parseIPv4 parses a dotted quad with the rules of netip.ParseAddr: four
// decimal octets 0-255 without leading zeros.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	octet, digits, val := 0, 0, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return netip.Addr{}, false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return netip.Addr{}, false
			}
		case c == '.':
			if digits == 0 || octet == 3 {
				return netip.Addr{}, false
			}
			ip[octet] = byte(val)
			octet++
			digits, val = 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if octet != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	ip[3] = byte(val)
	return netip.AddrFrom4(ip), true
}

// validEncryption accepts the documented encryption statuses' alphabet:
// X, NX, NX_HW_NOT_SUPPORTED ... (upper-case letters and underscores).
func validEncryption(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return true
}

// fieldError describes a bad field. It runs only on the error path.
func fieldError(names *[fieldsV2]string, i int, b []byte, want string) error {
	return fmt.Errorf("%w: %s %q: want %s", ErrTuple, names[i], clip(b), want)
}

// fieldCountError describes a tuple with the wrong number of fields.
func fieldCountError(b []byte, want string) error {
	n := 1
	for _, c := range b {
		if c == ',' {
			n++
		}
	}
	return fmt.Errorf("%w: %d fields in %q, want %s", ErrTuple, n, clip(b), want)
}

// clip copies at most 120 bytes of b for an error message.
func clip(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "..."
	}
	return string(b)
}
