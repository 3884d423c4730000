package network

import (
	"math"
	"time"
)

// Sampling configures the decisions taken on sampled records (1-in-N packet
// sampling, as Azure's routers export IPFIX). A sampled record holds the
// few packets of one connection that were selected, so the brute-force
// and port-scanning detections count sampled connections (a remote port
// and its sampled packets) and estimate the whole from them:
//
//   - a connection whose sampled packets are too many for a failed login of
//     Attempt.Repeated.MaxPackets packets (the chance of seeing that many is
//     under 1%) is a session, and its remote address is not counted as
//     attempting;
//   - the connections (OneToOne) or remote addresses (ManyToOne, OneToMany,
//     PortScanning) of a window are estimated with the bias-corrected Chao1
//     estimator over their sampled packets, scaled down by the lower
//     confidence bound (SamplingConfidence) of the count seen;
//   - a decision rests on at least MinRecords distinct connections or
//     addresses seen;
//   - every window is at least N x PerRate long, up to MaxWindow, since
//     a short window at 1-in-100 holds too few records to decide on; a
//     window stretched beyond ScaleAfter has its threshold raised in
//     proportion (the same rate), or ordinary repetition (a build agent's
//     dozens of git fetches an hour) would cross a count meant for 30
//     minutes.
type Sampling struct {
	// MinRecords is the fewest distinct sampled connections (OneToOne) or
	// remote addresses and targets (the others) a decision needs. Default 5.
	MinRecords int `yaml:"minRecords"`
	// PerRate stretches windows with the sampling rate: at 1-in-N a window
	// is at least N x PerRate. Default 18s (1-in-100: 30m).
	PerRate time.Duration `yaml:"perRate"`
	// MaxWindow bounds the stretched windows. Default 1h.
	MaxWindow time.Duration `yaml:"maxWindow"`
	// ScaleAfter is the longest window a threshold's count holds for
	// unchanged: beyond it (and beyond the threshold's own window) the
	// count grows with the window. Default 30m, the longest default window.
	ScaleAfter time.Duration `yaml:"scaleAfter"`
}

// maxConns is the most sampled connections one target keeps: beyond it the
// oldest is forgotten (a window with that many is far above any threshold).
const maxConns = 128

// sessionTail is the probability below which a connection's sampled
// packets are too many for a failed login.
const sessionTail = 0.01

// sconn is one sampled connection of a target: the remote side's port (the
// client's for brute force, ours for port scanning), the sampled packets
// seen and when its latest record ended (Unix ns).
type sconn struct {
	Port uint16 `json:"p"`
	K    uint32 `json:"k"`
	Last int64  `json:"t"`
}

// window returns the length of a window of w for records sampled at
// 1-in-rate: w, or N x PerRate up to MaxWindow when that is longer.
func (s *Sampling) window(w time.Duration, rate uint32) time.Duration {
	if rate <= 1 {
		return w
	}
	stretched := min(time.Duration(rate)*s.PerRate, s.MaxWindow)
	return max(w, stretched)
}

// stretch returns the window and the count of threshold th for records
// sampled at 1-in-rate: the window stretched (see window), the count raised
// in proportion to the part of it beyond max(th.Window, ScaleAfter).
func (s *Sampling) stretch(th Threshold, rate uint32) (time.Duration, float64) {
	win := s.window(th.Window, rate)
	base := max(th.Window, s.ScaleAfter)
	if win <= base || base <= 0 {
		return win, float64(th.Min)
	}
	return win, float64(th.Min) * float64(win) / float64(base)
}

// maxAttemptPackets returns the most sampled packets a connection of at most
// maxPackets packets shows at 1-in-rate, but for a chance under
// sessionTail: the smallest k with P(Poisson(maxPackets/rate) > k) <
// sessionTail.
func maxAttemptPackets(maxPackets uint64, rate uint32) uint32 {
	if rate <= 1 {
		return uint32(min(maxPackets, math.MaxUint32))
	}
	lambda := float64(maxPackets) / float64(rate)
	p := math.Exp(-lambda) // P(X = 0)
	cdf := p
	k := uint32(0)
	for 1-cdf >= sessionTail && k < 1<<20 {
		k++
		p *= lambda / float64(k)
		cdf += p
	}
	return max(k, 1)
}

// addConn counts k sampled packets of the connection on port at t and
// returns its sampled packets so far. A connection not seen within maxAge
// starts again; when the target holds maxConns, the oldest is replaced.
func (it *item) addConn(port uint16, k uint32, t, maxAge int64) uint32 {
	oldest := -1
	for i := range it.Conns {
		c := &it.Conns[i]
		if c.Port == port && t-c.Last <= maxAge {
			c.K = satAdd32(c.K, k)
			c.Last = max(c.Last, t)
			return c.K
		}
		if oldest < 0 || c.Last < it.Conns[oldest].Last {
			oldest = i
		}
	}
	c := sconn{Port: port, K: k, Last: t}
	if len(it.Conns) < maxConns {
		it.Conns = append(it.Conns, c)
	} else {
		it.Conns[oldest] = c
	}
	return k
}

// connStats returns the target's sampled connections that ended at or after
// from and look like attempts (at most kmax sampled packets): how many, and
// how many in one and two sampled packets; and whether a session was among
// its connections since from.
func (it *item) connStats(from int64, kmax uint32) (d, f1, f2 uint32, session bool) {
	for i := range it.Conns {
		c := &it.Conns[i]
		if c.Last < from {
			continue
		}
		if c.K > kmax {
			session = true
			continue
		}
		d++
		switch c.K {
		case 1:
			f1++
		case 2:
			f2++
		}
	}
	return d, f1, f2, session
}

// packetsSince returns the sampled packets of the target's attempt-like
// connections since from, 0 when one of them since from was a session.
func (it *item) packetsSince(from int64, kmax uint32) uint32 {
	var k uint32
	for i := range it.Conns {
		c := &it.Conns[i]
		if c.Last < from {
			continue
		}
		if c.K > kmax {
			return 0
		}
		k = satAdd32(k, c.K)
	}
	return k
}

// sampledEstimate turns d distinct things seen (f1 of them in one sampled
// packet, f2 in two) into the count a threshold is compared with: Chao1,
// scaled by the lower confidence bound of d (z; 0: the point estimate).
// Below minRecords it is 0: too few records to decide on.
func sampledEstimate(d, f1, f2, rate uint32, z float64, minRecords int) float64 {
	if d == 0 || int(d) < minRecords {
		return 0
	}
	est := chao1(d, f1, f2, rate)
	if z > 0 {
		est *= poissonLower(uint64(d), z) / float64(d)
	}
	return est
}

// peerStats returns, over a table's targets, how many had attempt-like
// sampled connections since from and no session, with how many of them in
// one and two sampled packets.
func (t *table) peerStats(from int64, kmax uint32) (d, f1, f2 uint32) {
	t.each(func(_ int32, it *item) {
		switch k := it.packetsSince(from, kmax); k {
		case 0:
		case 1:
			d, f1 = d+1, f1+1
		case 2:
			d, f2 = d+1, f2+1
		default:
			d++
		}
	})
	return d, f1, f2
}
