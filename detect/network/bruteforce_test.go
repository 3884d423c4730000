package network

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// sessions returns n answered logins (a full handshake, 60 packets, 9 KB
// over 3 minutes) from src to dst:port, every gap.
func sessions(start time.Time, gap time.Duration, n int, src, dst string, port int) []event.Flow {
	out := make([]event.Flow, n)
	for i := range out {
		out[i] = dt.TCP(start.Add(time.Duration(i)*gap), ep(src, 50000+i), ep(dst, port), dt.SYN|dt.ACK|dt.PSH|dt.FIN,
			dt.Size(60, 9000), dt.Lasting(3*time.Minute))
	}
	return out
}

// shortLogins returns n refused passwords: whole connections of 14 packets
// and 2.6 KB over 4 s (within Attempt's bounds).
func shortLogins(start time.Time, gap time.Duration, n int, src, dst string, port int) []event.Flow {
	out := make([]event.Flow, n)
	for i := range out {
		out[i] = dt.TCP(start.Add(time.Duration(i)*gap), ep(src, 41000+i), ep(dst, port), dt.SYN|dt.ACK|dt.PSH|dt.FIN,
			dt.Size(14, 2600), dt.Lasting(4*time.Second))
	}
	return out
}

func TestBruteForceIncoming(t *testing.T) {
	tests := []struct {
		name  string
		flows []event.Flow
		want  []string
		check func(t *testing.T, cs []alert.Candidate)
	}{
		{
			name:  "SSH: 40 refused connections in 2 minutes",
			flows: attempts(t0, 3*time.Second, 40, attacker, vmIP, 22),
			want:  []string{TypeSSHIncomingOneToOne, TypeSSHIncomingOneToOne + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				c := cs[0]
				if c.Count != 25 || c.Details["connections"] != "25" || c.Details["threshold"] != "25" || c.Details["window"] != "5m" {
					t.Errorf("first: count %d details %v", c.Count, c.Details)
				}
				if c.Resource != resVM || c.SubscriptionID != sub || c.Details["victimIp"] != vmIP || c.Details["attackerIp"] != attacker ||
					c.Details["host"] != "vm-web-1" || c.Details["service"] != "SSH" || c.Details["port"] != "22" {
					t.Errorf("first: %s %s %v", c.Resource, c.SubscriptionID, c.Details)
				}
				if !slices.Equal(c.FingerprintKeys, []string{resVM, vmIP, attacker}) {
					t.Errorf("fingerprint %v", c.FingerprintKeys)
				}
				if !c.First.Equal(t0) || !c.Last.Equal(t0.Add(24*3*time.Second)) {
					t.Errorf("first %s last %s", c.First, c.Last)
				}
				e := c.Evidence[len(c.Evidence)-1]
				if len(c.Evidence) != 20 || e.Operation != "TCP 77.90.185.20:40024 -> 198.51.100.4:22 1 pkt [S]" || e.CallerIP != attacker ||
					e.Target != "198.51.100.4:22" || e.Result != "no answer" || e.Resource != resVM || e.Source != "ipfix 192.0.2.254" {
					t.Errorf("evidence %+v", e)
				}
				var ip alert.Entity
				for _, en := range c.Entities {
					if en.Type == alert.EntityIP {
						ip = en
					}
				}
				if ip.Address != attacker || ip.Role != "attacker" || len(ip.Intel) != 1 || ip.Intel[0] != "ipsum (malicious, 2026-08-22)" {
					t.Errorf("attacker entity %+v", ip)
				}
				if c.Entities[0].Type != alert.EntityAzureResource || c.Entities[1].Type != alert.EntityHost || c.Entities[1].Address != vmIP {
					t.Errorf("entities %+v", c.Entities[:2])
				}
				if s := cs[1]; s.Count != 15 || s.Details["summary"] != "true" || !slices.Equal(s.FingerprintKeys, c.FingerprintKeys) {
					t.Errorf("summary count %d details %v", s.Count, s.Details)
				}
			},
		},
		{
			name:  "RDP: refused passwords (short whole connections)",
			flows: shortLogins(t0, 5*time.Second, 30, attacker2, vmIP, 3389),
			want:  []string{TypeRDPIncomingOneToOne, TypeRDPIncomingOneToOne + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				if cs[0].Evidence[0].Result != "short exchange" || cs[0].Details["service"] != "RDP" {
					t.Errorf("evidence %+v", cs[0].Evidence[0])
				}
			},
		},
		{
			name:  "slow: 40 attempts over 20 minutes fire the 30-minute window",
			flows: attempts(t0, 30*time.Second, 40, attacker, vmIP, 22),
			want:  []string{TypeSSHIncomingOneToOne, TypeSSHIncomingOneToOne + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				if cs[0].Details["window"] != "30m" || cs[0].Details["threshold"] != "30" {
					t.Errorf("details %v", cs[0].Details)
				}
			},
		},
		{
			name:  "below threshold: 24 attempts in 5 minutes",
			flows: attempts(t0, 10*time.Second, 24, attacker, vmIP, 22),
		},
		{
			name:  "answered connections (successful logins) do not count",
			flows: sessions(t0, 5*time.Second, 60, attacker, vmIP, 22),
		},
		{
			name: "normal admin: a few typos then sessions",
			flows: merge(attempts(t0, time.Minute, 4, attacker2, vmIP, 22),
				sessions(t0.Add(10*time.Second), 2*time.Minute, 10, attacker2, vmIP, 22)),
		},
		{
			name:  "trusted admin range at any volume",
			flows: attempts(t0, time.Second, 100, adminIP, vmIP, 22),
		},
		{
			name:  "Azure's health probes (168.63.129.16) every 5 s",
			flows: attempts(t0, 5*time.Second, 720, "168.63.129.16", vmIP, 22, dt.Flags(dt.SYN|dt.ACK|dt.RST)),
		},
		{
			name:  "traffic to an address none of ours holds",
			flows: attempts(t0, time.Second, 100, attacker, notOurs, 22),
		},
		{
			name:  "east-west from another of our machines is not incoming",
			flows: attempts(t0, time.Second, 100, vm2IP, vmIP, 22),
		},
		{
			name: "attempts then a session: raised to high",
			flows: merge(attempts(t0, time.Second, 30, attacker, vmIP, 22),
				sessions(t0.Add(20*time.Second), time.Minute, 1, attacker, vmIP, 22)),
			want: []string{TypeSSHIncomingOneToOne, TypeSSHIncomingOneToOne + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				if cs[0].Severity != alert.SeverityHigh || cs[0].Details["sessions"] != "1" {
					t.Errorf("severity %q sessions %q", cs[0].Severity, cs[0].Details["sessions"])
				}
			},
		},
		{
			name: "the address changes hands: only the new owner's flows count for it",
			flows: merge(attempts(t0.Add(20*time.Minute), 10*time.Second, 20, attacker, handIP, 22),
				attempts(t0.Add(30*time.Minute+time.Second), 2*time.Second, 25, attacker, handIP, 22)),
			want: []string{TypeSSHIncomingOneToOne},
			check: func(t *testing.T, cs []alert.Candidate) {
				if cs[0].Resource != resNew || cs[0].Count != 25 || cs[0].Details["host"] != "lb-new" {
					t.Errorf("resource %s count %d", cs[0].Resource, cs[0].Count)
				}
			},
		},
		{
			name:  "sampled 1-in-100: one flow counts 100 but proves too little",
			flows: attempts(t0, time.Second, 1, attacker, vmIP, 22, dt.Sampled(100)),
		},
		{
			name:  "sampled 1-in-100: two flows count no more than two",
			flows: attempts(t0, 20*time.Second, 2, attacker, vmIP, 22, dt.Sampled(100)),
		},
		{
			name: "sampled: a long session's records are not attempts",
			flows: func() []event.Flow {
				var fs []event.Flow
				for i := range 60 { // a record a minute of 5 sampled packets, no SYN
					fs = append(fs, dt.TCP(t0.Add(time.Duration(i)*time.Minute), ep(attacker2, 50001), ep(vmIP, 3389),
						dt.ACK|dt.PSH, dt.Size(5, 4000), dt.Sampled(100), dt.Lasting(time.Minute)))
				}
				return fs
			}(),
		},
		{
			name: "botnet: 30 sources, 2 attempts each",
			flows: func() []event.Flow {
				var fs []event.Flow
				for i := range 30 {
					src := "203.0.113." + strconv.Itoa(i+1)
					fs = append(fs, attempts(t0.Add(time.Duration(i)*20*time.Second), 5*time.Second, 2, src, vmIP, 22)...)
				}
				sortFlows(fs)
				return fs
			}(),
			want: []string{TypeSSHIncomingManyToOne, TypeSSHIncomingManyToOne + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				c := cs[0]
				if c.Details["attackers"] != "25" || c.Count != 49 || !c.First.Equal(t0) || c.Details["victimIp"] != vmIP ||
					!strings.HasPrefix(c.Details["attackerIp"], "203.0.113.1, 203.0.113.2,") {
					t.Errorf("count %d details %v", c.Count, c.Details)
				}
				if !slices.Equal(c.FingerprintKeys, []string{resVM, vmIP}) {
					t.Errorf("fingerprint %v", c.FingerprintKeys)
				}
				// the summary tells the whole episode: every attacker, the
				// first time, the threshold and window that fired
				if s := cs[1]; s.Count != 11 || s.Details["attackers"] != "30" || s.Details["connections"] != "60" ||
					s.Details["threshold"] != "25" || s.Details["window"] != "30m" || s.Details["firstTime"] != c.Details["firstTime"] {
					t.Errorf("summary count %d details %v", s.Count, s.Details)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, testConfig(), NameInbound, tc.flows)
			if !slices.Equal(types(got), tc.want) {
				t.Fatalf("got %v, want %v", types(got), tc.want)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestBruteForceOutgoing(t *testing.T) {
	tests := []struct {
		name  string
		flows []event.Flow
		want  []string
		check func(t *testing.T, cs []alert.Candidate)
	}{
		{
			name:  "RDP: our machine hammers one outside host",
			flows: attempts(t0, 2*time.Second, 30, vmIP, attacker, 3389),
			want:  []string{TypeRDPOutgoingOneToOne, TypeRDPOutgoingOneToOne + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				c := cs[0]
				if c.Details["victimIp"] != attacker || c.Details["attackerIp"] != vmIP || c.Entities[0].Role != "compromised" {
					t.Errorf("details %v entities %+v", c.Details, c.Entities)
				}
			},
		},
		{
			name: "SSH: our machine sweeps 30 outside hosts",
			flows: func() []event.Flow {
				var fs []event.Flow
				for i := range 30 {
					fs = append(fs, attempts(t0.Add(time.Duration(i)*5*time.Second), time.Second, 1, vmIP, "203.0.113."+strconv.Itoa(i+1), 22)...)
				}
				return fs
			}(),
			want: []string{TypeSSHOutgoingOneToMany, TypeSSHOutgoingOneToMany + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				if cs[0].Details["victims"] != "25" || cs[0].Details["attackerIp"] != vmIP {
					t.Errorf("details %v", cs[0].Details)
				}
			},
		},
		{
			name:  "outgoing logins that work are not attempts",
			flows: sessions(t0, 10*time.Second, 40, vmIP, attacker, 22),
		},
		{
			name:  "from an address none of ours holds",
			flows: attempts(t0, time.Second, 60, notOurs, attacker, 22),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, testConfig(), NameOutbound, tc.flows)
			if !slices.Equal(types(got), tc.want) {
				t.Fatalf("got %v, want %v", types(got), tc.want)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

// TestBastionBaseline: a bastion whose monitoring connects every 8 s (37
// short connections in 5 minutes) fires in its first week, when nothing is
// known, and not once the baseline knows the hour; an attack well above the
// usual volume still fires.
func TestBastionBaseline(t *testing.T) {
	cfg := testConfig()
	cfg.Baseline.MinWeeks = 1
	monitor := "203.0.113.200"
	week := 7 * 24 * time.Hour
	normal := shortLogins(t0, 8*time.Second, int(2*week/(8*time.Second)), monitor, bastionIP, 22)
	attack := attempts(t0.Add(week+50*time.Hour), 500*time.Millisecond, 400, attacker, bastionIP, 22)
	got := dt.RunFlows(detector(t, cfg, NameInbound), time.Minute, merge(normal, attack))
	var firstWeek, secondWeek, attacks int
	for _, c := range got {
		switch {
		case c.Details["attackerIp"] == attacker:
			attacks++
			if c.Details["summary"] == "" && c.Details["expected"] == "" {
				t.Errorf("attack candidate without the baseline's expectation: %v", c.Details)
			}
		case c.Time.Before(t0.Add(week)):
			firstWeek++
		case c.Details["summary"] == "true" && c.First.Before(t0.Add(week)):
			// the summary of week 1's last episode
		default:
			secondWeek++
			t.Logf("week 2: %s %s %v", c.Type, c.Time, c.Details)
		}
	}
	if firstWeek == 0 || secondWeek != 0 || attacks == 0 {
		t.Errorf("monitoring fired %d times in week 1 and %d in week 2, the attack %d times; want >0, 0, >0",
			firstWeek, secondWeek, attacks)
	}
	cfg.Baseline.Enabled = false
	off := dt.RunFlows(detector(t, cfg, NameInbound), time.Minute, normal[len(normal)/2:])
	if len(off) == 0 {
		t.Error("without the baseline the monitoring of week 2 never fired: the test shows nothing")
	}
}
