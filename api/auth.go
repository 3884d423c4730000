package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// TokenPrefix starts every API token: "vgl_" and 43 base64url characters
// (32 random bytes, no padding).
const TokenPrefix = "vgl_"

// tokenBytes is the number of random bytes in a token.
const tokenBytes = 32

// HashToken returns the SHA-256 of a token's text, as stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// wellFormed reports whether s looks like a token: the prefix and the
// base64url text of exactly 32 bytes.
func wellFormed(s string) bool {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	return err == nil && len(b) == tokenBytes
}

// TokenRequest is what a new token is for.
type TokenRequest struct {
	// PartnerID or TenantID (exactly one) is the scope.
	PartnerID, TenantID string
	// Write allows changes.
	Write bool
	// Name is who the token is for; default "token:<id>".
	Name string
}

// IssueToken makes a token for req, stores its hash (recording the
// creation as by), and returns the token's text, to be shown once, and the
// stored record. random is the source of the secret and ID (crypto/rand's
// Reader when nil).
func IssueToken(ctx context.Context, st store.Security, req TokenRequest, by store.Actor, random io.Reader) (string, store.Token, error) {
	if random == nil {
		random = rand.Reader
	}
	req.PartnerID, req.TenantID = tenancy.NormalizeID(req.PartnerID), tenancy.NormalizeID(req.TenantID)
	if (req.PartnerID == "") == (req.TenantID == "") {
		return "", store.Token{}, errors.New("api: issue token: give exactly one of a partner ID and a customer tenant ID")
	}
	var buf [tokenBytes + 8]byte
	if _, err := io.ReadFull(random, buf[:]); err != nil {
		return "", store.Token{}, fmt.Errorf("api: issue token: random: %w", err)
	}
	text := TokenPrefix + base64.RawURLEncoding.EncodeToString(buf[:tokenBytes])
	t := store.Token{
		ID: hex.EncodeToString(buf[tokenBytes:]), Hash: HashToken(text),
		PartnerID: req.PartnerID, TenantID: req.TenantID, Write: req.Write, Name: strings.TrimSpace(req.Name),
		Created: by.At,
	}
	if t.Name == "" {
		t.Name = "token:" + t.ID
	}
	if err := st.CreateToken(ctx, t, by); err != nil {
		return "", store.Token{}, fmt.Errorf("api: issue token: %w", err)
	}
	return text, t, nil
}

// principal is the caller of one request: its token and what it may see.
type principal struct {
	tok store.Token
	// tenants are the customer tenants in scope: the partner's customers or
	// the one customer tenant; never nil.
	tenants []string
}

// partner returns the token's partner ID, "" for a customer token.
func (p *principal) partner() string { return p.tok.PartnerID }

// actor is the principal as the author of a change at t.
func (p *principal) actor(t time.Time) store.Actor {
	return store.Actor{Name: p.tok.Name, PartnerID: p.tok.PartnerID, At: t}
}

// activityScope is what the principal may read of the activity log.
func (p *principal) activityScope() *store.Scope {
	sc := &store.Scope{TenantIDs: p.tenants}
	if p.tok.PartnerID != "" {
		sc.PartnerIDs = []string{p.tok.PartnerID}
	}
	return sc
}

// owns reports whether the principal may see the tenant's records.
func (p *principal) owns(tenant string) bool {
	for _, t := range p.tenants {
		if t == tenant {
			return true
		}
	}
	return false
}

var errUnauthenticated = &httpError{http.StatusUnauthorized, CodeInvalidToken,
	"a valid bearer token is required: Authorization: Bearer vgl_..."}

// authenticate finds the principal of the request's bearer token.
func (h *handler) authenticate(r *http.Request) (*principal, error) {
	auth := r.Header.Get("Authorization")
	scheme, text, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, errUnauthenticated
	}
	text = strings.TrimSpace(text)
	if !wellFormed(text) {
		return nil, errUnauthenticated
	}
	hash := HashToken(text)
	tok, err := h.st.TokenByHash(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(tok.Hash, hash) != 1 {
		return nil, errUnauthenticated
	}
	if !tok.Revoked.IsZero() {
		return nil, &httpError{http.StatusUnauthorized, CodeInvalidToken, "the token has been revoked"}
	}
	p := &principal{tok: tok}
	if tok.TenantID != "" {
		p.tenants = []string{tok.TenantID}
	} else {
		p.tenants = h.dir.CustomersOf(tok.PartnerID)
	}
	h.noteUse(r.Context(), tok)
	return p, nil
}

// useState counts a token's requests since its last activity record.
type useState struct {
	recorded time.Time
	requests int
}

// noteUse counts one use of the token and records it in the activity log
// when the token has not been recorded within the use interval: the first
// use always is, at once, and later records carry the number of requests
// made since. A failure to record is logged, not fatal to the request.
func (h *handler) noteUse(ctx context.Context, tok store.Token) {
	now := h.now()
	h.usesMu.Lock()
	u := h.uses[tok.ID]
	if u == nil {
		u = &useState{}
		h.uses[tok.ID] = u
	}
	u.requests++
	due := u.recorded.IsZero() || now.Sub(u.recorded) >= h.useEvery
	n := u.requests
	if due {
		u.recorded, u.requests = now, 0
	}
	h.usesMu.Unlock()
	if !due {
		return
	}
	if err := h.st.TokenUsed(context.WithoutCancel(ctx), tok, now, n); err != nil {
		h.log.WarnContext(ctx, "api: cannot record token use", slog.String("token", tok.ID), slog.Any("error", err))
	}
}
