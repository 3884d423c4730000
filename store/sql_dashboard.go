package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
)

// PlaybookTicks implements [Dashboard].
func (s *sqlDB) PlaybookTicks(ctx context.Context, alertID string) ([]PlaybookTick, error) {
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT step, done, updated_by, updated_at FROM playbook_ticks
		WHERE alert_id = ? ORDER BY step`), alertID)
	if err != nil {
		return nil, fmt.Errorf("store: playbook ticks of %q: %w", alertID, err)
	}
	defer rows.Close()
	var out []PlaybookTick
	for rows.Next() {
		t := PlaybookTick{AlertID: alertID}
		var done boolCol
		var at timeCol
		if err := rows.Scan(&t.Step, &done, &t.By, &at); err != nil {
			return nil, fmt.Errorf("store: playbook ticks of %q: %w", alertID, err)
		}
		t.Done, t.At = done.v, at.t
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: playbook ticks of %q: %w", alertID, err)
	}
	return out, nil
}

// SetPlaybookTick implements [Dashboard].
func (s *sqlDB) SetPlaybookTick(ctx context.Context, t PlaybookTick) error {
	if t.Step < 0 || t.Step > MaxPlaybookStep {
		return fmt.Errorf("store: playbook tick: %w: step %d outside 0..%d", ErrInvalid, t.Step, MaxPlaybookStep)
	}
	if t.At.IsZero() {
		return fmt.Errorf("store: playbook tick: %w: no time", ErrInvalid)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT 1 FROM alerts WHERE id = ?`+s.d.forUpdate()), t.AlertID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.d.rebind(`INSERT INTO playbook_ticks (alert_id, step, done, updated_by, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (alert_id, step) DO UPDATE SET
			done = excluded.done, updated_by = excluded.updated_by, updated_at = excluded.updated_at`),
			t.AlertID, t.Step, s.d.bool(t.Done), clean(t.By), s.d.time(dbTime(t.At)))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: playbook tick %q step %d: %w", t.AlertID, t.Step, err)
	}
	return nil
}

// CountBySeverity implements [Dashboard].
func (s *sqlDB) CountBySeverity(ctx context.Context, q ListQuery, limit int) (map[alert.Severity]int, error) {
	if limit < 0 {
		return nil, fmt.Errorf("store: count by severity: %w: negative limit", ErrInvalid)
	}
	b := binder{d: s.d}
	where, err := buildWhere(&q, &b)
	if err != nil {
		return nil, fmt.Errorf("store: count by severity: %w", err)
	}
	// "severity <> ''" holds for every alert; stating it lets the database
	// count from the partial index alerts_severity_counts (migration 00007).
	inner := `SELECT severity FROM alerts WHERE severity <> ''`
	if where != "" {
		inner += " AND " + where
	}
	if limit > 0 {
		inner += " LIMIT " + b.add(int64(limit))
	}
	rows, err := s.r.QueryContext(ctx, `SELECT severity, count(*) FROM (`+inner+`) AS c GROUP BY severity`, b.args...)
	if err != nil {
		return nil, fmt.Errorf("store: count by severity: %w", err)
	}
	defer rows.Close()
	out := map[alert.Severity]int{}
	for rows.Next() {
		var sev string
		var n int
		if err := rows.Scan(&sev, &n); err != nil {
			return nil, fmt.Errorf("store: count by severity: %w", err)
		}
		out[alert.Severity(sev)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count by severity: %w", err)
	}
	return out, nil
}

// day is the SQL expression of the day (UTC) of detected_at, as days since
// the epoch.
func (d dialect) day() string {
	if d.pg {
		return `floor(extract(epoch FROM detected_at) / 86400)::bigint`
	}
	return `detected_at / 86400000000` // microseconds per day
}

// AlertGroups implements [Dashboard].
func (s *sqlDB) AlertGroups(ctx context.Context, q ListQuery) ([]AlertGroup, error) {
	b := binder{d: s.d}
	where, err := buildWhere(&q, &b)
	if err != nil {
		return nil, fmt.Errorf("store: alert groups: %w", err)
	}
	query := `SELECT ` + s.d.day() + `, type, severity, status, tenant_id, subscription_id, count(*)
		FROM alerts`
	if where != "" {
		query += " WHERE " + where
	}
	query += " GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"
	rows, err := s.r.QueryContext(ctx, query, b.args...)
	if err != nil {
		return nil, fmt.Errorf("store: alert groups: %w", err)
	}
	defer rows.Close()
	var out []AlertGroup
	for rows.Next() {
		var g AlertGroup
		var day int64
		var sev, status string
		if err := rows.Scan(&day, &g.Type, &sev, &status, &g.TenantID, &g.SubscriptionID, &g.Count); err != nil {
			return nil, fmt.Errorf("store: alert groups: %w", err)
		}
		g.Day = time.Unix(day*86400, 0).UTC()
		g.Severity, g.Status = alert.Severity(sev), alert.Status(status)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: alert groups: %w", err)
	}
	return out, nil
}

// entityCondition is the condition of [ListQuery.EntityText]: alerts with
// an entity value (see migration 00006) that starts with text, or equals it
// when it is in double quotes, ASCII letters compared without case, read
// as a range of the alert_entity_values primary key. Empty text (after
// trimming spaces) is no condition.
func entityCondition(text string, b *binder) string {
	text = strings.TrimSpace(text)
	if text == "" {
		return ""
	}
	if exact, ok := quoted(text); ok {
		return `id IN (SELECT alert_id FROM alert_entity_values WHERE value = ` + b.add(asciiLower(clean(exact))) + `)`
	}
	lo := asciiLower(clean(text))
	return `id IN (SELECT alert_id FROM alert_entity_values WHERE value >= ` + b.add(lo) +
		` AND value < ` + b.add(lo+"\U0010FFFF") + `)`
}

// quoted returns the text between double quotes that enclose s.
func quoted(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1], true
	}
	return "", false
}

// asciiLower lowers ASCII letters only, as the databases' lower() does on
// the stored values (SQLite's, and PostgreSQL's under COLLATE "C").
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
