package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/silence"
)

const ruleColumns = `id, alert_type, reason, comment, expires_at, enabled, conditions, resolved_reason,
	partner_id, tenant_id, created_at, updated_at, created_by, updated_by`

// newRuleID returns a random UUID (version 4).
func newRuleID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// cleanRule validates r and returns the copy to store.
func cleanRule(r *silence.Rule) (*silence.Rule, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c := r.Clone()
	c.Expires = dbTime(r.Expires)
	c.Created, c.Updated = dbTime(r.Created), dbTime(r.Updated)
	return c, nil
}

// ruleJSON is a rule as the activity log shows its old and new value.
type ruleJSON struct {
	ID             string              `json:"id"`
	AlertType      string              `json:"alertType"`
	Reason         string              `json:"reason"`
	Comment        string              `json:"comment,omitempty"`
	Expires        string              `json:"expirationDateUtc,omitempty"`
	Enabled        bool                `json:"enabled"`
	Conditions     []silence.Condition `json:"allOf,omitempty"`
	ResolvedReason string              `json:"resolvedReason,omitempty"`
	PartnerID      string              `json:"partnerId,omitempty"`
	TenantID       string              `json:"customerTenantId,omitempty"`
}

func ruleValue(r *silence.Rule) string {
	if r == nil {
		return ""
	}
	j := ruleJSON{ID: r.ID, AlertType: r.AlertType, Reason: r.Reason, Comment: r.Comment, Enabled: r.Enabled,
		Conditions: r.Conditions, ResolvedReason: string(r.ResolvedReason), PartnerID: r.PartnerID, TenantID: r.TenantID}
	if !r.Expires.IsZero() {
		j.Expires = r.Expires.UTC().Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(j)
	if err != nil { // cannot happen: strings and bools only
		return ""
	}
	return string(b)
}

func ruleActivity(op string, old, cur *silence.Rule, by Actor) Activity {
	r := cur
	if r == nil {
		r = old
	}
	partner := r.PartnerID
	if partner == "" {
		partner = by.PartnerID
	}
	return Activity{
		Time: activityAt(by), OperationType: op, PartnerID: partner, TenantID: r.TenantID, Actor: by.Name,
		ResourceType: ResourceRule, ResourceID: r.ID, OldValue: ruleValue(old), NewValue: ruleValue(cur),
		Details: map[string]string{"alertType": r.AlertType, "reason": r.Reason},
	}
}

func scanRule(sc scanner) (silence.Rule, error) {
	var (
		r                silence.Rule
		expires          timeCol
		enabled          boolCol
		conds            []byte
		reason           string
		created, updated timeCol
	)
	err := sc.Scan(&r.ID, &r.AlertType, &r.Reason, &r.Comment, &expires, &enabled, &conds, &reason,
		&r.PartnerID, &r.TenantID, &created, &updated, &r.CreatedBy, &r.UpdatedBy)
	if err != nil {
		return silence.Rule{}, err
	}
	r.Expires = expires.t
	r.Enabled = enabled.v
	r.ResolvedReason = alert.ResolvedReason(reason)
	r.Created, r.Updated = created.t, updated.t
	if err := json.Unmarshal(conds, &r.Conditions); err != nil {
		return silence.Rule{}, fmt.Errorf("rule %s: decode conditions: %w", r.ID, err)
	}
	if len(r.Conditions) == 0 {
		r.Conditions = nil
	}
	return r, nil
}

func ruleArgs(d dialect, r *silence.Rule) ([]any, error) {
	conds := r.Conditions
	if conds == nil {
		conds = []silence.Condition{}
	}
	b, err := json.Marshal(conds)
	if err != nil {
		return nil, fmt.Errorf("encode conditions: %w", err)
	}
	return []any{r.ID, r.AlertType, r.Reason, r.Comment, d.time(r.Expires), d.bool(r.Enabled), string(b),
		string(r.ResolvedReason), r.PartnerID, r.TenantID, d.time(r.Created), d.time(r.Updated),
		clean(r.CreatedBy), clean(r.UpdatedBy)}, nil
}

// getRuleTx reads a rule inside tx; forUpdate locks it for a change.
func (s *sqlDB) getRuleTx(ctx context.Context, tx *sql.Tx, id string, forUpdate bool) (silence.Rule, error) {
	q := s.d.rebind(`SELECT ` + ruleColumns + ` FROM suppression_rules WHERE id = ?`)
	if forUpdate {
		q += s.d.forUpdate()
	}
	r, err := scanRule(tx.QueryRowContext(ctx, q, id))
	if errors.Is(err, sql.ErrNoRows) {
		return silence.Rule{}, ErrRuleNotFound
	}
	return r, err
}

// CreateRule implements [Security].
func (s *sqlDB) CreateRule(ctx context.Context, r silence.Rule, by Actor) (silence.Rule, error) {
	at := activityAt(by)
	r.ID = newRuleID()
	r.Created, r.Updated = at, at
	r.CreatedBy, r.UpdatedBy = by.Name, by.Name
	c, err := cleanRule(&r)
	if err != nil {
		return silence.Rule{}, fmt.Errorf("store: create rule: %w", err)
	}
	args, err := ruleArgs(s.d, c)
	if err != nil {
		return silence.Rule{}, fmt.Errorf("store: create rule: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO suppression_rules (`+ruleColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), args...); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		act := ruleActivity(OpRuleCreated, nil, c, by)
		return s.insertActivity(ctx, tx, &act)
	})
	if err != nil {
		return silence.Rule{}, fmt.Errorf("store: create rule: %w", err)
	}
	return *c, nil
}

// UpdateRule implements [Security].
func (s *sqlDB) UpdateRule(ctx context.Context, r silence.Rule, by Actor) (silence.Rule, error) {
	if err := checkKey("rule id", r.ID); err != nil {
		return silence.Rule{}, fmt.Errorf("store: update rule: %w", err)
	}
	var out *silence.Rule
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := s.getRuleTx(ctx, tx, r.ID, true)
		if err != nil {
			return err
		}
		r.Created, r.CreatedBy = old.Created, old.CreatedBy
		r.Updated, r.UpdatedBy = activityAt(by), by.Name
		c, err := cleanRule(&r)
		if err != nil {
			return err
		}
		args, err := ruleArgs(s.d, c)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.d.rebind(`UPDATE suppression_rules SET alert_type = ?, reason = ?, comment = ?,
			expires_at = ?, enabled = ?, conditions = ?, resolved_reason = ?, partner_id = ?, tenant_id = ?,
			updated_at = ?, updated_by = ? WHERE id = ?`),
			args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[11], args[13], c.ID)
		if err != nil {
			return fmt.Errorf("update: %w", err)
		}
		act := ruleActivity(OpRuleUpdated, &old, c, by)
		out = c
		return s.insertActivity(ctx, tx, &act)
	})
	if err != nil {
		return silence.Rule{}, fmt.Errorf("store: update rule %s: %w", r.ID, err)
	}
	return *out, nil
}

// DeleteRule implements [Security].
func (s *sqlDB) DeleteRule(ctx context.Context, id string, by Actor) error {
	if err := checkKey("rule id", id); err != nil {
		return fmt.Errorf("store: delete rule: %w", err)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := s.getRuleTx(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(`DELETE FROM suppression_rules WHERE id = ?`), id); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		act := ruleActivity(OpRuleDeleted, &old, nil, by)
		return s.insertActivity(ctx, tx, &act)
	})
	if err != nil {
		return fmt.Errorf("store: delete rule %s: %w", id, err)
	}
	return nil
}

// GetRule implements [Security].
func (s *sqlDB) GetRule(ctx context.Context, id string) (silence.Rule, error) {
	var out silence.Rule
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.getRuleTx(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return silence.Rule{}, fmt.Errorf("store: get rule %s: %w", id, err)
	}
	return out, nil
}

// ListRules implements [Security].
func (s *sqlDB) ListRules(ctx context.Context, scope *Scope) ([]silence.Rule, error) {
	query := `SELECT ` + ruleColumns + ` FROM suppression_rules`
	b := binder{d: s.d}
	var cond string
	if scope != nil && len(scope.PartnerIDs) > 0 && len(scope.TenantIDs) > 0 {
		// A partner sees its own rules and the tenant rules of its
		// customers; not another partner's partner-wide rules.
		tc := b.in("tenant_id", scope.TenantIDs)
		pc := b.in("partner_id", scope.PartnerIDs)
		cond = "(" + tc + " OR (tenant_id = '' AND " + pc + "))"
	} else {
		cond = scopeCond(scope, "tenant_id", "partner_id", &b)
	}
	args := b.args
	if cond != "" {
		query += " WHERE " + cond
	}
	query += " ORDER BY created_at, id"
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list rules: %w", err)
	}
	defer rows.Close()
	var out []silence.Rule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list rules: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list rules: %w", err)
	}
	return out, nil
}

// SuppressionRules implements [silence.Source]: every stored rule.
func (s *sqlDB) SuppressionRules(ctx context.Context) ([]silence.Rule, error) {
	return s.ListRules(ctx, nil)
}
