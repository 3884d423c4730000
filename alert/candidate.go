package alert

import (
	"time"
)

// Severity is an alert's severity, as in Defender and Graph.
type Severity string

// Severities, lowest first.
const (
	SeverityInformational Severity = "informational"
	SeverityLow           Severity = "low"
	SeverityMedium        Severity = "medium"
	SeverityHigh          Severity = "high"
)

// Rank orders severities: informational 0 ... high 3; unknown -1.
func (s Severity) Rank() int {
	switch s {
	case SeverityInformational:
		return 0
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	}
	return -1
}

// Raise returns the severity one step higher, capped at high.
func (s Severity) Raise() Severity {
	switch s {
	case SeverityInformational:
		return SeverityLow
	case SeverityLow:
		return SeverityMedium
	default:
		return SeverityHigh
	}
}

// Entity kinds, named as in Defender's alert entities.
const (
	EntityAzureResource = "azure-resource"
	EntityAccount       = "account"
	EntityIP            = "ip"
	EntityHost          = "host"
	EntityKeyVault      = "keyvault"
)

// Entity is one thing an alert is about: a resource, an account, an address.
// Fields not meaningful for the kind are left empty and omitted from JSON.
type Entity struct {
	Type string `json:"type"`
	// Role says how the entity takes part: "compromised", "attacker", "victim", "related".
	Role string `json:"role,omitempty"`

	ResourceID string `json:"resourceId,omitempty"`
	Name       string `json:"name,omitempty"`

	ObjectID string `json:"objectId,omitempty"`
	UPN      string `json:"upn,omitempty"`
	AppID    string `json:"appId,omitempty"`

	Address   string   `json:"address,omitempty"`
	Country   string   `json:"country,omitempty"`
	City      string   `json:"city,omitempty"`
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
	ASN       uint32   `json:"asn,omitempty"`
	ASOrg     string   `json:"asOrganization,omitempty"`
	// Intel lists the threat-intelligence sources that name the address,
	// each as "source (category, yyyy-mm-dd)".
	Intel []string `json:"threatIntel,omitempty"`
}

// Evidence is one observed record that supports an alert.
type Evidence struct {
	Time      time.Time `json:"time"`
	Operation string    `json:"operation"`
	Caller    string    `json:"caller,omitempty"`
	CallerIP  string    `json:"callerIp,omitempty"`
	Resource  string    `json:"resource,omitempty"`
	Target    string    `json:"target,omitempty"`
	Result    string    `json:"result,omitempty"`
	// Source is where the record was read: "file:line" or the input's name.
	Source string `json:"source,omitempty"`
}

// Candidate is what a detector emits: one finding, before deduplication.
// The manager turns candidates into alerts, merging repeats by Fingerprint.
type Candidate struct {
	// Type is the catalogue id (Defender's alert type), e.g. "KV_TORAccess".
	Type string
	// Time is the event time at which the detector decided (the last evidence).
	Time time.Time
	// First and Last bound the activity observed.
	First, Last time.Time

	TenantID       string
	SubscriptionID string
	// Resource is the compromised or targeted resource ID (vault, VM, subscription).
	Resource string

	Entities []Entity
	Evidence []Evidence
	// Details are the alert's additionalDetails and the values its
	// description template refers to, e.g. {"vault": "...", "count": "12"}.
	Details map[string]string
	// Severity overrides the catalogue's severity when not empty (e.g. raised
	// because the caller is also on a blocklist).
	Severity Severity
	// Count is how many events this candidate stands for (at least 1).
	Count int

	// FingerprintKeys are the key entities that, with Type, identify one
	// incident; repeats with the same keys inside the aggregation window are
	// merged into one alert.
	FingerprintKeys []string

	// Early marks a candidate emitted as soon as its condition held on the
	// records that have arrived, before the detector's event-time pass
	// (which waits for the watermark so that records delivered out of order
	// are seen in order) has decided. It opens a provisional alert at once
	// when none with its fingerprint is open and is otherwise ignored; the
	// in-order pass's candidate later replaces the provisional alert's
	// count, times and evidence (keeping its ID and lifecycle), so what an
	// alert finally says does not depend on whether it was announced early.
	Early bool
}
