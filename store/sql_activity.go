package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// scopeCond returns the condition that keeps rows of sc: tenant in
// sc.TenantIDs or partner in sc.PartnerIDs ("" when sc is nil).
func scopeCond(sc *Scope, tenantCol, partnerCol string, b *binder) string {
	if sc == nil {
		return ""
	}
	var parts []string
	if len(sc.TenantIDs) > 0 {
		parts = append(parts, b.in(tenantCol, sc.TenantIDs))
	}
	if len(sc.PartnerIDs) > 0 {
		parts = append(parts, b.in(partnerCol, sc.PartnerIDs))
	}
	if len(parts) == 0 {
		return "1 = 0"
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// RecordActivity implements [Security].
func (s *sqlDB) RecordActivity(ctx context.Context, acts ...Activity) error {
	if len(acts) == 0 {
		return nil
	}
	for i := range acts {
		if err := checkActivity(&acts[i]); err != nil {
			return fmt.Errorf("store: record activity: %w", err)
		}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		for i := range acts {
			if err := s.insertActivity(ctx, tx, &acts[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: record activity: %w", err)
	}
	return nil
}

func checkActivity(a *Activity) error {
	if a.Time.IsZero() {
		return fmt.Errorf("%w activity: zero time", ErrInvalid)
	}
	if a.OperationType == "" {
		return fmt.Errorf("%w activity: empty operation type", ErrInvalid)
	}
	return nil
}

// insertActivity writes one record inside tx.
func (s *sqlDB) insertActivity(ctx context.Context, tx *sql.Tx, a *Activity) error {
	if err := checkActivity(a); err != nil {
		return err
	}
	details, err := encodeDetails(a.Details)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.d.rebind(`INSERT INTO system_activity (at, operation_type, partner_id, tenant_id, actor,
		resource_type, resource_id, old_value, new_value, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`),
		s.d.time(dbTime(a.Time)), clean(a.OperationType), clean(a.PartnerID), clean(a.TenantID), clean(a.Actor),
		clean(a.ResourceType), clean(a.ResourceID), clean(a.OldValue), clean(a.NewValue), nullString(cleanJSON(details)))
	if err != nil {
		return fmt.Errorf("insert activity: %w", err)
	}
	return nil
}

// cleanJSON makes encoded JSON valid UTF-8 without NUL (encoding/json
// already escapes NUL and replaces invalid bytes; this is a safeguard).
func cleanJSON(b []byte) []byte {
	if b == nil {
		return nil
	}
	return []byte(clean(string(b)))
}

// buildActivityWhere returns q's filters as one condition, adding their
// arguments to b.
func buildActivityWhere(q *ActivityQuery, b *binder) (string, error) {
	var conds []string
	if q.Scope != nil {
		conds = append(conds, scopeCond(q.Scope, "tenant_id", "partner_id", b))
	}
	if !q.From.IsZero() {
		conds = append(conds, "at >= "+b.add(b.d.time(dbTime(q.From))))
	}
	if !q.To.IsZero() {
		conds = append(conds, "at < "+b.add(b.d.time(dbTime(q.To))))
	}
	if q.OperationTypes != nil {
		conds = append(conds, b.in("operation_type", q.OperationTypes))
	}
	f, err := compileFilter(q.Filter, true, b)
	if err != nil {
		return "", err
	}
	if f != "" {
		conds = append(conds, "("+f+")")
	}
	return strings.Join(conds, " AND "), nil
}

func buildActivityOrder(q *ActivityQuery) (string, error) {
	if len(q.OrderBy) == 0 {
		return "at DESC, id DESC", nil
	}
	var b strings.Builder
	hasID := false
	for i, o := range q.OrderBy {
		known := false
		for _, c := range activityColumns {
			known = known || c.Name == o.Column
		}
		if !known {
			return "", fmt.Errorf("%w query: cannot order activity by %q", ErrInvalid, o.Column)
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

// ListActivity implements [Security].
func (s *sqlDB) ListActivity(ctx context.Context, q ActivityQuery) ([]Activity, error) {
	if q.Limit < 0 || q.Offset < 0 {
		return nil, fmt.Errorf("store: list activity: %w query: negative limit %d or offset %d", ErrInvalid, q.Limit, q.Offset)
	}
	bd := binder{d: s.d}
	where, err := buildActivityWhere(&q, &bd)
	if err != nil {
		return nil, fmt.Errorf("store: list activity: %w", err)
	}
	order, err := buildActivityOrder(&q)
	if err != nil {
		return nil, fmt.Errorf("store: list activity: %w", err)
	}
	var b strings.Builder
	b.WriteString(`SELECT id, at, operation_type, partner_id, tenant_id, actor, resource_type, resource_id,
		old_value, new_value, details FROM system_activity`)
	if where != "" {
		b.WriteString(" WHERE " + where)
	}
	b.WriteString(" ORDER BY " + order)
	if q.Limit > 0 || q.Offset > 0 {
		limit := s.d.noLimit()
		if q.Limit > 0 {
			limit = int64(q.Limit)
		}
		b.WriteString(" LIMIT " + bd.add(limit) + " OFFSET " + bd.add(int64(q.Offset)))
	}
	rows, err := s.r.QueryContext(ctx, b.String(), bd.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list activity: %w", err)
	}
	defer rows.Close()
	var out []Activity
	for rows.Next() {
		var (
			a       Activity
			at      timeCol
			details []byte
		)
		if err := rows.Scan(&a.ID, &at, &a.OperationType, &a.PartnerID, &a.TenantID, &a.Actor, &a.ResourceType,
			&a.ResourceID, &a.OldValue, &a.NewValue, &details); err != nil {
			return nil, fmt.Errorf("store: list activity: %w", err)
		}
		a.Time = at.t
		if a.Details, err = decodeDetails(details); err != nil {
			return nil, fmt.Errorf("store: list activity: record %d: %w", a.ID, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list activity: %w", err)
	}
	return out, nil
}

// CountActivity implements [Security].
func (s *sqlDB) CountActivity(ctx context.Context, q ActivityQuery) (int, error) {
	b := binder{d: s.d}
	where, err := buildActivityWhere(&q, &b)
	if err != nil {
		return 0, fmt.Errorf("store: count activity: %w", err)
	}
	query := `SELECT count(*) FROM system_activity`
	if where != "" {
		query += " WHERE " + where
	}
	var n int
	if err := s.r.QueryRowContext(ctx, query, b.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count activity: %w", err)
	}
	return n, nil
}

// activityAt is the time of a record made by actor: its time, or now.
func activityAt(by Actor) time.Time {
	if by.At.IsZero() {
		return time.Now()
	}
	return by.At
}
