package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
)

// buildWhere returns q's filters as one SQL condition with '?' placeholders
// (empty when there is none) and its arguments. timeArg turns a stored-form
// time into the dialect's column value.
func buildWhere(q *ListQuery, timeArg func(time.Time) any) (string, []any, error) {
	var (
		conds []string
		args  []any
	)
	in := func(col string, n int, arg func(i int) any) {
		if n == 0 {
			conds = append(conds, "1 = 0")
			return
		}
		var b strings.Builder
		b.WriteString(col)
		b.WriteString(" IN (")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('?')
			args = append(args, arg(i))
		}
		b.WriteByte(')')
		conds = append(conds, b.String())
	}
	if q.TenantIDs != nil {
		in("tenant_id", len(q.TenantIDs), func(i int) any { return q.TenantIDs[i] })
	}
	if q.SubscriptionIDs != nil {
		in("subscription_id", len(q.SubscriptionIDs), func(i int) any { return q.SubscriptionIDs[i] })
	}
	if q.Statuses != nil {
		in("status", len(q.Statuses), func(i int) any { return string(q.Statuses[i]) })
	}
	if q.Types != nil {
		in("type", len(q.Types), func(i int) any { return q.Types[i] })
	}
	if q.Severities != nil {
		in("severity", len(q.Severities), func(i int) any { return string(q.Severities[i]) })
	}
	if !q.DetectedFrom.IsZero() {
		conds = append(conds, "detected_at >= ?")
		args = append(args, timeArg(dbTime(q.DetectedFrom)))
	}
	if !q.DetectedTo.IsZero() {
		conds = append(conds, "detected_at < ?")
		args = append(args, timeArg(dbTime(q.DetectedTo)))
	}
	conds, args, err := appendWhere(conds, args, q.Where, q.Args, timeArg)
	if err != nil {
		return "", nil, err
	}
	return strings.Join(conds, " AND "), args, nil
}

// appendWhere adds a caller's trusted WHERE fragment (with '?'
// placeholders) and its arguments, converted to driver values, to conds and
// args, after checking that placeholders and arguments agree.
func appendWhere(conds []string, args []any, where string, whereArgs []any, timeArg func(time.Time) any) ([]string, []any, error) {
	if where == "" && len(whereArgs) == 0 {
		return conds, args, nil
	}
	if n := strings.Count(where, "?"); n != len(whereArgs) {
		return nil, nil, fmt.Errorf("%w query: Where has %d placeholders for %d arguments", ErrInvalid, n, len(whereArgs))
	}
	if strings.TrimSpace(where) == "" {
		return nil, nil, fmt.Errorf("%w query: arguments without a Where fragment", ErrInvalid)
	}
	for i, a := range whereArgs {
		v, err := queryArg(a, timeArg)
		if err != nil {
			return nil, nil, fmt.Errorf("%w query: argument %d: %w", ErrInvalid, i+1, err)
		}
		args = append(args, v)
	}
	return append(conds, "("+where+")"), args, nil
}

// queryArg converts one ListQuery.Args value to a driver value.
func queryArg(a any, timeArg func(time.Time) any) (any, error) {
	switch v := a.(type) {
	case nil, string, bool, int64, float64:
		return v, nil
	case int:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case uint32:
		return int64(v), nil
	case time.Time:
		return timeArg(dbTime(v)), nil
	case alert.Status:
		return string(v), nil
	case alert.Severity:
		return string(v), nil
	case alert.ResolvedReason:
		return string(v), nil
	}
	return nil, fmt.Errorf("unsupported type %T", a)
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
