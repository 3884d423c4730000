package network

import (
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/baseline"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// incomingSeverity is the catalogue's severity of the incoming brute-force
// alerts (Defender: Medium), the base a candidate raises.
const incomingSeverity = alert.SeverityMedium

// direction says which side of a flow is ours.
type direction uint8

const (
	inbound  direction = iota + 1 // the destination is ours
	outbound                      // the source is ours
)

// service is one brute-forced service: its ports and alert types.
type service struct {
	name     string
	ports    []uint16
	oneToOne string
	many     string // ManyToOne (inbound) or OneToMany (outbound)
}

// bruteForce is network-inbound or network-outbound. Both key a flow by our
// address (the destination, the source). The outbound one sees every flow:
// it also counts the traffic (Stats) and runs PortScanning.
type bruteForce struct {
	env  *env
	dir  direction
	svcs [2]service
	bf   bool // brute force enabled in this direction
	scan bool // port scanning (outbound)
	o2o  OneToOne
	many Threshold
	// bucket widths (ns) of the OneToOne, many and port-scan windows
	shortW, longW, manyW, scanW int64
	// stale is how long a target is kept after its last record; sstale
	// the same for a target with sampled connections (windows stretch).
	stale, sstale int64
}

func newBruteForce(e *env, dir direction) *bruteForce {
	c := &e.cfg
	d := &bruteForce{env: e, dir: dir}
	if dir == inbound {
		d.svcs = [2]service{
			{"SSH", c.SSHPorts, TypeSSHIncomingOneToOne, TypeSSHIncomingManyToOne},
			{"RDP", c.RDPPorts, TypeRDPIncomingOneToOne, TypeRDPIncomingManyToOne},
		}
		d.bf, d.o2o, d.many = c.Incoming.Enabled, c.Incoming.OneToOne, c.Incoming.ManyToOne
	} else {
		d.svcs = [2]service{
			{"SSH", c.SSHPorts, TypeSSHOutgoingOneToOne, TypeSSHOutgoingOneToMany},
			{"RDP", c.RDPPorts, TypeRDPOutgoingOneToOne, TypeRDPOutgoingOneToMany},
		}
		d.bf, d.o2o, d.many = c.Outgoing.Enabled, c.Outgoing.OneToOne, c.Outgoing.OneToMany
		d.scan = c.PortScanning.Enabled
	}
	d.shortW = int64(d.o2o.Short.Window / nb)
	d.longW = int64(d.o2o.Long.Window / nb)
	d.manyW = int64(d.many.Window / nb)
	d.scanW = int64(c.PortScanning.Targets.Window / nb)
	d.stale = int64(max(d.o2o.Short.Window, d.o2o.Long.Window, d.many.Window, c.PortScanning.Targets.Window))
	d.sstale = max(d.stale, int64(c.Sampling.MaxWindow))
	return d
}

func (d *bruteForce) envOf() *env { return d.env }

// Name implements detect.Detector.
func (d *bruteForce) Name() string {
	if d.dir == inbound {
		return NameInbound
	}
	return NameOutbound
}

// Consumes implements detect.Detector: flows only.
func (d *bruteForce) Consumes(k event.Kind) bool { return k == event.KindFlow }

// PartitionKey implements detect.Detector: operations are not for it.
func (d *bruteForce) PartitionKey(*event.Op) (string, bool) { return "", false }

// svcOf returns the index of the service listening on port, or -1.
func (d *bruteForce) svcOf(proto uint8, port uint16) int {
	if proto != protoTCP {
		return -1
	}
	for i := range d.svcs {
		if slices.Contains(d.svcs[i].ports, port) {
			return i
		}
	}
	return -1
}

// FlowKey implements detect.FlowDetector: inbound takes TCP flows to an SSH
// or RDP port, keyed by the destination; outbound takes every flow, keyed by
// the source.
func (d *bruteForce) FlowKey(f *event.Flow) (uint64, bool) {
	if !f.SrcAddr.IsValid() || !f.DstAddr.IsValid() {
		return 0, false
	}
	if d.dir == inbound {
		if d.svcOf(f.Protocol, f.DstPort) < 0 {
			return 0, false
		}
		return addrKey(f.DstAddr), true
	}
	return addrKey(f.SrcAddr), true
}

// NewShard implements detect.Detector.
func (d *bruteForce) NewShard() detect.Shard {
	return &bfShard{d: d, states: make(map[uint64]*bfState)}
}

// bfState is the state of one address of ours.
type bfState struct {
	owner
	Last int64
	Svc  [2]*svcState
	Scan *scanState
}

// svcState follows one service (SSH or RDP) of one address of ours.
type svcState struct {
	Peers  table
	Recent recRing
	// Attempts and Distinct are the hourly baselines of attempts and of
	// distinct peers with attempts (nil when baselines are off).
	Attempts *baseline.Rate
	Distinct *baseline.Rate
	// Ep is the ManyToOne / OneToMany episode.
	Ep episode
	// Rate is the latest sampling rate seen, RateSlot its distinct slot.
	Rate     uint32
	RateSlot int64
	// Since is when the last episode ended: sampled windows start there.
	Since int64
	// newcomers counts peers new to the sampled window since the last
	// distinct count (see throttle).
	newcomers uint32
}

type bfShard struct {
	d         *bruteForce
	states    map[uint64]*bfState
	n         local
	nextSweep int64
	// kRate and kMax cache maxAttemptPackets for the latest sampling rate.
	kRate, kMax uint32
}

// ProcessFlow implements detect.FlowShard.
func (sh *bfShard) ProcessFlow(f *event.Flow, key uint64, emit detect.Emitter) {
	d, e := sh.d, sh.d.env
	our, peer := f.DstAddr.Unmap(), f.SrcAddr.Unmap()
	if d.dir == outbound {
		our, peer = peer, our
		sh.n.flows++
	}
	res, sub, ok := e.attr.Attribute(our, f.End)
	if !ok {
		if d.dir == outbound {
			if e.ours(peer, f.End) {
				sh.n.incoming++
			} else {
				sh.n.unattributed++
			}
		}
		return
	}
	if d.dir == outbound {
		sh.n.outgoing++
	}
	svc := -1
	if d.bf {
		svc = d.svcOf(f.Protocol, f.DstPort)
	}
	isScan := d.scan && svc < 0 && failedInitiation(f)
	if !isScan && svc < 0 {
		return
	}
	if e.isTrusted(peer) {
		sh.n.trusted++
		return
	}
	if !e.cfg.IncludeInternal && e.ours(peer, f.End) {
		sh.n.internal++
		return
	}
	st := sh.state(key, our, res, sub)
	if st == nil {
		return
	}
	t := f.End.UnixNano()
	st.Last = max(st.Last, t)
	if svc >= 0 {
		sh.bruteForce(st, svc, f, peer, t, sh.n.to(emit))
	} else {
		sh.portScan(st, f, peer, t, sh.n.to(emit))
	}
}

// state returns the state of key for our address held by res, starting it
// again when another resource holds the address now; nil on a key collision.
func (sh *bfShard) state(key uint64, our netip.Addr, res, sub string) *bfState {
	st := sh.states[key]
	switch {
	case st == nil:
		st = &bfState{owner: owner{Addr: our, Resource: res, Subscription: sub}}
		sh.states[key] = st
	case st.Addr != our:
		return nil // a 64-bit hash collision between two of our addresses
	case st.Resource != res || st.Subscription != sub:
		*st = bfState{owner: owner{Addr: our, Resource: res, Subscription: sub}}
	}
	return st
}

func (sh *bfShard) bruteForce(st *bfState, svc int, f *event.Flow, peer netip.Addr, t int64, emit detect.Emitter) {
	d, e := sh.d, sh.d.env
	if sampled(f) {
		sh.bruteForceSampled(st, svc, f, peer, t, emit)
		return
	}
	cls, why := e.cfg.Attempt.classify(f)
	if cls == classNone {
		return
	}
	ss := sh.svc(st, svc)
	tb := &ss.Peers
	k := target{Addr: peer}
	it := tb.get(k)
	if it != nil {
		if it.Ep.due(t) {
			sh.closeOneToOne(st, svc, it, emit)
		}
		if !it.Ep.active(t) && t-it.Last > d.staleAfter(it) {
			tb.d.remove(it)
			*it = item{Key: k}
		}
	}
	if it == nil {
		if cls == classSession {
			return // a session from a peer with no attempts: nothing to follow
		}
		if it = tb.add(k, e.cfg.MaxPeers); it == nil {
			tb.Overflow++
			sh.n.overflow++
			return
		}
	}
	if it.First == 0 || t < it.First {
		it.First = t
	}
	it.Last = max(it.Last, t)
	if cls == classSession {
		it.Sessions++
		return
	}
	w := weight(f)
	if cls == classRepeat {
		if w = sh.repeated(it, f, t); w == 0 {
			return
		}
		if w == 2 { // the peer's previous connection counts too, as a record of its own
			it.Short.add(t/d.shortW, 1)
			it.Long.add(t/d.longW, 1)
			w = 1
		}
	}
	it.Short.add(t/d.shortW, w)
	it.Long.add(t/d.longW, w)
	tb.d.touch(it, t/d.manyW, uint32(min(f.Packets, 1<<31)))
	if sampled(f) {
		ss.Rate, ss.RateSlot = f.SamplingRate, t/d.manyW
	}
	setRec(&it.Rec, f, why)
	ss.Recent.push(&it.Rec, e.cfg.MaxEvidence)
	if ss.Attempts != nil {
		ss.Attempts.Observe(f.End, float64(w))
		if h := t / hourNs; h != it.Hour {
			ss.Distinct.Observe(f.End, 1)
			it.Hour = h
		}
	}
	if it.Ep.active(t) {
		it.Ep.add(t, w)
	} else {
		sh.checkOneToOne(st, svc, it, f.End, emit)
	}
	if ss.Ep.due(t) {
		sh.closeMany(st, svc, emit)
	}
	if ss.Ep.active(t) {
		ss.Ep.add(t, w)
	} else {
		sh.checkMany(st, svc, f.End, emit)
	}
}

// repeated counts a connection within Attempt.Repeated's bounds: 0 when it
// does not repeat the shape of the peer's previous such connection within
// the long window; else 1, or 2 when the previous one was not counted yet
// (both are attempts).
func (sh *bfShard) repeated(it *item, f *event.Flow, t int64) uint32 {
	a := &sh.d.env.cfg.Attempt
	p, b := uint32(min(f.Packets, 1<<31)), uint32(min(f.Bytes, 1<<31))
	w := uint32(0)
	if it.RepT != 0 && t-it.RepT <= int64(sh.d.o2o.Long.Window) &&
		similar(uint64(it.RepP), uint64(it.RepB), uint64(p), uint64(b), a.RepeatTolerance) {
		w = 1
		if !it.RepN {
			w = 2
		}
	}
	it.RepP, it.RepB, it.RepT, it.RepN = p, b, t, w > 0
	return w
}

// svc returns the state of a service of our address, made when missing.
func (sh *bfShard) svc(st *bfState, svc int) *svcState {
	ss := st.Svc[svc]
	if ss == nil {
		e := sh.d.env
		ss = &svcState{Attempts: e.newRate(), Distinct: e.newRate()}
		st.Svc[svc] = ss
	}
	return ss
}

// staleAfter is how long it is kept after its last record.
func (d *bruteForce) staleAfter(it *item) int64 {
	if len(it.Conns) > 0 {
		return d.sstale
	}
	return d.stale
}

// checkOneToOne fires when either window of the pair reaches its threshold.
func (sh *bfShard) checkOneToOne(st *bfState, svc int, it *item, now time.Time, emit detect.Emitter) {
	d, e := sh.d, sh.d.env
	ss := st.Svc[svc]
	t := now.UnixNano()
	z := e.cfg.SamplingConfidence
	for _, w := range []struct {
		th    Threshold
		r     *ring
		width int64
	}{{d.o2o.Short, &it.Short, d.shortW}, {d.o2o.Long, &it.Long, d.longW}} {
		sum, n := w.r.sum(t / w.width)
		est := conservative(sum, n, z)
		if est < float64(w.th.Min) {
			continue
		}
		floor, expected := e.bound(ss.Attempts, now, w.th.Window)
		if est < floor {
			continue
		}
		from := (t/w.width - nb + 1) * w.width
		recs := ss.Recent.pick(e.cfg.MaxEvidence, func(r *flowRec) bool {
			return r.End >= from && r.End <= t && (r.Src == it.Key.Addr || r.Dst == it.Key.Addr)
		})
		if len(recs) == 0 {
			recs = []flowRec{it.Rec}
		}
		c := sh.bfCandidate(st, svc, d.svcs[svc].oneToOne, []netip.Addr{it.Key.Addr}, recs, max(it.First, from), t, sum)
		sh.thresholdDetails(&c, w.th, max(float64(w.th.Min), floor), expected)
		c.Details["connections"] = strconv.FormatUint(sum, 10)
		c.Details["flows"] = strconv.FormatUint(uint64(n), 10)
		c.Details["sessions"] = strconv.FormatUint(uint64(it.Sessions), 10)
		if it.Sessions > 0 && d.dir == inbound {
			// attempts, then a session: maybe a login that worked
			c.Severity = incomingSeverity.Raise()
		}
		c.FingerprintKeys = []string{st.Resource, st.Addr.String(), it.Key.Addr.String()}
		emit.Emit(c)
		it.Ep.open(t, int64(e.cfg.Mute))
		it.Ep.fired(c.First.UnixNano(), sum, max(float64(w.th.Min), floor), w.th.Window, expected)
		return
	}
}

// closeOneToOne ends the pair's episode: a summary of what followed the
// candidate, and the pair's windows start again.
func (sh *bfShard) closeOneToOne(st *bfState, svc int, it *item, emit detect.Emitter) {
	ep := it.Ep
	it.Ep = episode{}
	it.Short.reset()
	it.Long.reset()
	it.Conns = it.Conns[:0]
	if ep.Flows == 0 {
		return
	}
	ss := st.Svc[svc]
	recs := ss.Recent.pick(sh.d.env.cfg.MaxEvidence, func(r *flowRec) bool {
		return r.End >= ep.First && r.End <= ep.Last && (r.Src == it.Key.Addr || r.Dst == it.Key.Addr)
	})
	if len(recs) == 0 {
		recs = []flowRec{it.Rec}
	}
	c := sh.bfCandidate(st, svc, sh.d.svcs[svc].oneToOne, []netip.Addr{it.Key.Addr}, recs, ep.since(), ep.Last, ep.Count)
	sh.thresholdDetails(&c, Threshold{Window: time.Duration(ep.Win)}, ep.Thr, ep.Exp)
	c.Details["connections"] = strconv.FormatUint(ep.N0+ep.Count, 10)
	c.Details["flows"] = strconv.FormatUint(uint64(ep.Flows), 10)
	c.Details["sessions"] = strconv.FormatUint(uint64(it.Sessions), 10)
	c.Details["summary"] = "true"
	c.FingerprintKeys = []string{st.Resource, st.Addr.String(), it.Key.Addr.String()}
	emit.Emit(c)
}

// distinct returns the estimated distinct peers of a table in the window
// ending at slot s, and the sampling rate used.
func distinct(tb *table, s int64, rate uint32, rateSlot int64) (float64, uint32) {
	n, f1, f2 := tb.d.sum(s)
	if rateSlot <= s-nb {
		rate = 1
	}
	return chao1(n, f1, f2, rate), n
}

// checkMany fires ManyToOne (inbound) or OneToMany (outbound).
func (sh *bfShard) checkMany(st *bfState, svc int, now time.Time, emit detect.Emitter) {
	d, e := sh.d, sh.d.env
	ss := st.Svc[svc]
	t := now.UnixNano()
	s := t / d.manyW
	est, seen := distinct(&ss.Peers, s, ss.Rate, ss.RateSlot)
	if est < float64(d.many.Min) {
		return
	}
	floor, expected := e.bound(ss.Distinct, now, d.many.Window)
	if est < floor {
		return
	}
	from := (s - nb + 1) * d.manyW
	var peers []netip.Addr
	var attempts uint64
	first := t
	ss.Peers.each(func(_ int32, it *item) {
		if ss.Peers.d.inWindow(it) {
			peers = append(peers, it.Key.Addr)
			first = min(first, max(it.First, from))
			// the pair's attempts over the OneToOne window closest to ours
			w, _ := it.Long.sum(t / d.longW)
			if d.many.Window <= d.o2o.Short.Window {
				w, _ = it.Short.sum(t / d.shortW)
			}
			attempts += w
		}
	})
	sortAddrs(peers)
	recs := ss.Recent.pick(e.cfg.MaxEvidence, func(r *flowRec) bool { return r.End >= from && r.End <= t })
	c := sh.bfCandidate(st, svc, d.svcs[svc].many, peers, recs, first, t, max(attempts, uint64(seen)))
	sh.thresholdDetails(&c, d.many, max(float64(d.many.Min), floor), expected)
	sh.manyDetails(&c, est)
	c.FingerprintKeys = []string{st.Resource, st.Addr.String()}
	emit.Emit(c)
	ss.Ep.open(t, int64(e.cfg.Mute))
	ss.Ep.fired(c.First.UnixNano(), uint64(c.Count), max(float64(d.many.Min), floor), d.many.Window, expected)
}

// closeMany ends the service's ManyToOne / OneToMany episode.
func (sh *bfShard) closeMany(st *bfState, svc int, emit detect.Emitter) {
	ss := st.Svc[svc]
	ep := ss.Ep
	ss.Ep = episode{}
	ss.Peers.resetDistinct()
	ss.Since = ep.Until
	if ep.Flows == 0 {
		return
	}
	var peers []netip.Addr
	var fallback *flowRec
	// every peer of the episode, from the window that fired on
	since := ep.since()
	ss.Peers.each(func(_ int32, it *item) {
		if it.Rec.End >= since {
			peers = append(peers, it.Key.Addr)
			if fallback == nil && it.Rec.End >= ep.First && it.Rec.End <= ep.Last {
				fallback = &it.Rec
			}
		}
	})
	sortAddrs(peers)
	recs := ss.Recent.pick(sh.d.env.cfg.MaxEvidence, func(r *flowRec) bool { return r.End >= ep.First && r.End <= ep.Last })
	if len(recs) == 0 && fallback != nil {
		recs = []flowRec{*fallback}
	}
	if len(recs) == 0 {
		return
	}
	c := sh.bfCandidate(st, svc, sh.d.svcs[svc].many, peers, recs, since, ep.Last, ep.Count)
	sh.thresholdDetails(&c, Threshold{Window: time.Duration(ep.Win)}, ep.Thr, ep.Exp)
	sh.manyDetails(&c, float64(len(peers)))
	c.Details["connections"] = strconv.FormatUint(ep.N0+ep.Count, 10)
	c.Details["summary"] = "true"
	c.FingerprintKeys = []string{st.Resource, st.Addr.String()}
	emit.Emit(c)
}

// bfCandidate builds a brute-force candidate: roles and the attacker and
// victim addresses depend on the direction.
func (sh *bfShard) bfCandidate(st *bfState, svc int, typ string, peers []netip.Addr, recs []flowRec, first, last int64, count uint64) alert.Candidate {
	d := sh.d
	ourRole, peerRole := "victim", "attacker"
	if d.dir == outbound {
		ourRole, peerRole = "compromised", "victim"
	}
	c := d.env.candidate(typ, &st.owner, ourRole, peerRole, peers, recs, first, last, count)
	c.Details["service"] = d.svcs[svc].name
	c.Details["port"] = ""
	if len(recs) > 0 {
		c.Details["port"] = strconv.Itoa(int(recs[len(recs)-1].DstPort))
	}
	peer := ""
	if len(peers) > 0 {
		peer = peers[0].String()
	}
	if d.dir == inbound {
		c.Details["victimIp"], c.Details["attackerIp"] = st.Addr.String(), peer
	} else {
		c.Details["victimIp"], c.Details["attackerIp"] = peer, st.Addr.String()
	}
	return c
}

func (sh *bfShard) thresholdDetails(c *alert.Candidate, th Threshold, threshold, expected float64) {
	c.Details["window"] = ""
	if th.Window > 0 {
		c.Details["window"] = formatDuration(th.Window)
	}
	c.Details["threshold"] = ""
	if threshold > 0 {
		c.Details["threshold"] = formatCount(threshold)
	}
	c.Details["expected"] = ""
	if expected > 0 {
		c.Details["expected"] = formatCount(expected)
	}
}

func (sh *bfShard) manyDetails(c *alert.Candidate, est float64) {
	n := formatCount(est)
	c.Details["connections"] = strconv.Itoa(c.Count)
	if sh.d.dir == inbound {
		c.Details["attackers"] = n
		c.Details["victimIp"], c.Details["attackerIp"] = c.Details["ourIp"], c.Details["addresses"]
	} else {
		c.Details["victims"] = n
		c.Details["victimIp"], c.Details["attackerIp"] = c.Details["addresses"], c.Details["ourIp"]
	}
}

func sortAddrs(a []netip.Addr) { slices.SortFunc(a, func(x, y netip.Addr) int { return x.Compare(y) }) }
