package armbehaviour

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// Bounds of one tenant's country state.
const (
	maxUserCountries = 16
	maxCountries     = 256
)

// tenant is ARM.MCAS_ActivityFromInfrequentCountry, keyed by the caller's
// tenant, whose users' countries are the organisation's.
type tenant struct {
	cfg    Config
	except ranges
}

func newTenant(cfg Config) *tenant {
	return &tenant{cfg: cfg, except: newRanges(cfg.ExceptRanges)}
}

func (d *tenant) Name() string                    { return NameTenant }
func (d *tenant) Consumes(k event.Kind) bool      { return k == event.KindActivity }
func (d *tenant) NewShard() detect.Shard          { return azops.NewShard[tState](d) }
func (d *tenant) Pending(s *tState) *azops.Buffer { return &s.Pending }

func (d *tenant) PartitionKey(op *event.Op) (string, bool) {
	if !isUser(&op.Caller) || op.Caller.Key() == "" || op.Geo.Country == "" || pending(op.Result) ||
		!op.CallerIP.IsValid() || d.except.contains(op.CallerIP) {
		return "", false
	}
	t := tenantOf(op)
	return t, t != ""
}

// tState is one tenant's users and countries.
type tState struct {
	Pending   azops.Buffer           `json:"pending"`
	First     time.Time              `json:"first"`
	Users     map[string]*userPlaces `json:"users,omitempty"`
	Countries map[string][]seenBy    `json:"countries,omitempty"`
	// Swept is the day (Unix) of the last expiry sweep: once a day.
	Swept int64 `json:"swept,omitempty"`
}

// userPlaces is one user's countries.
type userPlaces struct {
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	Countries []seenBy  `json:"countries,omitempty"` // Key is the country
}

// seenBy is a key (a country of a user, or a user of a country) and the
// last day it was seen.
type seenBy struct {
	Key     string `json:"k"`
	LastDay int64  `json:"d"`
}

func (d *tenant) Check(s *tState) error {
	if len(s.Users) > d.cfg.InfrequentCountry.MaxPrincipals || len(s.Countries) > maxCountries {
		return errors.New("state out of bounds")
	}
	for _, u := range s.Users {
		if u == nil || len(u.Countries) > maxUserCountries {
			return errors.New("bad user")
		}
	}
	for _, us := range s.Countries {
		if len(us) > d.cfg.InfrequentCountry.MaxOrgPrincipals+2 {
			return errors.New("bad country")
		}
	}
	return nil
}

// lookBackDays is the look-back in days.
func (d *tenant) lookBackDays() int64 { return int64(d.cfg.LookBack / (24 * time.Hour)) }

func (d *tenant) Release(_ string, s *tState, r *azops.Rec, emit detect.Emitter) {
	if s.First.IsZero() || r.Time.Before(s.First) {
		s.First = r.Time
	}
	if s.Users == nil {
		s.Users = map[string]*userPlaces{}
	}
	if s.Countries == nil {
		s.Countries = map[string][]seenBy{}
	}
	uk, cc, day := r.PrincipalKey(), r.Geo.Country, dayOf(r.Time)
	u := s.Users[uk]
	if u == nil {
		if len(s.Users) >= d.cfg.InfrequentCountry.MaxPrincipals {
			d.evictUser(s)
		}
		u = &userPlaces{First: r.Time}
		s.Users[uk] = u
	}
	recent := func(lastDay int64) bool { return day-lastDay <= d.lookBackDays() }
	i := slices.IndexFunc(u.Countries, func(x seenBy) bool { return x.Key == cc })
	if i < 0 || !recent(u.Countries[i].LastDay) {
		learned := !r.Time.Before(s.First.Add(d.cfg.Learning)) && !r.Time.Before(u.First.Add(d.cfg.Learning))
		others := 0
		for _, x := range s.Countries[cc] {
			if x.Key != uk && recent(x.LastDay) {
				others++
			}
		}
		if learned && others <= d.cfg.InfrequentCountry.MaxOrgPrincipals {
			emit.Emit(d.candidate(uk, s, u, r, others))
		}
	}
	// Remember the user's country and the country's user.
	if i >= 0 {
		u.Countries[i].LastDay = day
	} else {
		u.Countries = appendSeen(u.Countries, seenBy{Key: cc, LastDay: day}, maxUserCountries)
	}
	us := s.Countries[cc]
	if j := slices.IndexFunc(us, func(x seenBy) bool { return x.Key == uk }); j >= 0 {
		us[j].LastDay = day
	} else if _, ok := s.Countries[cc]; ok || len(s.Countries) < maxCountries {
		s.Countries[cc] = appendSeen(us, seenBy{Key: uk, LastDay: day}, d.cfg.InfrequentCountry.MaxOrgPrincipals+2)
	}
	if r.Time.After(u.Last) {
		u.Last = r.Time
	}
}

// appendSeen adds x, replacing the least recently seen entry when the list
// holds limit entries.
func appendSeen(list []seenBy, x seenBy, limit int) []seenBy {
	if len(list) < limit {
		return append(list, x)
	}
	oldest := 0
	for i := range list {
		if list[i].LastDay < list[oldest].LastDay {
			oldest = i
		}
	}
	list[oldest] = x
	return list
}

// evictUser drops the user seen least recently (a scan, only when the
// tenant holds MaxPrincipals users).
func (d *tenant) evictUser(s *tState) {
	var victim string
	var last time.Time
	for k, u := range s.Users {
		if victim == "" || u.Last.Before(last) {
			victim, last = k, u.Last
		}
	}
	delete(s.Users, victim)
}

func (d *tenant) candidate(uk string, s *tState, u *userPlaces, r *azops.Rec, others int) alert.Candidate {
	var acc azops.Acc
	acc.Add(r, 1)
	c := acc.Candidate(TypeInfrequentCountry, "related")
	base(&c, r)
	related(&c, acc.Recs)
	c.FingerprintKeys = []string{uk, r.Geo.Country}
	var usual []string
	for _, x := range u.Countries {
		usual = append(usual, x.Key)
	}
	slices.Sort(usual)
	c.Details["usualCountries"] = strings.Join(usual, ", ")
	c.Details["orgUsers"] = itoa(others)
	c.Details["lookBackDays"] = days(d.cfg.LookBack)
	c.Details["city"] = r.Geo.City
	return c
}

func (d *tenant) Tick(_ string, s *tState, watermark time.Time, _ detect.Emitter) bool {
	today := dayOf(watermark)
	if today == s.Swept {
		return false
	}
	s.Swept = today
	for k, u := range s.Users {
		if watermark.Sub(u.Last) > d.cfg.LookBack {
			delete(s.Users, k)
		}
	}
	for cc, us := range s.Countries {
		us = slices.DeleteFunc(us, func(x seenBy) bool { return today-x.LastDay > d.lookBackDays() })
		if len(us) == 0 {
			delete(s.Countries, cc)
			continue
		}
		s.Countries[cc] = us
	}
	return len(s.Users) == 0
}
