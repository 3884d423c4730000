// Package config is Vigil's configuration: one YAML file for everything the
// command-line flags do not cover, with every default working when the file
// is absent. Unknown keys and wrong types are errors that name the line and
// column, checked at start.
package config

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/arm"
	"github.com/vigil-security/vigil/detect/keyvault"
)

// Config is the whole configuration.
type Config struct {
	Engine Engine `yaml:"engine"`
	Alerts Alerts `yaml:"alerts"`
	Intel  Intel  `yaml:"intel"`
	// KeyVault configures the Key Vault detections.
	KeyVault keyvault.Config `yaml:"keyvault"`
	// ARM configures the Resource Manager (Activity Log) detections.
	ARM arm.Config `yaml:"arm"`
}

// Engine configures the detection engine.
type Engine struct {
	// Workers is the number of detection shards; 0 means one per CPU.
	Workers int `yaml:"workers"`
	// Lateness is how far out of order events may arrive before the windows
	// they fall in are closed.
	Lateness time.Duration `yaml:"lateness"`
}

// Alerts configures how candidates become alerts.
type Alerts struct {
	// AggregationWindow merges repeats of one incident (same type and key
	// entities) seen within this much event time into one alert.
	AggregationWindow time.Duration `yaml:"aggregationWindow"`
	// EvidenceCap is the most evidence records an alert keeps.
	EvidenceCap int `yaml:"evidenceCap"`
	// Language is the default language of rendered alerts: en, ja or nl.
	Language string `yaml:"language"`
}

// Intel lists the enrichment data files.
type Intel struct {
	// GeoIP are MaxMind-format mmdb files (city and/or ASN).
	GeoIP []string `yaml:"geoip"`
	// Tor are Tor exit-node lists, one address a line.
	Tor []string `yaml:"tor"`
	// Blocklists are lists of malicious addresses or networks.
	Blocklists []Blocklist `yaml:"blocklists"`
	// MinScore drops entries of scored lists (ipsum) below this score.
	MinScore int `yaml:"minScore"`
}

// Blocklist is one list of addresses and what they are.
type Blocklist struct {
	Path string `yaml:"path"`
	// Category is what the list names: malicious, c2, proxy, tor or mining-pool.
	Category string `yaml:"category"`
	// Source names the list in alerts; the file name when empty.
	Source string `yaml:"source"`
}

// Default returns the configuration used when no file is given.
func Default() Config {
	return Config{
		Engine:   Engine{Lateness: detect.DefaultLateness},
		Alerts:   Alerts{AggregationWindow: 24 * time.Hour, EvidenceCap: 50, Language: "en"},
		KeyVault: keyvault.DefaultConfig(),
		ARM:      arm.DefaultConfig(),
	}
}

// Load reads a YAML file over the defaults: keys the file does not set keep
// their default values. Unknown keys are errors.
func Load(path string) (Config, error) {
	cfg := Default()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := Parse(data, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes YAML into cfg (which holds the defaults) and validates it.
func Parse(data []byte, cfg *Config) error {
	if err := yaml.UnmarshalWithOptions(data, cfg, yaml.Strict()); err != nil {
		return errors.New(yaml.FormatError(err, false, true))
	}
	return cfg.Validate()
}

// Validate checks values the types alone cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.Engine.Workers < 0 {
		errs = append(errs, fmt.Errorf("engine.workers must be >= 0, got %d", c.Engine.Workers))
	}
	if c.Engine.Lateness < 0 {
		errs = append(errs, fmt.Errorf("engine.lateness must be >= 0, got %s", c.Engine.Lateness))
	}
	if c.Alerts.AggregationWindow <= 0 {
		errs = append(errs, fmt.Errorf("alerts.aggregationWindow must be > 0, got %s", c.Alerts.AggregationWindow))
	}
	if c.Alerts.EvidenceCap < 1 {
		errs = append(errs, fmt.Errorf("alerts.evidenceCap must be >= 1, got %d", c.Alerts.EvidenceCap))
	}
	switch c.Alerts.Language {
	case "en", "ja", "nl":
	default:
		errs = append(errs, fmt.Errorf("alerts.language must be en, ja or nl, got %q", c.Alerts.Language))
	}
	for i, b := range c.Intel.Blocklists {
		if b.Path == "" {
			errs = append(errs, fmt.Errorf("intel.blocklists[%d].path is empty", i))
		}
		switch b.Category {
		case "malicious", "c2", "proxy", "tor", "mining-pool":
		default:
			errs = append(errs, fmt.Errorf("intel.blocklists[%d].category must be malicious, c2, proxy, tor or mining-pool, got %q", i, b.Category))
		}
	}
	if v, ok := any(&c.KeyVault).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("keyvault: %w", err))
		}
	}
	if v, ok := any(&c.ARM).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("arm: %w", err))
		}
	}
	return errors.Join(errs...)
}
