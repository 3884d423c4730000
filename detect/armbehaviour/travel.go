package armbehaviour

import (
	"github.com/vigil-security/vigil/event"
	"math"
	"strconv"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
)

// placeOf names a location: country and city, and the coordinates rounded
// to a tenth of a degree (which tell places apart when the database names
// no city). Strings are shared with the record: no allocation.
func placeOf(r *azops.Rec) place {
	g := &r.Geo
	return place{Country: g.Country, City: g.City, Lat: int32(math.Round(g.Lat * 10)), Lon: int32(math.Round(g.Lon * 10))}
}

// same reports whether p is the place q (days aside).
func (p *place) same(q *place) bool {
	if p.Country != q.Country || p.City != q.City {
		return false
	}
	return p.City != "" || (p.Lat == q.Lat && p.Lon == q.Lon)
}

// known reports whether the user was at the place on MinKnownDays days
// before today.
func (d *principal) known(s *pState, at *place) bool {
	for i := range s.Places {
		if s.Places[i].same(at) {
			return s.Places[i].Days >= d.cfg.ImpossibleTravel.MinKnownDays
		}
	}
	return false
}

// visit counts today at the place (the least recently seen place gives
// way when the list is full).
func (s *pState) visit(at place, day int64) {
	oldest := -1
	for i := range s.Places {
		p := &s.Places[i]
		if p.same(&at) {
			if p.LastDay != day {
				p.Days++
				p.LastDay = day
			}
			return
		}
		if oldest < 0 || p.LastDay < s.Places[oldest].LastDay {
			oldest = i
		}
	}
	at.Days, at.LastDay = 1, day
	if len(s.Places) >= maxPlaces {
		s.Places[oldest] = at
		return
	}
	s.Places = append(s.Places, at)
}

// travel compares a user's located operation with the one before it.
// Operations from the organisation's VPN and egress ranges, and from
// addresses the databases cannot place, are left out.
func (d *principal) travel(key string, s *pState, r *azops.Rec, learned bool, emit detect.Emitter) {
	if !d.locatable(&r.Caller, &r.Geo, r.CallerIP) {
		return
	}
	pk := placeOf(r)
	if prev := s.Loc; prev != nil && learned && !r.Time.Before(prev.Time) {
		dist, speed, ok := d.impossible(prev, r)
		if pp := placeOf(prev); ok && !(d.known(s, &pk) && d.known(s, &pp)) {
			emit.Emit(d.travelCandidate(key, prev, r, dist, speed))
		}
	}
	s.visit(pk, dayOf(r.Time))
	switch {
	case s.Loc == nil:
		loc := *r
		loc.Body = ""
		s.Loc = &loc
	case !r.Time.Before(s.Loc.Time):
		*s.Loc = *r // reuse the memory: one allocation per user, not per operation
		s.Loc.Body = ""
	}
}

// impossible returns the distance between a and b beyond their accuracy
// radii, the speed it needs, and whether that is impossible travel.
func (d *principal) impossible(a, b *azops.Rec) (distKm, speedKmh float64, ok bool) {
	it := &d.cfg.ImpossibleTravel
	raw := distanceKm(a.Geo.Lat, a.Geo.Lon, b.Geo.Lat, b.Geo.Lon)
	distKm = max(0, raw-float64(a.Geo.AccuracyKm)-float64(b.Geo.AccuracyKm))
	if distKm < it.MinDistanceKm || distKm == 0 {
		return distKm, 0, false
	}
	hours := b.Time.Sub(a.Time).Hours()
	if hours <= 0 {
		return distKm, math.Inf(1), true
	}
	speedKmh = distKm / hours
	return distKm, speedKmh, speedKmh > it.MaxSpeedKmh
}

func (d *principal) travelCandidate(key string, a, b *azops.Rec, dist, speed float64) alert.Candidate {
	var acc azops.Acc
	acc.Add(a, 2)
	acc.Add(b, 2)
	c := acc.Candidate(TypeImpossibleTravel, "related")
	base(&c, b)
	c.FingerprintKeys = []string{key, a.Geo.Country, b.Geo.Country}
	c.Details["fromIp"] = a.IP()
	c.Details["fromCountry"] = a.Geo.Country
	c.Details["fromCity"] = a.Geo.City
	c.Details["fromTime"] = azops.FormatTime(a.Time)
	c.Details["toIp"] = b.IP()
	c.Details["toCountry"] = b.Geo.Country
	c.Details["toCity"] = b.Geo.City
	c.Details["toTime"] = azops.FormatTime(b.Time)
	c.Details["distanceKm"] = strconv.Itoa(int(math.Round(dist)))
	c.Details["minutes"] = strconv.Itoa(int(b.Time.Sub(a.Time) / time.Minute))
	c.Details["speedKmh"] = "∞"
	if !math.IsInf(speed, 1) {
		c.Details["speedKmh"] = strconv.Itoa(int(math.Round(speed)))
	}
	c.Details["maxSpeedKmh"] = strconv.Itoa(int(d.cfg.ImpossibleTravel.MaxSpeedKmh))
	// Where the two places are, for a map (the dashboard draws one).
	for _, p := range []struct {
		prefix string
		geo    *event.Geo
	}{{"from", &a.Geo}, {"to", &b.Geo}} {
		if p.geo.HasLocation {
			c.Details[p.prefix+"Lat"] = strconv.FormatFloat(p.geo.Lat, 'f', 4, 64)
			c.Details[p.prefix+"Lon"] = strconv.FormatFloat(p.geo.Lon, 'f', 4, 64)
		}
	}
	return c
}
