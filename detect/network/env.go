package network

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/baseline"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// sweepEvery is how much event time passes between two sweeps over every
// key (closing episodes, dropping stale targets and idle keys). Nothing a
// sweep does depends on when it runs: a flow arriving for an episode that
// has ended closes it first.
const sweepEvery = time.Minute

// maxListed is the most remote addresses a detail lists; maxEntities the
// most a candidate names as ip entities (every attacker of a botnet, up
// to it).
const (
	maxListed   = 5
	maxEntities = 100
)

const hourNs = int64(time.Hour)

// env is what the network detectors share: the normalised configuration,
// attribution, intelligence, the parsed address sets and the counters.
type env struct {
	cfg     Config
	attr    Attributor
	intel   Intel
	trusted *bart.Lite
	pools   *bart.Lite
	stats   counters
}

func newEnv(cfg Config, attr Attributor, intel Intel) *env {
	cfg = normalise(cfg)
	e := &env{cfg: cfg, attr: attr, intel: intel}
	// Validate reports bad entries; here they are skipped.
	e.trusted = lenientSet(cfg.TrustedNetworks)
	e.pools = lenientSet(cfg.CryptoMining.Pools)
	return e
}

func lenientSet(list []string) *bart.Lite {
	var set *bart.Lite
	for _, s := range list {
		if p, err := parsePrefix(s); err == nil {
			if set == nil {
				set = new(bart.Lite)
			}
			set.Insert(p)
		}
	}
	return set
}

func (e *env) isTrusted(a netip.Addr) bool { return e.trusted != nil && e.trusted.Lookup(a) }

func (e *env) ours(a netip.Addr, t time.Time) bool {
	_, _, ok := e.attr.Attribute(a, t)
	return ok
}

func (e *env) lookup(a netip.Addr) []event.IntelHit {
	if e.intel == nil {
		return nil
	}
	return e.intel.Lookup(a)
}

// newRate returns a baseline, or nil when baselines are off.
func (e *env) newRate() *baseline.Rate {
	if !e.cfg.Baseline.Enabled {
		return nil
	}
	return baseline.NewRate(baseline.RateConfig{MinWeeks: e.cfg.Baseline.MinWeeks})
}

// bound is the baseline's floor for a count over window at t: (Expected +
// MinZ x Spread) x window / 1h once the hour of the week has enough
// history, else 0. expected is the usual hourly count (0 when unknown).
func (e *env) bound(r *baseline.Rate, t time.Time, window time.Duration) (floor, expected float64) {
	if r == nil {
		return 0, 0
	}
	s := r.Score(t, 0)
	if !s.Enough {
		return 0, 0
	}
	return (s.Expected + e.cfg.Baseline.MinZ*s.Spread) * window.Hours(), s.Expected
}

// Stats counts what the network detectors saw since they were made.
type Stats struct {
	// Flows is every record with two addresses (the outbound detector sees
	// them all); Outgoing those from an address of ours, Incoming those from
	// an address not ours to one of ours, Unattributed those where neither
	// side was ours at the flow's time: counted and ignored.
	Flows, Outgoing, Incoming, Unattributed uint64
	// Trusted and Internal are records a detection skipped because the
	// remote side was in TrustedNetworks or was ours too (counted by each
	// detection that skipped it: inbound and outbound may both).
	Trusted, Internal uint64
	// Overflow counts records of remote addresses not followed because an
	// address of ours already had MaxPeers of them.
	Overflow uint64
	// Candidates is how many candidates the detectors emitted.
	Candidates uint64
	// UnrecommendedOverVolume counts windows of an address of ours that
	// answered more than UnrecommendedIP.MaxFlows flows from listed
	// addresses, so raised no alert.
	UnrecommendedOverVolume uint64
}

type counters struct {
	flows, outgoing, incoming, unattributed, trusted, internal, overflow, candidates, unrecOver atomic.Uint64
}

// local is a shard's share of the counters, flushed on Advance so the hot
// path touches no shared cache line.
type local struct {
	flows, outgoing, incoming, unattributed, trusted, internal, overflow, unrecOver uint64
	out                                                                             counting
}

// to returns the shard's counting emitter, pointed at emit.
func (l *local) to(emit detect.Emitter) *counting {
	l.out.emit = emit
	return &l.out
}

func (l *local) flush(c *counters) {
	for _, p := range []struct {
		n *uint64
		c *atomic.Uint64
	}{{&l.flows, &c.flows}, {&l.outgoing, &c.outgoing}, {&l.incoming, &c.incoming}, {&l.unattributed, &c.unattributed},
		{&l.trusted, &c.trusted}, {&l.internal, &c.internal}, {&l.overflow, &c.overflow}, {&l.out.n, &c.candidates},
		{&l.unrecOver, &c.unrecOver}} {
		if *p.n != 0 {
			p.c.Add(*p.n)
			*p.n = 0
		}
	}
}

// counting emits candidates and counts them. A shard keeps one and points
// it at the engine's emitter on every call, so passing it allocates nothing.
type counting struct {
	emit detect.Emitter
	n    uint64
}

// Emit implements detect.Emitter.
func (c *counting) Emit(cand alert.Candidate) {
	c.n++
	c.emit.Emit(cand)
}

type statser interface{ envOf() *env }

// StatsOf sums the counters of the network detectors among dets (the
// detectors of one Detectors call share them). Counts are complete up to
// the engine's last Advance.
func StatsOf(dets []detect.Detector) Stats {
	for _, d := range dets {
		if s, ok := d.(statser); ok {
			c := &s.envOf().stats
			return Stats{
				Flows: c.flows.Load(), Outgoing: c.outgoing.Load(), Incoming: c.incoming.Load(),
				Unattributed: c.unattributed.Load(), Trusted: c.trusted.Load(), Internal: c.internal.Load(),
				Overflow: c.overflow.Load(), Candidates: c.candidates.Load(), UnrecommendedOverVolume: c.unrecOver.Load(),
			}
		}
	}
	return Stats{}
}

// owner is the address of ours a key's state belongs to, and the resource
// that held it. When another resource takes the address over, the state
// starts again for it.
type owner struct {
	Addr         netip.Addr `json:"addr"`
	Resource     string     `json:"resource"`
	Subscription string     `json:"subscription,omitempty"`
}

// lastSegment returns the resource's name: the last segment of its ID.
func lastSegment(id string) string {
	id = strings.TrimRight(id, "/")
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// candidate starts a candidate about our address: the resource and host
// entities (role ourRole), the remote addresses (role remoteRole, with
// location and the intelligence sources naming them), the evidence, and
// the details every network candidate carries (see the package
// documentation).
func (e *env) candidate(typ string, o *owner, ourRole, remoteRole string, remotes []netip.Addr,
	recs []flowRec, first, last int64, count uint64) alert.Candidate {
	ev := make([]alert.Evidence, 0, len(recs))
	geo := map[netip.Addr]*flowRec{}
	for i := range recs {
		r := &recs[i]
		remote := r.Dst
		if remote == o.Addr {
			remote = r.Src
		}
		ev = append(ev, r.evidence(o.Resource, remote))
		geo[remote] = r
		first = min(first, r.End)
		last = max(last, r.End)
	}
	name := lastSegment(o.Resource)
	c := alert.Candidate{
		Type:           typ,
		Time:           time.Unix(0, last).UTC(),
		First:          time.Unix(0, first).UTC(),
		Last:           time.Unix(0, last).UTC(),
		SubscriptionID: o.Subscription,
		Resource:       o.Resource,
		Count:          int(min(max(count, uint64(len(ev)), 1), math.MaxInt32)),
		Evidence:       ev,
		Entities: []alert.Entity{
			{Type: alert.EntityAzureResource, Role: ourRole, ResourceID: o.Resource, Name: name},
			{Type: alert.EntityHost, Role: ourRole, Name: name, ResourceID: o.Resource, Address: o.Addr.String()},
		},
	}
	var addrs, intel, countries []string
	for i, a := range remotes {
		if i >= maxEntities {
			break
		}
		if len(addrs) < maxListed {
			addrs = append(addrs, a.String())
		}
		ent := alert.Entity{Type: alert.EntityIP, Role: remoteRole, Address: a.String(), Intel: intelStrings(e.lookup(a))}
		if r := geo[a]; r != nil {
			ent.Country, ent.ASN, ent.ASOrg = r.Country, r.ASN, r.ASOrg
			if r.Country != "" && !slices.Contains(countries, r.Country) {
				countries = append(countries, r.Country)
			}
		}
		for _, s := range ent.Intel {
			if !slices.Contains(intel, s) {
				intel = append(intel, s)
			}
		}
		c.Entities = append(c.Entities, ent)
	}
	c.Details = map[string]string{
		"resource":     o.Resource,
		"host":         name,
		"subscription": o.Subscription,
		"ourIp":        o.Addr.String(),
		"addresses":    strings.Join(addrs, ", "),
		"country":      strings.Join(countries, ", "),
		"intelSource":  strings.Join(intel, "; "),
		"firstTime":    formatTime(c.First.UnixNano()),
		"lastTime":     formatTime(c.Last.UnixNano()),
		"sampling":     "",
	}
	for i := range recs {
		if recs[i].Rate > 1 {
			c.Details["sampling"] = "1-in-" + formatCount(float64(recs[i].Rate))
		}
	}
	return c
}
