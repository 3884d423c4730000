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

var _ Outbox = (*SQLite)(nil)

// sqliteFanOut writes one entry per target for one alert change; the key
// is random (128 bits), unique across databases.
const sqliteFanOut = `INSERT INTO outbox (idem_key, target_id, event, alert_id, alert_type, severity,
	tenant_id, subscription_id, old_value, new_value, created_at, state, attempts, next_at, lease_owner,
	last_error, result)
SELECT lower(hex(randomblob(16))), id, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, '', '', ''
FROM notify_targets`

// outboxChange is one alert change to fan out.
type outboxChange struct {
	event, old, new string
}

// alertChanges returns the outbox events of saving a over the stored
// severity rank and status (found false: a new alert), given the status the
// upsert keeps.
func alertChanges(a *alert.Alert, found bool, oldRank int, oldStatus alert.Status) []outboxChange {
	if !found {
		return []outboxChange{{EventAlertCreated, "", string(a.Status)}}
	}
	var out []outboxChange
	if a.Severity.Rank() > oldRank {
		out = append(out, outboxChange{EventSeverityRaised, severityOfRank(oldRank), string(a.Severity)})
	}
	if statusRank(a.Status) > statusRank(oldStatus) {
		out = append(out, outboxChange{EventStatusChanged, string(oldStatus), string(a.Status)})
	}
	return out
}

// severityOfRank inverts alert.Severity.Rank.
func severityOfRank(r int) string {
	for _, s := range []alert.Severity{alert.SeverityInformational, alert.SeverityLow, alert.SeverityMedium, alert.SeverityHigh} {
		if s.Rank() == r {
			return string(s)
		}
	}
	return ""
}

// fanOut writes the entries of one change of a inside tx; at is the
// change's wall-clock time. It reports whether any target got one.
func fanOut(ctx context.Context, stmt *sql.Stmt, a *alert.Alert, c outboxChange, at time.Time) (bool, error) {
	t := at.UnixMicro()
	res, err := stmt.ExecContext(ctx, c.event, a.ID, a.Type, string(a.Severity), a.TenantID, a.SubscriptionID,
		c.old, c.new, t, t)
	if err != nil {
		return false, fmt.Errorf("outbox: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// signalOutbox wakes a dispatcher waiting on OutboxSignal.
func (s *SQLite) signalOutbox() {
	select {
	case s.outboxSig <- struct{}{}:
	default:
	}
}

// OutboxSignal implements [Outbox].
func (s *SQLite) OutboxSignal() <-chan struct{} { return s.outboxSig }

// checkTarget validates a target before it is stored.
func checkTarget(t *Target) error {
	if err := checkKey("target id", t.ID); err != nil {
		return err
	}
	if err := checkKey("target kind", t.Kind); err != nil {
		return err
	}
	if t.Source != "api" && t.Source != "config" {
		return fmt.Errorf("%w: target source %q (want api or config)", ErrInvalid, t.Source)
	}
	if len(t.Config) == 0 {
		t.Config = []byte("{}")
	}
	t.PartnerID, t.TenantID, t.Config = clean(t.PartnerID), clean(t.TenantID), cleanJSON(t.Config)
	return nil
}

// PutTarget implements [Outbox].
func (s *SQLite) PutTarget(ctx context.Context, t Target) error {
	if err := checkTarget(&t); err != nil {
		return fmt.Errorf("store: put target: %w", err)
	}
	now := time.Now()
	if t.Created.IsZero() {
		t.Created = now
	}
	if t.Updated.IsZero() {
		t.Updated = now
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO notify_targets (id, kind, partner_id, tenant_id, source, config, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, partner_id = excluded.partner_id,
				tenant_id = excluded.tenant_id, source = excluded.source, config = excluded.config,
				updated_at = excluded.updated_at`,
			t.ID, t.Kind, t.PartnerID, t.TenantID, t.Source, string(t.Config),
			dbTime(t.Created).UnixMicro(), dbTime(t.Updated).UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put target %s: %w", t.ID, err)
	}
	return nil
}

const targetColumns = `id, kind, partner_id, tenant_id, source, config, created_at, updated_at`

func scanTarget(row interface{ Scan(...any) error }) (Target, error) {
	var (
		t        Target
		cfg      string
		cre, upd int64
	)
	if err := row.Scan(&t.ID, &t.Kind, &t.PartnerID, &t.TenantID, &t.Source, &cfg, &cre, &upd); err != nil {
		return Target{}, err
	}
	t.Config = []byte(cfg)
	t.Created, t.Updated = time.UnixMicro(cre).UTC(), time.UnixMicro(upd).UTC()
	return t, nil
}

// GetTarget implements [Outbox].
func (s *SQLite) GetTarget(ctx context.Context, id string) (Target, error) {
	t, err := scanTarget(s.r.QueryRowContext(ctx, `SELECT `+targetColumns+` FROM notify_targets WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Target{}, fmt.Errorf("store: get target %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Target{}, fmt.Errorf("store: get target %q: %w", id, err)
	}
	return t, nil
}

// ListTargets implements [Outbox].
func (s *SQLite) ListTargets(ctx context.Context) ([]Target, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+targetColumns+` FROM notify_targets ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list targets: %w", err)
	}
	defer rows.Close()
	var out []Target
	for rows.Next() {
		t, err := scanTarget(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list targets: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list targets: %w", err)
	}
	return out, nil
}

// DeleteTarget implements [Outbox].
func (s *SQLite) DeleteTarget(ctx context.Context, id string, at time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM notify_targets WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `UPDATE outbox SET state = 'failed', done_at = ?, last_error = 'target deleted'
			WHERE target_id = ? AND state = 'pending'`, dbTime(at).UnixMicro(), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete target %q: %w", id, err)
	}
	return nil
}

// Enqueue implements [Outbox].
func (s *SQLite) Enqueue(ctx context.Context, e OutboxEntry) (OutboxEntry, error) {
	if err := checkKey("target id", e.TargetID); err != nil {
		return OutboxEntry{}, fmt.Errorf("store: enqueue: %w", err)
	}
	if err := checkKey("event", e.Event); err != nil {
		return OutboxEntry{}, fmt.Errorf("store: enqueue: %w", err)
	}
	if e.Created.IsZero() {
		e.Created = time.Now()
	}
	if e.Next.IsZero() {
		e.Next = e.Created
	}
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM notify_targets WHERE id = ?`, e.TargetID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("target %q: %w", e.TargetID, ErrNotFound)
		}
		return tx.QueryRowContext(ctx, `INSERT INTO outbox (idem_key, target_id, event, alert_id, alert_type, severity,
			tenant_id, subscription_id, old_value, new_value, payload, created_at, state, attempts, next_at,
			lease_owner, last_error, result)
			VALUES (lower(hex(randomblob(16))), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, '', '', '') RETURNING id`,
			e.TargetID, clean(e.Event), clean(e.AlertID), clean(e.AlertType), string(e.Severity), clean(e.TenantID),
			clean(e.SubscriptionID), clean(e.Old), clean(e.New), nullString(e.Payload),
			dbTime(e.Created).UnixMicro(), dbTime(e.Next).UnixMicro()).Scan(&id)
	})
	if err != nil {
		return OutboxEntry{}, fmt.Errorf("store: enqueue for %s: %w", e.TargetID, err)
	}
	s.signalOutbox()
	return s.GetOutbox(ctx, id)
}

const outboxColumns = `id, idem_key, target_id, event, alert_id, alert_type, severity, tenant_id, subscription_id,
	old_value, new_value, payload, created_at, state, attempts, next_at, lease_owner, done_at, last_error, result`

func scanOutbox(row interface{ Scan(...any) error }) (OutboxEntry, error) {
	var (
		e             OutboxEntry
		sev           string
		payload       sql.NullString
		created, next int64
		done          sql.NullInt64
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
	e.Created, e.Next, e.Done = time.UnixMicro(created).UTC(), time.UnixMicro(next).UTC(), fromSQLiteTime(done)
	return e, nil
}

// ClaimOutbox implements [Outbox].
func (s *SQLite) ClaimOutbox(ctx context.Context, c Claim) ([]OutboxEntry, error) {
	if c.Owner == "" || c.Lease <= 0 || c.Limit <= 0 || c.Now.IsZero() {
		return nil, fmt.Errorf("store: claim outbox: %w: need an owner, a time, a positive lease and limit", ErrInvalid)
	}
	now := dbTime(c.Now).UnixMicro()
	until := dbTime(c.Now.Add(c.Lease)).UnixMicro()
	// A look on the read pool first: an idle dispatcher polling an empty
	// outbox takes no write lock.
	var due bool
	err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'pending' AND next_at <= ?)`, now).Scan(&due)
	if err != nil {
		return nil, fmt.Errorf("store: claim outbox: %w", err)
	}
	if !due {
		return nil, nil
	}
	var out []OutboxEntry
	err = s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE outbox SET next_at = ?, lease_owner = ?, attempts = attempts + 1
			WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?)
			RETURNING `+outboxColumns, until, c.Owner, now, c.Limit)
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
	slices.SortFunc(out, func(a, b OutboxEntry) int { return int(a.ID - b.ID) })
	return out, nil
}

// FinishOutbox implements [Outbox].
func (s *SQLite) FinishOutbox(ctx context.Context, owner string, fs []Finish) ([]int64, error) {
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
	}
	var lost []int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		lost = lost[:0]
		stmt, err := tx.PrepareContext(ctx, `UPDATE outbox SET state = ?, next_at = ?, done_at = ?, last_error = ?, result = ?
			WHERE id = ? AND state = 'pending' AND lease_owner = ? AND attempts = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, f := range fs {
			next := dbTime(f.Next).UnixMicro()
			var done any
			if f.State != OutboxPending {
				done, next = dbTime(f.At).UnixMicro(), dbTime(f.At).UnixMicro()
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
func (s *SQLite) GetOutbox(ctx context.Context, id int64) (OutboxEntry, error) {
	e, err := scanOutbox(s.r.QueryRowContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return OutboxEntry{}, fmt.Errorf("store: get outbox entry %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return OutboxEntry{}, fmt.Errorf("store: get outbox entry %d: %w", id, err)
	}
	return e, nil
}

// ListOutbox implements [Outbox].
func (s *SQLite) ListOutbox(ctx context.Context, q OutboxQuery) ([]OutboxEntry, error) {
	var (
		conds []string
		args  []any
	)
	if q.States != nil {
		var c string
		c, args = inList("state", q.States, args)
		conds = append(conds, c)
	}
	if q.TargetIDs != nil {
		var c string
		c, args = inList("target_id", q.TargetIDs, args)
		conds = append(conds, c)
	}
	if q.AlertIDs != nil {
		var c string
		c, args = inList("alert_id", q.AlertIDs, args)
		conds = append(conds, c)
	}
	conds = append(conds, "id > ?")
	args = append(args, q.AfterID)
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE `+strings.Join(conds, " AND ")+
		` ORDER BY id LIMIT ?`, args...)
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
func (s *SQLite) OutboxCounts(ctx context.Context, states ...string) (map[string]int, error) {
	if len(states) == 0 {
		states = []string{OutboxPending, OutboxDone, OutboxFailed}
	}
	cond, args := inList("state", states, nil)
	rows, err := s.r.QueryContext(ctx, `SELECT state, count(*) FROM outbox WHERE `+cond+` GROUP BY state`, args...)
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

// RequeueOutbox implements [Outbox].
func (s *SQLite) RequeueOutbox(ctx context.Context, targetIDs []string, at time.Time) (int, error) {
	query := `UPDATE outbox SET state = 'pending', attempts = 0, next_at = ?, done_at = NULL, lease_owner = ''
		WHERE state = 'failed' AND target_id IN (SELECT id FROM notify_targets)`
	args := []any{dbTime(at).UnixMicro()}
	if targetIDs != nil {
		var cond string
		cond, args = inList("target_id", targetIDs, args)
		query += " AND " + cond
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
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

// PruneOutbox implements [Outbox].
func (s *SQLite) PruneOutbox(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE state = 'done' AND done_at < ?`, dbTime(before).UnixMicro())
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

// Mark implements [Outbox].
func (s *SQLite) Mark(ctx context.Context, key string) (time.Time, error) {
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT at FROM notify_marks WHERE key = ?`, key).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: mark %q: %w", key, err)
	}
	return time.UnixMicro(at).UTC(), nil
}

// SetMark implements [Outbox].
func (s *SQLite) SetMark(ctx context.Context, key string, at time.Time) error {
	if err := checkKey("mark key", key); err != nil {
		return fmt.Errorf("store: set mark: %w", err)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO notify_marks (key, at) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET at = excluded.at`, key, dbTime(at).UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set mark %q: %w", key, err)
	}
	return nil
}
