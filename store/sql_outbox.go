package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
)

var (
	_ Outbox = (*SQLite)(nil)
	_ Outbox = (*Postgres)(nil)
)

// insertOutboxSQL writes one entry. Its key is made in Go (newOutboxKey),
// so both dialects make the same kind.
const insertOutboxSQL = `INSERT INTO outbox (idem_key, target_id, event, alert_id, alert_type, severity,
	tenant_id, subscription_id, old_value, new_value, payload, created_at, state, attempts, next_at, lease_owner,
	last_error, result)
VALUES ` + outboxRow

// outboxRow is the VALUES row of one entry (13 arguments).
const outboxRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, '', '', '')`

// selectStateSQL reads what an upsert is about to change (locked, in
// PostgreSQL, until the transaction ends).
const selectStateSQL = `SELECT severity_rank, status FROM alerts WHERE id = ?`

// lockNewAlertSQL (PostgreSQL) serialises the writers of one alert ID
// before the first of them has inserted its row: two instances saving the
// same new alert must not both report it created. Every writer that takes
// it takes it before the alert's row lock, in alert ID order.
const lockNewAlertSQL = `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`

// newOutboxKey returns a random idempotency key: 128 bits in lower-case
// hex, unique across databases.
func newOutboxKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

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

// fanOut writes the outbox entries of one write transaction: one per
// target and change. The targets are read once, first (PostgreSQL: FOR
// SHARE, so a DeleteTarget waits for the commit and then fails the entries
// written here); every writer takes them before any alert row, so the
// locks are always taken targets, alerts (by ID), outbox entries.
type fanOut struct {
	s       *sqlDB
	tx      *sql.Tx
	ins     *sql.Stmt // the insert of one entry per target; nil until used
	args    []any
	targets []string
	loaded  bool
	wrote   bool // an entry was written
}

// newFanOut starts the fan-out of tx.
func (s *sqlDB) newFanOut(tx *sql.Tx) *fanOut { return &fanOut{s: s, tx: tx} }

// load reads the targets, once, and reports whether there are any.
func (f *fanOut) load(ctx context.Context) (bool, error) {
	if f.loaded {
		return len(f.targets) > 0, nil
	}
	rows, err := f.tx.QueryContext(ctx, `SELECT id FROM notify_targets ORDER BY id`+f.s.d.forShare())
	if err != nil {
		return false, fmt.Errorf("outbox targets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return false, fmt.Errorf("outbox targets: %w", err)
		}
		f.targets = append(f.targets, id)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("outbox targets: %w", err)
	}
	f.loaded = true
	return len(f.targets) > 0, nil
}

// alert writes the entries of saving a: from its stored state, read (and
// locked) before the upsert.
func (f *fanOut) alert(ctx context.Context, lock, state *sql.Stmt, a *alert.Alert, at time.Time) error {
	if lock != nil {
		if _, err := lock.ExecContext(ctx, a.ID); err != nil {
			return fmt.Errorf("lock alert: %w", err)
		}
	}
	var (
		rank   int
		status string
	)
	err := state.QueryRowContext(ctx, a.ID).Scan(&rank, &status)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("stored state: %w", err)
	}
	for _, c := range alertChanges(a, found, rank, alert.Status(status)) {
		if err := f.change(ctx, a, c, at); err != nil {
			return err
		}
	}
	return nil
}

// change writes one entry per target for change c of a; at is the
// change's wall-clock time.
func (f *fanOut) change(ctx context.Context, a *alert.Alert, c outboxChange, at time.Time) error {
	if ok, err := f.load(ctx); !ok || err != nil {
		return err
	}
	if f.ins == nil {
		// One statement for all targets, prepared once per transaction
		// (closed with it).
		var err error
		f.ins, err = f.tx.PrepareContext(ctx, f.s.d.rebind(insertOutboxSQL+strings.Repeat(", "+outboxRow, len(f.targets)-1)))
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	t := f.s.d.time(dbTime(at))
	f.args = f.args[:0]
	for _, target := range f.targets {
		f.args = append(f.args, newOutboxKey(), target, c.event, a.ID, a.Type, string(a.Severity),
			a.TenantID, a.SubscriptionID, c.old, c.new, nil, t, t)
	}
	if _, err := f.ins.ExecContext(ctx, f.args...); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	f.wrote = true
	return nil
}

// signalOutbox wakes a dispatcher waiting on OutboxSignal.
func (s *sqlDB) signalOutbox() {
	select {
	case s.outboxSig <- struct{}{}:
	default:
	}
}

// OutboxSignal implements [Outbox].
func (s *sqlDB) OutboxSignal() <-chan struct{} { return s.outboxSig }

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
func (s *sqlDB) PutTarget(ctx context.Context, t Target) error {
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
		_, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO notify_targets (id, kind, partner_id, tenant_id, source, config, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, partner_id = excluded.partner_id,
				tenant_id = excluded.tenant_id, source = excluded.source, config = excluded.config,
				updated_at = excluded.updated_at`),
			t.ID, t.Kind, t.PartnerID, t.TenantID, t.Source, string(t.Config),
			s.d.time(dbTime(t.Created)), s.d.time(dbTime(t.Updated)))
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
		cre, upd timeCol
	)
	if err := row.Scan(&t.ID, &t.Kind, &t.PartnerID, &t.TenantID, &t.Source, &cfg, &cre, &upd); err != nil {
		return Target{}, err
	}
	t.Config = []byte(cfg)
	t.Created, t.Updated = cre.t, upd.t
	return t, nil
}

// GetTarget implements [Outbox].
func (s *sqlDB) GetTarget(ctx context.Context, id string) (Target, error) {
	t, err := scanTarget(s.r.QueryRowContext(ctx, s.d.rebind(`SELECT `+targetColumns+` FROM notify_targets WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Target{}, fmt.Errorf("store: get target %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Target{}, fmt.Errorf("store: get target %q: %w", id, err)
	}
	return t, nil
}

// ListTargets implements [Outbox].
func (s *sqlDB) ListTargets(ctx context.Context) ([]Target, error) {
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

// DeleteTarget implements [Outbox]. The target's row is locked first, then
// its pending entries, in ID order.
func (s *sqlDB) DeleteTarget(ctx context.Context, id string, at time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.rebind(`DELETE FROM notify_targets WHERE id = ?`), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, s.d.rebind(`UPDATE outbox SET state = 'failed', done_at = ?, last_error = 'target deleted'
			WHERE id IN (SELECT id FROM outbox WHERE target_id = ? AND state = 'pending' ORDER BY id`+s.d.forUpdate()+`)`),
			s.d.time(dbTime(at)), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete target %q: %w", id, err)
	}
	return nil
}

// Mark implements [Outbox].
func (s *sqlDB) Mark(ctx context.Context, key string) (time.Time, error) {
	var at timeCol
	err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT at FROM notify_marks WHERE key = ?`), key).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: mark %q: %w", key, err)
	}
	return at.t, nil
}

// SetMark implements [Outbox].
func (s *sqlDB) SetMark(ctx context.Context, key string, at time.Time) error {
	if err := checkKey("mark key", key); err != nil {
		return fmt.Errorf("store: set mark: %w", err)
	}
	if at.IsZero() {
		return fmt.Errorf("store: set mark %q: %w: zero time", key, ErrInvalid)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO notify_marks (key, at) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET at = excluded.at`), key, s.d.time(dbTime(at)))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set mark %q: %w", key, err)
	}
	return nil
}
