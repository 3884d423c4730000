package network

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// intelDetector is network-intel: flows from an address of ours to one
// named by intelligence (C2, mining pool), in Pools, or on a stratum port,
// keyed by our (source) address.
type intelDetector struct {
	env   *env
	c2    bool
	min   bool // crypto mining
	unrec bool // traffic from unrecommended addresses
}

func newIntelDetector(e *env) *intelDetector {
	return &intelDetector{env: e, c2: e.cfg.C2.Enabled, min: e.cfg.CryptoMining.Enabled, unrec: e.cfg.UnrecommendedIP.Enabled}
}

func (d *intelDetector) envOf() *env { return d.env }

// Name implements detect.Detector.
func (d *intelDetector) Name() string { return NameIntel }

// Consumes implements detect.Detector: flows only.
func (d *intelDetector) Consumes(k event.Kind) bool { return k == event.KindFlow }

// PartitionKey implements detect.Detector: operations are not for it.
func (d *intelDetector) PartitionKey(*event.Op) (string, bool) { return "", false }

// what a destination is, as a bit set.
const (
	isC2 = 1 << iota
	isPool
	isStratum
	isUnrec
)

// match says what the destination of f is for this detector, looking its
// address up once.
func (d *intelDetector) match(f *event.Flow) (m int, hits []event.IntelHit) {
	dst := f.DstAddr.Unmap()
	hits = d.env.lookup(dst)
	cfg := &d.env.cfg
	if d.c2 && matchHits(hits, cfg.C2.Categories, cfg.C2.MinScore) {
		m |= isC2
	}
	if d.unrec && matchHits(hits, cfg.UnrecommendedIP.Categories, cfg.UnrecommendedIP.MinScore) {
		m |= isUnrec
	}
	if d.min {
		if matchHits(hits, cfg.CryptoMining.Categories, 0) || (d.env.pools != nil && d.env.pools.Lookup(dst)) {
			m |= isPool
		}
		if f.Protocol == protoTCP && slices.Contains(cfg.CryptoMining.StratumPorts, f.DstPort) {
			m |= isStratum
		}
	}
	return m, hits
}

// matchHits reports whether a hit has one of the categories and, for a
// scored list, at least minScore.
func matchHits(hits []event.IntelHit, categories []string, minScore int) bool {
	for i := range hits {
		h := &hits[i]
		if h.Score > 0 && h.Score < minScore {
			continue
		}
		if slices.Contains(categories, h.Category) {
			return true
		}
	}
	return false
}

// FlowKey implements detect.FlowDetector.
func (d *intelDetector) FlowKey(f *event.Flow) (uint64, bool) {
	if !f.SrcAddr.IsValid() || !f.DstAddr.IsValid() {
		return 0, false
	}
	if m, _ := d.match(f); m == 0 {
		return 0, false
	}
	return addrKey(f.SrcAddr), true
}

// NewShard implements detect.Detector.
func (d *intelDetector) NewShard() detect.Shard {
	return &intelShard{d: d, states: make(map[uint64]*intelState)}
}

// intelState is the state of one address of ours.
type intelState struct {
	owner
	Last int64 `json:"last"`
	// C2 holds one entry per listed address talked to (at most MaxPeers).
	C2 []c2Peer `json:"c2,omitempty"`
	// Mining is the crypto-mining episode and what it saw.
	Mining miningState `json:"mining"`
	// Unrec is the current window of traffic answered to unrecommended
	// addresses.
	Unrec *unrecState `json:"unrec,omitempty"`
}

type c2Peer struct {
	Addr netip.Addr `json:"addr"`
	Ep   episode    `json:"ep"`
	Rec  flowRec    `json:"rec"`
}

// maxPools is the most pools (and stratum endpoints) one address's mining
// state lists.
const maxPools = 16

type miningState struct {
	Ep episode `json:"ep"`
	// Pools seen in the episode: addresses with their trigger and records.
	Pools []poolSeen `json:"pools,omitempty"`
	// Stratum follows connections to stratum ports of unlisted addresses.
	Stratum []poolSeen `json:"stratum,omitempty"`
	Recent  recRing    `json:"recent"`
}

// poolSeen is one pool endpoint and the connection to it.
type poolSeen struct {
	Addr  netip.Addr `json:"addr"`
	Port  uint16     `json:"port"`
	Pool  bool       `json:"pool,omitempty"` // listed (else: stratum port only)
	First int64      `json:"first"`
	Flows uint32     `json:"flows"`
	Dur   int64      `json:"dur,omitempty"` // connection time, ns
}

type intelShard struct {
	d         *intelDetector
	states    map[uint64]*intelState
	n         local
	nextSweep int64
}

// ProcessFlow implements detect.FlowShard.
func (sh *intelShard) ProcessFlow(f *event.Flow, key uint64, emit detect.Emitter) {
	e := sh.d.env
	our, peer := f.SrcAddr.Unmap(), f.DstAddr.Unmap()
	res, sub, ok := e.attr.Attribute(our, f.End)
	if !ok || !sends(f) {
		return
	}
	if !e.cfg.IncludeInternal && e.ours(peer, f.End) {
		sh.n.internal++
		return
	}
	m, _ := sh.d.match(f)
	if m&isStratum != 0 && m&(isC2|isPool) == 0 && !established(f) {
		return
	}
	st := sh.states[key]
	switch {
	case st == nil:
		st = &intelState{owner: owner{Addr: our, Resource: res, Subscription: sub}}
		sh.states[key] = st
	case st.Addr != our:
		return
	case st.Resource != res || st.Subscription != sub:
		*st = intelState{owner: owner{Addr: our, Resource: res, Subscription: sub}}
	}
	t := f.End.UnixNano()
	st.Last = max(st.Last, t)
	out := sh.n.to(emit)
	opened := initiated(f)
	if m&isC2 != 0 && opened {
		sh.c2(st, f, peer, t, out)
	}
	if m&isUnrec != 0 && !opened {
		sh.unrec(st, f, peer, t, out)
	}
	if m&(isPool|isStratum) != 0 && opened { // a miner connects to its pool
		sh.mining(st, f, peer, m, t, out)
	}
}

func (sh *intelShard) c2(st *intelState, f *event.Flow, peer netip.Addr, t int64, emit detect.Emitter) {
	e := sh.d.env
	i := slices.IndexFunc(st.C2, func(p c2Peer) bool { return p.Addr == peer })
	if i >= 0 && st.C2[i].Ep.due(t) {
		sh.closeC2(st, i, emit)
		i = -1
	}
	if i < 0 {
		if len(st.C2) >= e.cfg.MaxPeers {
			sh.n.overflow++
			return
		}
		st.C2 = append(st.C2, c2Peer{Addr: peer})
		i = len(st.C2) - 1
	}
	p := &st.C2[i]
	setRec(&p.Rec, f, reasonNone)
	if p.Ep.active(t) {
		p.Ep.add(t, 1)
		return
	}
	c := sh.c2Candidate(st, p, []flowRec{p.Rec}, t, t, 1)
	c.Details["flows"] = "1"
	emit.Emit(c)
	p.Ep.open(t, int64(e.cfg.Mute))
}

// closeC2 emits the summary of a peer's episode and forgets the peer.
func (sh *intelShard) closeC2(st *intelState, i int, emit detect.Emitter) {
	p := st.C2[i]
	st.C2 = slices.Delete(st.C2, i, i+1)
	if p.Ep.Flows == 0 {
		return
	}
	c := sh.c2Candidate(st, &p, []flowRec{p.Rec}, p.Ep.First, p.Ep.Last, uint64(p.Ep.Flows))
	c.Details["flows"] = strconv.FormatUint(uint64(p.Ep.Flows), 10)
	c.Details["summary"] = "true"
	emit.Emit(c)
}

func (sh *intelShard) c2Candidate(st *intelState, p *c2Peer, recs []flowRec, first, last int64, count uint64) alert.Candidate {
	c := sh.d.env.candidate(TypeCommunicationWithC2, &st.owner, "compromised", "attacker", []netip.Addr{p.Addr}, recs, first, last, count)
	r := &p.Rec
	c.Details["victimIp"] = st.Addr.String()
	c.Details["remoteIp"] = p.Addr.String()
	c.Details["port"] = strconv.Itoa(int(r.DstPort))
	c.Details["protocol"] = protoName(r.Proto)
	c.FingerprintKeys = []string{st.Resource, st.Addr.String(), p.Addr.String()}
	return c
}

func (sh *intelShard) mining(st *intelState, f *event.Flow, peer netip.Addr, m int, t int64, emit detect.Emitter) {
	e := sh.d.env
	cfg := &e.cfg.CryptoMining
	ms := &st.Mining
	if ms.Ep.due(t) {
		sh.closeMining(st, emit)
	}
	var rec flowRec
	setRec(&rec, f, reasonNone)
	first := rec.Start
	if m&isPool != 0 {
		ms.Recent.push(&rec, e.cfg.MaxEvidence)
		if p := seen(&ms.Pools, peer, f.DstPort, true, t); p != nil {
			p.Flows++
		}
	} else {
		if !established(f) {
			return
		}
		s := seen(&ms.Stratum, peer, f.DstPort, false, t)
		if s == nil {
			return
		}
		ms.Recent.push(&rec, e.cfg.MaxEvidence)
		if t-s.First > int64(cfg.Window) {
			*s = poolSeen{Addr: peer, Port: f.DstPort, First: t}
		}
		s.Flows++
		s.Dur += f.End.Sub(f.Start).Nanoseconds()
		if s.Flows < uint32(cfg.MinStratumFlows) && s.Dur < int64(cfg.MinStratumDuration) {
			return
		}
		if p := seen(&ms.Pools, peer, f.DstPort, false, t); p != nil {
			p.Flows = max(p.Flows, s.Flows)
		}
		first = min(first, s.First)
	}
	if ms.Ep.active(t) {
		ms.Ep.add(t, 1)
		return
	}
	c := sh.miningCandidate(st, first, t, false)
	emit.Emit(c)
	ms.Ep.open(t, int64(e.cfg.Mute))
	ms.Pools = ms.Pools[:0]
}

// seen finds or adds the endpoint (addr, port) in list (nil when full).
func seen(list *[]poolSeen, addr netip.Addr, port uint16, pool bool, t int64) *poolSeen {
	for i := range *list {
		if p := &(*list)[i]; p.Addr == addr && p.Port == port {
			p.Pool = p.Pool || pool
			return p
		}
	}
	if len(*list) >= maxPools {
		return nil
	}
	*list = append(*list, poolSeen{Addr: addr, Port: port, Pool: pool, First: t})
	return &(*list)[len(*list)-1]
}

func (sh *intelShard) closeMining(st *intelState, emit detect.Emitter) {
	ms := &st.Mining
	ep := ms.Ep
	ms.Ep = episode{}
	if ep.Flows > 0 {
		emit.Emit(sh.miningCandidate(st, ep.First, ep.Last, true))
	}
	ms.Pools = ms.Pools[:0]
}

// miningCandidate describes the pools of the current episode (or, for the
// first candidate, those that triggered it) with Partner Center's details.
func (sh *intelShard) miningCandidate(st *intelState, first, last int64, summary bool) alert.Candidate {
	e := sh.d.env
	ms := &st.Mining
	recs := ms.Recent.pick(e.cfg.MaxEvidence, func(r *flowRec) bool { return r.End >= first && r.End <= last })
	if len(recs) == 0 && len(ms.Recent.Recs) > 0 {
		recs = ms.Recent.pick(1, func(*flowRec) bool { return true })
	}
	var addrs []netip.Addr
	var flows uint64
	listed := false
	ports := []string{}
	for _, p := range ms.Pools {
		if !slices.Contains(addrs, p.Addr) {
			addrs = append(addrs, p.Addr)
		}
		flows += uint64(p.Flows)
		listed = listed || p.Pool
		if port := strconv.Itoa(int(p.Port)); !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	if summary {
		flows = uint64(ms.Ep.Flows)
	}
	sortAddrs(addrs)
	c := e.candidate(TypeCryptoMining, &st.owner, "compromised", "related", addrs, recs, first, last, flows)
	pools := make([]string, len(addrs))
	for i, a := range addrs {
		pools[i] = a.String()
	}
	vm, _ := json.Marshal([]string{st.Addr.String()})
	mp, _ := json.Marshal(pools)
	n := strconv.Itoa(c.Count)
	c.Details["VM_IP"], c.Details["MiningPool_IP"], c.Details["ConnectionCount"] = string(vm), string(mp), n
	c.Details["port"] = strings.Join(ports, ", ")
	c.Details["window"] = formatDuration(e.cfg.CryptoMining.Window)
	if listed {
		c.Details["trigger"] = "pool list"
	} else {
		c.Details["trigger"] = "stratum port"
		c.Severity = alert.SeverityMedium
	}
	if summary {
		c.Details["summary"] = "true"
	}
	c.FingerprintKeys = []string{st.Resource, st.Addr.String()}
	return c
}

// Process implements detect.Shard: operations are not for this detector.
func (sh *intelShard) Process(*event.Op, string, detect.Emitter) {}

// Advance implements detect.Shard: every sweepEvery it closes the episodes
// that have ended, forgets stratum connections older than the window and
// drops addresses holding nothing.
func (sh *intelShard) Advance(wm time.Time, emit detect.Emitter) {
	defer sh.n.flush(&sh.d.env.stats)
	now := wm.UnixNano()
	if sh.nextSweep != 0 && now < sh.nextSweep {
		return
	}
	sh.nextSweep = now + int64(sweepEvery)
	out := sh.n.to(emit)
	window := int64(sh.d.env.cfg.CryptoMining.Window)
	for key, st := range sh.states {
		for i := 0; i < len(st.C2); {
			if !st.C2[i].Ep.active(now) {
				sh.closeC2(st, i, out)
				continue
			}
			i++
		}
		if st.Mining.Ep.due(now) {
			sh.closeMining(st, out)
		}
		st.Mining.Stratum = slices.DeleteFunc(st.Mining.Stratum, func(p poolSeen) bool { return now-p.First > window })
		if u := st.Unrec; u != nil && now >= u.Until {
			sh.closeUnrec(st, out)
		}
		if len(st.C2) == 0 && st.Mining.Ep.Until == 0 && len(st.Mining.Stratum) == 0 && st.Unrec == nil {
			delete(sh.states, key)
		}
	}
}

type intelJSON struct {
	V int `json:"v"`
	intelState
}

// Snapshot implements detect.Shard with encoding/json.
func (sh *intelShard) Snapshot(save func(key string, state []byte) error) error {
	for key, st := range sh.states {
		data, err := json.Marshal(&intelJSON{V: stateVersion, intelState: *st})
		if err != nil {
			return fmt.Errorf("encode state of key %d: %w", key, err)
		}
		if err := save(strconv.FormatUint(key, 10), data); err != nil {
			return err
		}
	}
	return nil
}

// Restore implements detect.Shard.
func (sh *intelShard) Restore(key string, state []byte) error {
	k, err := strconv.ParseUint(key, 10, 64)
	if err != nil {
		return fmt.Errorf("key %q is not a number", key)
	}
	var j intelJSON
	if err := json.Unmarshal(state, &j); err != nil {
		return fmt.Errorf("decode state of key %s: %w", key, err)
	}
	if err := checkOwner(k, j.V, &j.owner); err != nil {
		return fmt.Errorf("state of key %s: %w", key, err)
	}
	e := sh.d.env
	if len(j.C2) > e.cfg.MaxPeers || len(j.Mining.Pools) > maxPools || len(j.Mining.Stratum) > maxPools ||
		(j.Unrec != nil && len(j.Unrec.Peers) > e.cfg.MaxPeers) {
		return fmt.Errorf("state of key %s: %w", key, errTooMany)
	}
	j.Mining.Recent = trimRing(j.Mining.Recent, e.cfg.MaxEvidence)
	st := j.intelState
	sh.states[k] = &st
	return nil
}
