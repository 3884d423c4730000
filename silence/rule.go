// Package silence is Vigil's suppression rules: known-benign patterns whose
// alerts are resolved the moment they are detected, in the shape of
// Microsoft Defender for Cloud's alertsSuppressionRules (alert type or "*",
// conditions on entity fields that must all hold, reason, comment, expiry,
// state).
//
// A suppressed alert is never dropped: it is stored like any other, already
// resolved, with the rule that resolved it in SuppressedBy and ResolvedBy
// ("suppression:<rule id>") and an activity-log entry, so muting cannot hide
// an attack from whoever looks. Creating, changing and deleting rules is
// recorded in the system activity log by the store, because attackers mute
// alerts too.
//
// A [Silencer] holds the enabled rules in memory, loaded from a [Source]
// (the store) and reloaded by [Silencer.Refresh] whenever a rule changes;
// [Silencer.Apply] is called for each new alert before it is saved.
package silence

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-security/vigil/alert"
)

// AnyType is the AlertType of a rule that applies to every alert type.
const AnyType = "*"

// States of a rule, as Defender names them.
const (
	StateEnabled  = "Enabled"
	StateDisabled = "Disabled"
	StateExpired  = "Expired"
)

// ResolvedByPrefix starts the ResolvedBy of an alert a rule resolved.
const ResolvedByPrefix = "suppression:"

// Limits on a rule's size.
const (
	MaxConditions = 32
	MaxValues     = 256
	MaxTextLen    = 4096
)

// Rule is one suppression rule.
type Rule struct {
	// ID identifies the rule; the store assigns it.
	ID string
	// AlertType is the catalogue id of the alerts to suppress, or AnyType.
	AlertType string
	// Reason says why the alerts are dismissed (Defender's reason, such as
	// "FalsePositive" or "SpecificEntityFalsePositive"). Required.
	Reason string
	// Comment is free text for people.
	Comment string
	// Expires ends the rule; zero means never.
	Expires time.Time
	// Enabled is false for a rule kept but not applied.
	Enabled bool
	// Conditions must all hold for an alert to match (Defender's
	// suppressionAlertsScope.allOf). A rule for AnyType needs at least one.
	Conditions []Condition
	// ResolvedReason is the resolution given to suppressed alerts:
	// legitimate, ignore or fraud; empty means ignore.
	ResolvedReason alert.ResolvedReason
	// PartnerID is the partner that owns the rule. With TenantID empty the
	// rule applies to every customer tenant the partner manages.
	PartnerID string
	// TenantID limits the rule to one customer tenant.
	TenantID string

	Created, Updated     time.Time
	CreatedBy, UpdatedBy string
}

// Condition is one test on an alert: the field's value must equal one of In
// (case-insensitively; for addresses, an entry may be a CIDR prefix) or,
// when Contains is set instead, contain it (case-insensitively).
//
// Fields are written as in Defender: "entities.<type>.<property>", where
// type is an entity kind (ip, account, host, azure-resource, keyvault) and
// property one of address, upn, objectid, appid, name, resourceid, country;
// the condition holds when any entity of that kind has a matching value.
// Two alert-level fields exist besides: "resourceId" (the alert's resource)
// and "subscriptionId". Field names are case-insensitive.
type Condition struct {
	Field    string   `json:"field"`
	In       []string `json:"in,omitempty"`
	Contains string   `json:"contains,omitempty"`
}

// State returns the rule's state at now: Enabled, Disabled or Expired.
func (r *Rule) State(now time.Time) string {
	switch {
	case !r.Enabled:
		return StateDisabled
	case !r.Expires.IsZero() && !now.Before(r.Expires):
		return StateExpired
	}
	return StateEnabled
}

// Resolution returns the reason suppressed alerts are resolved with.
func (r *Rule) Resolution() alert.ResolvedReason {
	if r.ResolvedReason == alert.ReasonNone {
		return alert.ReasonIgnore
	}
	return r.ResolvedReason
}

// Validate checks what a rule needs to be stored: an alert type, a reason,
// well-formed conditions (a known field, exactly one of in and contains,
// no empty value, addresses that parse), a known resolution, a scope
// (partner or tenant), and sizes within the limits. It does not check the
// ID, which the store assigns.
func (r *Rule) Validate() error {
	var errs []error
	text := func(name, v string, required bool) {
		switch {
		case required && strings.TrimSpace(v) == "":
			errs = append(errs, fmt.Errorf("%s is required", name))
		case len(v) > MaxTextLen:
			errs = append(errs, fmt.Errorf("%s is longer than %d bytes", name, MaxTextLen))
		case !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0:
			errs = append(errs, fmt.Errorf("%s is not valid UTF-8 text", name))
		}
	}
	text("alertType", r.AlertType, true)
	text("reason", r.Reason, true)
	text("comment", r.Comment, false)
	for _, id := range []struct{ name, v string }{{"alertType", r.AlertType}, {"partnerId", r.PartnerID}, {"tenantId", r.TenantID}} {
		if hasControl(id.v) {
			errs = append(errs, fmt.Errorf("%s %q contains a control character", id.name, id.v))
		}
	}
	if r.AlertType == AnyType && len(r.Conditions) == 0 {
		errs = append(errs, errors.New(`a rule for every alert type ("*") needs at least one condition`))
	}
	if len(r.Conditions) > MaxConditions {
		errs = append(errs, fmt.Errorf("more than %d conditions", MaxConditions))
	}
	for i := range r.Conditions {
		if _, err := compileCondition(&r.Conditions[i]); err != nil {
			errs = append(errs, fmt.Errorf("condition %d: %w", i, err))
		}
	}
	switch r.ResolvedReason {
	case alert.ReasonNone, alert.ReasonLegitimate, alert.ReasonIgnore, alert.ReasonFraud:
	default:
		errs = append(errs, fmt.Errorf("resolvedReason %q is not one of legitimate, ignore, fraud", r.ResolvedReason))
	}
	if r.PartnerID == "" && r.TenantID == "" {
		errs = append(errs, errors.New("a rule needs a scope: a partner or a customer tenant"))
	}
	text("partnerId", r.PartnerID, false)
	text("tenantId", r.TenantID, false)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("silence: invalid rule: %w", err)
	}
	return nil
}

// Clone returns a deep copy of r.
func (r *Rule) Clone() *Rule {
	c := *r
	c.Conditions = make([]Condition, len(r.Conditions))
	for i, cd := range r.Conditions {
		c.Conditions[i] = Condition{Field: cd.Field, In: append([]string(nil), cd.In...), Contains: cd.Contains}
	}
	if len(r.Conditions) == 0 {
		c.Conditions = nil
	}
	return &c
}

// fieldKind says where a condition looks.
type fieldKind uint8

const (
	fieldEntity fieldKind = iota + 1
	fieldResource
	fieldSubscription
)

// entityProps are the entity properties conditions may name.
var entityProps = map[string]func(*alert.Entity) string{
	"address":    func(e *alert.Entity) string { return e.Address },
	"upn":        func(e *alert.Entity) string { return e.UPN },
	"objectid":   func(e *alert.Entity) string { return e.ObjectID },
	"appid":      func(e *alert.Entity) string { return e.AppID },
	"name":       func(e *alert.Entity) string { return e.Name },
	"resourceid": func(e *alert.Entity) string { return e.ResourceID },
	"country":    func(e *alert.Entity) string { return e.Country },
}

var entityTypes = []string{alert.EntityAzureResource, alert.EntityAccount, alert.EntityIP, alert.EntityHost, alert.EntityKeyVault}

// compiled is a checked condition ready to match.
type compiled struct {
	kind       fieldKind
	entityType string
	prop       func(*alert.Entity) string
	in         []string // lower-cased
	prefixes   []netip.Prefix
	contains   string // lower-cased
	isContains bool
}

// hasControl reports whether s holds a control character (C0, DEL or C1).
// No alert type, field, entity value or ID has one, and in a rule one
// would forge lines in logs and listings.
func hasControl(s string) bool { return strings.ContainsFunc(s, unicode.IsControl) }

func compileCondition(c *Condition) (*compiled, error) {
	if hasControl(c.Field) {
		return nil, fmt.Errorf("field %q contains a control character", c.Field)
	}
	if hasControl(c.Contains) {
		return nil, fmt.Errorf("field %q: contains %q has a control character", c.Field, c.Contains)
	}
	for _, v := range c.In {
		if hasControl(v) {
			return nil, fmt.Errorf("field %q: value %q contains a control character", c.Field, v)
		}
	}
	out := &compiled{}
	f := strings.ToLower(strings.TrimSpace(c.Field))
	switch {
	case f == "resourceid":
		out.kind = fieldResource
	case f == "subscriptionid":
		out.kind = fieldSubscription
	case strings.HasPrefix(f, "entities."):
		typ, prop, ok := strings.Cut(strings.TrimPrefix(f, "entities."), ".")
		if !ok {
			return nil, fmt.Errorf("field %q: want entities.<type>.<property>", c.Field)
		}
		known := false
		for _, t := range entityTypes {
			known = known || t == typ
		}
		if !known {
			return nil, fmt.Errorf("field %q: unknown entity type %q (one of %s)", c.Field, typ, strings.Join(entityTypes, ", "))
		}
		get, ok := entityProps[prop]
		if !ok {
			return nil, fmt.Errorf("field %q: unknown property %q (one of address, upn, objectid, appid, name, resourceid, country)", c.Field, prop)
		}
		out.kind, out.entityType, out.prop = fieldEntity, typ, get
	default:
		return nil, fmt.Errorf("unknown field %q: use entities.<type>.<property>, resourceId or subscriptionId", c.Field)
	}
	switch {
	case len(c.In) > 0 && c.Contains != "":
		return nil, fmt.Errorf("field %q: give in or contains, not both", c.Field)
	case len(c.In) == 0 && c.Contains == "":
		return nil, fmt.Errorf("field %q: give in (a list of values) or contains (a text)", c.Field)
	case len(c.In) > MaxValues:
		return nil, fmt.Errorf("field %q: more than %d values", c.Field, MaxValues)
	case c.Contains != "":
		out.isContains, out.contains = true, strings.ToLower(c.Contains)
		return out, nil
	}
	isAddress := out.kind == fieldEntity && strings.HasSuffix(f, ".address")
	for _, v := range c.In {
		if strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("field %q: empty value in list", c.Field)
		}
		if isAddress {
			p, err := parsePrefix(v)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", c.Field, err)
			}
			out.prefixes = append(out.prefixes, p)
			continue
		}
		out.in = append(out.in, strings.ToLower(strings.TrimSpace(v)))
	}
	return out, nil
}

// parsePrefix reads an address (a single-address prefix) or a CIDR prefix.
func parsePrefix(v string) (netip.Prefix, error) {
	v = strings.TrimSpace(v)
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR prefix", v)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR prefix", v)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// value reports whether one value satisfies the condition.
func (c *compiled) value(v string) bool {
	if v == "" {
		return false
	}
	if c.isContains {
		return strings.Contains(strings.ToLower(v), c.contains)
	}
	if c.prefixes != nil {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range c.prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	for _, w := range c.in {
		if strings.EqualFold(v, w) {
			return true
		}
	}
	return false
}

// match reports whether the alert satisfies the condition.
func (c *compiled) match(a *alert.Alert) bool {
	switch c.kind {
	case fieldResource:
		return c.value(a.Resource)
	case fieldSubscription:
		return c.value(a.SubscriptionID)
	}
	for i := range a.Entities {
		e := &a.Entities[i]
		if e.Type == c.entityType && c.value(c.prop(e)) {
			return true
		}
	}
	return false
}

// matcher is a rule with its conditions compiled.
type matcher struct {
	rule  *Rule
	conds []*compiled
}

func compileRule(r *Rule) (*matcher, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	m := &matcher{rule: r.Clone()}
	for i := range r.Conditions {
		c, err := compileCondition(&r.Conditions[i])
		if err != nil {
			return nil, err
		}
		m.conds = append(m.conds, c)
	}
	return m, nil
}

// Matches reports whether the rule applies to the alert at now, leaving
// out its scope (which may need the directory: see Silencer.Match): the
// rule is enabled and not expired, the type fits and every condition
// holds. A rule that fails Validate matches nothing.
func (r *Rule) Matches(a *alert.Alert, now time.Time) bool {
	m, err := compileRule(r)
	if err != nil {
		return false
	}
	return m.matches(a, now)
}

func (m *matcher) matches(a *alert.Alert, now time.Time) bool {
	if a == nil || m.rule.State(now) != StateEnabled {
		return false
	}
	if m.rule.AlertType != AnyType && !strings.EqualFold(m.rule.AlertType, a.Type) {
		return false
	}
	for _, c := range m.conds {
		if !c.match(a) {
			return false
		}
	}
	return true
}
