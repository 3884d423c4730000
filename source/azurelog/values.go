package azurelog

import (
	"bufio"
	"bytes"
	_ "embed" // the Key Vault operation-name list is embedded
	"hash/maphash"
	"math"
	"net/netip"
	"strings"
	"time"
)

// keyVaultOperationNames is the documented list of Key Vault AuditEvent
// operationName values (see PROVENANCE).
//
//go:embed keyvault-operation-names.txt
var keyVaultOperationNames string

// kvOps maps a Key Vault operation name, lower-cased or in its documented
// casing, to the documented casing.
var kvOps = func() map[string]string {
	m := make(map[string]string, 128)
	sc := bufio.NewScanner(strings.NewReader(keyVaultOperationNames))
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" || name[0] == '#' {
			continue
		}
		m[strings.ToLower(name)] = name
		m[name] = name
	}
	return m
}()

// httpStatusNames maps the lower-cased .NET HttpStatusCode names that the
// Activity Log writes in properties.statusCode ("Created", "OK", ...) to codes.
var httpStatusNames = map[string]int{
	"continue": 100, "ok": 200, "created": 201, "accepted": 202, "nocontent": 204,
	"movedpermanently": 301, "found": 302, "redirect": 302, "notmodified": 304,
	"badrequest": 400, "unauthorized": 401, "forbidden": 403, "notfound": 404,
	"methodnotallowed": 405, "conflict": 409, "gone": 410, "preconditionfailed": 412,
	"toomanyrequests": 429, "internalservererror": 500, "notimplemented": 501,
	"badgateway": 502, "serviceunavailable": 503, "gatewaytimeout": 504,
}

// maxInternLen bounds the strings the interner keeps; longer ones are copied.
const maxInternLen = 512

// interner is a bounded, two-way set-associative cache of strings: a
// repeated value (operation name, resource ID, caller, user agent ...) costs
// a hash and a compare instead of an allocation. A miss evicts the less
// recently used entry of its set.
type interner struct {
	seed maphash.Seed
	tab  []string // 2 entries per set, most recently used first
}

func newInterner(seed maphash.Seed, sets int) interner {
	return interner{seed: seed, tab: make([]string, 2*sets)}
}

func (in *interner) bytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxInternLen {
		return string(b)
	}
	i := int(maphash.Bytes(in.seed, b)&uint64(len(in.tab)/2-1)) * 2
	set := in.tab[i : i+2 : i+2]
	if set[0] == string(b) {
		return set[0]
	}
	if set[1] == string(b) {
		set[0], set[1] = set[1], set[0]
		return set[0]
	}
	s := string(b)
	set[1] = set[0]
	set[0] = s
	return s
}

// ipEntry caches the parse of one callerIpAddress text.
type ipEntry struct {
	text string
	addr netip.Addr
}

// ipCache interns caller address texts together with their parsed address.
type ipCache struct {
	seed maphash.Seed
	tab  [1 << 11]ipEntry
}

func (c *ipCache) lookup(b []byte) (string, netip.Addr) {
	if len(b) == 0 {
		return "", netip.Addr{}
	}
	if len(b) > 64 {
		s := string(b)
		return s, parseIP(s)
	}
	e := &c.tab[maphash.Bytes(c.seed, b)&(uint64(len(c.tab))-1)]
	if e.text == string(b) {
		return e.text, e.addr
	}
	s := string(b)
	*e = ipEntry{text: s, addr: parseIP(s)}
	return e.text, e.addr
}

// parseIP returns the single address in s, or the zero Addr when s is not
// one: "<Redacted>", a CIDR, "", an IPv6 address with a zone. An address
// with a port ("1.2.3.4:5678", "[2001:db8::1]:443") yields the address: the
// port is the client's source port and does not change who called.
// IPv4-mapped IPv6 addresses are unmapped so that geo and intel look-ups see
// the IPv4 address.
func parseIP(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}

// parseTime parses an RFC 3339 timestamp as Azure writes it
// ("2016-01-05T01:32:01.2691226Z"): any number of fractional digits (beyond
// nanoseconds they are dropped), "Z" or a numeric offset, and returns it in
// UTC. A timestamp without a zone is taken as UTC, which is what Azure logs
// are in. It never allocates.
func parseTime(b []byte) (time.Time, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	if c := b[10]; c != 'T' && c != 't' && c != ' ' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	i, ns := 19, 0
	if i < len(b) && b[i] == '.' {
		i++
		n := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if n < 9 {
				ns = ns*10 + int(b[i]-'0')
				n++
			}
		}
		if n == 0 {
			return time.Time{}, false
		}
		for ; n < 9; n++ {
			ns *= 10
		}
	}
	offset := 0
	if i < len(b) {
		switch b[i] {
		case 'Z', 'z':
			i++
		case '+', '-':
			sign := 1
			if b[i] == '-' {
				sign = -1
			}
			rest := b[i+1:]
			var hh, mm int
			var okh, okm bool
			switch {
			case len(rest) == 5 && rest[2] == ':':
				hh, okh = digits(rest[0:2])
				mm, okm = digits(rest[3:5])
			case len(rest) == 4:
				hh, okh = digits(rest[0:2])
				mm, okm = digits(rest[2:4])
			}
			if !okh || !okm || hh > 23 || mm > 59 {
				return time.Time{}, false
			}
			offset = sign * (hh*3600 + mm*60)
			i = len(b)
		default:
			return time.Time{}, false
		}
	}
	if i != len(b) {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, ns, time.UTC)
	if offset != 0 {
		t = t.Add(-time.Duration(offset) * time.Second)
	}
	return t, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseInt parses an optionally signed decimal integer, ignoring a fractional
// part ("78", "78.0"); ok is false when b does not start with digits or the
// value does not fit in an int64.
func parseInt(b []byte) (int64, bool) {
	b = bytes.TrimSpace(b)
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	var n uint64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if n > (1<<63)/10 {
			return 0, false
		}
		n = n*10 + uint64(b[i]-'0')
		if n > 1<<63 {
			return 0, false
		}
	}
	if i == 0 || (i < len(b) && b[i] != '.') {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// lower appends the ASCII lower-case form of b to dst.
func lower(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// lowerKey lower-cases a short JSON key into buf; ok is false when the key
// does not fit (no key this package looks for is that long).
func lowerKey(buf []byte, k []byte) ([]byte, bool) {
	if len(k) > cap(buf) {
		return nil, false
	}
	return lower(buf[:0], k), true
}

// hasUpper reports whether b has an ASCII upper-case letter.
func hasUpper(b []byte) bool {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

// equalFold reports whether b equals s ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// indexFold returns the index of the lower-case ASCII needle in b ignoring
// case, or -1.
func indexFold(b []byte, needle string) int {
	for i := 0; i+len(needle) <= len(b); i++ {
		if equalFold(b[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}

// segmentAfter returns the path segment of a resource ID that follows the
// segment named key (case-insensitive), e.g. the subscription ID after
// "subscriptions".
func segmentAfter(rid []byte, key string) []byte {
	for len(rid) > 0 {
		if rid[0] == '/' {
			rid = rid[1:]
			continue
		}
		seg := rid
		if j := bytes.IndexByte(rid, '/'); j >= 0 {
			seg, rid = rid[:j], rid[j+1:]
		} else {
			rid = nil
		}
		if equalFold(seg, key) {
			val := rid
			if j := bytes.IndexByte(val, '/'); j >= 0 {
				val = val[:j]
			}
			return val
		}
	}
	return nil
}

// lastSegment returns the last path segment of a resource ID.
func lastSegment(rid []byte) []byte {
	rid = bytes.TrimRight(rid, "/")
	if j := bytes.LastIndexByte(rid, '/'); j >= 0 {
		return rid[j+1:]
	}
	return rid
}

// appendResourceType appends the resource type inferred from a resource ID
// (as the Activity Log schema says the export does): the namespace after the
// last "providers" segment followed by every type segment, e.g.
// ".../providers/Microsoft.Sql/servers/s1/databases/d1" gives
// "Microsoft.Sql/servers/databases". Nothing is appended without a provider.
func appendResourceType(dst, rid []byte) []byte {
	i := -1
	for j := 0; ; {
		k := indexFold(rid[j:], "/providers/")
		if k < 0 {
			break
		}
		i = j + k
		j = i + 1
	}
	if i < 0 {
		return dst
	}
	rest := rid[i+len("/providers/"):]
	first := true
	for n := 0; len(rest) > 0; n++ {
		seg := rest
		if j := bytes.IndexByte(rest, '/'); j >= 0 {
			seg, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		// segment 0 is the namespace, then type, name, type, name ...
		if n == 0 || n%2 == 1 {
			if !first {
				dst = append(dst, '/')
			}
			dst = append(dst, seg...)
			first = false
		}
	}
	return dst
}
