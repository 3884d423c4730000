package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// sqlDB is what the SQLite and PostgreSQL stores share: the statements,
// written once with '?' placeholders (rebound for PostgreSQL), and every
// method of [Security] but Close. The schemas of both dialects have the
// same tables and columns; they differ in column types only.
type sqlDB struct {
	d dialect
	w *sql.DB // writes (SQLite: its one writer connection)
	r *sql.DB // reads (PostgreSQL: the same pool as w)

	// wrote, when set, is told after n alerts were written.
	wrote func(ctx context.Context, n int)

	upsertAlert    *sql.Stmt
	trimEvidence   *sql.Stmt
	upsertEvidence *sql.Stmt // one row
	upsertEvBlock  *sql.Stmt // evidenceBlock rows
	insertLog      *sql.Stmt
	selectState    *sql.Stmt // severity rank and status before an upsert
	lockNewAlert   *sql.Stmt // PostgreSQL only: see lockNewAlertSQL

	outboxSig chan struct{} // see OutboxSignal
}

// newSQLDB returns the shared part of a store in dialect d.
func newSQLDB(d dialect) *sqlDB {
	return &sqlDB{d: d, outboxSig: make(chan struct{}, 1)}
}

// prepareStmts prepares the statements every alert write uses.
func (s *sqlDB) prepareStmts(ctx context.Context) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.upsertAlert, upsertAlertSQL},
		{&s.trimEvidence, `DELETE FROM evidence WHERE alert_id = ? AND ordinal >= ?`},
		{&s.upsertEvidence, upsertEvidenceSQL(1)},
		{&s.upsertEvBlock, upsertEvidenceSQL(evidenceBlock)},
		{&s.insertLog, insertLogSQL},
		{&s.selectState, selectStateSQL + s.d.forUpdate()},
	} {
		var err error
		if *p.stmt, err = s.w.PrepareContext(ctx, s.d.rebind(p.sql)); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	if s.d.pg {
		var err error
		if s.lockNewAlert, err = s.w.PrepareContext(ctx, s.d.rebind(lockNewAlertSQL)); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	return nil
}

// write runs f in a write transaction.
func (s *sqlDB) write(ctx context.Context, f func(tx *sql.Tx) error) error {
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

// read runs f in a read transaction: one snapshot.
func (s *sqlDB) read(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, s.d.readTx())
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

// keepStored is true, in the upsert, when the stored lifecycle is at least
// as far along as the incoming one.
const keepStored = `(CASE alerts.status WHEN 'active' THEN 0 WHEN 'investigating' THEN 1 ELSE 2 END) >= ` +
	`(CASE excluded.status WHEN 'active' THEN 0 WHEN 'investigating' THEN 1 ELSE 2 END)`

// upsertAlertSQL inserts an alert or merges it into the stored one. Both
// databases run the conflict branch on the row as last committed, with the
// row locked, so concurrent writers of one ID (the same fingerprint seen by
// two instances) serialise: the last save wins for what detection knows,
// and the lifecycle never goes backwards.
const upsertAlertSQL = `INSERT INTO alerts (id, type, fingerprint, severity, severity_rank, status,
	tenant_id, subscription_id, resource, detected_at, first_observed_at, last_observed_at, updated_at,
	event_count, entities, details, resolved_reason, resolved_by, resolved_on, suppressed_by, previous_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
	type = excluded.type,
	fingerprint = excluded.fingerprint,
	severity = excluded.severity,
	severity_rank = excluded.severity_rank,
	tenant_id = excluded.tenant_id,
	subscription_id = excluded.subscription_id,
	resource = excluded.resource,
	detected_at = excluded.detected_at,
	first_observed_at = excluded.first_observed_at,
	last_observed_at = excluded.last_observed_at,
	updated_at = excluded.updated_at,
	event_count = excluded.event_count,
	entities = excluded.entities,
	details = excluded.details,
	suppressed_by = excluded.suppressed_by,
	previous_id = excluded.previous_id,
	status = CASE WHEN ` + keepStored + ` THEN alerts.status ELSE excluded.status END,
	resolved_reason = CASE WHEN ` + keepStored + ` THEN alerts.resolved_reason ELSE excluded.resolved_reason END,
	resolved_by = CASE WHEN ` + keepStored + ` THEN alerts.resolved_by ELSE excluded.resolved_by END,
	resolved_on = CASE WHEN ` + keepStored + ` THEN alerts.resolved_on ELSE excluded.resolved_on END`

const insertLogSQL = `INSERT INTO activity_logs (alert_id, status_from, status_to, updated_by, updated_at)
	VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`

// evidenceBlock is how many evidence rows one statement writes: fewer,
// larger statements save most of the per-statement cost.
const evidenceBlock = 8

// upsertEvidenceSQL writes n evidence rows, leaving unchanged rows
// untouched (no page is dirtied when a repeat saves the same evidence).
func upsertEvidenceSQL(n int) string {
	return `INSERT INTO evidence (alert_id, ordinal, time, fields) VALUES (?, ?, ?, ?)` +
		strings.Repeat(`, (?, ?, ?, ?)`, n-1) + `
ON CONFLICT (alert_id, ordinal) DO UPDATE SET time = excluded.time, fields = excluded.fields
WHERE evidence.time IS DISTINCT FROM excluded.time OR evidence.fields IS DISTINCT FROM excluded.fields`
}
