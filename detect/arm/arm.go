// Package arm holds the Resource Manager (Activity Log) detections that need
// no learnt baseline:
//
//   - ARM_OperationFromSuspiciousProxyIP: an operation whose caller address
//     is a Tor exit node or an anonymising proxy (intelligence category tor
//     or proxy);
//   - ARM_OperationFromSuspiciousIP: an operation whose caller address is on
//     a blocklist (category malicious or c2, scored entries at least MinScore).
//
// Both partition by subscription and caller: "subscriptionId|caller", the
// caller being the principal key (object ID, else lower-cased UPN, else app
// ID) or, for a record naming nobody, the address. A caller's first
// operation from an address is a candidate at once; the rest within the
// window are one summary candidate when it closes (the Activity Log's
// Started/Accepted/Succeeded records of one request count once, by
// correlation ID). Windows run on event time and close when the engine's
// watermark passes them.
//
// # Candidates
//
// Resource is the subscription, "/subscriptions/<id>", also an
// azure-resource entity (role "compromised"); the resources operated on are
// azure-resource entities (role "related", up to 5). The caller is an
// account entity (role "compromised"; object ID, UPN and app ID as the
// record gives them, absent ones empty) and the address an ip entity (role
// "attacker") with country, city, coordinates, ASN and the intelligence
// sources naming it ("source (category, yyyy-mm-dd)"). Evidence lists the
// operations (time, operation, caller, address, result, target, source
// file:line). Fingerprint keys: subscription resource, principal key,
// address. Severity is empty (the catalogue's: Medium for both, as in
// Defender's "Alerts for Resource Manager") unless raised one step because
// the address is in both families (a proxy that is also blocklisted).
//
// # Details
//
//	vault        "" (the key is shared with the Key Vault detections)
//	resource     "/subscriptions/<id>"
//	subscription subscription ID
//	resources    resource IDs operated on, ", "-separated (up to 5)
//	caller       principal label: UPN, "app <appId>", object ID or "unknown"
//	callerIp     caller address
//	country      its ISO country code
//	operations   distinct operation names, sorted, ", "-separated
//	count        operations counted
//	failed       how many failed
//	denied       how many were refused with 403
//	firstTime    first event time, RFC 3339 UTC
//	lastTime     last event time
//	window       the grouping window, e.g. "1h"
//	threshold    MinScore for ARM_OperationFromSuspiciousIP, else ""
//	intelSource  intelligence sources naming the address, "; "-separated
package arm

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// Alert types (catalogue ids, Defender's names).
const (
	TypeOperationFromSuspiciousProxyIP = "ARM_OperationFromSuspiciousProxyIP"
	TypeOperationFromSuspiciousIP      = "ARM_OperationFromSuspiciousIP"
)

// CatalogueSeverity is the severity Defender's "Alerts for Resource Manager"
// gives both alerts (Medium). Candidates leave Severity empty so the
// catalogue decides; a detection sets it only to raise it one step above this.
const CatalogueSeverity = alert.SeverityMedium

// Config holds the settings of the Resource Manager detections. Start from
// DefaultConfig (the YAML file is decoded over it).
type Config struct {
	// MaxEvidence is the most records one candidate carries. Default 20.
	MaxEvidence int `yaml:"maxEvidence"`

	OperationFromSuspiciousProxyIP SuspiciousProxyIP `yaml:"operationFromSuspiciousProxyIp"`
	OperationFromSuspiciousIP      SuspiciousIP      `yaml:"operationFromSuspiciousIp"`
}

// SuspiciousProxyIP configures ARM_OperationFromSuspiciousProxyIP. Defender:
// "a resource management operation from an IP address that is associated
// with proxy services, such as TOR".
type SuspiciousProxyIP struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// Categories are the intelligence categories of anonymising services.
	// Default ["tor", "proxy"].
	Categories []string `yaml:"categories"`
	// Window groups repeats: a caller's first operation from an address is
	// a candidate at once; the rest within Window are one summary candidate.
	// Default 1h, the cadence of Microsoft Sentinel's "TI Map IP Entity to
	// AzureActivity" rule (hourly over the last hour).
	Window time.Duration `yaml:"window"`
}

// SuspiciousIP configures ARM_OperationFromSuspiciousIP. Defender: "an
// operation from an IP address that has been marked as suspicious in
// threat intelligence feeds"; failed operations count too.
type SuspiciousIP struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// Categories that make an address suspicious. Default ["malicious", "c2"].
	Categories []string `yaml:"categories"`
	// MinScore is the least score of a scored list's entry; unscored lists
	// match on category alone. Default 3: ipsum's README gives "at least 3
	// (black)lists" as its ready-to-deploy threshold.
	MinScore int `yaml:"minScore"`
	// Window groups repeats as for SuspiciousProxyIP. Default 1h.
	Window time.Duration `yaml:"window"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		MaxEvidence: 20,
		OperationFromSuspiciousProxyIP: SuspiciousProxyIP{
			Enabled: true, Categories: []string{"tor", "proxy"}, Window: time.Hour,
		},
		OperationFromSuspiciousIP: SuspiciousIP{
			Enabled: true, Categories: []string{"malicious", "c2"}, MinScore: 3, Window: time.Hour,
		},
	}
}

// Validate checks values the types alone cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxEvidence < 1 {
		errs = append(errs, fmt.Errorf("maxEvidence must be >= 1, got %d", c.MaxEvidence))
	}
	p, s := &c.OperationFromSuspiciousProxyIP, &c.OperationFromSuspiciousIP
	if p.Window <= 0 {
		errs = append(errs, fmt.Errorf("operationFromSuspiciousProxyIp.window must be > 0, got %s", p.Window))
	}
	if s.Window <= 0 {
		errs = append(errs, fmt.Errorf("operationFromSuspiciousIp.window must be > 0, got %s", s.Window))
	}
	if p.Enabled && len(p.Categories) == 0 {
		errs = append(errs, errors.New("operationFromSuspiciousProxyIp.categories is empty"))
	}
	if s.Enabled && len(s.Categories) == 0 {
		errs = append(errs, errors.New("operationFromSuspiciousIp.categories is empty"))
	}
	return errors.Join(errs...)
}

// Detectors returns the enabled detections.
func Detectors(cfg Config) []detect.Detector {
	p, s := cfg.OperationFromSuspiciousProxyIP, cfg.OperationFromSuspiciousIP
	var out []detect.Detector
	if p.Enabled {
		out = append(out, azops.NewTIDetector(azops.TISpec{
			Type:            TypeOperationFromSuspiciousProxyIP,
			Kind:            event.KindActivity,
			Scope:           azops.ScopeSubscription,
			Categories:      p.Categories,
			RaiseCategories: s.Categories,
			RaiseMinScore:   s.MinScore,
			Severity:        CatalogueSeverity,
			Window:          p.Window,
			MaxEvidence:     cfg.MaxEvidence,
		}))
	}
	if s.Enabled {
		out = append(out, azops.NewTIDetector(azops.TISpec{
			Type:            TypeOperationFromSuspiciousIP,
			Kind:            event.KindActivity,
			Scope:           azops.ScopeSubscription,
			Categories:      s.Categories,
			MinScore:        s.MinScore,
			RaiseCategories: p.Categories,
			Severity:        CatalogueSeverity,
			Window:          s.Window,
			MaxEvidence:     cfg.MaxEvidence,
		}))
	}
	return out
}
