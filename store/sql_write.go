package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
)

// SaveAlert implements [Store].
func (s *sqlDB) SaveAlert(ctx context.Context, a *alert.Alert) error {
	return s.SaveAlerts(ctx, []*alert.Alert{a})
}

// SaveAlerts implements [Store]. Every alert is validated before the
// transaction begins; the statements are prepared once per store.
func (s *sqlDB) SaveAlerts(ctx context.Context, alerts []*alert.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	now := time.Now()
	rows := make([]*alert.Alert, len(alerts))
	for i, a := range alerts {
		p, err := prepare(a, now)
		if err != nil {
			return fmt.Errorf("store: save alert: %w", err)
		}
		rows[i] = p
	}
	// Rows locked in one order by every writer cannot deadlock.
	slices.SortStableFunc(rows, func(a, b *alert.Alert) int { return strings.Compare(a.ID, b.ID) })
	var notified bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		notified = false
		st := stmts{
			d:     s.d,
			up:    tx.StmtContext(ctx, s.upsertAlert),
			trim:  tx.StmtContext(ctx, s.trimEvidence),
			ev:    tx.StmtContext(ctx, s.upsertEvidence),
			evBlk: tx.StmtContext(ctx, s.upsertEvBlock),
			log:   tx.StmtContext(ctx, s.insertLog),
			args:  make([]any, 0, 4*evidenceBlock),
		}
		// Without a target there is nothing to fan out (and no stored state
		// to read): the targets are read first, and kept (SQLite: by the
		// write lock held since BEGIN; PostgreSQL: FOR SHARE).
		fan := s.newFanOut(tx)
		targets, err := fan.load(ctx)
		if err != nil {
			return err
		}
		var state, lock *sql.Stmt
		if targets {
			state = tx.StmtContext(ctx, s.selectState)
			if s.lockNewAlert != nil {
				lock = tx.StmtContext(ctx, s.lockNewAlert)
			}
		}
		for _, a := range rows {
			if targets {
				if err := fan.alert(ctx, lock, state, a, now); err != nil {
					return fmt.Errorf("alert %s: %w", a.ID, err)
				}
			}
			if err := st.save(ctx, a); err != nil {
				return fmt.Errorf("alert %s: %w", a.ID, err)
			}
		}
		notified = fan.wrote
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save alerts: %w", err)
	}
	if notified {
		s.signalOutbox()
	}
	if s.wrote != nil {
		s.wrote(ctx, len(rows))
	}
	return nil
}

// stmts are the prepared statements of one write transaction.
type stmts struct {
	d                        dialect
	up, trim, ev, evBlk, log *sql.Stmt
	args                     []any // reused for evidence arguments
}

// save writes one prepared alert.
func (st *stmts) save(ctx context.Context, a *alert.Alert) error {
	entities, err := encodeEntities(a.Entities)
	if err != nil {
		return err
	}
	details, err := encodeDetails(a.Details)
	if err != nil {
		return err
	}
	_, err = st.up.ExecContext(ctx,
		a.ID, a.Type, a.Fingerprint, string(a.Severity), a.Severity.Rank(), string(a.Status),
		a.TenantID, a.SubscriptionID, a.Resource,
		st.d.time(a.Detected), st.d.time(a.FirstObserved), st.d.time(a.LastObserved), st.d.time(a.Updated),
		int64(a.Count), nullString(entities), nullString(details),
		string(a.ResolvedReason), a.ResolvedBy, st.d.time(a.ResolvedOn), a.SuppressedBy, a.PreviousID)
	if err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	if _, err := st.trim.ExecContext(ctx, a.ID, len(a.Evidence)); err != nil {
		return fmt.Errorf("trim evidence: %w", err)
	}
	for i := 0; i < len(a.Evidence); {
		n, stmt := evidenceBlock, st.evBlk
		if len(a.Evidence)-i < evidenceBlock {
			n, stmt = 1, st.ev
		}
		st.args = st.args[:0]
		for j := i; j < i+n; j++ {
			e := &a.Evidence[j]
			fields, err := encodeEvidence(e)
			if err != nil {
				return err
			}
			st.args = append(st.args, a.ID, j, st.d.time(e.Time), string(fields))
		}
		if _, err := stmt.ExecContext(ctx, st.args...); err != nil {
			return fmt.Errorf("evidence %d: %w", i, err)
		}
		i += n
	}
	for i, l := range a.ActivityLogs {
		_, err := st.log.ExecContext(ctx, a.ID, string(l.StatusFrom), string(l.StatusTo), l.UpdatedBy, st.d.time(l.UpdatedTime))
		if err != nil {
			return fmt.Errorf("activity log %d: %w", i, err)
		}
	}
	return nil
}

// nullString makes an empty JSON column NULL; others are bound as text.
func nullString(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// UpdateStatus implements [Store].
func (s *sqlDB) UpdateStatus(ctx context.Context, id string, to alert.Status, reason alert.ResolvedReason, by string, at time.Time) (*alert.Alert, error) {
	if err := checkKey("alert id", id); err != nil {
		return nil, fmt.Errorf("store: update status: %w", err)
	}
	if by == "" {
		return nil, fmt.Errorf("store: update status of %s: %w: empty updatedBy", id, ErrInvalid)
	}
	if at.IsZero() {
		return nil, fmt.Errorf("store: update status of %s: %w: zero time", id, ErrInvalid)
	}
	by, at = clean(by), dbTime(at)
	var out *alert.Alert
	notified := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		fan := s.newFanOut(tx)
		if _, _, err := s.updateStatusTx(ctx, tx, fan, id, to, reason, by, at, nil); err != nil {
			return err
		}
		notified = fan.wrote
		var err error
		out, err = s.get(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: update status of %s: %w", id, err)
	}
	if notified {
		s.signalOutbox()
	}
	return out, nil
}

// updateStatusTx moves the alert to status to inside tx, appends its
// activity log and writes the change's outbox entries through fan (the
// fan-out of tx); by and at are already cleaned. With tenants not nil, an
// alert of another tenant is ErrNotFound. It returns the status the alert
// had and its tenant.
func (s *sqlDB) updateStatusTx(ctx context.Context, tx *sql.Tx, fan *fanOut, id string, to alert.Status, reason alert.ResolvedReason,
	by string, at time.Time, tenants []string) (alert.Status, string, error) {
	var from, tenant string
	var cur alert.Alert
	var sev string
	// The targets before the alert's row: the order every writer locks in.
	if _, err := fan.load(ctx); err != nil {
		return "", "", err
	}
	err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT status, tenant_id, type, severity, subscription_id FROM alerts WHERE id = ?`)+s.d.forUpdate(), id).
		Scan(&from, &tenant, &cur.Type, &sev, &cur.SubscriptionID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrNotFound
	}
	if err != nil {
		return "", "", err
	}
	if tenants != nil && !slices.Contains(tenants, tenant) {
		return "", "", ErrNotFound
	}
	if err := CheckTransition(alert.Status(from), to, reason); err != nil {
		return "", "", err
	}
	resolvedBy, resolvedOn := "", time.Time{}
	if to == alert.StatusResolved {
		resolvedBy, resolvedOn = by, at
	}
	_, err = tx.ExecContext(ctx, s.d.rebind(`UPDATE alerts SET status = ?, resolved_reason = ?, resolved_by = ?,
		resolved_on = ?, updated_at = ? WHERE id = ?`),
		string(to), string(reason), resolvedBy, s.d.time(resolvedOn), s.d.time(at), id)
	if err != nil {
		return "", "", fmt.Errorf("update: %w", err)
	}
	_, err = tx.StmtContext(ctx, s.insertLog).ExecContext(ctx, id, from, string(to), by, s.d.time(at))
	if err != nil {
		return "", "", fmt.Errorf("activity log: %w", err)
	}
	cur.ID, cur.TenantID, cur.Severity = id, tenant, alert.Severity(sev)
	if err := fan.change(ctx, &cur, outboxChange{EventStatusChanged, from, string(to)}, time.Now()); err != nil {
		return "", "", err
	}
	return alert.Status(from), tenant, nil
}
