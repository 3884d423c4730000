package network

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// t0 is a Monday morning.
var t0 = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

const (
	sub        = "5f6e6521-6e5f-4b0b-80aa-bd44fad7a398"
	resVM      = "/subscriptions/" + sub + "/resourceGroups/web/providers/Microsoft.Compute/virtualMachines/vm-web-1"
	resVM2     = "/subscriptions/" + sub + "/resourceGroups/web/providers/Microsoft.Compute/virtualMachines/vm-web-2"
	resBastion = "/subscriptions/" + sub + "/resourceGroups/ops/providers/Microsoft.Compute/virtualMachines/bastion"
	resOld     = "/subscriptions/" + sub + "/resourceGroups/old/providers/Microsoft.Compute/virtualMachines/vm-old"
	resNew     = "/subscriptions/" + sub + "/resourceGroups/new/providers/Microsoft.Network/loadBalancers/lb-new"

	vmIP      = "198.51.100.4"
	vm2IP     = "198.51.100.5"
	bastionIP = "198.51.100.20"
	handIP    = "198.51.100.30" // held by resOld until t0+30m, then by resNew
	notOurs   = "198.51.100.99"

	// Outside addresses from the ipsum sample (real scores).
	attacker  = "77.90.185.20" // ipsum 10
	attacker2 = "1.27.251.252" // ipsum 5
	c2Addr    = "1.209.110.147"
	adminIP   = "192.0.2.10" // in the trusted admin range of testConfig
	poolAddr  = "94.130.143.162"
	pool2Addr = "107.191.47.239"
)

// assets is the estate: which resource held which address.
func assets() *dt.Assets {
	a := &dt.Assets{}
	a.Hold(vmIP, resVM, time.Time{}, time.Time{})
	a.Hold(vm2IP, resVM2, time.Time{}, time.Time{})
	a.Hold(bastionIP, resBastion, time.Time{}, time.Time{})
	a.Hold(handIP, resOld, time.Time{}, t0.Add(30*time.Minute))
	a.Hold(handIP, resNew, t0.Add(30*time.Minute), time.Time{})
	return a
}

// intel is ipsum's sample (category malicious), one of its addresses also
// on a C2 list, and Maltrail's pool endpoints (category mining-pool).
func testIntel(tb testing.TB) dt.AddrIntel {
	tb.Helper()
	in := dt.Intel{}
	if err := in.AddFile("testdata/ipsum.sample.txt", dt.IpsumHit(0)); err != nil {
		tb.Fatal(err)
	}
	c2 := netip.MustParseAddr(c2Addr)
	in[c2] = append(in[c2], event.IntelHit{Source: "c2-test", Category: "c2", Date: time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC)})
	f, err := os.Open("testdata/crypto_mining.sample.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if ap, err := netip.ParseAddrPort(line); err == nil && !strings.HasPrefix(line, "#") {
			a := ap.Addr()
			if len(in[a]) == 0 {
				in[a] = append(in[a], event.IntelHit{Source: "maltrail-crypto_mining", Category: "mining-pool"})
			}
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return dt.AddrIntel(in)
}

// testConfig is the default with an administrators' range.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.TrustedNetworks = append(cfg.TrustedNetworks, "192.0.2.0/28")
	return cfg
}

// detector returns the named detector of cfg.
func detector(tb testing.TB, cfg Config, name string) detect.FlowDetector {
	tb.Helper()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	for _, d := range Detectors(cfg, assets(), testIntel(tb)) {
		if d.Name() == name {
			return d.(detect.FlowDetector)
		}
	}
	tb.Fatalf("no detector %s", name)
	return nil
}

// ep is "address:port".
func ep(addr string, port int) string {
	return netip.AddrPortFrom(netip.MustParseAddr(addr), uint16(port)).String()
}

// attempts returns n failed connection attempts (SYN, no answer) from src
// to dst:port, every gap, starting at start.
func attempts(start time.Time, gap time.Duration, n int, src, dst string, port int, opts ...dt.FlowOption) []event.Flow {
	out := make([]event.Flow, n)
	for i := range out {
		out[i] = dt.TCP(start.Add(time.Duration(i)*gap), ep(src, 40000+i%20000), ep(dst, port), dt.SYN,
			append([]dt.FlowOption{dt.Size(1, 60)}, opts...)...)
	}
	return out
}

// merge orders flows by end time (stable).
func merge(parts ...[]event.Flow) []event.Flow {
	var out []event.Flow
	for _, p := range parts {
		out = append(out, p...)
	}
	sortFlows(out)
	return out
}

func sortFlows(fs []event.Flow) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].End.Before(fs[j-1].End); j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// run feeds flows through the named detector with a one-minute lateness,
// checks every candidate, and also checks that a snapshot and restore
// halfway gives the same candidates.
func run(t *testing.T, cfg Config, name string, flows []event.Flow) []alert.Candidate {
	t.Helper()
	d := detector(t, cfg, name)
	got := dt.RunFlows(d, time.Minute, flows)
	for _, c := range got {
		dt.CheckCandidate(t, c, cfg.MaxEvidence)
	}
	h := dt.NewFlow(detector(t, cfg, name), time.Minute)
	h.Feed(flows[:len(flows)/2]...)
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	h.Feed(flows[len(flows)/2:]...)
	h.Flush()
	if again := h.Candidates(); !sameCandidates(again, got) {
		t.Errorf("%s: %d candidates after a snapshot and restore halfway, %d without", name, len(again), len(got))
	}
	return got
}

func sameCandidates(a, b []alert.Candidate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Type != y.Type || !x.Time.Equal(y.Time) || !x.First.Equal(y.First) || x.Count != y.Count ||
			x.Resource != y.Resource || strings.Join(x.FingerprintKeys, "|") != strings.Join(y.FingerprintKeys, "|") ||
			len(x.Evidence) != len(y.Evidence) || x.Severity != y.Severity {
			return false
		}
	}
	return true
}

// types lists the candidates' types, with "+" on summaries.
func types(cs []alert.Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Type
		if c.Details["summary"] == "true" {
			out[i] += "+"
		}
	}
	return out
}
