package store

import (
	"fmt"
	"strings"
)

// buildWhere returns q's filters as one SQL condition (empty when there is
// none), adding their arguments to b.
func buildWhere(q *ListQuery, b *binder) (string, error) {
	var conds []string
	if q.TenantIDs != nil {
		conds = append(conds, b.in("tenant_id", q.TenantIDs))
	}
	if q.SubscriptionIDs != nil {
		conds = append(conds, b.in("subscription_id", q.SubscriptionIDs))
	}
	if q.Statuses != nil {
		conds = append(conds, b.in("status", strs(q.Statuses)))
	}
	if q.Types != nil {
		conds = append(conds, b.in("type", q.Types))
	}
	if q.Severities != nil {
		conds = append(conds, b.in("severity", strs(q.Severities)))
	}
	if !q.DetectedFrom.IsZero() {
		conds = append(conds, "detected_at >= "+b.add(b.d.time(dbTime(q.DetectedFrom))))
	}
	if !q.DetectedTo.IsZero() {
		conds = append(conds, "detected_at < "+b.add(b.d.time(dbTime(q.DetectedTo))))
	}
	if e := entityCondition(q.EntityText, b); e != "" {
		conds = append(conds, e)
	}
	f, err := compileFilter(q.Filter, false, b)
	if err != nil {
		return "", err
	}
	if f != "" {
		conds = append(conds, "("+f+")")
	}
	return strings.Join(conds, " AND "), nil
}

// strs converts a slice of a string type.
func strs[T ~string](v []T) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = string(s)
	}
	return out
}

// buildOrder returns q's ORDER BY list (without the keywords).
func buildOrder(q *ListQuery) (string, error) {
	if len(q.OrderBy) == 0 {
		return "detected_at DESC, id DESC", nil
	}
	var b strings.Builder
	hasID := false
	for i, o := range q.OrderBy {
		c, ok := column(o.Column)
		if !ok {
			return "", fmt.Errorf("%w query: cannot order by %q", ErrInvalid, o.Column)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(o.Column)
		if o.Desc {
			b.WriteString(" DESC")
		} else {
			b.WriteString(" ASC")
		}
		if c.Nullable {
			// Spelt out: SQLite and PostgreSQL disagree on the default.
			b.WriteString(" NULLS LAST")
		}
		hasID = hasID || o.Column == "id"
	}
	if !hasID {
		if q.OrderBy[0].Desc {
			b.WriteString(", id DESC")
		} else {
			b.WriteString(", id ASC")
		}
	}
	return b.String(), nil
}

// checkPage validates Limit and Offset.
func checkPage(q *ListQuery) error {
	if q.Limit < 0 || q.Offset < 0 {
		return fmt.Errorf("%w query: negative limit %d or offset %d", ErrInvalid, q.Limit, q.Offset)
	}
	return nil
}
