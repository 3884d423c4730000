package network

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/baseline"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// scanState follows the failed connection attempts of one address of ours
// (PortScanning): its targets are (host, port) pairs.
type scanState struct {
	Targets table
	Recent  recRing
	// Distinct is the hourly baseline of distinct targets (nil when off).
	Distinct *baseline.Rate
	Ep       episode
	Rate     uint32
	RateSlot int64
	// Since is when the last episode ended: sampled windows start there.
	Since int64
	// newcomers counts targets new to the sampled window since the last
	// distinct count.
	newcomers uint32
}

func (sh *bfShard) portScan(st *bfState, f *event.Flow, peer netip.Addr, t int64, emit detect.Emitter) {
	d, e := sh.d, sh.d.env
	sc := st.Scan
	if sc == nil {
		sc = &scanState{Distinct: e.newRate()}
		st.Scan = sc
	}
	tb := &sc.Targets
	k := target{Addr: peer, Port: f.DstPort}
	it := tb.get(k)
	if it != nil && t-it.Last > d.staleAfter(it) {
		tb.d.remove(it)
		*it = item{Key: k}
	}
	if it == nil {
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
	s := t / d.scanW
	from := int64(0) // start of the sampled window of a sampled record
	if sampled(f) {
		sc.Rate, sc.RateSlot = f.SamplingRate, s
		from = max(t-int64(e.cfg.Sampling.window(e.cfg.PortScanning.Targets.Window, f.SamplingRate)), sc.Since)
		if it.packetsSince(from, math.MaxUint32) > 0 {
			from = -1 // the target was counted already: the estimate cannot grow
		}
		it.addConn(f.SrcPort, uint32(min(max(f.Packets, 1), 1<<31)), t, d.sstale)
	} else {
		tb.d.touch(it, s, uint32(min(f.Packets, 1<<31)))
	}
	why := reasonNoAnswer
	if f.TCPFlags&flagRST != 0 {
		why = reasonRefused
	} else if f.TCPFlags == 0 {
		why = reasonShort
	}
	setRec(&it.Rec, f, why)
	sc.Recent.push(&it.Rec, e.cfg.MaxEvidence)
	if sc.Distinct != nil {
		if h := t / hourNs; h != it.Hour {
			sc.Distinct.Observe(f.End, 1)
			it.Hour = h
		}
	}
	if sc.Ep.due(t) {
		sh.closeScan(st, emit)
	}
	if sc.Ep.active(t) {
		sc.Ep.add(t, weight(f))
		return
	}
	switch {
	case !sampled(f):
		sh.checkScan(st, f.End, emit)
	case from >= 0:
		if sc.newcomers++; sc.newcomers > uint32(tb.live/32) { // as svcState.throttle
			sc.newcomers = 0
			sh.checkScanSampled(st, f.End, f.SamplingRate, from, emit)
		}
	}
}

// checkScanSampled fires when the targets estimated from sampled records
// since from reach the threshold (see Sampling).
func (sh *bfShard) checkScanSampled(st *bfState, now time.Time, rate uint32, from int64, emit detect.Emitter) {
	e := sh.d.env
	sc := st.Scan
	t := now.UnixNano()
	th := e.cfg.PortScanning.Targets
	win := time.Duration(t - from)
	stretched, need := e.cfg.Sampling.stretch(th, rate)
	n, f1, f2 := sc.Targets.peerStats(from, math.MaxUint32)
	est := sampledEstimate(n, f1, f2, rate, e.cfg.SamplingConfidence, e.cfg.Sampling.MinRecords)
	if est < need {
		return
	}
	floor, expected := e.bound(sc.Distinct, now, win)
	if est < floor {
		return
	}
	var targets []target
	sc.Targets.each(func(_ int32, it *item) {
		if it.packetsSince(from, math.MaxUint32) > 0 {
			targets = append(targets, it.Key)
		}
	})
	recs := sc.Recent.pick(e.cfg.MaxEvidence, func(r *flowRec) bool { return r.End >= from && r.End <= t })
	c := sh.scanCandidate(st, targets, recs, from, t, uint64(len(targets)))
	sh.thresholdDetails(&c, Threshold{Window: stretched, Min: th.Min}, max(need, floor), expected)
	c.Details["targets"] = formatCount(est)
	emit.Emit(c)
	sc.Ep.open(t, int64(e.cfg.Mute))
	sc.Ep.fired(c.First.UnixNano(), uint64(c.Count), max(need, floor), stretched, expected)
}

func (sh *bfShard) checkScan(st *bfState, now time.Time, emit detect.Emitter) {
	d, e := sh.d, sh.d.env
	sc := st.Scan
	t := now.UnixNano()
	s := t / d.scanW
	th := e.cfg.PortScanning.Targets
	est, _ := distinct(&sc.Targets, s, sc.Rate, sc.RateSlot)
	if est < float64(th.Min) {
		return
	}
	floor, expected := e.bound(sc.Distinct, now, th.Window)
	if est < floor {
		return
	}
	from := (s - nb + 1) * d.scanW
	var targets []target
	sc.Targets.each(func(_ int32, it *item) {
		if sc.Targets.d.inWindow(it) {
			targets = append(targets, it.Key)
		}
	})
	recs := sc.Recent.pick(e.cfg.MaxEvidence, func(r *flowRec) bool { return r.End >= from && r.End <= t })
	c := sh.scanCandidate(st, targets, recs, from, t, uint64(len(targets)))
	sh.thresholdDetails(&c, th, max(float64(th.Min), floor), expected)
	c.Details["targets"] = formatCount(est)
	emit.Emit(c)
	sc.Ep.open(t, int64(e.cfg.Mute))
	sc.Ep.fired(c.First.UnixNano(), uint64(c.Count), max(float64(th.Min), floor), th.Window, expected)
}

func (sh *bfShard) closeScan(st *bfState, emit detect.Emitter) {
	sc := st.Scan
	ep := sc.Ep
	sc.Ep = episode{}
	sc.Targets.resetDistinct()
	sc.Since = ep.Until
	if ep.Flows == 0 {
		return
	}
	var targets []target
	var fallback *flowRec
	since := ep.since()
	sc.Targets.each(func(_ int32, it *item) {
		if it.Rec.End >= since {
			targets = append(targets, it.Key)
			if fallback == nil && it.Rec.End >= ep.First && it.Rec.End <= ep.Last {
				fallback = &it.Rec
			}
		}
	})
	recs := sc.Recent.pick(sh.d.env.cfg.MaxEvidence, func(r *flowRec) bool { return r.End >= ep.First && r.End <= ep.Last })
	if len(recs) == 0 && fallback != nil {
		recs = []flowRec{*fallback}
	}
	if len(recs) == 0 {
		return
	}
	c := sh.scanCandidate(st, targets, recs, since, ep.Last, ep.Count)
	sh.thresholdDetails(&c, Threshold{Window: time.Duration(ep.Win)}, ep.Thr, ep.Exp)
	c.Details["targets"] = strconv.Itoa(len(targets))
	c.Details["summary"] = "true"
	emit.Emit(c)
}

// scanCandidate describes a scan: the most common destination port (the
// lowest on a tie), the distinct hosts and ports, and up to maxListed hosts.
func (sh *bfShard) scanCandidate(st *bfState, targets []target, recs []flowRec, first, last int64, count uint64) alert.Candidate {
	ports := map[uint16]int{}
	var hosts []netip.Addr
	for _, tg := range targets {
		ports[tg.Port]++
		if !slices.Contains(hosts, tg.Addr) {
			hosts = append(hosts, tg.Addr)
		}
	}
	var common uint16
	for p, n := range ports {
		if n > ports[common] || (n == ports[common] && p < common) {
			common = p
		}
	}
	sortAddrs(hosts)
	c := sh.d.env.candidate(TypePortScanning, &st.owner, "compromised", "victim", hosts, recs, first, last, count)
	c.Details["port"] = strconv.Itoa(int(common))
	c.Details["protocol"] = serviceName(common)
	c.Details["hosts"] = strconv.Itoa(len(hosts))
	c.Details["ports"] = strconv.Itoa(len(ports))
	c.Details["attackerIp"] = st.Addr.String()
	c.FingerprintKeys = []string{st.Resource, st.Addr.String()}
	return c
}
