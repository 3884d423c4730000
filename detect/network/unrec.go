package network

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// UnrecommendedIP configures Network_TrafficFromUnrecommendedIP, Defender's
// informational "Traffic detected from IP addresses recommended for
// blocking": inbound traffic that one of ours answered (a reply of one of
// its listening ports carrying data, not a bare reset) from an address that
// intelligence lists in Categories. A generic blocklist raises no C2 alert;
// this says instead that the network lets such addresses in and a service
// answers them. As Defender's, it is one alert per resource and Window (a
// UTC day by default) listing the addresses and their flows, raised when
// the window closes.
type UnrecommendedIP struct {
	// Enabled turns it on. Default true.
	Enabled bool `yaml:"enabled"`
	// Categories default ["malicious"] (ipsum, the --blocklist default).
	Categories []string `yaml:"categories"`
	// MinScore default 3: scored lists' entries named by at least three
	// lists, as KV_SuspiciousIPAccess.
	MinScore int `yaml:"minScore"`
	// Window default 24h, aligned to the Unix epoch (UTC days).
	Window time.Duration `yaml:"window"`
	// MaxFlows is the volume above which the alert is off by default: a
	// resource that answered more flows from listed addresses in a window
	// serves the internet at large, whose scanners are on every list, and
	// the alert would say nothing new each day (counted in
	// Stats.UnrecommendedOverVolume). 0 raises it at any volume. Default 100.
	MaxFlows int `yaml:"maxFlows"`
}

// unrecState is one window of replies of an address of ours to listed
// addresses.
type unrecState struct {
	Start  int64       `json:"start"`
	Until  int64       `json:"until"`
	Flows  uint64      `json:"flows"`
	Peers  []unrecPeer `json:"peers,omitempty"`
	Recent recRing     `json:"recent"`
}

// unrecPeer is one listed address our side answered, on which of our ports.
type unrecPeer struct {
	Addr  netip.Addr `json:"addr"`
	Port  uint16     `json:"port"`
	Proto uint8      `json:"proto"`
	Flows uint32     `json:"flows"`
}

// unrec counts a reply of ours to a listed address.
func (sh *intelShard) unrec(st *intelState, f *event.Flow, peer netip.Addr, t int64, emit detect.Emitter) {
	e := sh.d.env
	if !sends(f) {
		return
	}
	if u := st.Unrec; u != nil && t >= u.Until {
		sh.closeUnrec(st, emit)
	}
	u := st.Unrec
	if u == nil {
		w := int64(e.cfg.UnrecommendedIP.Window)
		start := t - t%w
		if t < 0 && t%w != 0 {
			start -= w
		}
		u = &unrecState{Start: start, Until: start + w}
		st.Unrec = u
	}
	u.Flows++
	i := slices.IndexFunc(u.Peers, func(p unrecPeer) bool { return p.Addr == peer })
	if i < 0 {
		if len(u.Peers) >= e.cfg.MaxPeers {
			sh.n.overflow++
			return
		}
		u.Peers = append(u.Peers, unrecPeer{Addr: peer})
		i = len(u.Peers) - 1
	}
	p := &u.Peers[i]
	p.Flows++
	p.Port, p.Proto = f.SrcPort, f.Protocol
	var rec flowRec
	setRec(&rec, f, reasonNone)
	u.Recent.push(&rec, e.cfg.MaxEvidence)
}

// closeUnrec ends the window: one candidate when it saw replies and not
// more than MaxFlows of them.
func (sh *intelShard) closeUnrec(st *intelState, emit detect.Emitter) {
	u := st.Unrec
	st.Unrec = nil
	if u == nil || u.Flows == 0 || len(u.Peers) == 0 {
		return
	}
	cfg := &sh.d.env.cfg.UnrecommendedIP
	if cfg.MaxFlows > 0 && u.Flows > uint64(cfg.MaxFlows) {
		sh.n.unrecOver++
		return
	}
	peers := slices.Clone(u.Peers)
	slices.SortFunc(peers, func(a, b unrecPeer) int {
		if c := cmp.Compare(b.Flows, a.Flows); c != 0 {
			return c
		}
		return a.Addr.Compare(b.Addr)
	})
	addrs := make([]netip.Addr, len(peers))
	var sources, ports []string
	for i, p := range peers {
		addrs[i] = p.Addr
		if i < maxListed {
			sources = append(sources, p.Addr.String()+" ["+strconv.FormatUint(uint64(p.Flows), 10)+"]")
		}
		if port := strconv.Itoa(int(p.Port)); len(ports) < maxListed && !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	recs := u.Recent.pick(sh.d.env.cfg.MaxEvidence, func(*flowRec) bool { return true })
	first, last := u.Until, u.Start
	for i := range recs {
		first, last = min(first, recs[i].End), max(last, recs[i].End)
	}
	c := sh.d.env.candidate(TypeUnrecommendedIP, &st.owner, "victim", "attacker", addrs, recs, first, last, u.Flows)
	c.Details["victimIp"] = st.Addr.String()
	c.Details["sources"] = strings.Join(sources, ", ")
	c.Details["port"] = strings.Join(ports, ", ")
	c.Details["protocol"] = protoName(peers[0].Proto)
	c.Details["flows"] = strconv.FormatUint(u.Flows, 10)
	c.Details["window"] = formatDuration(cfg.Window)
	c.Details["windowStart"] = formatTime(u.Start)
	c.FingerprintKeys = []string{st.Resource, st.Addr.String()}
	c.Severity = alert.SeverityInformational
	emit.Emit(c)
}
