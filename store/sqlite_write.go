package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vigil-security/vigil/alert"
)

// SaveAlert implements [Store].
func (s *SQLite) SaveAlert(ctx context.Context, a *alert.Alert) error {
	return s.SaveAlerts(ctx, []*alert.Alert{a})
}

// SaveAlerts implements [Store]. Every alert is validated before the
// transaction begins; the statements are prepared once per store.
func (s *SQLite) SaveAlerts(ctx context.Context, alerts []*alert.Alert) error {
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
	var notified bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		notified = false
		st := sqliteStmts{
			up:     tx.StmtContext(ctx, s.upsertAlert),
			trim:   tx.StmtContext(ctx, s.trimEvidence),
			ev:     tx.StmtContext(ctx, s.upsertEvidence),
			evBlk:  tx.StmtContext(ctx, s.upsertEvBlock),
			log:    tx.StmtContext(ctx, s.insertLog),
			state:  tx.StmtContext(ctx, s.selectState),
			fanOut: tx.StmtContext(ctx, s.fanOut),
			args:   make([]any, 0, 4*evidenceBlock),
		}
		// Without a target there is nothing to fan out; the write lock held
		// since BEGIN keeps a target from appearing meanwhile.
		var targets bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM notify_targets)`).Scan(&targets); err != nil {
			return fmt.Errorf("outbox targets: %w", err)
		}
		for _, a := range rows {
			if targets {
				n, err := st.changes(ctx, a, now)
				if err != nil {
					return fmt.Errorf("alert %s: %w", a.ID, err)
				}
				notified = notified || n
			}
			if err := st.save(ctx, a); err != nil {
				return fmt.Errorf("alert %s: %w", a.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save alerts: %w", err)
	}
	if notified {
		s.signalOutbox()
	}
	s.wrote(ctx, len(rows))
	return nil
}

// changes writes the outbox entries of saving a (new alert, severity
// raised, status moved on) before the upsert, from the stored state, and
// reports whether it wrote any.
func (st *sqliteStmts) changes(ctx context.Context, a *alert.Alert, now time.Time) (bool, error) {
	var (
		rank   int
		status string
	)
	err := st.state.QueryRowContext(ctx, a.ID).Scan(&rank, &status)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("stored state: %w", err)
	}
	wrote := false
	for _, c := range alertChanges(a, found, rank, alert.Status(status)) {
		n, err := fanOut(ctx, st.fanOut, a, c, now)
		if err != nil {
			return false, err
		}
		wrote = wrote || n
	}
	return wrote, nil
}

// sqliteStmts are the prepared statements of one write transaction.
type sqliteStmts struct {
	up, trim, ev, evBlk, log *sql.Stmt
	state, fanOut            *sql.Stmt
	args                     []any // reused for evidence arguments
}

// save writes one prepared alert.
func (st *sqliteStmts) save(ctx context.Context, a *alert.Alert) error {
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
		sqliteTime(a.Detected), sqliteTime(a.FirstObserved), sqliteTime(a.LastObserved), sqliteTime(a.Updated),
		int64(a.Count), nullString(entities), nullString(details),
		string(a.ResolvedReason), a.ResolvedBy, sqliteTime(a.ResolvedOn), a.SuppressedBy, a.PreviousID)
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
			st.args = append(st.args, a.ID, j, sqliteTime(e.Time), string(fields))
		}
		if _, err := stmt.ExecContext(ctx, st.args...); err != nil {
			return fmt.Errorf("evidence %d: %w", i, err)
		}
		i += n
	}
	for i, l := range a.ActivityLogs {
		_, err := st.log.ExecContext(ctx, a.ID, string(l.StatusFrom), string(l.StatusTo), l.UpdatedBy, sqliteTime(l.UpdatedTime))
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
func (s *SQLite) UpdateStatus(ctx context.Context, id string, to alert.Status, reason alert.ResolvedReason, by string, at time.Time) (*alert.Alert, error) {
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
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, _, err := s.updateStatusTx(ctx, tx, id, to, reason, by, at, nil); err != nil {
			return err
		}
		var err error
		out, err = getSQLite(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: update status of %s: %w", id, err)
	}
	s.signalOutbox()
	return out, nil
}

// updateStatusTx moves the alert to status to inside tx, appends its
// activity log and writes the change's outbox entries; by and at are
// already cleaned. With tenants not nil, an
// alert of another tenant is ErrNotFound. It returns the status the alert
// had and its tenant.
func (s *SQLite) updateStatusTx(ctx context.Context, tx *sql.Tx, id string, to alert.Status, reason alert.ResolvedReason,
	by string, at time.Time, tenants []string) (alert.Status, string, error) {
	var from, tenant string
	var cur alert.Alert
	var sev string
	err := tx.QueryRowContext(ctx, `SELECT status, tenant_id, type, severity, subscription_id FROM alerts WHERE id = ?`, id).
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
	_, err = tx.ExecContext(ctx, `UPDATE alerts SET status = ?, resolved_reason = ?, resolved_by = ?,
		resolved_on = ?, updated_at = ? WHERE id = ?`,
		string(to), string(reason), resolvedBy, sqliteTime(resolvedOn), sqliteTime(at), id)
	if err != nil {
		return "", "", fmt.Errorf("update: %w", err)
	}
	_, err = tx.StmtContext(ctx, s.insertLog).ExecContext(ctx, id, from, string(to), by, sqliteTime(at))
	if err != nil {
		return "", "", fmt.Errorf("activity log: %w", err)
	}
	cur.ID, cur.TenantID, cur.Severity = id, tenant, alert.Severity(sev)
	if _, err := fanOut(ctx, tx.StmtContext(ctx, s.fanOut), &cur, outboxChange{EventStatusChanged, from, string(to)}, time.Now()); err != nil {
		return "", "", err
	}
	return alert.Status(from), tenant, nil
}

// write runs f in a write transaction on the writer connection.
func (s *SQLite) write(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := f(tx); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// read runs f in a read transaction on the read pool: one snapshot.
func (s *SQLite) read(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	err = f(tx)
	// Nothing to keep: ending a read transaction cannot lose data.
	return errors.Join(err, ignoreDone(tx.Rollback()))
}

// ignoreDone drops the error of rolling back a transaction that database/sql
// already ended (as it does when the context is cancelled).
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
