package kvbehaviour

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

func TestConfigDefaults(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	names := func(cfg Config) string {
		var out []string
		for _, d := range Detectors(cfg) {
			out = append(out, d.Name())
		}
		return strings.Join(out, ",")
	}
	if got := names(cfg); got != NameVault+","+NameTenant {
		t.Errorf("detectors %s", got)
	}
	cfg.UserAnomaly.Enabled, cfg.AppAnomaly.Enabled, cfg.UserAppAnomaly.Enabled, cfg.OperationVolume.Enabled = false, false, false, false
	if got := names(cfg); got != NameTenant {
		t.Errorf("vault detections off: detectors %s", got)
	}
	cfg.OperationPattern.Enabled, cfg.AccountVolume.Enabled = false, false
	if got := names(cfg); got != "" {
		t.Errorf("everything off: detectors %s", got)
	}
	for _, e := range DefaultExceptions() {
		if len(e.AppID) != 36 || e.Name == "" || !slices.Equal(e.Operations, []string{"VaultGet"}) {
			t.Errorf("default exception %+v", e)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // part of the error
	}{
		{"no evidence", func(c *Config) { c.MaxEvidence = 0 }, "maxEvidence must be >= 1"},
		{"negative learning", func(c *Config) { c.Learning = -time.Hour }, "learning must be between 0 and"},
		{"look-back shorter than learning", func(c *Config) { c.LookBack = 24 * time.Hour }, "lookBack must be > 0 and at least learning"},
		{"one day of history", func(c *Config) { c.HistoryDays = 1 }, "historyDays must be between 2 and 120"},
		{"zero window", func(c *Config) { c.Window = 0 }, "window must be > 0"},
		{"exception without app", func(c *Config) { c.Exceptions = append(c.Exceptions, Exception{Name: "x"}) }, "appId is empty"},
		{"exception of an unknown operation", func(c *Config) {
			c.Exceptions = append(c.Exceptions, Exception{AppID: "x", Operations: []string{"VaultRead"}})
		}, `"VaultRead" is not a Key Vault operation name`},
		{"unknown sensitive operation", func(c *Config) {
			c.OperationPattern.SensitiveOperations = []string{"SecretDump"}
		}, `operationPatternAnomaly.sensitiveOperations: "SecretDump"`},
		{"ratio below 1", func(c *Config) { c.OperationVolume.Ratio = 0.5 }, "operationVolumeAnomaly.ratio must be a number >= 1"},
		{"NaN peak ratio", func(c *Config) { c.OperationVolume.PeakRatio = nan() }, "operationVolumeAnomaly.peakRatio"},
		{"quantile above 1", func(c *Config) { c.AccountVolume.PeerQuantile = 1.5 }, "peerQuantile must be in (0, 1]"},
		{"no principals", func(c *Config) { c.MaxPrincipals = 0 }, "maxPrincipals must be between"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			// Detectors clamps what Validate refuses instead of failing.
			for _, d := range Detectors(cfg) {
				op := dt.KV(t0, vaultA, "SecretGet", dt.Caller(alice))
				if k, ok := d.PartitionKey(&op); ok {
					d.NewShard().Process(&op, k, &collect{})
				}
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

// TestConfigYAML decodes a file the way config.Load does (strict, over the
// defaults) and checks the keys land where documented.
func TestConfigYAML(t *testing.T) {
	src := `
learning: 336h
historyDays: 28
exceptions:
  - name: Contoso backup
    appId: 6A0C2E44-5E3B-4A8E-9B51-6E1D5F2A9C10
    operations: [secretbackup, KeyBackup]
userAppAnomaly:
  enabled: false
operationPatternAnomaly:
  minScore: 3
  sensitiveOperations: [secretpurge]
operationVolumeAnomaly:
  minCount: 500
accountVolumeAnomaly:
  peerQuantile: 0.95
`
	cfg := DefaultConfig()
	if err := yaml.UnmarshalWithOptions([]byte(src), &cfg, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Learning != 14*24*time.Hour || cfg.HistoryDays != 28 || len(cfg.Exceptions) != 1 || cfg.UserAppAnomaly.Enabled ||
		!cfg.UserAnomaly.Enabled || cfg.OperationPattern.MinScore != 3 || cfg.OperationVolume.MinCount != 500 ||
		cfg.OperationVolume.Ratio != 3 || cfg.AccountVolume.PeerQuantile != 0.95 || cfg.LookBack != 90*24*time.Hour {
		t.Errorf("decoded %+v", cfg)
	}
	s := clamp(cfg)
	if !s.sensitive.has("SecretPurge") || s.sensitive.has("SecretList") {
		t.Errorf("sensitive operations %v", s.sensitive)
	}
	backup := dt.KV(t0, vaultA, "SecretBackup", dt.Caller(event.Principal{AppID: "6a0c2e44-5e3b-4a8e-9b51-6e1d5f2a9c10", Type: event.PrincipalApp}))
	get := backup
	get.Operation = "SecretGet"
	for _, d := range Detectors(cfg) {
		if _, ok := d.PartitionKey(&backup); ok {
			t.Errorf("%s: the excepted backup is routed", d.Name())
		}
		if _, ok := d.PartitionKey(&get); !ok {
			t.Errorf("%s: the same application's SecretGet is not routed", d.Name())
		}
	}
	if err := yaml.UnmarshalWithOptions([]byte("operationVolumeAnomaly:\n  minCont: 5\n"), &cfg, yaml.Strict()); err == nil {
		t.Error("unknown key accepted")
	}
}

func TestExceptions(t *testing.T) {
	ex := newExceptions([]Exception{
		{AppID: "AAAA", Operations: []string{"VaultGet"}},
		{AppID: "aaaa", Operations: []string{"secretlist"}},
		{AppID: "bbbb"},
		{AppID: "bbbb", Operations: []string{"VaultGet"}}, // already every operation
		{AppID: " "},
	})
	tests := []struct {
		app, op string
		want    bool
	}{
		{"aaaa", "VaultGet", true}, {"AAAA", "SecretList", true}, {"aaaa", "SecretGet", false},
		{"bbbb", "SecretPurge", true}, {"BbBb", "KeyGet", true}, {"cccc", "VaultGet", false}, {"", "VaultGet", false},
	}
	for _, tc := range tests {
		op := event.Op{Operation: tc.op, Caller: event.Principal{AppID: tc.app}}
		if got := ex.match(&op); got != tc.want {
			t.Errorf("match(%s, %s) = %v, want %v", tc.app, tc.op, got, tc.want)
		}
	}
	if len(ex) != 2 {
		t.Errorf("%d app IDs, want 2", len(ex))
	}
	op := event.Op{Operation: "VaultGet", Caller: event.Principal{AppID: AppResourceGraph}}
	def := newExceptions(DefaultExceptions())
	if n := testing.AllocsPerRun(100, func() { def.match(&op) }); n != 0 {
		t.Errorf("match allocates %.0f times", n)
	}
}

// TestDocumentedOperations checks the embedded operation names against the
// copy of Microsoft's table in the shared data (testdata/PROVENANCE.md).
func TestDocumentedOperations(t *testing.T) {
	f, err := os.Open("keyvault-operation-names.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		n++
		if c, ok := canonical(strings.ToUpper(l)); !ok || c != l {
			t.Errorf("canonical(%q) = %q, %v", strings.ToUpper(l), c, ok)
		}
	}
	if n != len(documented) || n < 70 {
		t.Errorf("%d names in the file, %d known", n, len(documented))
	}
	for _, name := range []string{"SecretRead", "", "Vault"} {
		if _, ok := canonical(name); ok {
			t.Errorf("%q taken for an operation", name)
		}
	}
	if !management("VaultPatch") || management("SecretGet") {
		t.Error("management operations")
	}
}
