package enrich

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/vigil-security/vigil/enrich/geo/geotest"
	"github.com/vigil-security/vigil/enrich/intel"
	"github.com/vigil-security/vigil/event"
)

// The intel lists are the real ones in intel/testdata (see its
// PROVENANCE.md); the mmdb files and the c2 list are written per test on
// documentation networks.
const (
	torList   = "intel/testdata/tor-exit-nodes.lst"
	ipsumList = "intel/testdata/ipsum.txt"
)

var (
	torDate   = time.Date(2024, 2, 27, 3, 57, 52, 0, time.UTC)
	ipsumDate = time.Date(2026, 8, 22, 1, 0, 29, 0, time.UTC)
	c2Date    = time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
)

func testOptions(tb testing.TB) Options {
	tb.Helper()
	dir := tb.TempDir()
	city := geotest.WriteFile(tb, dir, "city.mmdb", 6, "GeoLite2-City", []geotest.Network{
		{CIDR: "192.0.2.0/24", Record: geotest.City("GB", "London", 51.5142, -0.0931)},
		{CIDR: "2001:db8::/32", Record: geotest.City("JP", "Tokyo", 35.6895, 139.6917)},
		// Records on private and loopback space that must never be used.
		{CIDR: "10.0.0.0/8", Record: geotest.City("US", "Nowhere", 1, 1)},
		{CIDR: "127.0.0.0/8", Record: geotest.City("US", "Nowhere", 1, 1)},
	})
	asn := geotest.WriteFile(tb, dir, "asn.mmdb", 6, "GeoLite2-ASN", []geotest.Network{
		{CIDR: "192.0.2.0/24", Record: geotest.ASN(64496, "Example Transit")},
		{CIDR: "198.51.100.0/24", Record: mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(64500),
			"autonomous_system_organization": mmdbtype.String("Example Hosting"),
		}},
	})
	c2 := filepath.Join(dir, "c2.txt")
	if err := os.WriteFile(c2, []byte("# test C2 list\n192.0.2.0/28\n198.51.100.99\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chtimes(c2, c2Date, c2Date); err != nil {
		tb.Fatal(err)
	}
	return Options{
		GeoIP:      []string{city, asn},
		Tor:        []string{torList},
		Blocklists: []Blocklist{{Path: ipsumList}, {Path: c2, Category: intel.CategoryC2}},
	}
}

func TestEnrich(t *testing.T) {
	e, err := Open(testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	london := event.Geo{Country: "GB", City: "London", Lat: 51.5142, Lon: -0.0931, HasLocation: true, AccuracyKm: 20, ASN: 64496, ASOrg: "Example Transit"}
	tor := event.IntelHit{Source: "tor-exit-nodes", Category: "tor", Date: torDate}
	c2 := event.IntelHit{Source: "c2", Category: "c2", Date: c2Date}
	tests := []struct {
		name string
		ip   string // "" leaves CallerIP invalid
		geo  event.Geo
		hits []event.IntelHit
	}{
		{"documentation address on the c2 list", "192.0.2.7", london, []event.IntelHit{c2}},
		{"outside the c2 /28", "192.0.2.77", london, nil},
		{"IPv4-mapped", "::ffff:192.0.2.7", london, []event.IntelHit{c2}},
		{"IPv6", "2001:db8::1", event.Geo{Country: "JP", City: "Tokyo", Lat: 35.6895, Lon: 139.6917, HasLocation: true, AccuracyKm: 20}, nil},
		{"ASN only, exact c2 address", "198.51.100.99", event.Geo{ASN: 64500, ASOrg: "Example Hosting"}, []event.IntelHit{c2}},
		{"Tor exit also on ipsum", "192.42.116.17", event.Geo{}, []event.IntelHit{tor, {Source: "ipsum", Category: "malicious", Date: ipsumDate, Score: 7}}},
		{"Tor exit IPv6", "2001:470:1:908::9001", event.Geo{}, []event.IntelHit{tor}},
		{"ipsum only", "77.90.185.20", event.Geo{}, []event.IntelHit{{Source: "ipsum", Category: "malicious", Date: ipsumDate, Score: 10}}},
		{"on no list", "101.99.92.180", event.Geo{}, nil},
		{"private: no geo", "10.1.2.3", event.Geo{}, nil},
		{"loopback: no geo", "127.0.0.1", event.Geo{}, nil},
		{"redacted caller", "", event.Geo{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Stale enrichment from a reused Op must be overwritten.
			op := &event.Op{Geo: event.Geo{Country: "ZZ"}, Intel: event.Intel{Hits: []event.IntelHit{{Source: "stale"}}}, CallerIPText: "<Redacted>"}
			if tt.ip != "" {
				op.CallerIP = netip.MustParseAddr(tt.ip)
				op.CallerIPText = tt.ip
			}
			e.Enrich(op)
			if op.Geo != tt.geo {
				t.Errorf("Geo = %+v, want %+v", op.Geo, tt.geo)
			}
			if !hitsEqual(op.Intel.Hits, tt.hits) {
				t.Errorf("Intel = %+v, want %+v", op.Intel.Hits, tt.hits)
			}
		})
	}
	if n, err := e.GeoErrors(); n != 0 || err != nil {
		t.Errorf("GeoErrors = %d, %v", n, err)
	}
	reps := e.IntelReports()
	if len(reps) != 3 || reps[0].Entries != 1746 || reps[1].Entries != 120430 || reps[2].Entries != 2 || reps[2].DateFrom != intel.DateFromModTime {
		t.Errorf("IntelReports = %+v", reps)
	}
}

func TestEnrichOptional(t *testing.T) {
	op := &event.Op{CallerIP: netip.MustParseAddr("192.42.116.17")}
	var nilE *Enricher
	nilE.Enrich(op)
	if op.Geo != (event.Geo{}) || op.Intel.Hits != nil || nilE.Close() != nil || nilE.IntelReports() != nil {
		t.Errorf("nil Enricher changed the op: %+v", op)
	}
	empty, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	empty.Enrich(op)
	if empty.Geo() != nil || empty.Intel() != nil || op.Intel.Hits != nil {
		t.Errorf("empty Enricher: %+v", op)
	}
	opts := testOptions(t)
	torOnly, err := Open(Options{Tor: opts.Tor})
	if err != nil {
		t.Fatal(err)
	}
	torOnly.Enrich(op)
	if !op.Intel.Has("tor") || op.Intel.Has("malicious") || op.Geo != (event.Geo{}) {
		t.Errorf("Tor-only Enricher: %+v", op)
	}
	geoOnly, err := Open(Options{GeoIP: opts.GeoIP})
	if err != nil {
		t.Fatal(err)
	}
	op.CallerIP = netip.MustParseAddr("192.0.2.1")
	geoOnly.Enrich(op)
	if op.Geo.City != "London" || op.Intel.Hits != nil {
		t.Errorf("geo-only Enricher: %+v", op)
	}
	if err := geoOnly.Close(); err != nil {
		t.Error(err)
	}
}

func TestMinScore(t *testing.T) {
	e, err := Open(Options{Tor: []string{torList}, Blocklists: []Blocklist{{Path: ipsumList}}, MinScore: 8})
	if err != nil {
		t.Fatal(err)
	}
	// 192.42.116.17 has ipsum count 7: only its Tor hit remains.
	_, in := e.LookupAddr(netip.MustParseAddr("192.42.116.17"))
	if len(in.Hits) != 1 || !in.Has("tor") {
		t.Errorf("hits = %+v", in.Hits)
	}
	if _, in := e.LookupAddr(netip.MustParseAddr("77.90.185.20")); len(in.Hits) != 1 || in.Hits[0].Score != 10 {
		t.Errorf("count-10 address: %+v", in.Hits)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(t)
	tests := []struct {
		opts Options
		want []string
	}{
		{Options{GeoIP: []string{filepath.Join(dir, "GeoLite2-City.mmdb")}}, []string{"--geoip", "GeoLite2-City.mmdb", "no such file"}},
		{Options{GeoIP: []string{ipsumList}}, []string{"--geoip", ipsumList, "invalid MaxMind DB"}},
		{Options{GeoIP: opts.GeoIP, Tor: []string{filepath.Join(dir, "tor.lst")}}, []string{"--tor", "tor.lst"}},
		{Options{Blocklists: []Blocklist{{Path: ipsumList, Category: "spam"}}}, []string{"--blocklist", `unknown category "spam"`}},
		{Options{Blocklists: []Blocklist{{Path: opts.GeoIP[0]}}}, []string{"--blocklist", "city.mmdb", "no valid line"}},
	}
	for _, tt := range tests {
		e, err := Open(tt.opts)
		if err == nil {
			_ = e.Close()
			t.Errorf("Open(%+v) succeeded", tt.opts)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open error %q does not mention %q", err, w)
			}
		}
	}
}

func TestParseBlocklist(t *testing.T) {
	tests := []struct {
		in      string
		want    Blocklist
		wantErr bool
	}{
		{"lists/ipsum.txt", Blocklist{Path: "lists/ipsum.txt", Category: "malicious"}, false},
		{"c2=feodo.txt", Blocklist{Path: "feodo.txt", Category: "c2"}, false},
		{"mining-pool=/etc/vigil/pools.txt", Blocklist{Path: "/etc/vigil/pools.txt", Category: "mining-pool"}, false},
		{"proxy=a=b.txt", Blocklist{Path: "a=b.txt", Category: "proxy"}, false},
		// Not a category: the whole value is the file name.
		{"odd=name.txt", Blocklist{Path: "odd=name.txt", Category: "malicious"}, false},
		{"tor=", Blocklist{}, true},
		{"", Blocklist{}, true},
	}
	for _, tt := range tests {
		got, err := ParseBlocklist(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseBlocklist(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestLocatable(t *testing.T) {
	for addr, want := range map[string]bool{
		"192.0.2.1": true, "8.8.8.8": true, "2001:db8::1": true, "::ffff:8.8.8.8": true,
		"10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false, "127.0.0.1": false, "::1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00::1": false, "224.0.0.1": false, "0.0.0.0": false,
		"255.255.255.255": false, "::ffff:10.0.0.1": false,
	} {
		if got := Locatable(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Locatable(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestConcurrentEnrich(t *testing.T) {
	o := testOptions(t)
	o.GeoCacheSize = 2 // force evictions while goroutines race
	e, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	addrs := benchAddrs()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			var op event.Op
			for i := range 2000 {
				op.CallerIP = addrs[(i+w)%len(addrs)]
				e.Enrich(&op)
				if op.CallerIP == addrs[0] && op.Geo.City != "London" {
					t.Errorf("Geo = %+v", op.Geo)
					return
				}
			}
		})
	}
	wg.Wait()
}

func hitsEqual(a, b []event.IntelHit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Source != b[i].Source || a[i].Category != b[i].Category || !a[i].Date.Equal(b[i].Date) || a[i].Score != b[i].Score {
			return false
		}
	}
	return true
}

// benchAddrs is a mix of callers: located and listed, located only, Tor,
// ipsum, private, IPv6, unlisted.
func benchAddrs() []netip.Addr {
	var out []netip.Addr
	for _, s := range []string{
		"192.0.2.7", "192.0.2.77", "2001:db8::1", "198.51.100.99", "192.42.116.17",
		"2001:470:1:908::9001", "77.90.185.20", "101.99.92.180", "10.1.2.3", "::ffff:192.0.2.7",
	} {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func BenchmarkEnrich(b *testing.B) {
	e, err := Open(testOptions(b))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	addrs := benchAddrs()
	var op event.Op
	for _, a := range addrs { // fill the geo caches
		op.CallerIP = a
		e.Enrich(&op)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		op.CallerIP = addrs[i%len(addrs)]
		e.Enrich(&op)
		i++
	}
}
