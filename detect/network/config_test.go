package network

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if normalise(cfg).MaxPeers != cfg.MaxPeers {
		t.Error("normalise changed a valid configuration")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error
	}{
		{"evidence", func(c *Config) { c.MaxEvidence = 0 }, "maxEvidence must be >= 1"},
		{"no ssh port", func(c *Config) { c.SSHPorts = nil }, "sshPorts is empty"},
		{"port 0", func(c *Config) { c.RDPPorts = []uint16{0} }, "rdpPorts: port 0"},
		{"port twice", func(c *Config) { c.RDPPorts = []uint16{22} }, "port 22 is both"},
		{"trusted", func(c *Config) { c.TrustedNetworks = []string{"10.0.0.0/33"} }, `trustedNetworks[0]: "10.0.0.0/33"`},
		{"attempt", func(c *Config) { c.Attempt.MaxPackets = 0 }, "attempt:"},
		{"confidence", func(c *Config) { c.SamplingConfidence = -1 }, "samplingConfidence"},
		{"minZ", func(c *Config) { c.Baseline.MinZ = 0 }, "baseline.minZ"},
		{"minWeeks", func(c *Config) { c.Baseline.MinWeeks = 17 }, "baseline.minWeeks"},
		{"forget", func(c *Config) { c.Baseline.Forget = time.Minute }, "baseline.forget"},
		{"mute", func(c *Config) { c.Mute = time.Second }, "mute must be >= 1m"},
		{"peers", func(c *Config) { c.MaxPeers = 0 }, "maxPeers"},
		{"window", func(c *Config) { c.Incoming.OneToOne.Short.Window = time.Second }, "incoming.oneToOne.short.window"},
		{"min", func(c *Config) { c.Outgoing.OneToMany.Min = 0 }, "outgoing.oneToMany.min"},
		{"scan", func(c *Config) { c.PortScanning.Targets.Window = 0 }, "portScanning.targets.window"},
		{"c2 categories", func(c *Config) { c.C2.Categories = nil }, "c2.categories is empty"},
		{"bad category", func(c *Config) { c.C2.Categories = []string{"evil"} }, `"evil" is not a category`},
		{"pools", func(c *Config) { c.CryptoMining.Pools = []string{"pool.example"} }, "cryptoMining.pools[0]"},
		{"stratum", func(c *Config) { c.CryptoMining.MinStratumFlows = 0 }, "minStratumFlows"},
		{"repeated tighter than the short exchange", func(c *Config) { c.Attempt.Repeated.MaxPackets = 10 }, "attempt:"},
		{"repeat tolerance", func(c *Config) { c.Attempt.RepeatTolerance = 1 }, "attempt:"},
		{"sampling records", func(c *Config) { c.Sampling.MinRecords = 0 }, "sampling:"},
		{"sampling window", func(c *Config) { c.Sampling.MaxWindow = time.Second }, "sampling:"},
		{"sampling scale", func(c *Config) { c.Sampling.ScaleAfter = 0 }, "sampling:"},
		{"unrecommended categories", func(c *Config) { c.UnrecommendedIP.Categories = nil }, "unrecommendedIp.categories is empty"},
		{"unrecommended volume", func(c *Config) { c.UnrecommendedIP.MaxFlows = -1 }, "unrecommendedIp:"},
		{"unrecommended window", func(c *Config) { c.UnrecommendedIP.Window = 0 }, "unrecommendedIp:"},
	}
	for _, tc := range tests {
		cfg := DefaultConfig()
		tc.mod(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
		// An invalid configuration still gives working detectors.
		for _, d := range Detectors(cfg, assets(), nil) {
			d.NewShard()
		}
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1": "192.0.2.1/32", "192.0.2.7/24": "192.0.2.0/24", "2001:db8::1": "2001:db8::1/128", "::ffff:192.0.2.1": "192.0.2.1/32",
	} {
		p, err := parsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("parsePrefix(%q) = %s, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "pool.example", "192.0.2.1/40", "1.2.3"} {
		if _, err := parsePrefix(in); err == nil {
			t.Errorf("parsePrefix(%q) gave no error", in)
		}
	}
}

func TestDetectorsSet(t *testing.T) {
	names := func(ds []detect.Detector) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Name())
			if _, ok := d.(detect.FlowDetector); !ok {
				t.Errorf("%s is not a flow detector", d.Name())
			}
			if !d.Consumes(event.KindFlow) || d.Consumes(event.KindKeyVault) || d.Consumes(event.KindActivity) {
				t.Errorf("%s consumes the wrong kinds", d.Name())
			}
			if _, ok := d.PartitionKey(&event.Op{Kind: event.KindKeyVault}); ok {
				t.Errorf("%s takes operations", d.Name())
			}
		}
		return out
	}
	cfg := DefaultConfig()
	if got := names(Detectors(cfg, assets(), nil)); !slices.Equal(got, []string{NameInbound, NameOutbound, NameIntel}) {
		t.Errorf("default: %v", got)
	}
	cfg.Incoming.Enabled, cfg.C2.Enabled, cfg.CryptoMining.Enabled, cfg.UnrecommendedIP.Enabled = false, false, false, false
	if got := names(Detectors(cfg, assets(), nil)); !slices.Equal(got, []string{NameOutbound}) {
		t.Errorf("all off: %v (the outbound detector stays for the counters)", got)
	}
	if Detectors(DefaultConfig(), nil, nil) != nil {
		t.Error("detectors without an Attributor")
	}
}
