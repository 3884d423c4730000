package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/vigil-security/vigil/alert"
)

// PlaybookTicks implements [Dashboard].
func (s *SQLite) PlaybookTicks(ctx context.Context, alertID string) ([]PlaybookTick, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT step, done, updated_by, updated_at FROM playbook_ticks
		WHERE alert_id = ? ORDER BY step`, alertID)
	if err != nil {
		return nil, fmt.Errorf("store: playbook ticks of %q: %w", alertID, err)
	}
	defer rows.Close()
	var out []PlaybookTick
	for rows.Next() {
		t := PlaybookTick{AlertID: alertID}
		var at sql.NullInt64
		if err := rows.Scan(&t.Step, &t.Done, &t.By, &at); err != nil {
			return nil, fmt.Errorf("store: playbook ticks of %q: %w", alertID, err)
		}
		t.At = fromSQLiteTime(at)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: playbook ticks of %q: %w", alertID, err)
	}
	return out, nil
}

// SetPlaybookTick implements [Dashboard].
func (s *SQLite) SetPlaybookTick(ctx context.Context, t PlaybookTick) error {
	if t.Step < 0 || t.Step > MaxPlaybookStep {
		return fmt.Errorf("store: playbook tick: %w: step %d outside 0..%d", ErrInvalid, t.Step, MaxPlaybookStep)
	}
	if t.At.IsZero() {
		return fmt.Errorf("store: playbook tick: %w: no time", ErrInvalid)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM alerts WHERE id = ?`, t.AlertID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO playbook_ticks (alert_id, step, done, updated_by, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (alert_id, step) DO UPDATE SET
			done = excluded.done, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			t.AlertID, t.Step, t.Done, clean(t.By), sqliteTime(dbTime(t.At)))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: playbook tick %q step %d: %w", t.AlertID, t.Step, err)
	}
	return nil
}

// CountBySeverity implements [Dashboard].
func (s *SQLite) CountBySeverity(ctx context.Context, q ListQuery, limit int) (map[alert.Severity]int, error) {
	if limit < 0 {
		return nil, fmt.Errorf("store: count by severity: %w: negative limit", ErrInvalid)
	}
	where, args, err := buildWhere(&q, sqliteTime)
	if err != nil {
		return nil, fmt.Errorf("store: count by severity: %w", err)
	}
	// "severity <> ''" holds for every alert; stating it lets SQLite count
	// from the partial index alerts_severity_counts (migration 00005).
	inner := `SELECT severity FROM alerts WHERE severity <> ''`
	if where != "" {
		inner += " AND " + where
	}
	if limit > 0 {
		inner += " LIMIT ?"
		args = append(args, int64(limit))
	}
	rows, err := s.r.QueryContext(ctx, `SELECT severity, count(*) FROM (`+inner+`) GROUP BY severity`, args...)
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

// microsPerDay is one day in the time columns' unit.
const microsPerDay = 86_400_000_000

// AlertGroups implements [Dashboard].
func (s *SQLite) AlertGroups(ctx context.Context, q ListQuery) ([]AlertGroup, error) {
	where, args, err := buildWhere(&q, sqliteTime)
	if err != nil {
		return nil, fmt.Errorf("store: alert groups: %w", err)
	}
	query := `SELECT detected_at / ` + fmt.Sprint(microsPerDay) + `, type, severity, status, tenant_id, subscription_id, count(*)
		FROM alerts`
	if where != "" {
		query += " WHERE " + where
	}
	query += " GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"
	rows, err := s.r.QueryContext(ctx, query, args...)
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
		g.Day = fromSQLiteTime(sql.NullInt64{Int64: day * microsPerDay, Valid: true})
		g.Severity, g.Status = alert.Severity(sev), alert.Status(status)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: alert groups: %w", err)
	}
	return out, nil
}

// EntityCondition implements [Dashboard]: alerts with an entity value
// (see migration 00004) that starts with text, or equals it when it is
// in double quotes, ASCII letters compared without case, read as a range
// of the alert_entity_values index.
func (s *SQLite) EntityCondition(text string) (string, []any) {
	text = strings.TrimSpace(text)
	if exact, ok := quoted(text); ok {
		return `id IN (SELECT alert_id FROM alert_entity_values WHERE value = ?)`, []any{asciiLower(clean(exact))}
	}
	lo := asciiLower(clean(text))
	return `id IN (SELECT alert_id FROM alert_entity_values WHERE value >= ? AND value < ?)`,
		[]any{lo, lo + "\U0010FFFF"}
}

// quoted returns the text between double quotes that enclose s.
func quoted(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1], true
	}
	return "", false
}

// asciiLower lowers ASCII letters only, as SQLite's lower() does.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
