package network

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// maxFuzzKey and maxFuzzState cap what FuzzRestore restores. Every input
// that widens coverage is minimized (one execution per byte removed, up to
// quadratic in its length) before fuzzing goes on; with 12 KB states a run
// of a few seconds did not get past its seed corpus.
const (
	maxFuzzKey   = 64
	maxFuzzState = 2 << 10
)

// FuzzRestore: a damaged or hostile snapshot entry is refused with an
// error or restored into a state the detector can keep using; it never
// panics.
func FuzzRestore(f *testing.F) {
	// Seeds: real states of every detector after half the estate stream,
	// unsampled and sampled.
	for _, flows := range [][]event.Flow{estateStream(5), sampledEstateStream(5)} {
		fuzzSeeds(f, flows)
	}
	f.Add(NameInbound, "1", []byte(`{"v":1}`))
	f.Add(NameIntel, "x", []byte(`{}`))
	dets := map[string]detect.Detector{}
	for _, d := range Detectors(testConfig(), estateAssets(), testIntel(f)) {
		dets[d.Name()] = d
	}
	probe := merge(attempts(t0.Add(2*time.Hour), time.Second, 30, attacker, vm(5), 22),
		beacons(t0.Add(2*time.Hour), time.Minute, 3, vm(13), c2Addr, 443),
		attempts(t0.Add(2*time.Hour), time.Second, 30, attacker, vm(5), 22, dt.Sampled(100)),
		replies(t0.Add(2*time.Hour), time.Minute, 3, vm(3), 443, attacker))
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, name, key string, state []byte) {
		key, state = key[:min(len(key), maxFuzzKey)], state[:min(len(state), maxFuzzState)]
		d, ok := dets[name]
		if !ok {
			return
		}
		sh := d.NewShard().(detect.FlowShard)
		if err := sh.Restore(key, state); err != nil {
			return
		}
		fd := d.(detect.FlowDetector)
		for i := range probe {
			if k, ok := fd.FlowKey(&probe[i]); ok {
				sh.ProcessFlow(&probe[i], k, discard{})
			}
		}
		sh.Advance(t0.Add(100*time.Hour), discard{})
		_ = sh.Snapshot(func(string, []byte) error { return nil })
	})
}

// fuzzSeeds adds the largest states of every detector after half of flows.
func fuzzSeeds(f *testing.F, flows []event.Flow) {
	for _, d := range Detectors(testConfig(), estateAssets(), testIntel(f)) {
		sh := d.NewShard()
		fd := d.(detect.FlowDetector)
		for i := range flows[:len(flows)/2] {
			if k, ok := fd.FlowKey(&flows[i]); ok {
				sh.(detect.FlowShard).ProcessFlow(&flows[i], k, discard{})
			}
		}
		var states [][2]string
		_ = sh.Snapshot(func(key string, state []byte) error {
			states = append(states, [2]string{key, string(state)})
			return nil
		})
		// the largest states that fit maxFuzzState: the machines with most
		// peers, episodes and baselines
		states = slices.DeleteFunc(states, func(s [2]string) bool { return len(s[1]) > maxFuzzState })
		slices.SortFunc(states, func(a, b [2]string) int { return cmp.Or(len(b[1])-len(a[1]), strings.Compare(a[0], b[0])) })
		for _, s := range states[:min(len(states), 4)] {
			f.Add(d.Name(), s[0], []byte(s[1]))
		}
	}
}

type discard struct{}

func (discard) Emit(alert.Candidate) {}

// maxFuzzFlows caps the flows of one FuzzFlows input (16 bytes each): each
// goes through every detector, and every input that widens coverage is
// minimized byte by byte.
const maxFuzzFlows = 32

// FuzzFlows: any sequence of records (bad times, huge sampling rates, odd
// flags, zero packets) gives well-formed candidates and no panic.
func FuzzFlows(f *testing.F) {
	f.Add([]byte{0, 2, 1, 22, 0, 0, 1, 0})
	f.Add([]byte("\x05\x12\x03\x0d\x3d\xff\xff\xff\xff\x01\x02\x03\x04\x05\x06\x07\x08"))
	seed := make([]byte, 0, 16*maxFuzzFlows)
	for i := range maxFuzzFlows {
		seed = append(seed, 1, 0x02, 5, 0x16, byte(i), 1, 0, 0, 0, 1, byte(i), 0, 0, 0, 0, 0)
	}
	f.Add(seed)
	ours := []netip.Addr{netip.MustParseAddr(vmIP), netip.MustParseAddr(bastionIP), netip.MustParseAddr(handIP)}
	remote := []netip.Addr{netip.MustParseAddr(attacker), netip.MustParseAddr(c2Addr), netip.MustParseAddr(poolAddr),
		netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("2001:db8::9"), netip.MustParseAddr("::ffff:198.51.100.4")}
	ports := []uint16{22, 3389, 443, 445, 3333, 45700, 0, 65535}
	dets := Detectors(testConfig(), assets(), testIntel(f))
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		data = data[:min(len(data), maxFuzzFlows*16)]
		var flows []event.Flow
		at := t0
		for len(data) >= 16 {
			b := data[:16]
			data = data[16:]
			at = at.Add(time.Duration(int8(b[4])) * time.Second)
			fl := event.Flow{Source: event.FlowIPFIX, End: at, Start: at.Add(-time.Duration(b[5]) * time.Second),
				Protocol: []uint8{6, 17, 1, 6}[b[0]%4], TCPFlags: b[1], Packets: uint64(b[2]), Bytes: uint64(binary.LittleEndian.Uint16(b[6:])),
				SamplingRate: binary.LittleEndian.Uint32(b[8:]) % 5000, SrcPort: ports[b[12]%8], DstPort: ports[b[13]%8]}
			if b[3]&1 == 0 {
				fl.SrcAddr, fl.DstAddr = remote[int(b[14])%len(remote)], ours[int(b[15])%len(ours)]
			} else {
				fl.SrcAddr, fl.DstAddr = ours[int(b[15])%len(ours)], remote[int(b[14])%len(remote)]
			}
			if b[3]&2 != 0 {
				fl.SrcPort, fl.DstPort = 40000+uint16(b[14]), ports[b[3]>>5]
			}
			flows = append(flows, fl)
		}
		for _, d := range dets {
			h := dt.NewFlow(d.(detect.FlowDetector), time.Minute)
			h.Feed(flows...)
			h.Flush()
			for _, c := range h.Candidates() {
				dt.CheckCandidate(t, c, DefaultConfig().MaxEvidence)
			}
		}
	})
}
