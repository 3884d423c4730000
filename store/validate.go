package store

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-security/vigil/alert"
)

// CheckTransition reports whether an alert may move from status from to
// status to with the given resolution reason: active -> investigating,
// active -> resolved and investigating -> resolved are allowed, nothing
// else (resolved is final, and staying put is not a transition). The reason
// must be one of legitimate, fraud or ignore when to is resolved, and empty
// otherwise. The error wraps ErrInvalidTransition or ErrInvalid.
func CheckTransition(from, to alert.Status, reason alert.ResolvedReason) error {
	if statusRank(to) < 0 {
		return fmt.Errorf("%w status %q", ErrInvalid, to)
	}
	if err := checkReason(to, reason); err != nil {
		return err
	}
	ok := (from == alert.StatusActive && (to == alert.StatusInvestigating || to == alert.StatusResolved)) ||
		(from == alert.StatusInvestigating && to == alert.StatusResolved)
	if !ok {
		return fmt.Errorf("%w from %q to %q", ErrInvalidTransition, from, to)
	}
	return nil
}

// statusRank orders statuses along the lifecycle; -1 for unknown ones.
func statusRank(s alert.Status) int {
	switch s {
	case alert.StatusActive:
		return 0
	case alert.StatusInvestigating:
		return 1
	case alert.StatusResolved:
		return 2
	}
	return -1
}

// checkReason checks that reason is known and present iff status is resolved.
func checkReason(status alert.Status, reason alert.ResolvedReason) error {
	switch reason {
	case alert.ReasonNone, alert.ReasonLegitimate, alert.ReasonFraud, alert.ReasonIgnore:
	default:
		return fmt.Errorf("%w resolved reason %q", ErrInvalid, reason)
	}
	if status == alert.StatusResolved && reason == alert.ReasonNone {
		return fmt.Errorf("%w: a resolved alert needs a resolved reason", ErrInvalid)
	}
	if status != alert.StatusResolved && reason != alert.ReasonNone {
		return fmt.Errorf("%w: resolved reason %q on a %s alert", ErrInvalid, reason, status)
	}
	return nil
}

// checkKey checks an ID-like value: present, valid UTF-8, no NUL.
func checkKey(what, v string) error {
	if v == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	}
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w %s %q: not valid UTF-8 text", ErrInvalid, what, v)
	}
	return nil
}

// clean returns s as valid UTF-8 without NUL bytes; s itself when it is.
func clean(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// dbTime is t as stored: UTC, microseconds.
func dbTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// prepare validates a and returns the copy to store: strings cleaned, times
// in UTC to the microsecond, a zero Updated set to now. a is not modified.
func prepare(a *alert.Alert, now time.Time) (*alert.Alert, error) {
	if a == nil {
		return nil, fmt.Errorf("%w: nil alert", ErrInvalid)
	}
	if err := checkKey("alert id", a.ID); err != nil {
		return nil, err
	}
	if err := checkKey("fingerprint", a.Fingerprint); err != nil {
		return nil, fmt.Errorf("alert %s: %w", a.ID, err)
	}
	if a.Type == "" {
		return nil, fmt.Errorf("alert %s: %w: empty type", a.ID, ErrInvalid)
	}
	if a.Severity.Rank() < 0 {
		return nil, fmt.Errorf("alert %s: %w severity %q", a.ID, ErrInvalid, a.Severity)
	}
	if statusRank(a.Status) < 0 {
		return nil, fmt.Errorf("alert %s: %w status %q", a.ID, ErrInvalid, a.Status)
	}
	if err := checkReason(a.Status, a.ResolvedReason); err != nil {
		return nil, fmt.Errorf("alert %s: %w", a.ID, err)
	}
	if a.Detected.IsZero() {
		return nil, fmt.Errorf("alert %s: %w: zero detected time", a.ID, ErrInvalid)
	}
	if a.Count < 0 {
		return nil, fmt.Errorf("alert %s: %w: negative count %d", a.ID, ErrInvalid, a.Count)
	}
	for i, l := range a.ActivityLogs {
		if statusRank(l.StatusFrom) < 0 || statusRank(l.StatusTo) < 0 {
			return nil, fmt.Errorf("alert %s: %w activity log %d: status %q -> %q", a.ID, ErrInvalid, i, l.StatusFrom, l.StatusTo)
		}
		if l.UpdatedTime.IsZero() {
			return nil, fmt.Errorf("alert %s: %w activity log %d: zero time", a.ID, ErrInvalid, i)
		}
	}

	c := *a
	c.Type = clean(a.Type)
	c.TenantID = clean(a.TenantID)
	c.SubscriptionID = clean(a.SubscriptionID)
	c.Resource = clean(a.Resource)
	c.ResolvedBy = clean(a.ResolvedBy)
	c.SuppressedBy = clean(a.SuppressedBy)
	c.PreviousID = clean(a.PreviousID)
	c.Detected = dbTime(a.Detected)
	c.FirstObserved = dbTime(a.FirstObserved)
	c.LastObserved = dbTime(a.LastObserved)
	c.Updated = dbTime(a.Updated)
	if c.Updated.IsZero() {
		c.Updated = dbTime(now)
	}
	c.ResolvedOn = dbTime(a.ResolvedOn)

	c.Entities = nil
	if len(a.Entities) > 0 {
		c.Entities = make([]alert.Entity, len(a.Entities))
		for i, e := range a.Entities {
			c.Entities[i] = cleanEntity(e)
		}
	}
	c.Evidence = nil
	if len(a.Evidence) > 0 {
		c.Evidence = make([]alert.Evidence, len(a.Evidence))
		for i, e := range a.Evidence {
			c.Evidence[i] = alert.Evidence{
				Time: dbTime(e.Time), Operation: clean(e.Operation), Caller: clean(e.Caller),
				CallerIP: clean(e.CallerIP), Resource: clean(e.Resource), Target: clean(e.Target),
				Result: clean(e.Result), Source: clean(e.Source),
			}
		}
	}
	c.Details = nil
	if len(a.Details) > 0 {
		c.Details = make(map[string]string, len(a.Details))
		// Sorted, so that two keys cleaned to the same text resolve the same
		// way every time.
		for _, k := range slices.Sorted(maps.Keys(a.Details)) {
			c.Details[clean(k)] = clean(a.Details[k])
		}
	}
	c.ActivityLogs = nil
	if len(a.ActivityLogs) > 0 {
		c.ActivityLogs = make([]alert.ActivityLog, len(a.ActivityLogs))
		for i, l := range a.ActivityLogs {
			c.ActivityLogs[i] = alert.ActivityLog{
				StatusFrom: l.StatusFrom, StatusTo: l.StatusTo,
				UpdatedBy: clean(l.UpdatedBy), UpdatedTime: dbTime(l.UpdatedTime),
			}
		}
	}
	return &c, nil
}

func cleanEntity(e alert.Entity) alert.Entity {
	e.Type = clean(e.Type)
	e.Role = clean(e.Role)
	e.ResourceID = clean(e.ResourceID)
	e.Name = clean(e.Name)
	e.ObjectID = clean(e.ObjectID)
	e.UPN = clean(e.UPN)
	e.AppID = clean(e.AppID)
	e.Address = clean(e.Address)
	e.Country = clean(e.Country)
	e.City = clean(e.City)
	e.ASOrg = clean(e.ASOrg)
	if len(e.Intel) > 0 {
		intel := make([]string, len(e.Intel))
		for i, s := range e.Intel {
			intel[i] = clean(s)
		}
		e.Intel = intel
	} else {
		e.Intel = nil
	}
	return e
}
