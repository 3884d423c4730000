package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-security/vigil/alert"
)

// statusActivity is the record of one alert's status change.
func statusActivity(id, tenant string, from, to alert.Status, reason alert.ResolvedReason, by Actor, at time.Time, details map[string]string) Activity {
	return Activity{
		Time: at, OperationType: OpAlertStatusUpdated, PartnerID: by.PartnerID, TenantID: tenant, Actor: by.Name,
		ResourceType: ResourceAlert, ResourceID: id,
		OldValue: string(from), NewValue: statusValue(to, reason), Details: details,
	}
}

// checkActor validates and cleans the actor of a change.
func checkActor(by *Actor) error {
	if by.Name == "" {
		return fmt.Errorf("%w: empty updatedBy", ErrInvalid)
	}
	if by.At.IsZero() {
		return fmt.Errorf("%w: zero time", ErrInvalid)
	}
	by.Name, by.PartnerID, by.At = clean(by.Name), clean(by.PartnerID), dbTime(by.At)
	return nil
}

// ChangeStatus implements [Security].
func (s *sqlDB) ChangeStatus(ctx context.Context, c StatusChange) (*alert.Alert, error) {
	if err := checkKey("alert id", c.ID); err != nil {
		return nil, fmt.Errorf("store: change status: %w", err)
	}
	if err := checkActor(&c.By); err != nil {
		return nil, fmt.Errorf("store: change status of %s: %w", c.ID, err)
	}
	var out *alert.Alert
	notified := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		fan := s.newFanOut(tx)
		from, tenant, err := s.updateStatusTx(ctx, tx, fan, c.ID, c.To, c.Reason, c.By.Name, c.By.At, c.TenantIDs)
		if err != nil {
			return err
		}
		act := statusActivity(c.ID, tenant, from, c.To, c.Reason, c.By, c.By.At, nil)
		if err := s.insertActivity(ctx, tx, &act); err != nil {
			return err
		}
		notified = fan.wrote
		out, err = s.get(ctx, tx, c.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: change status of %s: %w", c.ID, err)
	}
	if notified {
		s.signalOutbox()
	}
	return out, nil
}

// ResolveStale implements [Security].
func (s *sqlDB) ResolveStale(ctx context.Context, r StaleResolve) ([]string, error) {
	if r.Before.IsZero() {
		return nil, fmt.Errorf("store: resolve stale alerts: %w: zero cut-off", ErrInvalid)
	}
	if err := checkActor(&r.By); err != nil {
		return nil, fmt.Errorf("store: resolve stale alerts: %w", err)
	}
	before := s.d.time(dbTime(r.Before))
	b := binder{d: s.d}
	query := `SELECT id FROM alerts WHERE status IN ('active', 'investigating')
		AND (last_observed_at < ` + b.add(before) + ` OR (last_observed_at IS NULL AND detected_at < ` + b.add(before) + `))`
	if r.TenantIDs != nil {
		query += " AND " + b.in("tenant_id", r.TenantIDs)
	}
	query += " ORDER BY id"
	args := b.args
	details := map[string]string{"reason": "stale", "olderThan": dbTime(r.Before).Format(time.RFC3339Nano)}
	var ids, resolved []string
	notified := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		ids, resolved = ids[:0], resolved[:0]
		fan := s.newFanOut(tx)
		// The targets before the alerts' rows: the order every writer
		// locks in.
		if _, err := fan.load(ctx); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("query: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("query: %w", err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return fmt.Errorf("query: %w", err)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, id := range ids {
			from, tenant, err := s.updateStatusTx(ctx, tx, fan, id, alert.StatusResolved, alert.ReasonIgnore, r.By.Name, r.By.At, nil)
			if errors.Is(err, ErrInvalidTransition) && s.d.pg {
				// Resolved by another instance since the query: nothing
				// left to do for it.
				continue
			}
			if err != nil {
				return fmt.Errorf("alert %s: %w", id, err)
			}
			resolved = append(resolved, id)
			act := statusActivity(id, tenant, from, alert.StatusResolved, alert.ReasonIgnore, r.By, r.By.At, details)
			if err := s.insertActivity(ctx, tx, &act); err != nil {
				return fmt.Errorf("alert %s: %w", id, err)
			}
		}
		notified = fan.wrote
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: resolve stale alerts: %w", err)
	}
	if notified {
		s.signalOutbox()
	}
	return resolved, nil
}
