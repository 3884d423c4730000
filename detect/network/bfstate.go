package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/vigil-security/vigil/baseline"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// stateVersion is written with every key's state; Restore refuses others.
const stateVersion = 1

// Process implements detect.Shard: operations are not for this detector.
func (sh *bfShard) Process(*event.Op, string, detect.Emitter) {}

// Advance implements detect.Shard: every sweepEvery of event time it closes
// the episodes that have ended (summaries), drops stale targets, lets the
// baselines learn the hours that ended and drops addresses idle for
// Baseline.Forget (or, without baselines, as soon as they hold nothing).
func (sh *bfShard) Advance(wm time.Time, emit detect.Emitter) {
	defer sh.n.flush(&sh.d.env.stats)
	now := wm.UnixNano()
	if sh.nextSweep != 0 && now < sh.nextSweep {
		return
	}
	sh.nextSweep = now + int64(sweepEvery)
	out := sh.n.to(emit)
	for key, st := range sh.states {
		if sh.sweep(st, wm, out) {
			delete(sh.states, key)
		}
	}
}

// sweep closes what has ended for one address and reports whether its
// state can be dropped.
func (sh *bfShard) sweep(st *bfState, wm time.Time, emit detect.Emitter) bool {
	d := sh.d
	now := wm.UnixNano()
	busy := false
	for i, ss := range st.Svc {
		if ss == nil {
			continue
		}
		if ss.Ep.due(now) {
			sh.closeMany(st, i, emit)
		}
		// targets stay while the service's episode is open: its summary
		// names them
		keep := ss.Ep.active(now)
		ss.Peers.each(func(j int32, it *item) {
			if it.Ep.due(now) {
				sh.closeOneToOne(st, i, it, emit)
			}
			if !keep && !it.Ep.active(now) && now-it.Last > d.staleAfter(it) {
				ss.Peers.remove(j)
			}
		})
		advanceRates(wm, ss.Attempts, ss.Distinct)
		busy = busy || ss.Peers.live > 0 || ss.Ep.Until != 0
	}
	if sc := st.Scan; sc != nil {
		if sc.Ep.due(now) {
			sh.closeScan(st, emit)
		}
		keep := sc.Ep.active(now)
		sc.Targets.each(func(j int32, it *item) {
			if !keep && now-it.Last > d.staleAfter(it) {
				sc.Targets.remove(j)
			}
		})
		advanceRates(wm, sc.Distinct)
		busy = busy || sc.Targets.live > 0 || sc.Ep.Until != 0
	}
	if busy {
		return false
	}
	return !d.env.cfg.Baseline.Enabled || now-st.Last > int64(d.env.cfg.Baseline.Forget)
}

func advanceRates(wm time.Time, rs ...*baseline.Rate) {
	for _, r := range rs {
		if r != nil {
			r.Advance(wm, nil)
		}
	}
}

// bfJSON is one address's state as snapshots hold it.
type bfJSON struct {
	V int `json:"v"`
	owner
	Last int64       `json:"last"`
	Svc  [2]*svcJSON `json:"svc"`
	Scan *scanJSON   `json:"scan,omitempty"`
}

type svcJSON struct {
	Peers    tableJSON      `json:"peers"`
	Recent   recRing        `json:"recent"`
	Attempts *baseline.Rate `json:"attempts,omitempty"`
	Distinct *baseline.Rate `json:"distinct,omitempty"`
	Ep       episode        `json:"ep"`
	Rate     uint32         `json:"rate,omitempty"`
	RateSlot int64          `json:"rateSlot,omitempty"`
	Since    int64          `json:"since,omitempty"`
	New      uint32         `json:"new,omitempty"`
}

type scanJSON struct {
	Targets  tableJSON      `json:"targets"`
	Recent   recRing        `json:"recent"`
	Distinct *baseline.Rate `json:"distinct,omitempty"`
	Ep       episode        `json:"ep"`
	Rate     uint32         `json:"rate,omitempty"`
	RateSlot int64          `json:"rateSlot,omitempty"`
	Since    int64          `json:"since,omitempty"`
	New      uint32         `json:"new,omitempty"`
}

// Snapshot implements detect.Shard with encoding/json; keys are the
// addresses' numeric keys in decimal.
func (sh *bfShard) Snapshot(save func(key string, state []byte) error) error {
	for key, st := range sh.states {
		j := bfJSON{V: stateVersion, owner: st.owner, Last: st.Last}
		for i, ss := range st.Svc {
			if ss != nil {
				j.Svc[i] = &svcJSON{Peers: ss.Peers.toJSON(), Recent: ss.Recent, Attempts: ss.Attempts,
					Distinct: ss.Distinct, Ep: ss.Ep, Rate: ss.Rate, RateSlot: ss.RateSlot, Since: ss.Since, New: ss.newcomers}
			}
		}
		if sc := st.Scan; sc != nil {
			j.Scan = &scanJSON{Targets: sc.Targets.toJSON(), Recent: sc.Recent, Distinct: sc.Distinct,
				Ep: sc.Ep, Rate: sc.Rate, RateSlot: sc.RateSlot, Since: sc.Since, New: sc.newcomers}
		}
		data, err := json.Marshal(&j)
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
func (sh *bfShard) Restore(key string, state []byte) error {
	k, err := strconv.ParseUint(key, 10, 64)
	if err != nil {
		return fmt.Errorf("key %q is not a number", key)
	}
	var j bfJSON
	if err := json.Unmarshal(state, &j); err != nil {
		return fmt.Errorf("decode state of key %s: %w", key, err)
	}
	e := sh.d.env
	if err := checkOwner(k, j.V, &j.owner); err != nil {
		return fmt.Errorf("state of key %s: %w", key, err)
	}
	st := &bfState{owner: j.owner, Last: j.Last}
	for i, sj := range j.Svc {
		if sj == nil {
			continue
		}
		tb, err := fromJSON(sj.Peers, e.cfg.MaxPeers)
		if err != nil {
			return fmt.Errorf("state of key %s: service %d: %w", key, i, err)
		}
		ss := &svcState{Peers: tb, Recent: trimRing(sj.Recent, e.cfg.MaxEvidence), Attempts: sj.Attempts,
			Distinct: sj.Distinct, Ep: sj.Ep, Rate: sj.Rate, RateSlot: sj.RateSlot, Since: sj.Since, newcomers: sj.New}
		if e.cfg.Baseline.Enabled && (ss.Attempts == nil || ss.Distinct == nil) {
			ss.Attempts, ss.Distinct = e.newRate(), e.newRate()
		} else if !e.cfg.Baseline.Enabled {
			ss.Attempts, ss.Distinct = nil, nil
		}
		st.Svc[i] = ss
	}
	if sj := j.Scan; sj != nil {
		tb, err := fromJSON(sj.Targets, e.cfg.MaxPeers)
		if err != nil {
			return fmt.Errorf("state of key %s: scan: %w", key, err)
		}
		sc := &scanState{Targets: tb, Recent: trimRing(sj.Recent, e.cfg.MaxEvidence), Distinct: sj.Distinct,
			Ep: sj.Ep, Rate: sj.Rate, RateSlot: sj.RateSlot, Since: sj.Since, newcomers: sj.New}
		if !e.cfg.Baseline.Enabled {
			sc.Distinct = nil
		} else if sc.Distinct == nil {
			sc.Distinct = e.newRate()
		}
		st.Scan = sc
	}
	sh.states[k] = st
	return nil
}

var (
	errVersion  = errors.New("unknown state version")
	errNoAddr   = errors.New("no address")
	errNoOwner  = errors.New("no resource")
	errWrongKey = errors.New("key does not match the address")
)

func checkOwner(key uint64, v int, o *owner) error {
	switch {
	case v != stateVersion:
		return fmt.Errorf("%w %d (this build reads %d)", errVersion, v, stateVersion)
	case !o.Addr.IsValid():
		return errNoAddr
	case o.Resource == "":
		return errNoOwner
	case addrKey(o.Addr) != key:
		return errWrongKey
	}
	o.Addr = o.Addr.Unmap()
	return nil
}

// trimRing keeps the latest capacity records of a restored ring (the
// configuration may have lowered MaxEvidence).
func trimRing(r recRing, capacity int) recRing {
	if r.check(len(r.Recs)) != nil {
		return recRing{}
	}
	if len(r.Recs) <= capacity {
		return r
	}
	out := recRing{}
	for _, rec := range r.pick(capacity, func(*flowRec) bool { return true }) {
		out.push(&rec, capacity)
	}
	return out
}
