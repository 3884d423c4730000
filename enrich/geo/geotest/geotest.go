// Package geotest writes small MaxMind DB (mmdb) files for tests, with
// github.com/maxmind/mmdbwriter, in the layouts package geo reads.
//
// Use documentation networks (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
// 2001:db8::/32) and documentation AS numbers (64496-64511) so that test
// data never describes a real network.
package geotest

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Network is one network and its data record.
type Network struct {
	CIDR   string
	Record mmdbtype.Map
}

// Build writes an mmdb database with the given ip_version (4 or 6) and
// database_type and returns its bytes. Reserved networks are allowed.
func Build(tb testing.TB, ipVersion int, dbType string, nets []Network) []byte {
	tb.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		IPVersion:               ipVersion,
		RecordSize:              24,
		IncludeReservedNetworks: true,
		Description:             map[string]string{"en": "vigil test fixture"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range nets {
		_, ipnet, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			tb.Fatal(err)
		}
		if err := tree.Insert(ipnet, n.Record); err != nil {
			tb.Fatalf("geotest: insert %s: %v", n.CIDR, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// WriteFile builds a database as Build does and writes it to dir/name,
// returning the path.
func WriteFile(tb testing.TB, dir, name string, ipVersion int, dbType string, nets []Network) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, Build(tb, ipVersion, dbType, nets), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// City returns a record in the layout of MaxMind's GeoIP2/GeoLite2 City
// database: country.iso_code, city.names.en, location.latitude and
// location.longitude, with registered_country and a few fields readers skip
// (geoname_id, other languages, accuracy_radius, time_zone, subdivisions).
// An empty city leaves the city map out.
func City(iso, city string, lat, lon float64) mmdbtype.Map {
	m := mmdbtype.Map{
		"continent": mmdbtype.Map{"code": mmdbtype.String("EU"), "geoname_id": mmdbtype.Uint32(6255148)},
		"country": mmdbtype.Map{
			"geoname_id": mmdbtype.Uint32(1),
			"iso_code":   mmdbtype.String(iso),
			"names":      mmdbtype.Map{"en": mmdbtype.String(iso)},
		},
		"location": mmdbtype.Map{
			"accuracy_radius": mmdbtype.Uint16(20),
			"latitude":        mmdbtype.Float64(lat),
			"longitude":       mmdbtype.Float64(lon),
			"time_zone":       mmdbtype.String("Etc/UTC"),
		},
		"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(iso)},
		"subdivisions": mmdbtype.Slice{
			mmdbtype.Map{"iso_code": mmdbtype.String("XX"), "names": mmdbtype.Map{"en": mmdbtype.String("Region")}},
		},
	}
	if city != "" {
		m["city"] = mmdbtype.Map{
			"geoname_id": mmdbtype.Uint32(2),
			"names":      mmdbtype.Map{"de": mmdbtype.String(city), "en": mmdbtype.String(city)},
		}
	}
	return m
}

// ASN returns a record in the layout of MaxMind's GeoLite2 ASN database
// (also used by ip-location-db's asn mmdb files).
func ASN(number uint32, org string) mmdbtype.Map {
	return mmdbtype.Map{
		"autonomous_system_number":       mmdbtype.Uint32(number),
		"autonomous_system_organization": mmdbtype.String(org),
	}
}
