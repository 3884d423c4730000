package network

import (
	"slices"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// beacons returns n records of our machine sending to dst:port every gap.
func beacons(start time.Time, gap time.Duration, n int, src, dst string, port int, opts ...dt.FlowOption) []event.Flow {
	out := make([]event.Flow, n)
	for i := range out {
		out[i] = dt.TCP(start.Add(time.Duration(i)*gap), ep(src, 51000+i), ep(dst, port), dt.SYN|dt.ACK|dt.PSH|dt.FIN,
			append([]dt.FlowOption{dt.Size(8, 1400)}, opts...)...)
	}
	return out
}

// replies returns n records of our listening port answering client, every
// gap (a whole reply direction: SYN-ACK, data, FIN).
func replies(start time.Time, gap time.Duration, n int, ours string, port int, client string, opts ...dt.FlowOption) []event.Flow {
	out := make([]event.Flow, n)
	for i := range out {
		out[i] = dt.TCP(start.Add(time.Duration(i)*gap), ep(ours, port), ep(client, 50000+i), dt.SYN|dt.ACK|dt.PSH|dt.FIN,
			append([]dt.FlowOption{dt.Size(12, 9000)}, opts...)...)
	}
	return out
}

func TestInitiated(t *testing.T) {
	tests := []struct {
		name string
		f    event.Flow
		want bool
	}{
		{"our SYN", dt.TCP(t0, ep(vmIP, 443), ep(c2Addr, 50000), dt.SYN), true},
		{"our whole connection from an ephemeral port", dt.TCP(t0, ep(vmIP, 50000), ep(c2Addr, 443), dt.SYN|dt.ACK|dt.PSH|dt.FIN), true},
		{"our server's whole reply", dt.TCP(t0, ep(vmIP, 22), ep(c2Addr, 50000), dt.SYN|dt.ACK|dt.PSH|dt.FIN), false},
		{"a reset from an ephemeral port", dt.TCP(t0, ep(vmIP, 50000), ep(c2Addr, 443), dt.RST|dt.ACK), false},
		{"a server port above 1024 answering", dt.TCP(t0, ep(vmIP, 8080), ep(c2Addr, 50000), dt.ACK|dt.PSH), false},
		{"a client to a high service port", dt.TCP(t0, ep(vmIP, 50000), ep(c2Addr, 4444), dt.ACK|dt.PSH), true},
		{"DNS from an ephemeral port", dt.Flow(t0, 17, ep(vmIP, 40000), ep(c2Addr, 53)), true},
		{"DNS answered by our resolver", dt.Flow(t0, 17, ep(vmIP, 53), ep(c2Addr, 40000)), false},
		{"ICMP", dt.Flow(t0, 1, ep(vmIP, 0), ep(c2Addr, 0)), true},
	}
	for _, tc := range tests {
		if got := initiated(&tc.f); got != tc.want {
			t.Errorf("%s: initiated = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTrafficFromUnrecommendedIP(t *testing.T) {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		cfg   func(*Config)
		flows []event.Flow
		want  []string
		check func(t *testing.T, cs []alert.Candidate)
	}{
		{
			name:  "our web server answers two listed addresses in a day: one informational alert when the day ends",
			flows: merge(replies(day.Add(time.Hour), time.Hour, 3, vmIP, 443, attacker), replies(day.Add(2*time.Hour), time.Hour, 1, vmIP, 443, attacker2)),
			want:  []string{TypeUnrecommendedIP},
			check: func(t *testing.T, cs []alert.Candidate) {
				c := cs[0]
				if c.Severity != alert.SeverityInformational || c.Count != 4 || !c.First.Equal(day.Add(time.Hour)) || !c.Last.Equal(day.Add(3*time.Hour)) {
					t.Errorf("severity %s count %d %s..%s", c.Severity, c.Count, c.First, c.Last)
				}
				d := c.Details
				if d["sources"] != attacker+" [3], "+attacker2+" [1]" || d["port"] != "443" || d["protocol"] != "TCP" ||
					d["victimIp"] != vmIP || d["window"] != "24h0m0s" && d["window"] != "24h" || d["windowStart"] != "2026-11-02T00:00:00Z" {
					t.Errorf("details %v", d)
				}
				if !slices.Equal(c.FingerprintKeys, []string{resVM, vmIP}) {
					t.Errorf("fingerprint %v", c.FingerprintKeys)
				}
			},
		},
		{
			name:  "two days: one alert each",
			flows: replies(day.Add(20*time.Hour), 8*time.Hour, 2, vmIP, 443, attacker),
			want:  []string{TypeUnrecommendedIP, TypeUnrecommendedIP},
		},
		{
			name:  "above MaxFlows in a day it is off",
			cfg:   func(c *Config) { c.UnrecommendedIP.MaxFlows = 3 },
			flows: replies(day, time.Minute, 4, vmIP, 443, attacker),
		},
		{
			name:  "MaxFlows 0 raises it at any volume",
			cfg:   func(c *Config) { c.UnrecommendedIP.MaxFlows = 0 },
			flows: replies(day, time.Second, 500, vmIP, 443, attacker),
			want:  []string{TypeUnrecommendedIP},
		},
		{
			name:  "below the minimum score (ipsum 2) it says nothing",
			flows: replies(day, time.Minute, 3, vmIP, 443, "1.0.164.165"),
		},
		{
			name:  "our resets are no answer",
			flows: replies(day, time.Minute, 3, vmIP, 443, attacker, dt.Flags(dt.RST|dt.ACK), dt.Size(1, 40)),
		},
		{
			name:  "our resource calling the listed address is not inbound traffic",
			flows: beacons(day, time.Minute, 3, vmIP, attacker, 443),
		},
		{
			name:  "disabled",
			cfg:   func(c *Config) { c.UnrecommendedIP.Enabled = false },
			flows: replies(day, time.Minute, 3, vmIP, 443, attacker),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			got := run(t, cfg, NameIntel, tc.flows)
			if !slices.Equal(types(got), tc.want) {
				t.Fatalf("got %v, want %v", types(got), tc.want)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestCommunicationWithC2(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func(*Config)
		flows []event.Flow
		want  []string
		check func(t *testing.T, cs []alert.Candidate)
	}{
		{
			name:  "beacons every 5 minutes for 2 hours: at once, then once an hour",
			flows: beacons(t0, 5*time.Minute, 24, vmIP, c2Addr, 443),
			want: []string{TypeCommunicationWithC2, TypeCommunicationWithC2 + "+", TypeCommunicationWithC2,
				TypeCommunicationWithC2 + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				c := cs[0]
				if c.Count != 1 || !c.Time.Equal(t0) || c.Resource != resVM {
					t.Errorf("first: count %d at %s on %s", c.Count, c.Time, c.Resource)
				}
				if c.Details["intelSource"] != "ipsum (malicious, 2026-08-22); c2-test (c2, 2026-10-30)" ||
					c.Details["remoteIp"] != c2Addr || c.Details["victimIp"] != vmIP || c.Details["port"] != "443" ||
					c.Details["protocol"] != "TCP" {
					t.Errorf("details %v", c.Details)
				}
				if !slices.Equal(c.FingerprintKeys, []string{resVM, vmIP, c2Addr}) {
					t.Errorf("fingerprint %v", c.FingerprintKeys)
				}
				if c.Evidence[0].Operation != "TCP 198.51.100.4:51000 -> 1.209.110.147:443 8 pkts [FSP.]" || c.Evidence[0].CallerIP != c2Addr {
					t.Errorf("evidence %+v", c.Evidence[0])
				}
				if s := cs[1]; s.Count != 11 || s.Details["flows"] != "11" {
					t.Errorf("summary count %d", s.Count)
				}
				if !cs[2].Time.Equal(t0.Add(time.Hour)) {
					t.Errorf("second hour's candidate at %s", cs[2].Time)
				}
			},
		},
		{
			name:  "incoming from the C2 address says nothing of our machine",
			flows: beacons(t0, time.Minute, 10, c2Addr, vmIP, 22),
		},
		{
			name:  "our resets and bare SYN-ACKs answering it are not communication",
			flows: merge(attempts(t0, time.Minute, 5, vmIP, c2Addr, 44321, dt.Flags(dt.RST|dt.ACK)), attempts(t0.Add(time.Second), time.Minute, 5, vmIP, c2Addr, 44322, dt.Flags(dt.SYN|dt.ACK))),
		},
		{
			name:  "our machine trying to reach it (SYN, no answer) is",
			flows: attempts(t0, time.Minute, 3, vmIP, c2Addr, 8443),
			want:  []string{TypeCommunicationWithC2, TypeCommunicationWithC2 + "+"},
		},
		{
			name:  "a malicious (not C2) address is not C2 by default",
			flows: beacons(t0, time.Minute, 5, vmIP, attacker, 443),
		},
		{
			name:  "malicious with a high score, when configured",
			cfg:   func(c *Config) { c.C2.Categories, c.C2.MinScore = []string{"c2", "malicious"}, 8 },
			flows: merge(beacons(t0, time.Minute, 1, vmIP, attacker, 443), beacons(t0, time.Minute, 1, vmIP, attacker2, 443)),
			want:  []string{TypeCommunicationWithC2},
			check: func(t *testing.T, cs []alert.Candidate) {
				if cs[0].Details["remoteIp"] != attacker {
					t.Errorf("remote %s (score 5 is below 8)", cs[0].Details["remoteIp"])
				}
			},
		},
		{
			name:  "from an address none of ours holds",
			flows: beacons(t0, time.Minute, 5, notOurs, c2Addr, 443),
		},
		{
			name:  "our SSH server answering a C2-listed client with data is not our resource contacting it",
			flows: replies(t0, time.Minute, 5, vmIP, 22, c2Addr),
		},
		{
			name:  "nor is a sampled SYN-ACK of our web server",
			flows: replies(t0, time.Minute, 5, vmIP, 443, c2Addr, dt.Flags(dt.SYN|dt.ACK), dt.Size(1, 60), dt.Sampled(100)),
		},
		{
			name:  "our resource calling the C2 on a sampled record without its SYN is",
			flows: beacons(t0, time.Minute, 1, vmIP, c2Addr, 8080, dt.Flags(dt.ACK|dt.PSH), dt.Sampled(100)),
			want:  []string{TypeCommunicationWithC2},
		},
		{
			name:  "ICMP from our resource to the C2 is",
			flows: []event.Flow{dt.Flow(t0, 1, ep(vmIP, 0), ep(c2Addr, 0))},
			want:  []string{TypeCommunicationWithC2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.UnrecommendedIP.Enabled = false
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			got := run(t, cfg, NameIntel, tc.flows)
			if !slices.Equal(types(got), tc.want) {
				t.Fatalf("got %v, want %v", types(got), tc.want)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestCryptoMining(t *testing.T) {
	// A miner keeps one connection open; the exporter writes a record a
	// minute (its active timeout).
	miner := func(dst string, port, n int, opts ...dt.FlowOption) []event.Flow {
		out := make([]event.Flow, n)
		for i := range out {
			out[i] = dt.TCP(t0.Add(time.Duration(i+1)*time.Minute), ep(vmIP, 49152), ep(dst, port), dt.ACK|dt.PSH,
				append([]dt.FlowOption{dt.Size(6, 900), dt.Lasting(time.Minute)}, opts...)...)
		}
		return out
	}
	tests := []struct {
		name  string
		cfg   func(*Config)
		flows []event.Flow
		want  []string
		check func(t *testing.T, cs []alert.Candidate)
	}{
		{
			name:  "a pool on the intelligence list",
			flows: miner(poolAddr, 45700, 3),
			want:  []string{TypeCryptoMining, TypeCryptoMining + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				c := cs[0]
				if c.Details["VM_IP"] != `["198.51.100.4"]` || c.Details["MiningPool_IP"] != `["94.130.143.162"]` ||
					c.Details["ConnectionCount"] != "1" || c.Details["trigger"] != "pool list" || c.Severity != "" ||
					c.Details["intelSource"] != "maltrail-crypto_mining (mining-pool)" || c.Details["port"] != "45700" {
					t.Errorf("details %v severity %q", c.Details, c.Severity)
				}
				if !slices.Equal(c.FingerprintKeys, []string{resVM, vmIP}) {
					t.Errorf("fingerprint %v", c.FingerprintKeys)
				}
				if s := cs[1]; s.Details["ConnectionCount"] != "2" || s.Count != 2 {
					t.Errorf("summary %v", s.Details)
				}
			},
		},
		{
			name:  "a pool in the configuration, without intelligence",
			cfg:   func(c *Config) { c.CryptoMining.Pools = []string{"203.0.113.64/26"} },
			flows: miner("203.0.113.70", 8080, 1),
			want:  []string{TypeCryptoMining},
		},
		{
			name:  "a stratum port, sustained: four records",
			flows: miner("203.0.113.77", 3333, 5),
			want:  []string{TypeCryptoMining, TypeCryptoMining + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				c := cs[0]
				if c.Details["trigger"] != "stratum port" || c.Severity != alert.SeverityMedium || c.Details["ConnectionCount"] != "4" ||
					c.Count != 4 || len(c.Evidence) != 4 {
					t.Errorf("details %v severity %q evidence %d", c.Details, c.Severity, len(c.Evidence))
				}
			},
		},
		{
			name:  "a stratum port, three short records: not sustained",
			flows: miner("203.0.113.77", 3333, 3, dt.Lasting(time.Second)),
		},
		{
			name:  "a stratum port, unanswered",
			flows: attempts(t0, time.Minute, 10, vmIP, "203.0.113.77", 3333),
		},
		{
			name:  "a listed pool's address connecting to our web server is not our resource mining",
			flows: replies(t0, time.Minute, 10, vmIP, 443, poolAddr),
		},
		{
			name:  "mining off",
			cfg:   func(c *Config) { c.CryptoMining.Enabled = false },
			flows: miner(poolAddr, 45700, 3),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			got := run(t, cfg, NameIntel, tc.flows)
			if !slices.Equal(types(got), tc.want) {
				t.Fatalf("got %v, want %v", types(got), tc.want)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}
