package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/vigil-security/vigil/alert"
)

// alertColumns are the columns scanAlert reads, in its order.
const alertColumns = `id, type, fingerprint, severity, status, tenant_id, subscription_id, resource,
	detected_at, first_observed_at, last_observed_at, updated_at, event_count, entities, details,
	resolved_reason, resolved_by, resolved_on, suppressed_by, previous_id`

// idChunk caps the IDs bound in one IN list when loading evidence and logs.
const idChunk = 500

// GetAlert implements [Store].
func (s *sqlDB) GetAlert(ctx context.Context, id string) (*alert.Alert, error) {
	var out *alert.Alert
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.get(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: get alert %q: %w", id, err)
	}
	return out, nil
}

// get reads one alert with its evidence and logs inside tx.
func (s *sqlDB) get(ctx context.Context, tx *sql.Tx, id string) (*alert.Alert, error) {
	a, err := scanAlert(tx.QueryRowContext(ctx, s.d.rebind(`SELECT `+alertColumns+` FROM alerts WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	list := []*alert.Alert{a}
	if err := s.attach(ctx, tx, list); err != nil {
		return nil, err
	}
	return a, nil
}

// ListAlerts implements [Store].
func (s *sqlDB) ListAlerts(ctx context.Context, q ListQuery) ([]*alert.Alert, error) {
	if err := checkPage(&q); err != nil {
		return nil, fmt.Errorf("store: list alerts: %w", err)
	}
	query, args, byID, err := s.listSQL(&q)
	if err != nil {
		return nil, fmt.Errorf("store: list alerts: %w", err)
	}

	var out []*alert.Alert
	err = s.read(ctx, func(tx *sql.Tx) error {
		if byID > 0 {
			var err error
			out, err = s.pageByID(ctx, tx, query, args, byID)
			if err != nil {
				return err
			}
			return s.attach(ctx, tx, out)
		}
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("query: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAlert(rows)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("query: %w", err)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		return s.attach(ctx, tx, out)
	})
	if err != nil {
		return nil, fmt.Errorf("store: list alerts: %w", err)
	}
	return out, nil
}

// CountAlerts implements [Store].
func (s *sqlDB) CountAlerts(ctx context.Context, q ListQuery) (int, error) {
	b := binder{d: s.d}
	where, err := buildWhere(&q, &b)
	if err != nil {
		return 0, fmt.Errorf("store: count alerts: %w", err)
	}
	query := `SELECT count(*) FROM alerts`
	if where != "" {
		query += " WHERE " + where
	}
	var n int
	if err := s.r.QueryRowContext(ctx, query, b.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count alerts: %w", err)
	}
	return n, nil
}

// FindOpenByFingerprint implements [Store].
func (s *sqlDB) FindOpenByFingerprint(ctx context.Context, fingerprint string) (*alert.Alert, error) {
	var out *alert.Alert
	err := s.read(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT id FROM alerts WHERE fingerprint = ? AND status <> 'resolved'
			ORDER BY last_observed_at DESC NULLS LAST, id DESC LIMIT 1`), fingerprint).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		out, err = s.get(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: find open alert by fingerprint %q: %w", fingerprint, err)
	}
	return out, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanAlert reads the alertColumns of one row.
func scanAlert(sc scanner) (*alert.Alert, error) {
	var (
		a                        alert.Alert
		severity, status, reason string
		detected, first, last    timeCol
		updated, resolvedOn      timeCol
		count                    int64
		entities, details        []byte
	)
	err := sc.Scan(&a.ID, &a.Type, &a.Fingerprint, &severity, &status, &a.TenantID, &a.SubscriptionID,
		&a.Resource, &detected, &first, &last, &updated, &count, &entities, &details,
		&reason, &a.ResolvedBy, &resolvedOn, &a.SuppressedBy, &a.PreviousID)
	if err != nil {
		return nil, err
	}
	a.Severity, a.Status, a.ResolvedReason = alert.Severity(severity), alert.Status(status), alert.ResolvedReason(reason)
	a.Detected, a.FirstObserved, a.LastObserved = detected.t, first.t, last.t
	a.Updated, a.ResolvedOn = updated.t, resolvedOn.t
	a.Count = int(count)
	if a.Entities, err = decodeEntities(entities); err != nil {
		return nil, fmt.Errorf("alert %s: %w", a.ID, err)
	}
	if a.Details, err = decodeDetails(details); err != nil {
		return nil, fmt.Errorf("alert %s: %w", a.ID, err)
	}
	return &a, nil
}

// attach loads the evidence and activity logs of alerts.
func (s *sqlDB) attach(ctx context.Context, tx *sql.Tx, alerts []*alert.Alert) error {
	for start := 0; start < len(alerts); start += idChunk {
		chunk := alerts[start:min(start+idChunk, len(alerts))]
		byID := make(map[string]*alert.Alert, len(chunk))
		args := make([]any, len(chunk))
		for i, a := range chunk {
			byID[a.ID] = a
			args[i] = a.ID
		}
		in := s.d.rebind("(?" + strings.Repeat(", ?", len(chunk)-1) + ")")
		if err := loadEvidence(ctx, tx, in, args, byID); err != nil {
			return err
		}
		if err := loadLogs(ctx, tx, in, args, byID); err != nil {
			return err
		}
	}
	return nil
}

func loadEvidence(ctx context.Context, tx *sql.Tx, in string, args []any, byID map[string]*alert.Alert) error {
	rows, err := tx.QueryContext(ctx, `SELECT alert_id, time, fields FROM evidence
		WHERE alert_id IN `+in+` ORDER BY alert_id, ordinal`, args...)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	defer rows.Close()
	var (
		id     string
		t      timeCol
		fields []byte
	)
	for rows.Next() {
		if err := rows.Scan(&id, &t, &fields); err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
		a := byID[id]
		e := alert.Evidence{Time: t.t}
		if err := decodeEvidence(fields, &e); err != nil {
			return fmt.Errorf("alert %s: %w", id, err)
		}
		a.Evidence = append(a.Evidence, e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	return nil
}

func loadLogs(ctx context.Context, tx *sql.Tx, in string, args []any, byID map[string]*alert.Alert) error {
	rows, err := tx.QueryContext(ctx, `SELECT alert_id, status_from, status_to, updated_by, updated_at
		FROM activity_logs WHERE alert_id IN `+in+` ORDER BY alert_id, id`, args...)
	if err != nil {
		return fmt.Errorf("activity logs: %w", err)
	}
	defer rows.Close()
	var (
		id, from, to, by string
		at               timeCol
	)
	for rows.Next() {
		if err := rows.Scan(&id, &from, &to, &by, &at); err != nil {
			return fmt.Errorf("activity logs: %w", err)
		}
		a := byID[id]
		a.ActivityLogs = append(a.ActivityLogs, alert.ActivityLog{
			StatusFrom: alert.Status(from), StatusTo: alert.Status(to), UpdatedBy: by,
			UpdatedTime: at.t,
		})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("activity logs: %w", err)
	}
	return nil
}
