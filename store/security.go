package store

import (
	"context"
	"strconv"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api/odata"
	"github.com/vigil-security/vigil/silence"
)

// DefaultFile is the name of the SQLite file in Vigil's data directory
// (--data DIR): alerts, tokens, suppression rules and the activity log.
const DefaultFile = "vigil.db"

// notFoundError is a not-found error of a record other than an alert; it
// matches ErrNotFound with errors.Is.
type notFoundError string

func (e notFoundError) Error() string        { return string(e) }
func (e notFoundError) Is(target error) bool { return target == ErrNotFound }

// More not-found errors; errors.Is(err, ErrNotFound) holds for each.
var (
	ErrTokenNotFound error = notFoundError("token not found")
	ErrRuleNotFound  error = notFoundError("suppression rule not found")
)

// Token is an API bearer token as stored: never the secret, only its
// SHA-256. A token is scoped to exactly one partner (all the customer
// tenants it manages) or one customer tenant, and may read or read-write.
type Token struct {
	// ID names the token in lists, logs and revocation; it is not secret.
	ID string
	// Hash is the SHA-256 of the token's text (32 bytes).
	Hash []byte
	// PartnerID or TenantID (exactly one) is the token's scope.
	PartnerID, TenantID string
	// Write allows changes (PATCH, resolving stale alerts, rules).
	Write bool
	// Name is who the token is for (a UPN, an application); it is the
	// updatedBy of the changes made with it.
	Name string
	// Created, LastUsed and Revoked are wall-clock times; zero for never.
	Created, LastUsed, Revoked time.Time
}

// Operation types of the system activity log. Detections use Partner
// Center's name for them ("Azure Fraud Event Detected"). An alert's
// detection and its suppression are each recorded once: recording them
// again (a restart replaying input) changes nothing.
const (
	OpAlertDetected      = "Azure Fraud Event Detected"
	OpAlertSuppressed    = "Security Alert Suppressed"
	OpAlertStatusUpdated = "Security Alert Status Updated"
	OpRuleCreated        = "Suppression Rule Created"
	OpRuleUpdated        = "Suppression Rule Updated"
	OpRuleDeleted        = "Suppression Rule Deleted"
	OpTokenCreated       = "API Token Created"
	OpTokenRevoked       = "API Token Revoked"
	OpTokenUsed          = "API Token Used"
	// OpLogsPushed records a body pushed with a token: who, where in the
	// spool, how many records it brought and how many were refused.
	OpLogsPushed = "Azure Logs Pushed"
)

// OperationTypes lists every operation type, in the order above.
func OperationTypes() []string {
	return []string{OpAlertDetected, OpAlertSuppressed, OpAlertStatusUpdated, OpRuleCreated,
		OpRuleUpdated, OpRuleDeleted, OpTokenCreated, OpTokenRevoked, OpTokenUsed}
}

// Resource types of activity records.
const (
	ResourceAlert = "securityAlert"
	ResourceRule  = "suppressionRule"
	ResourceToken = "apiToken"
	ResourcePush  = "pushedLogs"
)

// Activity is one record of the system activity log, shaped after Partner
// Center's audit record: when, what, for whom, by whom, on what, from which
// value to which.
type Activity struct {
	// ID is assigned by the store, increasing.
	ID            int64
	Time          time.Time
	OperationType string
	// PartnerID and TenantID say whose the record is: a partner token sees
	// records of its partner and of its customers' tenants, a customer
	// token those of its tenant.
	PartnerID, TenantID string
	// Actor is who did it: a token's name, "suppression:<rule>", "vigil".
	Actor                    string
	ResourceType, ResourceID string
	OldValue, NewValue       string
	Details                  map[string]string
}

// Actor is who makes a change, and when.
type Actor struct {
	Name      string
	PartnerID string // the actor's partner, recorded with the change
	At        time.Time
}

// Scope limits records to tenants and partners: a record is in scope when
// its tenant is one of TenantIDs or its partner one of PartnerIDs. A nil
// *Scope means everything; an empty Scope means nothing.
type Scope struct {
	TenantIDs  []string
	PartnerIDs []string
}

// ActivityQuery selects activity records; the zero value selects all,
// newest first.
type ActivityQuery struct {
	Scope *Scope
	// From and To bound Time to [From, To); zero leaves a side open.
	From, To time.Time
	// OperationTypes keeps records of these types (nil: all).
	OperationTypes []string
	// Filter is an OData filter over ActivityColumns, with the rules of
	// ListQuery.Filter.
	Filter odata.Expr
	// OrderBy names ActivityColumns; empty means at descending. The ID is
	// always the last key.
	OrderBy       []Order
	Limit, Offset int
}

// activityColumns are the system_activity columns queries may name.
var activityColumns = []Column{
	{Name: "id", Kind: KindInt},
	{Name: "at", Kind: KindTime},
	{Name: "operation_type", Kind: KindText},
	{Name: "partner_id", Kind: KindText},
	{Name: "tenant_id", Kind: KindText},
	{Name: "actor", Kind: KindText},
	{Name: "resource_type", Kind: KindText},
	{Name: "resource_id", Kind: KindText},
}

// ActivityColumns lists the columns ActivityQuery.Filter and OrderBy may
// name. The caller may keep and modify the result.
func ActivityColumns() []Column { return append([]Column(nil), activityColumns...) }

// StatusChange asks to move one alert along its lifecycle.
type StatusChange struct {
	ID     string
	To     alert.Status
	Reason alert.ResolvedReason
	By     Actor
	// TenantIDs, when not nil, are the tenants the caller may change: an
	// alert of another tenant is reported as not found.
	TenantIDs []string
}

// StaleResolve asks to resolve, as ignore, every unresolved alert without
// activity since Before.
type StaleResolve struct {
	// Before: alerts last observed (or, without that, detected) before it.
	Before time.Time
	By     Actor
	// TenantIDs limits the alerts as in StatusChange (nil: all).
	TenantIDs []string
}

// Security is what the API needs beyond [Store]: tokens, suppression rules,
// the activity log, and lifecycle changes recorded in it. The SQLite and
// PostgreSQL stores implement it.
type Security interface {
	Store
	silence.Source

	// CreateToken stores a new token and records OpTokenCreated.
	CreateToken(ctx context.Context, t Token, by Actor) error
	// TokenByHash returns the token with the hash, revoked or not;
	// ErrTokenNotFound when none has it.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// ListTokens returns every token, oldest first.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken revokes the token (by ID or a unique ID prefix) and
	// records OpTokenRevoked; it returns the token as revoked.
	RevokeToken(ctx context.Context, id string, by Actor) (Token, error)
	// TokenUsed sets the token's last use and records OpTokenUsed with the
	// number of requests made since the previous record.
	TokenUsed(ctx context.Context, t Token, at time.Time, requests int) error

	// CreateRule stores a new rule with a fresh ID, records OpRuleCreated,
	// and returns the rule as stored.
	CreateRule(ctx context.Context, r silence.Rule, by Actor) (silence.Rule, error)
	// UpdateRule replaces the rule with r.ID (keeping its creation), records
	// OpRuleUpdated with the old and new rule, and returns it as stored.
	UpdateRule(ctx context.Context, r silence.Rule, by Actor) (silence.Rule, error)
	// DeleteRule deletes the rule and records OpRuleDeleted.
	DeleteRule(ctx context.Context, id string, by Actor) error
	// GetRule returns the rule; ErrRuleNotFound when there is none.
	GetRule(ctx context.Context, id string) (silence.Rule, error)
	// ListRules returns the rules in scope (nil: all), oldest first.
	ListRules(ctx context.Context, scope *Scope) ([]silence.Rule, error)

	// RecordActivity appends records to the activity log in one
	// transaction.
	RecordActivity(ctx context.Context, acts ...Activity) error
	// ListActivity returns the records matching q.
	ListActivity(ctx context.Context, q ActivityQuery) ([]Activity, error)
	// CountActivity counts the records matching q's filters.
	CountActivity(ctx context.Context, q ActivityQuery) (int, error)

	// ChangeStatus is UpdateStatus with a tenant check and an
	// OpAlertStatusUpdated record, in one transaction.
	ChangeStatus(ctx context.Context, c StatusChange) (*alert.Alert, error)
	// ResolveStale resolves stale alerts as ignore, each with its activity
	// log entry and OpAlertStatusUpdated record, in one transaction, and
	// returns their IDs.
	ResolveStale(ctx context.Context, r StaleResolve) ([]string, error)
}

var _ Security = (*SQLite)(nil)

// AlertActivities returns the activity records of a newly detected alert:
// OpAlertDetected, and OpAlertSuppressed when a suppression rule resolved
// it. at is the wall-clock time of detection.
func AlertActivities(a *alert.Alert, at time.Time) []Activity {
	d := Activity{
		Time: at, OperationType: OpAlertDetected, TenantID: a.TenantID, Actor: "vigil",
		ResourceType: ResourceAlert, ResourceID: a.ID, NewValue: string(alert.StatusActive),
		Details: map[string]string{
			"alertType": a.Type, "severity": string(a.Severity), "subscriptionId": a.SubscriptionID,
			"resource": a.Resource, "detectedDateTime": a.Detected.UTC().Format(time.RFC3339Nano),
			"count": strconv.Itoa(a.Count),
		},
	}
	if a.PreviousID != "" {
		d.Details["previousAlertId"] = a.PreviousID
	}
	out := []Activity{d}
	if a.SuppressedBy != "" {
		out = append(out, Activity{
			Time: at, OperationType: OpAlertSuppressed, TenantID: a.TenantID, Actor: a.ResolvedBy,
			ResourceType: ResourceAlert, ResourceID: a.ID,
			OldValue: string(alert.StatusActive), NewValue: statusValue(a.Status, a.ResolvedReason),
			Details: map[string]string{"alertType": a.Type, "suppressionRuleId": a.SuppressedBy},
		})
	}
	return out
}

// statusValue is how a status (and resolution) reads in activity records.
func statusValue(s alert.Status, r alert.ResolvedReason) string {
	if r != alert.ReasonNone {
		return string(s) + " (" + string(r) + ")"
	}
	return string(s)
}
