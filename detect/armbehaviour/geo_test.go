package armbehaviour

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/enrich/geo"
	"github.com/vigil-security/vigil/enrich/geo/geotest"
	"github.com/vigil-security/vigil/event"
)

// Addresses of the geo fixture (documentation ranges).
const (
	amsterdamIP = "192.0.2.10"    // office, Amsterdam, radius 20 km
	londonIP    = "192.0.2.140"   // London office, radius 20 km
	singapore   = "198.51.100.9"  // Singapore, radius 50 km
	newYork     = "198.51.100.70" // New York, radius 20 km
	mobileNL    = "203.0.113.20"  // a mobile carrier: the Netherlands' centre, radius 200 km
	mobileDE    = "203.0.113.140" // a mobile carrier in Germany: its centre, radius 1000 km
	vpnExit     = "100.64.0.5"    // the company's VPN egress, located in Ashburn, US
)

// locator builds a MaxMind City database with the fixture's networks.
func locator(t testing.TB) *geo.Locator {
	t.Helper()
	city := func(iso, name string, lat, lon float64, radius uint16) mmdbtype.Map {
		m := geotest.City(iso, name, lat, lon)
		m["location"].(mmdbtype.Map)["accuracy_radius"] = mmdbtype.Uint16(radius)
		return m
	}
	db := geotest.Build(t, 6, "GeoLite2-City", []geotest.Network{
		{CIDR: "192.0.2.0/25", Record: city("NL", "Amsterdam", 52.374, 4.8897, 20)},
		{CIDR: "192.0.2.128/25", Record: city("GB", "London", 51.5085, -0.1257, 20)},
		{CIDR: "198.51.100.0/26", Record: city("SG", "Singapore", 1.2897, 103.8501, 50)},
		{CIDR: "198.51.100.64/26", Record: city("US", "New York", 40.7143, -74.006, 20)},
		{CIDR: "203.0.113.0/25", Record: city("NL", "", 52.3824, 4.8995, 200)},
		{CIDR: "203.0.113.128/25", Record: city("DE", "", 51.2993, 9.491, 1000)},
		{CIDR: "100.64.0.0/16", Record: city("US", "Ashburn", 39.0437, -77.4875, 20)},
	})
	dbh, err := geo.OpenBytes("city.mmdb", db, geo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return geo.NewLocator(dbh)
}

// located is act with the address placed by the fixture database, as the
// enricher does.
func located(t testing.TB, l *geo.Locator, when time.Time, p event.Principal, addr string) event.Op {
	t.Helper()
	g, err := l.Lookup(netip.MustParseAddr(addr))
	if err != nil || !g.HasLocation {
		t.Fatalf("fixture has no location for %s: %+v %v", addr, g, err)
	}
	return act(when, rg+"/providers/Microsoft.Compute/virtualMachines/web-1", "Microsoft.Compute/virtualMachines/write", p, addr, g)
}

// days of office work from one address, twice a day.
func workdays(t testing.TB, l *geo.Locator, p event.Principal, addr string, first, n int) []event.Op {
	var ops []event.Op
	for d := first; d < first+n; d++ {
		ops = append(ops, located(t, l, at(d, 0), p, addr), located(t, l, at(d, 6*time.Hour), p, addr))
	}
	return ops
}

func TestImpossibleTravel(t *testing.T) {
	l := locator(t)
	home := workdays(t, l, rob, amsterdamIP, 0, 10)
	cfg := DefaultConfig()
	cfg.ExceptRanges = []string{"100.64.0.0/16"}
	// A VPN the company did not configure: rob works from New York's exit
	// every other day and from Amsterdam on the others.
	var split []event.Op
	for d := range 14 {
		addr := amsterdamIP
		if d%2 == 1 {
			addr = newYork
		}
		split = append(split, located(t, l, at(d, 0), rob, addr), located(t, l, at(d, 6*time.Hour), rob, addr))
	}
	tests := []struct {
		name string
		ops  []event.Op
		want int
	}{
		{"Amsterdam, then Singapore 45 minutes later", cat(home, []event.Op{
			located(t, l, at(11, 0), rob, amsterdamIP), located(t, l, at(11, 45*time.Minute), rob, singapore)}), 1},
		{"Amsterdam, then Singapore the next day", cat(home, []event.Op{
			located(t, l, at(11, 0), rob, amsterdamIP), located(t, l, at(12, 0), rob, singapore)}), 0},
		{"Amsterdam to London in an hour (a flight)", cat(home, []event.Op{
			located(t, l, at(11, 0), rob, amsterdamIP), located(t, l, at(11, time.Hour), rob, londonIP)}), 0},
		{"Amsterdam to London in 5 minutes", cat(home, []event.Op{
			located(t, l, at(11, 0), rob, amsterdamIP), located(t, l, at(11, 5*time.Minute), rob, londonIP)}), 0}, // 357 km < 500
		{"the phone's carrier places it in the Netherlands' centre", cat(home, []event.Op{
			located(t, l, at(11, 0), rob, amsterdamIP), located(t, l, at(11, 10*time.Minute), rob, mobileNL)}), 0},
		{"a German carrier, 1000 km radius, 10 minutes later", cat(home, []event.Op{
			located(t, l, at(11, 0), rob, amsterdamIP), located(t, l, at(11, 10*time.Minute), rob, mobileDE)}), 0},
		{"the company VPN egress in the US", cat(home, []event.Op{
			located(t, l, at(11, 0), rob, amsterdamIP), located(t, l, at(11, 10*time.Minute), rob, vpnExit),
			located(t, l, at(11, 20*time.Minute), rob, amsterdamIP)}), 0},
		{"a split VPN between two regular places", cat(split, []event.Op{
			located(t, l, at(14, 0), rob, amsterdamIP), located(t, l, at(14, 30*time.Minute), rob, newYork)}), 0},
		{"in the learning week", []event.Op{located(t, l, at(1, 0), rob, amsterdamIP), located(t, l, at(1, 30*time.Minute), rob, singapore)}, 0},
		{"a service principal in two regions", cat(workdays(t, l, pipeline, amsterdamIP, 0, 10), []event.Op{
			located(t, l, at(11, 0), pipeline, amsterdamIP), located(t, l, at(11, 5*time.Minute), pipeline, singapore)}), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, cfg, NamePrincipal, slices.Clone(tc.ops))
			if len(got) != tc.want {
				t.Fatalf("candidates %v, want %d", types(got), tc.want)
			}
			for _, c := range got {
				if c.Type != TypeImpossibleTravel {
					t.Fatalf("type %s", c.Type)
				}
				// 10,500 km between the centres, less 20 + 50 km of radii, in 45 minutes.
				dt.WantDetails(t, c, map[string]string{"fromIp": amsterdamIP, "fromCity": "Amsterdam", "fromCountry": "NL",
					"toIp": singapore, "toCountry": "SG", "distanceKm": "10430", "minutes": "45", "speedKmh": "13907",
					"caller": "rob@contoso.com", "maxSpeedKmh": "1000",
					"fromLat": "52.3740", "fromLon": "4.8897", "toLat": "1.2897", "toLon": "103.8501"})
				if len(c.Evidence) != 2 {
					t.Errorf("evidence %+v", c.Evidence)
				}
			}
		})
	}
}

func TestInfrequentCountry(t *testing.T) {
	l := locator(t)
	cfg := DefaultConfig()
	cfg.ExceptRanges = []string{"100.64.0.0/16"}
	org := cat(workdays(t, l, rob, amsterdamIP, 0, 10), workdays(t, l, ann, londonIP, 0, 10), workdays(t, l, kim, amsterdamIP, 0, 10))
	tests := []struct {
		name string
		ops  []event.Op
		want int
	}{
		{"rob from Singapore, where nobody works", cat(org, []event.Op{located(t, l, at(12, 0), rob, singapore)}), 1},
		{"twice: one alert", cat(org, []event.Op{located(t, l, at(12, 0), rob, singapore), located(t, l, at(12, time.Hour), rob, singapore)}), 1},
		{"rob visits London, where ann works", cat(org, []event.Op{located(t, l, at(12, 0), rob, londonIP)}), 0},
		{"from the company VPN in the US", cat(org, []event.Op{located(t, l, at(12, 0), rob, vpnExit)}), 0},
		{"in the learning week", cat(workdays(t, l, rob, amsterdamIP, 0, 3), []event.Op{located(t, l, at(3, 0), rob, singapore)}), 0},
		{"a new user's first week", cat(org, workdays(t, l, event.Principal{UPN: "new@contoso.com", TenantID: tenantID, Type: event.PrincipalUser}, amsterdamIP, 10, 2),
			[]event.Op{located(t, l, at(12, 0), event.Principal{UPN: "new@contoso.com", TenantID: tenantID, Type: event.PrincipalUser}, singapore)}), 0},
		{"a German mobile carrier", cat(org, []event.Op{located(t, l, at(12, 0), rob, mobileDE)}), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, cfg, NameTenant, slices.Clone(tc.ops))
			if len(got) != tc.want {
				t.Fatalf("candidates %v, want %d", types(got), tc.want)
			}
			if len(got) > 0 && got[0].Details["country"] == "SG" {
				dt.WantDetails(t, got[0], map[string]string{"caller": "rob@contoso.com", "callerIp": singapore, "city": "Singapore",
					"usualCountries": "NL", "orgUsers": "0", "lookBackDays": "120", "subscription": sub})
			}
		})
	}
}
