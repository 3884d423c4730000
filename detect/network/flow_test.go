package network

import (
	"math"
	"net/netip"
	"testing"
	"time"

	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

func TestClassify(t *testing.T) {
	a := DefaultConfig().Attempt
	at := func(flags uint8, opts ...dt.FlowOption) event.Flow {
		return dt.TCP(t0, ep(attacker, 40000), ep(vmIP, 22), flags, opts...)
	}
	tests := []struct {
		name string
		f    event.Flow
		cls  class
		why  reason
	}{
		{"SYN alone: no answer", at(dt.SYN, dt.Size(3, 180)), classAttempt, reasonNoAnswer},
		{"SYN and RST: refused", at(dt.SYN|dt.RST, dt.Size(2, 100)), classAttempt, reasonRefused},
		{"RST with ACK, no payload", at(dt.RST | dt.ACK), classAttempt, reasonRefused},
		{"short login exchange", at(dt.SYN|dt.ACK|dt.PSH|dt.FIN, dt.Size(14, 2600), dt.Lasting(4*time.Second)), classAttempt, reasonShort},
		{"more packets than a short exchange: a repeat candidate", at(dt.SYN|dt.ACK|dt.PSH|dt.FIN, dt.Size(21, 2600)), classRepeat, reasonRepeated},
		{"more bytes: a repeat candidate", at(dt.SYN|dt.ACK|dt.PSH|dt.FIN, dt.Size(14, 5001)), classRepeat, reasonRepeated},
		{"longer: a repeat candidate", at(dt.SYN|dt.ACK|dt.PSH|dt.FIN, dt.Size(14, 2600), dt.Lasting(13*time.Second)), classRepeat, reasonRepeated},
		{"too many packets: session", at(dt.SYN|dt.ACK|dt.PSH|dt.FIN, dt.Size(41, 2600)), classSession, reasonSession},
		{"too many bytes: session", at(dt.SYN|dt.ACK|dt.PSH|dt.FIN, dt.Size(14, 8001)), classSession, reasonSession},
		{"too long: session", at(dt.SYN|dt.ACK|dt.PSH|dt.FIN, dt.Size(14, 2600), dt.Lasting(26*time.Second)), classSession, reasonSession},
		{"reset after payload: by size", at(dt.SYN|dt.ACK|dt.PSH|dt.RST, dt.Size(14, 2600)), classAttempt, reasonShort},
		{"later record of a long connection", at(dt.ACK|dt.PSH, dt.Size(400, 90000)), classNone, reasonNone},
		{"no flags, small", at(0, dt.Size(10, 1900)), classAttempt, reasonShort},
		{"no flags, large", at(0, dt.Size(300, 90000)), classSession, reasonSession},
		{"no flags, a repeat candidate", at(0, dt.Size(26, 4249), dt.Lasting(10*time.Second)), classRepeat, reasonRepeated},
	}
	for _, tc := range tests {
		cls, why := a.classify(&tc.f)
		if cls != tc.cls || why != tc.why {
			t.Errorf("%s: class %d reason %d, want %d %d", tc.name, cls, why, tc.cls, tc.why)
		}
	}
}

func TestSimilar(t *testing.T) {
	tests := []struct {
		p0, b0, p1, b1 uint64
		want           bool
	}{
		{22, 3737, 26, 4249, true},  // sshguess.pcap's neighbours: 15% and 12% apart
		{22, 3737, 22, 3737, true},  // identical
		{22, 3737, 30, 3737, false}, // 27% more packets
		{22, 3737, 22, 5000, false}, // 25% more bytes
		{0, 0, 0, 0, true},
	}
	for _, tc := range tests {
		if got := similar(tc.p0, tc.b0, tc.p1, tc.b1, 0.2); got != tc.want {
			t.Errorf("similar(%d, %d, %d, %d) = %v, want %v", tc.p0, tc.b0, tc.p1, tc.b1, got, tc.want)
		}
	}
}

func TestFlowPredicates(t *testing.T) {
	out := func(sport, dport int, flags uint8, opts ...dt.FlowOption) event.Flow {
		return dt.TCP(t0, ep(vmIP, sport), ep(attacker, dport), flags, opts...)
	}
	udp := dt.Flow(t0, 17, ep(vmIP, 5353), ep(attacker, 53))
	tests := []struct {
		name                 string
		f                    event.Flow
		failed, sends, estab bool
	}{
		{"SYN out", out(45000, 445, dt.SYN), true, true, false},
		{"SYN RST out (prober's record)", out(45000, 445, dt.SYN|dt.RST), true, false, false},
		{"SYN-ACK reply", out(443, 50000, dt.SYN|dt.ACK, dt.Size(2, 120)), false, false, true},
		{"RST-ACK reply", out(22, 50000, dt.RST|dt.ACK), false, false, false},
		{"established with payload", out(45000, 443, dt.SYN|dt.ACK|dt.PSH|dt.FIN, dt.Size(8, 1400)), false, true, true},
		{"no flags, ephemeral to service", out(45000, 1433, 0), true, true, true},
		{"no flags, service to ephemeral", out(1433, 45000, 0), false, true, true},
		{"no flags, sampled", out(45000, 1433, 0, dt.Sampled(10)), false, true, true},
		{"UDP", udp, false, true, false},
	}
	for _, tc := range tests {
		if got := failedInitiation(&tc.f); got != tc.failed {
			t.Errorf("%s: failedInitiation = %v", tc.name, got)
		}
		if got := sends(&tc.f); got != tc.sends {
			t.Errorf("%s: sends = %v", tc.name, got)
		}
		if got := established(&tc.f); got != tc.estab {
			t.Errorf("%s: established = %v", tc.name, got)
		}
	}
}

// TestPoissonLower compares Byar's approximation with the exact one-sided
// 95% lower bounds (chi-square quantiles / 2: Garwood 1936).
func TestPoissonLower(t *testing.T) {
	exact := map[uint64]float64{1: 0.0513, 2: 0.3554, 3: 0.8177, 5: 1.9701, 10: 5.4254, 30: 21.594}
	for k, want := range exact {
		got := poissonLower(k, 1.645)
		if math.Abs(got-want) > 0.02*want+0.015 {
			t.Errorf("poissonLower(%d) = %.4f, exact %.4f", k, got, want)
		}
		if got > want+0.001 {
			t.Errorf("poissonLower(%d) = %.4f is above the exact bound %.4f", k, got, want)
		}
	}
	if poissonLower(0, 1.645) != 0 {
		t.Error("no event gives a bound above 0")
	}
	for _, tc := range []struct {
		w    uint64
		n    uint32
		z    float64
		want float64
	}{
		{25, 25, 1.645, 25},         // unsampled: exact
		{100, 1, 1.645, 5.13 - 1.1}, // one sampled record at 1-in-100: about 4
		{200, 2, 1.645, 34.5},
		{200, 2, 0, 200}, // z 0: the point estimate
		{0, 0, 1.645, 0},
	} {
		if got := conservative(tc.w, tc.n, tc.z); math.Abs(got-tc.want) > 0.5 {
			t.Errorf("conservative(%d, %d, %v) = %.2f, want %.2f", tc.w, tc.n, tc.z, got, tc.want)
		}
	}
}

func TestChao1(t *testing.T) {
	tests := []struct {
		d, f1, f2, rate uint32
		want            float64
	}{
		{30, 10, 5, 1, 30},     // unsampled: what was seen
		{30, 10, 5, 100, 37.5}, // 30 + 10*9/(2*6)
		{10, 10, 0, 100, 55},   // all singletons: 10 + 45
		{10, 10, 0, 2, 20},     // at most d x rate
		{5, 0, 0, 100, 5},      // no singletons: nothing unseen
		{1, 1, 0, 1000, 1},
	}
	for _, tc := range tests {
		if got := chao1(tc.d, tc.f1, tc.f2, tc.rate); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("chao1(%d, %d, %d, %d) = %v, want %v", tc.d, tc.f1, tc.f2, tc.rate, got, tc.want)
		}
	}
}

func TestRing(t *testing.T) {
	var r ring
	for s := int64(100); s < 110; s++ {
		r.add(s, 10)
	}
	if w, n := r.sum(109); w != 60 || n != 6 {
		t.Errorf("sum over the last 6 buckets = %d/%d, want 60/6", w, n)
	}
	if w, _ := r.sum(112); w != 30 {
		t.Errorf("sum 3 buckets later = %d, want 30", w)
	}
	if w, _ := r.sum(200); w != 0 {
		t.Errorf("sum long after = %d, want 0", w)
	}
	r.add(103, 5) // older than the window: dropped
	if w, _ := r.sum(109); w != 60 {
		t.Errorf("a record older than the window changed the sum to %d", w)
	}
	r.add(107, 5) // late but inside
	if w, _ := r.sum(109); w != 65 {
		t.Errorf("late record in the window: sum %d, want 65", w)
	}
	r.add(109, math.MaxUint32)
	if w, _ := r.sum(109); w < math.MaxUint32 {
		t.Errorf("saturation lost weight: %d", w)
	}
}

func TestDistinctRing(t *testing.T) {
	var tb table
	for i := range 10 {
		it := tb.add(target{Addr: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})}, 100)
		tb.d.touch(it, int64(100+i/2), 1) // slots 100..104
	}
	if n, f1, f2 := tb.d.sum(104); n != 10 || f1 != 10 || f2 != 0 {
		t.Errorf("sum = %d, %d, %d; want 10 distinct, all seen once", n, f1, f2)
	}
	it := tb.get(target{Addr: netip.AddrFrom4([4]byte{203, 0, 113, 0})})
	tb.d.touch(it, 105, 1) // seen twice, moves to slot 105
	if n, f1, f2 := tb.d.sum(105); n != 10 || f1 != 9 || f2 != 1 {
		t.Errorf("after a second packet: %d, %d, %d", n, f1, f2)
	}
	// Slot 106 drops slot 100 (which held target 1 only now).
	if n, _, _ := tb.d.sum(106); n != 9 {
		t.Errorf("one slot later: %d distinct, want 9", n)
	}
	tb.remove(tb.index[it.Key])
	if n, _, f2 := tb.d.sum(105); n != 9 || f2 != 0 {
		t.Errorf("after removing a target: %d distinct, f2 %d", n, f2)
	}
	j := tb.toJSON()
	back, err := fromJSON(j, 100)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := fmtSum(back.d.sum(105)), fmtSum(tb.d.sum(105)); a != b {
		t.Errorf("restored distinct ring %v, want %v", a, b)
	}
	if _, err := fromJSON(j, 5); err == nil {
		t.Error("a table larger than maxPeers was restored")
	}
}

func fmtSum(n, f1, f2 uint32) [3]uint32 { return [3]uint32{n, f1, f2} }

func TestAddrKeyAndText(t *testing.T) {
	v4 := netip.MustParseAddr("198.51.100.4")
	if addrKey(v4) != addrKey(netip.MustParseAddr("::ffff:198.51.100.4")) {
		t.Error("an IPv4-mapped address keys differently from the IPv4 one")
	}
	if addrKey(v4) == addrKey(netip.MustParseAddr("198.51.100.5")) {
		t.Error("neighbouring addresses share a key")
	}
	// Snapshots name states by key: the key of an address never changes.
	if got := addrKey(v4); got != 0x4c83175d9196814c {
		t.Errorf("addrKey(198.51.100.4) = %#x, want 0x4c83175d9196814c", got)
	}
	for fl, want := range map[uint8]string{0x02: "S", 0x12: "S.", 0x14: "R.", 0x19: "FP.", 0x1b: "FSP.", 0xd2: "S.EW"} {
		if got := flagText(fl); got != want {
			t.Errorf("flagText(%#x) = %q, want %q", fl, got, want)
		}
	}
	r := flowRec{End: t0.UnixNano(), Src: netip.MustParseAddr("2001:db8::1"), Dst: v4, SrcPort: 5000, DstPort: 3389,
		Proto: 6, Flags: 0x02, Packets: 1, Rate: 512, Reason: reasonSampled, Source: event.FlowNetFlow9}
	e := r.evidence(resVM, r.Src)
	if e.Operation != "TCP [2001:db8::1]:5000 -> 198.51.100.4:3389 1 pkt [S]" || e.Target != "198.51.100.4:3389" ||
		e.Result != "sampled connection, sampled 1-in-512" || e.Source != "netflow9" {
		t.Errorf("evidence %+v", e)
	}
	icmp := flowRec{End: t0.UnixNano(), Src: v4, Dst: netip.MustParseAddr(attacker), Proto: 1, Packets: 4}
	if e := icmp.evidence(resVM, icmp.Dst); e.Operation != "ICMP 198.51.100.4 -> 77.90.185.20 4 pkts" || e.Target != "198.51.100.4" {
		t.Errorf("icmp evidence %+v", e)
	}
}
