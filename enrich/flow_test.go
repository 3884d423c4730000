package enrich

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-security/vigil/enrich/assets"
	"github.com/vigil-security/vigil/event"
)

func TestEnrichFlow(t *testing.T) {
	e, err := Open(testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	idx := assets.New()
	for _, a := range []string{"203.0.113.4", "203.0.113.5"} {
		if err := idx.Add(netip.MustParseAddr(a), assets.Resource{ID: "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/vm-" + a[len(a)-1:]}, time.Time{}, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	london := event.Geo{Country: "GB", City: "London", Lat: 51.5142, Lon: -0.0931, HasLocation: true, AccuracyKm: 20, ASN: 64496, ASOrg: "Example Transit"}
	c2 := []event.IntelHit{{Source: "c2", Category: "c2", Date: c2Date}}
	flow := func(src, dst string) event.Flow {
		return event.Flow{Start: t0, End: t0.Add(time.Second), SrcAddr: netip.MustParseAddr(src), DstAddr: netip.MustParseAddr(dst),
			Geo: event.Geo{Country: "ZZ"}, Intel: event.Intel{Hits: []event.IntelHit{{Source: "stale"}}}}
	}
	tests := []struct {
		name string
		f    event.Flow
		geo  event.Geo
		hits []event.IntelHit
	}{
		{"incoming: the source is remote", flow("192.0.2.7", "203.0.113.4"), london, c2},
		{"outgoing: the destination is remote", flow("203.0.113.4", "192.0.2.7"), london, c2},
		{"ASN only", flow("198.51.100.99", "203.0.113.5"), event.Geo{ASN: 64500, ASOrg: "Example Hosting"}, c2},
		{"east-west: both ours", flow("203.0.113.4", "203.0.113.5"), event.Geo{}, nil},
		{"neither ours", flow("192.0.2.7", "198.51.100.99"), event.Geo{}, nil},
	}
	for _, tc := range tests {
		f := tc.f
		e.EnrichFlow(&f, idx)
		if f.Geo != tc.geo || !hitsEqual(f.Intel.Hits, tc.hits) {
			t.Errorf("%s: geo %+v intel %+v, want %+v %+v", tc.name, f.Geo, f.Intel.Hits, tc.geo, tc.hits)
		}
	}
	f := flow("192.0.2.7", "203.0.113.4")
	e.EnrichFlow(&f, nil)
	if f.Geo != (event.Geo{}) || len(f.Intel.Hits) != 0 {
		t.Errorf("without an index: %+v %+v", f.Geo, f.Intel)
	}
	var none *Enricher
	none.EnrichFlow(&f, idx)
	base := flow("192.0.2.7", "203.0.113.4")
	if allocs := testing.AllocsPerRun(100, func() { f := base; e.EnrichFlow(&f, idx) }); allocs != 0 {
		t.Errorf("%v allocations per flow", allocs)
	}
}
