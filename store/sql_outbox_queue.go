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

// Enqueue implements [Outbox].
func (s *sqlDB) Enqueue(ctx context.Context, e OutboxEntry) (OutboxEntry, error) {
	out, _, err := s.enqueue(ctx, e, false)
	return out, err
}

// EnqueueOnce implements [Outbox].
func (s *sqlDB) EnqueueOnce(ctx context.Context, e OutboxEntry) (OutboxEntry, bool, error) {
	return s.enqueue(ctx, e, true)
}

// enqueue adds e; with once, not when the target already has an entry of
// e's event and alert ID (then it returns that one and false).
func (s *sqlDB) enqueue(ctx context.Context, e OutboxEntry, once bool) (OutboxEntry, bool, error) {
	if err := checkKey("target id", e.TargetID); err != nil {
		return OutboxEntry{}, false, fmt.Errorf("store: enqueue: %w", err)
	}
	if err := checkKey("event", e.Event); err != nil {
		return OutboxEntry{}, false, fmt.Errorf("store: enqueue: %w", err)
	}
	if e.Created.IsZero() {
		e.Created = time.Now()
	}
	if e.Next.IsZero() {
		e.Next = e.Created
	}
	// The target's row is locked (PostgreSQL) as by a fan-out, so a
	// DeleteTarget meanwhile fails this entry too; exclusively for once, so
	// that two instances enqueueing the same entry take turns.
	lock := s.d.forShare()
	if once {
		lock = s.d.forUpdate()
	}
	var (
		id    int64
		added bool
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT count(*) FROM (SELECT id FROM notify_targets WHERE id = ?`+lock+`) t`),
			e.TargetID).Scan(&n)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("target %q: %w", e.TargetID, ErrNotFound)
		}
		if once {
			err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT id FROM outbox WHERE target_id = ? AND event = ? AND alert_id = ?
				ORDER BY id LIMIT 1`), e.TargetID, clean(e.Event), clean(e.AlertID)).Scan(&id)
			if err == nil {
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		added = true
		return tx.QueryRowContext(ctx, s.d.rebind(insertOutboxSQL+` RETURNING id`),
			newOutboxKey(), e.TargetID, clean(e.Event), clean(e.AlertID), clean(e.AlertType), string(e.Severity),
			clean(e.TenantID), clean(e.SubscriptionID), clean(e.Old), clean(e.New), nullString(e.Payload),
			s.d.time(dbTime(e.Created)), s.d.time(dbTime(e.Next))).Scan(&id)
	})
	if err != nil {
		return OutboxEntry{}, false, fmt.Errorf("store: enqueue for %s: %w", e.TargetID, err)
	}
	if added {
		s.signalOutbox()
	}
	out, err := s.GetOutbox(ctx, id)
	return out, added, err
}

const outboxColumns = `id, idem_key, target_id, event, alert_id, alert_type, severity, tenant_id, subscription_id,
	old_value, new_value, payload, created_at, state, attempts, next_at, lease_owner, done_at, last_error, result`

func scanOutbox(row interface{ Scan(...any) error }) (OutboxEntry, error) {
	var (
		e                   OutboxEntry
		sev                 string
		payload             sql.NullString
		created, next, done timeCol
	)
	err := row.Scan(&e.ID, &e.Key, &e.TargetID, &e.Event, &e.AlertID, &e.AlertType, &sev, &e.TenantID,
		&e.SubscriptionID, &e.Old, &e.New, &payload, &created, &e.State, &e.Attempts, &next, &e.Owner, &done,
		&e.LastError, &e.Result)
	if err != nil {
		return OutboxEntry{}, err
	}
	e.Severity = alert.Severity(sev)
	if payload.Valid {
		e.Payload = []byte(payload.String)
	}
	e.Created, e.Next, e.Done = created.t, next.t, done.t
	return e, nil
}

// ClaimOutbox implements [Outbox]. PostgreSQL skips the entries another
// claim holds (FOR UPDATE SKIP LOCKED): concurrent dispatchers take
// different entries and never wait for each other.
func (s *sqlDB) ClaimOutbox(ctx context.Context, c Claim) ([]OutboxEntry, error) {
	if c.Owner == "" || c.Lease <= 0 || c.Limit <= 0 || c.Now.IsZero() {
		return nil, fmt.Errorf("store: claim outbox: %w: need an owner, a time, a positive lease and limit", ErrInvalid)
	}
	now := s.d.time(dbTime(c.Now))
	until := s.d.time(dbTime(c.Now.Add(c.Lease)))
	// A look on the read pool first: an idle dispatcher polling an empty
	// outbox takes no write lock.
	var due bool
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'pending' AND next_at <= ?)`), now).Scan(&due)
	if err != nil {
		return nil, fmt.Errorf("store: claim outbox: %w", err)
	}
	if !due {
		return nil, nil
	}
	skip := ""
	if s.d.pg {
		skip = " FOR UPDATE SKIP LOCKED"
	}
	var out []OutboxEntry
	err = s.write(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, s.d.rebind(`UPDATE outbox SET next_at = ?, lease_owner = ?, attempts = attempts + 1
			WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?`+skip+`)
			RETURNING `+outboxColumns), until, c.Owner, now, c.Limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanOutbox(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim outbox: %w", err)
	}
	slices.SortFunc(out, func(a, b OutboxEntry) int { return cmpID(a.ID, b.ID) })
	return out, nil
}

func cmpID(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// FinishOutbox implements [Outbox]. The entries are updated in ID order.
func (s *sqlDB) FinishOutbox(ctx context.Context, owner string, fs []Finish) ([]int64, error) {
	for _, f := range fs {
		switch f.State {
		case OutboxDone, OutboxFailed:
		case OutboxPending:
			if f.Next.IsZero() {
				return nil, fmt.Errorf("store: finish outbox %d: %w: a retry needs a time", f.ID, ErrInvalid)
			}
		default:
			return nil, fmt.Errorf("store: finish outbox %d: %w state %q", f.ID, ErrInvalid, f.State)
		}
		if f.State != OutboxPending && f.At.IsZero() {
			return nil, fmt.Errorf("store: finish outbox %d: %w: zero time", f.ID, ErrInvalid)
		}
	}
	fs = slices.Clone(fs)
	slices.SortStableFunc(fs, func(a, b Finish) int { return cmpID(a.ID, b.ID) })
	var lost []int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		lost = lost[:0]
		stmt, err := tx.PrepareContext(ctx, s.d.rebind(`UPDATE outbox SET state = ?, next_at = ?, done_at = ?, last_error = ?, result = ?
			WHERE id = ? AND state = 'pending' AND lease_owner = ? AND attempts = ?`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, f := range fs {
			next, done := s.d.time(dbTime(f.Next)), any(nil)
			if f.State != OutboxPending {
				next = s.d.time(dbTime(f.At))
				done = next
			}
			res, err := stmt.ExecContext(ctx, f.State, next, done, clean(f.Error), clean(f.Result), f.ID, owner, f.Attempts)
			if err != nil {
				return fmt.Errorf("entry %d: %w", f.ID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				lost = append(lost, f.ID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: finish outbox: %w", err)
	}
	return lost, nil
}

// GetOutbox implements [Outbox].
func (s *sqlDB) GetOutbox(ctx context.Context, id int64) (OutboxEntry, error) {
	e, err := scanOutbox(s.r.QueryRowContext(ctx, s.d.rebind(`SELECT `+outboxColumns+` FROM outbox WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return OutboxEntry{}, fmt.Errorf("store: get outbox entry %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return OutboxEntry{}, fmt.Errorf("store: get outbox entry %d: %w", id, err)
	}
	return e, nil
}

// ListOutbox implements [Outbox].
func (s *sqlDB) ListOutbox(ctx context.Context, q OutboxQuery) ([]OutboxEntry, error) {
	b := binder{d: s.d}
	var conds []string
	if q.States != nil {
		conds = append(conds, b.in("state", q.States))
	}
	if q.TargetIDs != nil {
		conds = append(conds, b.in("target_id", q.TargetIDs))
	}
	if q.AlertIDs != nil {
		conds = append(conds, b.in("alert_id", q.AlertIDs))
	}
	conds = append(conds, "id > "+b.add(q.AfterID))
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	query := `SELECT ` + outboxColumns + ` FROM outbox WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY id LIMIT ` + b.add(limit)
	rows, err := s.r.QueryContext(ctx, query, b.args...)
	if err != nil {
		return nil, fmt.Errorf("store: list outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxEntry
	for rows.Next() {
		e, err := scanOutbox(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list outbox: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list outbox: %w", err)
	}
	return out, nil
}

// OutboxCounts implements [Outbox].
func (s *sqlDB) OutboxCounts(ctx context.Context, states ...string) (map[string]int, error) {
	if len(states) == 0 {
		states = []string{OutboxPending, OutboxDone, OutboxFailed}
	}
	b := binder{d: s.d}
	cond := b.in("state", states)
	rows, err := s.r.QueryContext(ctx, `SELECT state, count(*) FROM outbox WHERE `+cond+` GROUP BY state`, b.args...)
	if err != nil {
		return nil, fmt.Errorf("store: count outbox: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for _, st := range states {
		out[st] = 0
	}
	for rows.Next() {
		var (
			st string
			n  int
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("store: count outbox: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count outbox: %w", err)
	}
	return out, nil
}

// RequeueOutbox implements [Outbox]. The entries are locked in ID order.
func (s *sqlDB) RequeueOutbox(ctx context.Context, targetIDs []string, at time.Time) (int, error) {
	if at.IsZero() {
		return 0, fmt.Errorf("store: requeue outbox: %w: zero time", ErrInvalid)
	}
	b := binder{d: s.d}
	query := `UPDATE outbox SET state = 'pending', attempts = 0, next_at = ` + b.add(s.d.time(dbTime(at))) + `,
		done_at = NULL, lease_owner = ''
		WHERE id IN (SELECT id FROM outbox WHERE state = 'failed' AND target_id IN (SELECT id FROM notify_targets)`
	if targetIDs != nil {
		query += " AND " + b.in("target_id", targetIDs)
	}
	query += ` ORDER BY id` + s.d.forUpdate() + `)`
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, b.args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: requeue outbox: %w", err)
	}
	if n > 0 {
		s.signalOutbox()
	}
	return int(n), nil
}

// PruneOutbox implements [Outbox]. The entries are locked in ID order.
func (s *sqlDB) PruneOutbox(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.rebind(`DELETE FROM outbox WHERE id IN
			(SELECT id FROM outbox WHERE state = 'done' AND done_at < ? ORDER BY id`+s.d.forUpdate()+`)`), s.d.time(dbTime(before)))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune outbox: %w", err)
	}
	return int(n), nil
}
