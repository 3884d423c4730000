package network

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// bruteForceSampled follows a sampled record toward a service port (see
// Sampling): it counts the record's sampled packets on its connection (the
// client's port), and decides on the sampled connections of the pair
// (OneToOne) and on the remote addresses with attempt-like connections
// (ManyToOne, OneToMany), over windows stretched for the sampling rate.
func (sh *bfShard) bruteForceSampled(st *bfState, svc int, f *event.Flow, peer netip.Addr, t int64, emit detect.Emitter) {
	d, e := sh.d, sh.d.env
	rate := f.SamplingRate
	kmax := sh.kmax(rate)
	k := uint32(min(max(f.Packets, 1), 1<<31))
	ss := sh.svc(st, svc)
	tb := &ss.Peers
	key := target{Addr: peer}
	it := tb.get(key)
	if it != nil {
		if it.Ep.due(t) {
			sh.closeOneToOne(st, svc, it, emit)
		}
		if !it.Ep.active(t) && t-it.Last > d.staleAfter(it) {
			tb.d.remove(it)
			*it = item{Key: key}
		}
	}
	if it == nil {
		if k > kmax {
			return // a session from a peer with no attempts: nothing to follow
		}
		if it = tb.add(key, e.cfg.MaxPeers); it == nil {
			tb.Overflow++
			sh.n.overflow++
			return
		}
	}
	if it.First == 0 || t < it.First {
		it.First = t
	}
	it.Last = max(it.Last, t)
	manyFrom := max(t-int64(e.cfg.Sampling.window(d.many.Window, rate)), ss.Since)
	wasCounted := it.packetsSince(manyFrom, kmax) > 0
	before := it.connK(f.SrcPort, t, d.sstale)
	after := it.addConn(f.SrcPort, k, t, d.sstale)
	if after > kmax {
		if before <= kmax {
			it.Sessions++
		}
		return
	}
	// a sampled SYN is one connection start: the unbiased count of
	// connections is N per sampled SYN (rings, baseline and summaries)
	var w uint32
	if f.TCPFlags&flagSYN != 0 || f.TCPFlags == 0 {
		w = rate
		it.Short.add(t/d.shortW, w)
		it.Long.add(t/d.longW, w)
	}
	ss.Rate, ss.RateSlot = rate, t/d.manyW
	setRec(&it.Rec, f, reasonSampled)
	ss.Recent.push(&it.Rec, e.cfg.MaxEvidence)
	if ss.Attempts != nil {
		if w > 0 {
			ss.Attempts.Observe(f.End, float64(w))
		}
		if h := t / hourNs; h != it.Hour {
			ss.Distinct.Observe(f.End, 1)
			it.Hour = h
		}
	}
	if it.Ep.active(t) {
		it.Ep.add(t, w)
	} else {
		sh.checkOneToOneSampled(st, svc, it, f.End, rate, kmax, emit)
	}
	if ss.Ep.due(t) {
		sh.closeMany(st, svc, emit)
	}
	if ss.Ep.active(t) {
		ss.Ep.add(t, w)
	} else if !wasCounted && ss.throttle() {
		// the distinct count can only have grown when this peer entered
		sh.checkManySampled(st, svc, f.End, rate, kmax, emit)
	}
}

// throttle reports whether a sampled distinct count is worth computing now
// that one more peer entered the window: at once while the table is small,
// else once per live/32 newcomers, so a huge botnet costs a bounded scan
// per record (the crossing is seen a few newcomers late).
func (ss *svcState) throttle() bool {
	ss.newcomers++
	if ss.newcomers <= uint32(ss.Peers.live/32) {
		return false
	}
	ss.newcomers = 0
	return true
}

// connK returns the sampled packets seen so far of the connection on port.
func (it *item) connK(port uint16, t, maxAge int64) uint32 {
	for i := range it.Conns {
		if c := &it.Conns[i]; c.Port == port && t-c.Last <= maxAge {
			return c.K
		}
	}
	return 0
}

// kmax returns maxAttemptPackets for the attempt bounds at rate, cached for
// the latest rate.
func (sh *bfShard) kmax(rate uint32) uint32 {
	if rate != sh.kRate {
		sh.kRate, sh.kMax = rate, maxAttemptPackets(sh.d.env.cfg.Attempt.Repeated.MaxPackets, rate)
	}
	return sh.kMax
}

// checkOneToOneSampled fires when the pair's estimated attempts within a
// window (stretched for the rate) reach its threshold.
func (sh *bfShard) checkOneToOneSampled(st *bfState, svc int, it *item, now time.Time, rate, kmax uint32, emit detect.Emitter) {
	d, e := sh.d, sh.d.env
	ss := st.Svc[svc]
	t := now.UnixNano()
	for _, th := range []Threshold{d.o2o.Short, d.o2o.Long} {
		win, need := e.cfg.Sampling.stretch(th, rate)
		from := t - int64(win)
		n, f1, f2, _ := it.connStats(from, kmax)
		est := sampledEstimate(n, f1, f2, rate, e.cfg.SamplingConfidence, e.cfg.Sampling.MinRecords)
		if est < need {
			continue
		}
		floor, expected := e.bound(ss.Attempts, now, win)
		if est < floor {
			continue
		}
		recs := ss.Recent.pick(e.cfg.MaxEvidence, func(r *flowRec) bool {
			return r.End >= from && r.End <= t && (r.Src == it.Key.Addr || r.Dst == it.Key.Addr)
		})
		if len(recs) == 0 {
			recs = []flowRec{it.Rec}
		}
		count := uint64(est + 0.5)
		c := sh.bfCandidate(st, svc, d.svcs[svc].oneToOne, []netip.Addr{it.Key.Addr}, recs, max(it.First, from), t, count)
		sh.thresholdDetails(&c, Threshold{Window: win, Min: th.Min}, max(need, floor), expected)
		c.Details["connections"] = formatCount(est)
		c.Details["flows"] = strconv.FormatUint(uint64(n), 10)
		c.Details["sessions"] = strconv.FormatUint(uint64(it.Sessions), 10)
		if it.Sessions > 0 && d.dir == inbound {
			c.Severity = incomingSeverity.Raise()
		}
		c.FingerprintKeys = []string{st.Resource, st.Addr.String(), it.Key.Addr.String()}
		emit.Emit(c)
		it.Ep.open(t, int64(e.cfg.Mute))
		it.Ep.fired(c.First.UnixNano(), count, max(need, floor), win, expected)
		return
	}
}

// checkManySampled fires ManyToOne (inbound) or OneToMany (outbound) when
// the estimated remote addresses with attempts and no session within the
// window (stretched for the rate) reach the threshold.
func (sh *bfShard) checkManySampled(st *bfState, svc int, now time.Time, rate, kmax uint32, emit detect.Emitter) {
	d, e := sh.d, sh.d.env
	ss := st.Svc[svc]
	t := now.UnixNano()
	win, need := e.cfg.Sampling.stretch(d.many, rate)
	from := max(t-int64(win), ss.Since)
	n, f1, f2 := ss.Peers.peerStats(from, kmax)
	est := sampledEstimate(n, f1, f2, rate, e.cfg.SamplingConfidence, e.cfg.Sampling.MinRecords)
	if est < need {
		return
	}
	floor, expected := e.bound(ss.Distinct, now, win)
	if est < floor {
		return
	}
	var peers []netip.Addr
	var attempts uint64
	first := t
	ss.Peers.each(func(_ int32, it *item) {
		if it.packetsSince(from, kmax) > 0 {
			peers = append(peers, it.Key.Addr)
			first = min(first, max(it.First, from))
			w, _ := it.Long.sum(t / d.longW)
			attempts += w
		}
	})
	sortAddrs(peers)
	recs := ss.Recent.pick(e.cfg.MaxEvidence, func(r *flowRec) bool { return r.End >= from && r.End <= t })
	c := sh.bfCandidate(st, svc, d.svcs[svc].many, peers, recs, first, t, max(attempts, uint64(n)))
	sh.thresholdDetails(&c, Threshold{Window: win, Min: d.many.Min}, max(need, floor), expected)
	sh.manyDetails(&c, est)
	c.FingerprintKeys = []string{st.Resource, st.Addr.String()}
	emit.Emit(c)
	ss.Ep.open(t, int64(e.cfg.Mute))
	ss.Ep.fired(c.First.UnixNano(), uint64(c.Count), max(need, floor), win, expected)
}
