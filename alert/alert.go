package alert

import "time"

// Status is an alert's lifecycle state (Graph's partnerSecurityAlert status).
type Status string

// Statuses.
const (
	StatusActive        Status = "active"
	StatusInvestigating Status = "investigating"
	StatusResolved      Status = "resolved"
)

// ResolvedReason says why an alert was resolved.
type ResolvedReason string

// Resolved reasons (seed 003).
const (
	ReasonNone       ResolvedReason = ""
	ReasonLegitimate ResolvedReason = "legitimate"
	ReasonFraud      ResolvedReason = "fraud"
	ReasonIgnore     ResolvedReason = "ignore"
)

// ActivityLog is one recorded change of an alert's status.
type ActivityLog struct {
	StatusFrom  Status    `json:"statusFrom"`
	StatusTo    Status    `json:"statusTo"`
	UpdatedBy   string    `json:"updatedBy"`
	UpdatedTime time.Time `json:"updatedDateTime"`
}

// Alert is one incident: candidates with the same fingerprint merged inside
// the aggregation window. Texts (display name, description, remediation) are
// not stored here: they are rendered from the catalogue in the reader's
// language, so one alert reads well in en, ja and nl.
type Alert struct {
	ID          string // stable: derived from the fingerprint and first observation
	Type        string // catalogue id
	Fingerprint string // hex digest of type and key entities
	Severity    Severity
	Status      Status

	TenantID       string
	SubscriptionID string
	Resource       string

	Detected      time.Time // event time of the first candidate
	FirstObserved time.Time
	LastObserved  time.Time
	// Updated is the wall-clock time the alert was last written (not event time).
	Updated time.Time

	Count    int // events merged into this alert
	Entities []Entity
	Evidence []Evidence // capped; the oldest are kept, Count says how many there were
	Details  map[string]string

	ResolvedReason ResolvedReason
	ResolvedBy     string
	ResolvedOn     time.Time
	ActivityLogs   []ActivityLog
	// SuppressedBy is the id of the suppression rule that resolved the alert.
	SuppressedBy string
	// PreviousID links an alert opened by activity recurring after its
	// predecessor was resolved.
	PreviousID string
}
