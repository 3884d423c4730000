package simulate

import (
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// place is a location as a City database records it.
type place struct {
	iso, city string
	lat, lon  float64
	radius    uint16 // accuracy radius, km
}

var sitePlaces = map[string]place{
	"Amsterdam": {"NL", "Amsterdam", 52.374, 4.8897, 20},
	"Utrecht":   {"NL", "Utrecht", 52.0908, 5.1222, 20},
	"Rotterdam": {"NL", "Rotterdam", 51.9225, 4.4792, 20},
	"Tokyo":     {"JP", "Tokyo", 35.6895, 139.6917, 20},
	"Osaka":     {"JP", "Osaka", 34.6937, 135.5023, 20},
	"Nagoya":    {"JP", "Nagoya", 35.1815, 136.9066, 20},
}

// WriteGeoIP writes a MaxMind DB in the layout of GeoLite2-City that places
// the estate's addresses: its offices, the cloud and Microsoft ranges
// (West Europe), the organisations' VPN egress (Ashburn, US), a mobile
// carrier (the Netherlands' centre, 500 km accuracy) and the attackers'
// ranges (São Paulo, Amsterdam homes, a Singapore hosting provider). Give it
// to the enricher (--geoip) to run the location detections over the estate.
func (e *Estate) WriteGeoIP(w io.Writer) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: "vigil-simulate-City",
		IPVersion:    6,
		RecordSize:   24,
		Description:  map[string]string{"en": "locations of a simulated Vigil estate"},
	})
	if err != nil {
		return fmt.Errorf("simulate: geoip: %w", err)
	}
	insert := func(cidr string, p place) error {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return err
		}
		return tree.Insert(n, cityRecord(p))
	}
	westEurope := place{"NL", "Amsterdam", 52.3740, 4.8897, 100}
	ranges := map[string]place{
		vpnRange:      {"US", "Ashburn", 39.0437, -77.4875, 20},
		mobileRange:   {"NL", "", 52.25, 5.75, 500},
		brazilRange:   {"BR", "São Paulo", -23.5475, -46.6361, 20},
		amsterdamHome: {"NL", "Amsterdam", 52.3600, 4.8800, 20},
		singaporeDC:   {"SG", "Singapore", 1.2897, 103.8501, 20},
	}
	for _, r := range cloudRanges {
		ranges[r] = westEurope
	}
	for _, r := range microsoftRanges {
		ranges[r] = westEurope
	}
	for _, prefix := range sortedKeys(ranges) {
		if err := insert(prefix+".0/24", ranges[prefix]); err != nil {
			return fmt.Errorf("simulate: geoip: %w", err)
		}
	}
	for _, o := range e.offices {
		p, ok := sitePlaces[o.name]
		if !ok {
			continue
		}
		for _, ip := range o.ips {
			if err := insert(e.ips[ip]+"/32", p); err != nil {
				return fmt.Errorf("simulate: geoip: %w", err)
			}
		}
	}
	if _, err := tree.WriteTo(w); err != nil {
		return fmt.Errorf("simulate: geoip: %w", err)
	}
	return nil
}

func cityRecord(p place) mmdbtype.Map {
	m := mmdbtype.Map{
		"country": mmdbtype.Map{"iso_code": mmdbtype.String(p.iso)},
		"location": mmdbtype.Map{
			"accuracy_radius": mmdbtype.Uint16(p.radius),
			"latitude":        mmdbtype.Float64(p.lat),
			"longitude":       mmdbtype.Float64(p.lon),
		},
		"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(p.iso)},
	}
	if p.city != "" {
		m["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(p.city)}}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// VPNRanges are the organisations' VPN egress ranges (CIDRs), which a
// deployment lists in armBehaviour.exceptRanges.
func (e *Estate) VPNRanges() []string { return []string{vpnRange + ".0/24"} }
