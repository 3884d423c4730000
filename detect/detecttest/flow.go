package detecttest

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// FlowHarness drives one shard of one flow detector as the engine does:
// FlowKey, then ProcessFlow with the key, the watermark moved after every
// flow (newest End minus the lateness). Each flow is handed over in a
// scratch copy overwritten with junk as soon as ProcessFlow returns, so a
// detector that keeps a string or slice of the flow shows up.
type FlowHarness struct {
	Det      detect.FlowDetector
	Lateness time.Duration
	// Routed counts the flows the detector took.
	Routed int

	shard     detect.FlowShard
	scratch   event.Flow
	watermark time.Time
	maxTime   time.Time
	out       []alert.Candidate
}

// NewFlow returns a harness for d whose watermark trails the newest flow
// end by lateness.
func NewFlow(d detect.FlowDetector, lateness time.Duration) *FlowHarness {
	return &FlowHarness{Det: d, Lateness: lateness, shard: d.NewShard().(detect.FlowShard)}
}

// Emit implements detect.Emitter.
func (h *FlowHarness) Emit(c alert.Candidate) { h.out = append(h.out, c) }

// Feed processes flows in order, moving the watermark after each one.
func (h *FlowHarness) Feed(flows ...event.Flow) {
	for i := range flows {
		f := &flows[i]
		if h.Det.Consumes(event.KindFlow) {
			if key, ok := h.Det.FlowKey(f); ok {
				h.Routed++
				s := &h.scratch
				*s = *f
				s.Intel.Hits = slices.Clone(f.Intel.Hits)
				h.shard.ProcessFlow(s, key, h)
				clobberFlow(s)
			}
		}
		if f.End.After(h.maxTime) {
			h.maxTime = f.End
		}
		if wm := h.maxTime.Add(-h.Lateness); wm.After(h.watermark) {
			h.Advance(wm)
		}
	}
}

func clobberFlow(s *event.Flow) {
	for i := range s.Intel.Hits {
		s.Intel.Hits[i] = event.IntelHit{Source: "clobbered", Category: "clobbered"}
	}
	*s = event.Flow{Rule: "clobbered", Resource: "clobbered", Geo: event.Geo{Country: "XX", ASOrg: "clobbered"},
		SrcAddr: netip.MustParseAddr("0.0.0.1"), DstAddr: netip.MustParseAddr("0.0.0.2"),
		Start: time.Unix(1, 0).UTC(), End: time.Unix(1, 0).UTC()}
}

// Advance moves the watermark to wm if it is later.
func (h *FlowHarness) Advance(wm time.Time) {
	if !wm.After(h.watermark) {
		return
	}
	h.watermark = wm
	h.shard.Advance(wm, h)
}

// Watermark returns the current watermark.
func (h *FlowHarness) Watermark() time.Time { return h.watermark }

// Flush closes every window (the engine's Flush at the end of an input).
func (h *FlowHarness) Flush() { h.Advance(h.maxTime.Add(100 * 365 * 24 * time.Hour)) }

// Reload snapshots the shard and restores every key into a fresh shard,
// which replaces it, as a restart does.
func (h *FlowHarness) Reload() error {
	fresh := h.Det.NewShard().(detect.FlowShard)
	err := h.shard.Snapshot(func(key string, state []byte) error {
		if err := fresh.Restore(key, slices.Clone(state)); err != nil {
			return fmt.Errorf("restore key %q: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reload %s: %w", h.Det.Name(), err)
	}
	h.shard = fresh
	return nil
}

// Candidates returns what was emitted so far, in the engine's order.
func (h *FlowHarness) Candidates() []alert.Candidate {
	out := slices.Clone(h.out)
	slices.SortStableFunc(out, Compare)
	return out
}

// RunFlows feeds flows to a fresh harness, flushes, and returns the candidates.
func RunFlows(d detect.FlowDetector, lateness time.Duration, flows []event.Flow) []alert.Candidate {
	h := NewFlow(d, lateness)
	h.Feed(flows...)
	h.Flush()
	return h.Candidates()
}

// FlowOption sets fields of a built flow.
type FlowOption func(*event.Flow)

// Flow builds an unsampled IPFIX record ending at t, one second long, of 3
// packets and 180 bytes, src and dst given as "address:port".
func Flow(t time.Time, proto uint8, src, dst string, opts ...FlowOption) event.Flow {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	f := event.Flow{
		Source: event.FlowIPFIX, Start: t.Add(-time.Second).UTC(), End: t.UTC(),
		SrcAddr: s.Addr(), DstAddr: d.Addr(), SrcPort: s.Port(), DstPort: d.Port(), Protocol: proto,
		Packets: 3, Bytes: 180, SamplingRate: 1,
		Exporter: netip.MustParseAddr("192.0.2.254"),
	}
	for _, o := range opts {
		o(&f)
	}
	return f
}

// TCP builds a TCP record (see Flow) with the given TCP flags (0: none
// exported).
func TCP(t time.Time, src, dst string, flags uint8, opts ...FlowOption) event.Flow {
	return Flow(t, 6, src, dst, append([]FlowOption{Flags(flags)}, opts...)...)
}

// TCP flags, as IPFIX tcpControlBits carries them.
const (
	FIN uint8 = 0x01
	SYN uint8 = 0x02
	RST uint8 = 0x04
	PSH uint8 = 0x08
	ACK uint8 = 0x10
)

// Flags sets the TCP flags.
func Flags(fl uint8) FlowOption { return func(f *event.Flow) { f.TCPFlags = fl } }

// Size sets the packets and bytes.
func Size(packets, bytes uint64) FlowOption {
	return func(f *event.Flow) { f.Packets, f.Bytes = packets, bytes }
}

// Lasting sets the flow's duration (Start = End - d).
func Lasting(d time.Duration) FlowOption { return func(f *event.Flow) { f.Start = f.End.Add(-d) } }

// Sampled sets 1-in-n packet sampling.
func Sampled(n uint32) FlowOption { return func(f *event.Flow) { f.SamplingRate = n } }

// RemoteGeo sets the flow's geo (of the remote address).
func RemoteGeo(g event.Geo) FlowOption { return func(f *event.Flow) { f.Geo = g } }

// Assets is an Attributor for tests: which resource held which address
// when. Fill it with Hold before use; Attribute is then safe for
// concurrent use (it only reads).
type Assets struct {
	leases map[netip.Addr][]lease
}

type lease struct {
	resource, subscription string
	from, to               time.Time
}

// Hold records that resourceID held addr from from until to (zero: for ever).
func (a *Assets) Hold(addr, resourceID string, from, to time.Time) {
	if a.leases == nil {
		a.leases = map[netip.Addr][]lease{}
	}
	ad := netip.MustParseAddr(addr).Unmap()
	a.leases[ad] = append(a.leases[ad], lease{resourceID, subscriptionOf(resourceID), from, to})
}

// Attribute implements network.Attributor.
func (a *Assets) Attribute(addr netip.Addr, t time.Time) (string, string, bool) {
	for _, l := range a.leases[addr.Unmap()] {
		if !t.Before(l.from) && (l.to.IsZero() || t.Before(l.to)) {
			return l.resource, l.subscription, true
		}
	}
	return "", "", false
}

func subscriptionOf(id string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "subscriptions") {
			return strings.ToLower(parts[i+1])
		}
	}
	return ""
}

// AddrIntel is Intel looked up by address (network.Intel, as
// enrich/intel.Index is).
type AddrIntel Intel

// Lookup returns the hits of addr, nil when none.
func (in AddrIntel) Lookup(addr netip.Addr) []event.IntelHit { return in[addr.Unmap()] }
