package network

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

func TestPortScanning(t *testing.T) {
	hosts := func(port int, flags uint8, n int, opts ...dt.FlowOption) []event.Flow {
		var fs []event.Flow
		for i := range n {
			fs = append(fs, dt.TCP(t0.Add(time.Duration(i)*2*time.Second), ep(vmIP, 45000+i), ep("203.0.113."+strconv.Itoa(i+1), port),
				flags, append([]dt.FlowOption{dt.Size(1, 60)}, opts...)...))
		}
		return fs
	}
	tests := []struct {
		name  string
		cfg   func(*Config)
		flows []event.Flow
		want  []string
		check func(t *testing.T, cs []alert.Candidate)
	}{
		{
			name:  "SMB sweep of 40 hosts",
			flows: hosts(445, dt.SYN, 40),
			want:  []string{TypePortScanning, TypePortScanning + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				c := cs[0]
				if c.Details["port"] != "445" || c.Details["protocol"] != "SMB" || c.Details["targets"] != "25" ||
					c.Details["hosts"] != "25" || c.Details["ports"] != "1" || c.Details["attackerIp"] != vmIP {
					t.Errorf("details %v", c.Details)
				}
				if !slices.Equal(c.FingerprintKeys, []string{resVM, vmIP}) || c.Entities[0].Role != "compromised" {
					t.Errorf("fingerprint %v entities %+v", c.FingerprintKeys, c.Entities)
				}
				if s := cs[1]; s.Details["targets"] != "40" || s.Count != 15 || s.Details["threshold"] != "25" ||
					s.Details["window"] != "5m" || s.Details["firstTime"] != c.Details["firstTime"] {
					t.Errorf("summary %d %v", s.Count, s.Details)
				}
			},
		},
		{
			name: "one host, 30 ports (answered by resets: SYN and RST in the prober's record)",
			flows: func() []event.Flow {
				var fs []event.Flow
				for i := range 30 {
					fs = append(fs, dt.TCP(t0.Add(time.Duration(i)*time.Second), ep(vmIP, 45000), ep(attacker, 8000+i%3*1000+i), dt.SYN|dt.RST, dt.Size(2, 100)))
				}
				return fs
			}(),
			want: []string{TypePortScanning, TypePortScanning + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				if cs[0].Details["hosts"] != "1" || cs[0].Details["ports"] != "25" || cs[0].Evidence[0].Result != "refused" {
					t.Errorf("details %v evidence %+v", cs[0].Details, cs[0].Evidence[0])
				}
			},
		},
		{
			name:  "SSH sweeps are OneToMany's, not a port scan",
			flows: hosts(22, dt.SYN, 40),
			want:  []string{TypeSSHOutgoingOneToMany, TypeSSHOutgoingOneToMany + "+"},
		},
		{
			name:  "SSH sweeps are a port scan when the outgoing brute force is off",
			cfg:   func(c *Config) { c.Outgoing.Enabled = false },
			flows: hosts(22, dt.SYN, 30),
			want:  []string{TypePortScanning, TypePortScanning + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				if cs[0].Details["protocol"] != "SSH" {
					t.Errorf("protocol %q", cs[0].Details["protocol"])
				}
			},
		},
		{
			name:  "connections that work (a crawler) are not a scan",
			flows: hosts(443, dt.SYN|dt.ACK|dt.PSH|dt.FIN, 60, dt.Size(12, 6000)),
		},
		{
			name: "a web server's answers to many clients are not a scan",
			flows: func() []event.Flow {
				var fs []event.Flow
				for i := range 60 {
					fs = append(fs, dt.TCP(t0.Add(time.Duration(i)*time.Second), ep(vmIP, 443), ep("203.0.113."+strconv.Itoa(i+1), 50000+i), dt.SYN|dt.ACK, dt.Size(2, 120)))
				}
				return fs
			}(),
		},
		{
			name:  "below threshold: 24 targets",
			flows: hosts(445, dt.SYN, 24),
		},
		{
			name:  "without TCP flags: short records from an ephemeral port",
			flows: hosts(1433, 0, 30),
			want:  []string{TypePortScanning, TypePortScanning + "+"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			got := run(t, cfg, NameOutbound, tc.flows)
			if !slices.Equal(types(got), tc.want) {
				t.Fatalf("got %v, want %v", types(got), tc.want)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}
