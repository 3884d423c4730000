package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const tokenColumns = `id, hash, partner_id, tenant_id, can_write, name, created_at, last_used_at, revoked_at`

func scanToken(sc scanner) (Token, error) {
	var (
		t                 Token
		write             boolCol
		created           timeCol
		lastUsed, revoked timeCol
	)
	if err := sc.Scan(&t.ID, &t.Hash, &t.PartnerID, &t.TenantID, &write, &t.Name, &created, &lastUsed, &revoked); err != nil {
		return Token{}, err
	}
	t.Write = write.v
	t.Created, t.LastUsed, t.Revoked = created.t, lastUsed.t, revoked.t
	return t, nil
}

// tokenActivity is the record of a token event.
func tokenActivity(op string, t *Token, by Actor, details map[string]string) Activity {
	scope := "partner " + t.PartnerID
	if t.TenantID != "" {
		scope = "customer " + t.TenantID
	}
	access := "read"
	if t.Write {
		access = "read-write"
	}
	d := map[string]string{"scope": scope, "access": access, "name": t.Name}
	for k, v := range details {
		d[k] = v
	}
	return Activity{
		Time: activityAt(by), OperationType: op, PartnerID: t.PartnerID, TenantID: t.TenantID,
		Actor: by.Name, ResourceType: ResourceToken, ResourceID: t.ID, Details: d,
	}
}

// CreateToken implements [Security].
func (s *sqlDB) CreateToken(ctx context.Context, t Token, by Actor) error {
	if err := checkKey("token id", t.ID); err != nil {
		return fmt.Errorf("store: create token: %w", err)
	}
	if len(t.Hash) != 32 {
		return fmt.Errorf("store: create token %s: %w: hash is %d bytes, want 32 (SHA-256)", t.ID, ErrInvalid, len(t.Hash))
	}
	if (t.PartnerID == "") == (t.TenantID == "") {
		return fmt.Errorf("store: create token %s: %w: give exactly one of partner and tenant", t.ID, ErrInvalid)
	}
	if t.Created.IsZero() {
		t.Created = time.Now()
	}
	t.Name, t.PartnerID, t.TenantID = clean(t.Name), clean(t.PartnerID), clean(t.TenantID)
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)`),
			t.ID, t.Hash, t.PartnerID, t.TenantID, s.d.bool(t.Write), t.Name, s.d.time(dbTime(t.Created)))
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		act := tokenActivity(OpTokenCreated, &t, by, nil)
		return s.insertActivity(ctx, tx, &act)
	})
	if err != nil {
		return fmt.Errorf("store: create token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash implements [Security].
func (s *sqlDB) TokenByHash(ctx context.Context, hash []byte) (Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, s.d.rebind(`SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("store: token by hash: %w", ErrTokenNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("store: token by hash: %w", err)
	}
	return t, nil
}

// ListTokens implements [Security].
func (s *sqlDB) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken implements [Security]. Revoking a revoked token changes
// nothing and records nothing.
func (s *sqlDB) RevokeToken(ctx context.Context, id string, by Actor) (Token, error) {
	if err := checkKey("token id", id); err != nil {
		return Token{}, fmt.Errorf("store: revoke token: %w", err)
	}
	at := dbTime(activityAt(by))
	var out Token
	err := s.write(ctx, func(tx *sql.Tx) error {
		// An ID or a unique prefix of one; LIKE's wildcards are escaped.
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(id)
		rows, err := tx.QueryContext(ctx, s.d.rebind(`SELECT `+tokenColumns+` FROM tokens WHERE id = ? OR id LIKE ? ESCAPE '\' ORDER BY id LIMIT 3`)+s.d.forUpdate(), id, esc+"%")
		if err != nil {
			return err
		}
		var found []Token
		for rows.Next() {
			t, err := scanToken(rows)
			if err != nil {
				rows.Close()
				return err
			}
			found = append(found, t)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, t := range found {
			if t.ID == id {
				found = []Token{t}
				break
			}
		}
		switch len(found) {
		case 0:
			return ErrTokenNotFound
		case 1:
		default:
			return fmt.Errorf("%w: %q is the start of several token IDs; give more of it", ErrInvalid, id)
		}
		out = found[0]
		if !out.Revoked.IsZero() {
			return nil
		}
		out.Revoked = at
		if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE tokens SET revoked_at = ? WHERE id = ?`), s.d.time(at), out.ID); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		act := tokenActivity(OpTokenRevoked, &out, by, nil)
		return s.insertActivity(ctx, tx, &act)
	})
	if err != nil {
		return Token{}, fmt.Errorf("store: revoke token %s: %w", id, err)
	}
	return out, nil
}

// TokenUsed implements [Security].
func (s *sqlDB) TokenUsed(ctx context.Context, t Token, at time.Time, requests int) error {
	if at.IsZero() {
		return fmt.Errorf("store: token %s used: %w: zero time", t.ID, ErrInvalid)
	}
	at = dbTime(at)
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE tokens SET last_used_at = ? WHERE id = ?`), s.d.time(at), t.ID)
		if err != nil {
			return fmt.Errorf("update: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrTokenNotFound
		}
		act := tokenActivity(OpTokenUsed, &t, Actor{Name: t.Name, At: at}, map[string]string{"requests": strconv.Itoa(requests)})
		return s.insertActivity(ctx, tx, &act)
	})
	if err != nil {
		return fmt.Errorf("store: token %s used: %w", t.ID, err)
	}
	return nil
}
