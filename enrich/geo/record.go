package geo

import (
	"fmt"
	"math"

	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"

	"github.com/vigil-security/vigil/event"
)

// record is what Vigil reads from one mmdb data record. It understands two
// layouts, field by field, so one file may hold both city and ASN data:
//
//   - MaxMind GeoIP2/GeoLite2: country.iso_code, registered_country.iso_code,
//     city.names.en, location.latitude, location.longitude, and
//     autonomous_system_number / autonomous_system_organization at the top
//     level (ASN databases) or under traits (Enterprise, Insights, DB-IP).
//   - ip-location-db: country_code, city (a plain string), latitude,
//     longitude, autonomous_system_number, autonomous_system_organization.
//
// Every other field is skipped without being decoded.
type record struct {
	country     string // country.iso_code
	registered  string // registered_country.iso_code
	countryCode string // country_code (ip-location-db)
	city        string
	lat, lon    float64
	hasLat      bool
	hasLon      bool
	accuracy    uint16 // location.accuracy_radius, km
	asn         uint32
	asOrg       string
}

// geo converts the decoded fields to an event.Geo.
func (r *record) geo() event.Geo {
	g := event.Geo{City: r.city, ASN: r.asn, ASOrg: r.asOrg}
	switch {
	case r.country != "":
		g.Country = r.country
	case r.countryCode != "":
		g.Country = r.countryCode
	default:
		g.Country = r.registered
	}
	if r.hasLat && r.hasLon && math.Abs(r.lat) <= 90 && math.Abs(r.lon) <= 180 {
		g.Lat, g.Lon, g.HasLocation = r.lat, r.lon, true
		g.AccuracyKm = r.accuracy
	}
	return g
}

// UnmarshalMaxMindDBCursor decodes the top-level map of a data record.
func (r *record) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return eachField(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		switch string(key) {
		case "country":
			return subField(v, "iso_code", &r.country)
		case "registered_country":
			return subField(v, "iso_code", &r.registered)
		case "country_code":
			return readString(v, &r.countryCode)
		case "city":
			return r.readCity(v)
		case "location":
			return r.readLatLon(v)
		case "latitude":
			return readFloat(v, &r.lat, &r.hasLat)
		case "longitude":
			return readFloat(v, &r.lon, &r.hasLon)
		case "autonomous_system_number":
			return readASN(v, &r.asn)
		case "autonomous_system_organization":
			return readString(v, &r.asOrg)
		case "traits":
			return r.readTraits(v)
		default:
			return v.Skip()
		}
	})
}

// readCity reads city.names.en (MaxMind) or a plain city string
// (ip-location-db).
func (r *record) readCity(v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	kind, err := v.Kind()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	if kind == mmdbdata.KindString {
		return readString(v, &r.city)
	}
	return eachField(v, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		if string(key) == "names" {
			return subField(v, "en", &r.city)
		}
		return v.Skip()
	})
}

// readLatLon reads location.latitude, location.longitude and
// location.accuracy_radius.
func (r *record) readLatLon(v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return eachField(v, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		switch string(key) {
		case "latitude":
			return readFloat(v, &r.lat, &r.hasLat)
		case "longitude":
			return readFloat(v, &r.lon, &r.hasLon)
		case "accuracy_radius":
			return readRadius(v, &r.accuracy)
		default:
			return v.Skip()
		}
	})
}

// readRadius reads location.accuracy_radius (kilometres, a uint16 in
// MaxMind's databases), saturating what does not fit.
func readRadius(c mmdbdata.Cursor, dst *uint16) (mmdbdata.Cursor, error) {
	n, next, err := c.ReadUint()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[uint16](err)
	}
	*dst = uint16(min(n, math.MaxUint16))
	return next, nil
}

// readTraits reads the ASN fields kept under traits.
func (r *record) readTraits(v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return eachField(v, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		switch string(key) {
		case "autonomous_system_number":
			if r.asn != 0 {
				return v.Skip()
			}
			return readASN(v, &r.asn)
		case "autonomous_system_organization":
			if r.asOrg != "" {
				return v.Skip()
			}
			return readString(v, &r.asOrg)
		default:
			return v.Skip()
		}
	})
}

// eachField calls fn for every key of the map at c, which must return the
// cursor after the value it was given.
func eachField(c mmdbdata.Cursor, fn func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error)) (mmdbdata.Cursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[record](err)
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		next, err = fn(key, v)
		if err != nil {
			return mmdbdata.Cursor{}, fmt.Errorf("field %q: %w", key, err)
		}
	}
	return m.End()
}

// subField reads the string at key of the map at c into dst.
func subField(c mmdbdata.Cursor, key string, dst *string) (mmdbdata.Cursor, error) {
	return eachField(c, func(k []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		if string(k) == key {
			return readString(v, dst)
		}
		return v.Skip()
	})
}

func readString(c mmdbdata.Cursor, dst *string) (mmdbdata.Cursor, error) {
	s, next, err := c.ReadString()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[string](err)
	}
	*dst = s
	return next, nil
}

func readFloat(c mmdbdata.Cursor, dst *float64, has *bool) (mmdbdata.Cursor, error) {
	f, next, err := c.ReadFloat()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[float64](err)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return mmdbdata.Cursor{}, fmt.Errorf("coordinate %v is not a finite number", f)
	}
	*dst, *has = f, true
	return next, nil
}

func readASN(c mmdbdata.Cursor, dst *uint32) (mmdbdata.Cursor, error) {
	n, next, err := c.ReadUint()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[uint32](err)
	}
	if n > math.MaxUint32 {
		return mmdbdata.Cursor{}, fmt.Errorf("AS number %d does not fit in 32 bits", n)
	}
	*dst = uint32(n)
	return next, nil
}
