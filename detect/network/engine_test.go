package network

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/enrich/intel"
	"github.com/vigil-security/vigil/event"
)

// estateVMs is the number of our machines in the estate stream,
// 198.51.100.64 to .127.
const estateVMs = 64

func estateAssets() *dt.Assets {
	a := assets()
	for i := range estateVMs {
		a.Hold(fmt.Sprintf("198.51.100.%d", 64+i), fmt.Sprintf("/subscriptions/%s/resourceGroups/estate/providers/Microsoft.Compute/virtualMachines/vm-%02d", sub, i), time.Time{}, time.Time{})
	}
	return a
}

func vm(i int) string { return fmt.Sprintf("198.51.100.%d", 64+i%estateVMs) }

// background is an hour-long slice of ordinary traffic of a 64-machine
// estate seen by a router, starting at start: internet scanners knocking
// on 22 and 3389 now and then, answered logins, our machines' HTTPS and DNS
// and their answers to clients, and transit traffic that is nobody's here.
// Records arrive up to 30 s out of order.
func background(r *rand.Rand, start time.Time, n int) []event.Flow {
	fs := make([]event.Flow, n)
	span := time.Hour
	for i := range fs {
		at := start.Add(time.Duration(i) * span / time.Duration(n)).Add(-time.Duration(r.IntN(30)) * time.Second)
		outside := fmt.Sprintf("203.0.%d.%d", 100+r.IntN(20), r.IntN(250)+1)
		me := vm(r.IntN(estateVMs))
		switch k := r.IntN(100); {
		case k < 8: // scanners
			port := []int{22, 3389}[r.IntN(2)]
			fs[i] = dt.TCP(at, ep(outside, 30000+r.IntN(30000)), ep(me, port), dt.SYN, dt.Size(1, 60))
		case k < 12: // logins that work
			fs[i] = dt.TCP(at, ep(outside, 30000+r.IntN(30000)), ep(me, 22), dt.SYN|dt.ACK|dt.PSH|dt.FIN, dt.Size(80, 12000), dt.Lasting(2*time.Minute))
		case k < 40: // our HTTPS out
			fs[i] = dt.TCP(at, ep(me, 30000+r.IntN(30000)), ep(outside, 443), dt.SYN|dt.ACK|dt.PSH|dt.FIN, dt.Size(20, 9000), dt.Lasting(3*time.Second))
		case k < 55: // clients of our web servers, and our answers
			if k%2 == 0 {
				fs[i] = dt.TCP(at, ep(outside, 30000+r.IntN(30000)), ep(me, 443), dt.SYN|dt.ACK|dt.PSH|dt.FIN, dt.Size(12, 1500))
			} else {
				fs[i] = dt.TCP(at, ep(me, 443), ep(outside, 30000+r.IntN(30000)), dt.SYN|dt.ACK|dt.PSH|dt.FIN, dt.Size(14, 20000))
			}
		case k < 65: // DNS
			fs[i] = dt.Flow(at, 17, ep(me, 30000+r.IntN(30000)), ep("192.0.2.53", 53), dt.Size(1, 80))
		default: // transit: neither side ours
			fs[i] = dt.TCP(at, ep(outside, 30000+r.IntN(30000)), ep(fmt.Sprintf("198.18.%d.%d", r.IntN(250), r.IntN(250)), 443), dt.SYN|dt.ACK|dt.PSH, dt.Size(10, 3000))
		}
	}
	return fs
}

// estateStream is three hours of background with one of each attack.
func estateStream(seed uint64) []event.Flow {
	r := rand.New(rand.NewPCG(seed, 7))
	var fs []event.Flow
	for h := range 3 {
		fs = append(fs, background(r, t0.Add(time.Duration(h)*time.Hour), 20000)...)
	}
	at := t0.Add(40 * time.Minute)
	fs = append(fs, attempts(at, 2*time.Second, 60, attacker, vm(5), 22)...)
	for i := range 30 {
		fs = append(fs, attempts(at.Add(time.Duration(i)*7*time.Second), 3*time.Second, 2, fmt.Sprintf("203.0.113.%d", i+1), vm(7), 3389)...)
	}
	for i := range 30 {
		fs = append(fs, attempts(at.Add(time.Duration(i)*4*time.Second), time.Second, 1, vm(9), fmt.Sprintf("203.0.113.%d", i+100), 22)...)
		fs = append(fs, attempts(at.Add(time.Duration(i)*3*time.Second), time.Second, 1, vm(11), fmt.Sprintf("203.0.113.%d", i+100), 445)...)
	}
	fs = append(fs, beacons(at, 10*time.Minute, 12, vm(13), c2Addr, 443)...)
	fs = append(fs, dt.TCP(at, ep(vm(15), 49152), ep(poolAddr, 45700), dt.ACK|dt.PSH, dt.Size(6, 900), dt.Lasting(time.Minute)))
	sortFlows(fs)
	return fs
}

func estateDetectors(tb testing.TB) []detect.Detector {
	return Detectors(testConfig(), estateAssets(), testIntel(tb))
}

func runEngine(e *detect.Engine, flows []event.Flow, batch int) []alert.Candidate {
	var out []alert.Candidate
	for i := 0; i < len(flows); i += batch {
		out = append(out, e.ProcessFlows(flows[i:min(i+batch, len(flows))])...)
	}
	return append(out, e.Flush()...)
}

func TestEngineSameOutputWhateverTheWorkers(t *testing.T) {
	flows := estateStream(1)
	var want []alert.Candidate
	for _, workers := range []int{1, 2, 5} {
		dets := estateDetectors(t)
		e := detect.New(dets, detect.Options{Workers: workers, Lateness: detect.DefaultLateness})
		got := runEngine(e, flows, 1000)
		e.Close()
		if want == nil {
			want = got
			seen := map[string]bool{}
			for _, c := range got {
				seen[c.Type] = true
				dt.CheckCandidate(t, c, DefaultConfig().MaxEvidence)
			}
			for _, typ := range []string{TypeSSHIncomingOneToOne, TypeRDPIncomingManyToOne, TypeSSHOutgoingOneToMany,
				TypePortScanning, TypeCommunicationWithC2, TypeCryptoMining} {
				if !seen[typ] {
					t.Errorf("the %s attack raised no candidate", typ)
				}
			}
			for _, c := range got {
				if !strings.Contains(c.Resource, "/estate/") {
					t.Errorf("%s on %s: the background fired", c.Type, c.Resource)
				}
			}
			st := StatsOf(dets)
			if st.Flows != uint64(len(flows)) || st.Unattributed == 0 || st.Outgoing == 0 || st.Incoming == 0 ||
				st.Outgoing+st.Incoming+st.Unattributed != st.Flows || st.Candidates != uint64(len(got)) {
				t.Errorf("stats %+v for %d flows and %d candidates", st, len(flows), len(got))
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("workers=%d: %d candidates differ from workers=1 (%d)", workers, len(got), len(want))
		}
	}
}

// sampledEstateStream is estateStream exported 1-in-10 (every record kept,
// its packets a tenth), with a web server answering a blocklisted client
// all day: state of every kind (sampled connections, episodes, the
// unrecommended-address window) crosses the snapshot.
func sampledEstateStream(seed uint64) []event.Flow {
	fs := estateStream(seed)
	for i := range fs {
		fs[i].SamplingRate = 10
		fs[i].Packets = max(1, fs[i].Packets/10)
	}
	fs = append(fs, replies(t0, 20*time.Minute, 9, vm(3), 443, attacker)...)
	sortFlows(fs)
	return fs
}

func TestEngineSnapshotRestore(t *testing.T) {
	for name, flows := range map[string][]event.Flow{"unsampled": estateStream(2), "sampled": sampledEstateStream(2)} {
		t.Run(name, func(t *testing.T) { snapshotRestore(t, flows) })
	}
}

func snapshotRestore(t *testing.T, flows []event.Flow) {
	whole := detect.New(estateDetectors(t), detect.Options{Workers: 3, Lateness: detect.DefaultLateness})
	want := runEngine(whole, flows, 700)
	whole.Close()
	half := len(flows) / 2
	for _, after := range []int{1, 4} {
		first := detect.New(estateDetectors(t), detect.Options{Workers: 3, Lateness: detect.DefaultLateness})
		var got []alert.Candidate
		for i := 0; i < half; i += 700 {
			got = append(got, first.ProcessFlows(flows[i:min(i+700, half)])...)
		}
		var buf bytes.Buffer
		if err := first.Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		first.Close()
		second := detect.New(estateDetectors(t), detect.Options{Workers: after, Lateness: detect.DefaultLateness})
		st, err := second.Restore(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if st.Keys == 0 || st.Unknown != 0 {
			t.Errorf("restored %+v", st)
		}
		got = append(got, runEngine(second, flows[half:], 700)...)
		second.Close()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("restored into %d workers: %d candidates, want %d", after, len(got), len(want))
		}
	}
	if len(want) < 5 {
		t.Errorf("only %d candidates: the stream exercises little state", len(want))
	}
}

// benchIntel is a threat-intelligence index of realistic size: the ipsum
// sample plus 120,000 addresses (ipsum's size) and 2,000 networks.
func benchIntel(b *testing.B) *intel.Index {
	bld := intel.NewBuilder()
	f, err := os.Open("testdata/ipsum.sample.txt")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := bld.AddReader(intel.Source{Name: "ipsum", Category: "malicious"}, f); err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	r := rand.New(rand.NewPCG(3, 3))
	for range 120000 {
		a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		sb.WriteString(a.String() + "\n")
	}
	for range 2000 {
		fmt.Fprintf(&sb, "%d.%d.%d.0/24\n", 1+r.IntN(223), r.IntN(256), r.IntN(256))
	}
	if _, err := bld.AddReader(intel.Source{Name: "bulk", Category: "c2"}, strings.NewReader(sb.String())); err != nil {
		b.Fatal(err)
	}
	return bld.Build()
}

// BenchmarkEngineFlows runs ordinary traffic (nothing fires) through
// attribution and every network detection on one worker, time moving on
// across iterations.
func BenchmarkEngineFlows(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	benchFlows(b, background(r, t0, 4096))
}

// BenchmarkEngineFlowsSampled is BenchmarkEngineFlows on the same traffic
// exported 1-in-100: each record a sampled packet or two (see Sampling).
func BenchmarkEngineFlowsSampled(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	flows := background(r, t0, 4096)
	for i := range flows {
		f := &flows[i]
		f.SamplingRate, f.Packets = 100, 1+uint64(r.IntN(2))
		f.Bytes = f.Packets * 120
	}
	benchFlows(b, flows)
}

func benchFlows(b *testing.B, flows []event.Flow) {
	dets := Detectors(testConfig(), estateAssets(), benchIntel(b))
	e := detect.New(dets, detect.Options{Workers: 1, Lateness: detect.DefaultLateness})
	defer e.Close()
	span := time.Hour
	shift := func() {
		for i := range flows {
			flows[i].Start = flows[i].Start.Add(span)
			flows[i].End = flows[i].End.Add(span)
		}
	}
	// warm up: every key has state, every table its size
	for range 3 {
		e.ProcessFlows(flows)
		shift()
	}
	b.ReportAllocs()
	cpu := dt.ProcessCPU()
	n := 0
	for b.Loop() {
		if c := e.ProcessFlows(flows); len(c) != 0 {
			b.Fatalf("ordinary traffic raised %d candidates: %s %v", len(c), c[0].Type, c[0].Details)
		}
		shift()
		n += len(flows)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "flows/s")
	b.ReportMetric(float64(dt.ProcessCPU()-cpu)/float64(n), "cpu-ns/flow")
}

// TestNoAllocationPerFlow: once the state of an estate exists, a flow that
// fires nothing (from known peers, time moving on) allocates nothing
// through routing, attribution, intelligence and every detection. The
// shards are driven as the engine drives them (the engine itself allocates
// once per batch when it advances the watermark).
func TestNoAllocationPerFlow(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	flows := background(r, t0, 512)
	dets := Detectors(testConfig(), estateAssets(), testIntel(t))
	shards := make([]detect.FlowShard, len(dets))
	for i, d := range dets {
		shards[i] = d.NewShard().(detect.FlowShard)
	}
	var em discard
	step := func() { // the same hour of traffic, ten minutes later each time
		var last time.Time
		for i := range flows {
			f := &flows[i]
			f.Start = f.Start.Add(10 * time.Minute)
			f.End = f.End.Add(10 * time.Minute)
			if f.End.After(last) {
				last = f.End
			}
			for j, d := range dets {
				if k, ok := d.(detect.FlowDetector).FlowKey(f); ok {
					shards[j].ProcessFlow(f, k, em)
				}
			}
		}
		for _, sh := range shards {
			sh.Advance(last.Add(-time.Minute), em)
		}
	}
	for range 50 {
		step()
	}
	if n := testing.AllocsPerRun(200, step); n != 0 {
		t.Errorf("%.2f allocations per batch of %d flows, want 0", n, len(flows))
	}
}

func TestStatsTrustedAndInternal(t *testing.T) {
	dets := Detectors(testConfig(), assets(), testIntel(t))
	e := detect.New(dets, detect.Options{Workers: 2, Lateness: detect.DefaultLateness})
	defer e.Close()
	flows := merge(attempts(t0, time.Second, 10, adminIP, vmIP, 22), attempts(t0, time.Second, 7, vm2IP, vmIP, 3389),
		attempts(t0, time.Second, 5, attacker, notOurs, 22))
	runEngine(e, flows, 100)
	st := StatsOf(dets)
	// the inbound detector skips 10 trusted and 7 internal records; the
	// outbound one sees the 7 internal ones leave vm2 (not failed
	// initiations it follows: SSH/RDP ports are the brute force's) and
	// skips them as internal too
	if st.Flows != 22 || st.Outgoing != 7 || st.Incoming != 10 || st.Unattributed != 5 || st.Trusted != 10 || st.Internal != 14 {
		t.Errorf("stats %+v", st)
	}
	cfg := testConfig()
	cfg.IncludeInternal = true
	got := dt.RunFlows(detector(t, cfg, NameInbound), time.Minute, attempts(t0, time.Second, 30, vm2IP, vmIP, 3389))
	if len(got) == 0 || got[0].Type != TypeRDPIncomingOneToOne || got[0].Details["attackerIp"] != vm2IP {
		t.Errorf("with includeInternal, east-west brute force: %v", types(got))
	}
}
