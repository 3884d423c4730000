package azops

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/event"
)

var (
	errBadCounts   = errors.New("counts out of range")
	errTooManyRecs = errors.New("more evidence records than counted")
	errNoRecs      = errors.New("counted records without evidence")
)

// MaxOps is the most distinct operation names an accumulator lists.
const MaxOps = 32

// maxListed is the most distinct addresses or countries a detail lists.
const maxListed = 5

// Acc accumulates the records one candidate stands for: counts, time range,
// distinct operations and the first records as evidence (capped).
type Acc struct {
	Count  int       `json:"count,omitempty"`
	Failed int       `json:"failed,omitempty"`
	Denied int       `json:"denied,omitempty"`
	First  time.Time `json:"first,omitzero"`
	Last   time.Time `json:"last,omitzero"`
	Ops    []string  `json:"ops,omitempty"`
	// Recs are the first records, kept as evidence (at most the cap given to Add).
	Recs []Rec `json:"recs,omitempty"`
	// Raise is set by the detection when the activity warrants a severity
	// one step above the catalogue's (e.g. the address is also blocklisted).
	Raise bool `json:"raise,omitempty"`
}

// Add counts r and keeps it as evidence while fewer than maxEvidence are kept.
func (a *Acc) Add(r *Rec, maxEvidence int) {
	if a.Count == 0 || r.Time.Before(a.First) {
		a.First = r.Time
	}
	if r.Time.After(a.Last) {
		a.Last = r.Time
	}
	a.Count++
	if r.Failed() {
		a.Failed++
	}
	if r.Denied() {
		a.Denied++
	}
	if len(a.Ops) < MaxOps && !slices.Contains(a.Ops, r.Operation) {
		a.Ops = append(a.Ops, r.Operation)
	}
	if len(a.Recs) < maxEvidence {
		// Sharing r's slices is safe: Fill gives every record fresh ones
		// and nothing writes to them afterwards.
		a.Recs = append(a.Recs, *r)
		a.Recs[len(a.Recs)-1].Body = "" // evidence needs no request body
	}
}

// Reset empties the accumulator, keeping its capacity.
func (a *Acc) Reset() {
	clear(a.Recs)
	*a = Acc{Ops: a.Ops[:0], Recs: a.Recs[:0]}
}

// Check validates an accumulator read back from a snapshot.
func (a *Acc) Check() error {
	if a.Count < 0 || a.Failed < 0 || a.Denied < 0 || a.Failed > a.Count || a.Denied > a.Count {
		return errBadCounts
	}
	if len(a.Recs) > a.Count {
		return errTooManyRecs
	}
	if a.Count > 0 && len(a.Recs) == 0 {
		return errNoRecs
	}
	return nil
}

// Candidate fills what every candidate carries from the accumulated records:
// type, time range, count, tenant and subscription, evidence, the caller's
// account (role "compromised") and address entities (ipRole), and the
// details caller, callerIp, country, operations, count, failed, denied,
// firstTime, lastTime and intelSource. The detection adds its resource,
// its own details, severity and fingerprint.
func (a *Acc) Candidate(typ, ipRole string) alert.Candidate {
	c := alert.Candidate{
		Type:  typ,
		Time:  a.Last,
		First: a.First,
		Last:  a.Last,
		Count: max(a.Count, 1),
	}
	c.Evidence = make([]alert.Evidence, len(a.Recs))
	var ips, countries, intel []string
	for i := range a.Recs {
		r := &a.Recs[i]
		c.Evidence[i] = r.Evidence()
		if c.TenantID == "" {
			c.TenantID = r.TenantID
			if c.TenantID == "" {
				c.TenantID = r.Caller.TenantID
			}
		}
		if c.SubscriptionID == "" {
			c.SubscriptionID = r.Subscription()
		}
		if ip := r.IP(); ip != "" && len(ips) < maxListed && !slices.Contains(ips, ip) {
			ips = append(ips, ip)
			if e, ok := r.IPEntity(ipRole); ok {
				c.Entities = append(c.Entities, e)
			}
		}
		if cc := r.Geo.Country; cc != "" && len(countries) < maxListed && !slices.Contains(countries, cc) {
			countries = append(countries, cc)
		}
		for _, s := range IntelStrings(r.Intel) {
			if !slices.Contains(intel, s) {
				intel = append(intel, s)
			}
		}
	}
	var caller string
	if len(a.Recs) > 0 {
		r := &a.Recs[0]
		caller = r.Caller.Label()
		if e, ok := AccountEntity(&r.Caller, "compromised"); ok {
			c.Entities = append([]alert.Entity{e}, c.Entities...)
		}
	}
	ops := slices.Clone(a.Ops)
	slices.Sort(ops)
	c.Details = map[string]string{
		"caller":      caller,
		"callerIp":    strings.Join(ips, ", "),
		"country":     strings.Join(countries, ", "),
		"operations":  strings.Join(ops, ", "),
		"count":       strconv.Itoa(c.Count),
		"failed":      strconv.Itoa(a.Failed),
		"denied":      strconv.Itoa(a.Denied),
		"firstTime":   FormatTime(a.First),
		"lastTime":    FormatTime(a.Last),
		"intelSource": strings.Join(intel, "; "),
	}
	return c
}

// MatchHits reports whether any hit has one of the categories and, when the
// list scores its entries (Score > 0), a score of at least minScore.
// Unscored lists (Tor exits, curated C2 lists) match on category alone.
func MatchHits(hits []event.IntelHit, categories []string, minScore int) bool {
	for i := range hits {
		h := &hits[i]
		if h.Score > 0 && h.Score < minScore {
			continue
		}
		for _, c := range categories {
			if h.Category == c {
				return true
			}
		}
	}
	return false
}

// Clone returns a copy of a that shares no slice with it.
func (a Acc) Clone() Acc {
	a.Ops = slices.Clone(a.Ops)
	a.Recs = slices.Clone(a.Recs)
	return a
}
