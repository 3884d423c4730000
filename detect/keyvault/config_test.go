package keyvault

import (
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	dt "github.com/vigil-security/vigil/detect/detecttest"
)

func TestConfigDefaults(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	var names []string
	for _, d := range Detectors(cfg) {
		names = append(names, d.Name())
	}
	if strings.Join(names, ",") != "KV_TORAccess,KV_SuspiciousIPAccess,KV_ListGetAnomaly,KV_PutGetAnomaly" {
		t.Errorf("detectors %v", names)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // part of the error
	}{
		{"unknown operation", func(c *Config) {
			c.ListGetAnomaly.ReadOperations = append(c.ListGetAnomaly.ReadOperations, "SecretRead")
		},
			`listGetAnomaly.readOperations: "SecretRead" is not a Key Vault operation name`},
		{"zero window", func(c *Config) { c.PutGetAnomaly.Window = 0 }, "putGetAnomaly.window must be > 0"},
		{"zero reads", func(c *Config) { c.ListGetAnomaly.BurstMinReads = 0 }, "listGetAnomaly.burstMinReads must be >= 1"},
		{"list required, none named", func(c *Config) { c.ListGetAnomaly.ListOperations = nil }, "requireList is set but listOperations is empty"},
		{"no categories", func(c *Config) { c.SuspiciousIPAccess.Categories = nil }, "suspiciousIpAccess.categories is empty"},
		{"activity name", func(c *Config) { c.PutGetAnomaly.ActivityChangeOperations = []string{"VaultPut"} }, "is not a Resource Manager operation"},
		{"role name, not GUID", func(c *Config) { c.PutGetAnomaly.GrantRoles = []string{"Key Vault Secrets User"} }, `grantRoles: "Key Vault Secrets User" is not a role definition GUID`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestConfigYAML decodes a file the way config.Load does (strict, over the
// defaults) and checks the keys land where documented.
func TestConfigYAML(t *testing.T) {
	src := `
maxEvidence: 5
torAccess:
  enabled: false
suspiciousIpAccess:
  minScore: 5
  includeFailed: true
listGetAnomaly:
  burstWindow: 2m
  burstMinReads: 20
  readOperations: [secretget, SecretList]
  dailyOperations: []
putGetAnomaly:
  window: 30m
  minReads: 2
`
	cfg := DefaultConfig()
	if err := yaml.UnmarshalWithOptions([]byte(src), &cfg, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	lg := cfg.ListGetAnomaly
	if cfg.MaxEvidence != 5 || cfg.TORAccess.Enabled || cfg.SuspiciousIPAccess.MinScore != 5 || !cfg.SuspiciousIPAccess.IncludeFailed ||
		lg.BurstWindow != 2*time.Minute || lg.BurstMinReads != 20 || len(lg.DailyOperations) != 0 || !lg.RequireList ||
		cfg.PutGetAnomaly.Window != 30*time.Minute || cfg.PutGetAnomaly.MinReads != 2 || cfg.SuspiciousIPAccess.Window != time.Hour {
		t.Errorf("decoded %+v", cfg)
	}
	if len(Detectors(cfg)) != 3 {
		t.Errorf("%d detectors with torAccess off, want 3", len(Detectors(cfg)))
	}
	// Operation names are matched in their documented casing whatever the file says.
	d := detector(t, cfg, TypeListGetAnomaly)
	op := dt.KV(t0, vault, "SecretGet", dt.Caller(alice))
	if _, ok := d.PartitionKey(&op); !ok {
		t.Error(`"secretget" in the file does not match SecretGet`)
	}
	if err := yaml.UnmarshalWithOptions([]byte("listGetAnomaly:\n  burstWindw: 1m\n"), &cfg, yaml.Strict()); err == nil {
		t.Error("unknown key accepted")
	}
}
