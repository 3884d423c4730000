package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/store"
)

// Cookie names.
const (
	sessionCookie = "vigil_session"
	langCookie    = "vigil_lang"
)

// maxSessions bounds the sessions kept; the least recently used goes first.
const maxSessions = 10000

// session is one signed-in browser.
type session struct {
	id        string
	tokenHash []byte
	csrf      string
	created   time.Time
	seen      time.Time
}

// sessions keeps the signed-in browsers in memory.
type sessions struct {
	mu           sync.Mutex
	m            map[string]*session
	idle, maxAge time.Duration
	now          func() time.Time
}

func newSessions(idle, maxAge time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, idle: idle, maxAge: maxAge, now: now}
}

// randomText returns 32 random bytes as base64url text.
func randomText() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("web: crypto/rand: " + err.Error()) // never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for the token with the hash.
func (s *sessions) create(hash []byte) *session {
	now := s.now()
	ss := &session{id: randomText(), tokenHash: slices.Clone(hash), csrf: randomText(), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		var oldest *session
		for _, o := range s.m {
			if oldest == nil || o.seen.Before(oldest.seen) {
				oldest = o
			}
		}
		delete(s.m, oldest.id)
	}
	s.m[ss.id] = ss
	return ss
}

// get returns the live session with the ID, marking it used.
func (s *sessions) get(id string) (*session, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[id]
	if !ok {
		return nil, false
	}
	if now.Sub(ss.seen) > s.idle || now.Sub(ss.created) > s.maxAge {
		delete(s.m, id)
		return nil, false
	}
	ss.seen = now
	return ss, true
}

// end ends the session.
func (s *sessions) end(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// principal is the signed-in user of one request: the token, what it may
// see, and the session.
type principal struct {
	tok     store.Token
	tenants []string // customer tenants in scope; never nil
	sess    *session
}

// partner reports whether the token is a partner's.
func (p *principal) partner() bool { return p.tok.PartnerID != "" }

// owns reports whether the tenant is in scope.
func (p *principal) owns(tenant string) bool { return slices.Contains(p.tenants, tenant) }

// actor is the principal as the author of a change at t.
func (p *principal) actor(t time.Time) store.Actor {
	return store.Actor{Name: p.tok.Name, PartnerID: p.tok.PartnerID, At: t}
}

// scope is what the principal may read of rules and the activity log.
func (p *principal) scope() *store.Scope {
	sc := &store.Scope{TenantIDs: p.tenants}
	if p.partner() {
		sc.PartnerIDs = []string{p.tok.PartnerID}
	}
	return sc
}

type ctxKey struct{}

// user returns the request's principal (set by authed).
func user(r *http.Request) *principal { return r.Context().Value(ctxKey{}).(*principal) }

// authed wraps a page that needs a signed-in user: without a live session
// a GET goes to the login page and anything else is refused; a POST must
// carry the session's CSRF token.
func (h *handler) authed(next func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		p, err := h.principal(r)
		if err != nil {
			h.log.ErrorContext(r.Context(), "web: session", slog.Any("error", err))
			h.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable")
			return
		}
		if p == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.errorPage(w, r, http.StatusUnauthorized, "error.signedOut")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil {
				h.errorPage(w, r, http.StatusBadRequest, "error.badForm")
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(p.sess.csrf)) != 1 {
				h.errorPage(w, r, http.StatusForbidden, "error.csrf")
				return
			}
		}
		next(w, r.WithContext(contextWith(r, p)))
	})
}

// principal finds the signed-in user of the request; nil when there is
// none (no cookie, an ended session, a revoked token).
func (h *handler) principal(r *http.Request) (*principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	ss, ok := h.sessions.get(c.Value)
	if !ok {
		return nil, nil
	}
	tok, err := h.st.TokenByHash(r.Context(), ss.tokenHash)
	if errors.Is(err, store.ErrNotFound) {
		h.sessions.end(ss.id)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !tok.Revoked.IsZero() {
		h.sessions.end(ss.id)
		return nil, nil
	}
	p := &principal{tok: tok, sess: ss}
	if tok.TenantID != "" {
		p.tenants = []string{tok.TenantID}
	} else {
		p.tenants = h.dir.CustomersOf(tok.PartnerID)
	}
	if p.tenants == nil {
		p.tenants = []string{}
	}
	return p, nil
}

// localPath returns next when it is a path on this site, else "/".
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (h *handler) loginPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	h.render(w, r, http.StatusOK, "login", pageData{Title: "login.title", Page: loginData{Next: localPath(r.URL.Query().Get("next"))}})
}

// loginData is the login page's data.
type loginData struct {
	Next  string
	Error string // an i18n key
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, "error.badForm")
		return
	}
	next := localPath(r.PostForm.Get("next"))
	fail := func(code int, key string) {
		h.render(w, r, code, "login", pageData{Title: "login.title", Page: loginData{Next: next, Error: key}})
	}
	text := strings.TrimSpace(r.PostForm.Get("token"))
	if !strings.HasPrefix(text, api.TokenPrefix) {
		fail(http.StatusUnauthorized, "login.bad")
		return
	}
	hash := api.HashToken(text)
	tok, err := h.st.TokenByHash(r.Context(), hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		fail(http.StatusUnauthorized, "login.bad")
		return
	case err != nil:
		h.log.ErrorContext(r.Context(), "web: login", slog.Any("error", err))
		fail(http.StatusServiceUnavailable, "error.unavailable")
		return
	case subtle.ConstantTimeCompare(tok.Hash, hash) != 1:
		fail(http.StatusUnauthorized, "login.bad")
		return
	case !tok.Revoked.IsZero():
		fail(http.StatusUnauthorized, "login.revoked")
		return
	}
	if err := h.st.TokenUsed(context.WithoutCancel(r.Context()), tok, h.now(), 1); err != nil {
		h.log.WarnContext(r.Context(), "web: cannot record token use", slog.Any("error", err))
	}
	ss := h.sessions.create(hash)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: ss.id, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	h.sessions.end(user(r).sess.id)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// setLanguage keeps the chosen language in a cookie and goes back to the
// page it was chosen on.
func (h *handler) setLanguage(w http.ResponseWriter, r *http.Request) {
	lang := r.PathValue("lang")
	if !slices.Contains(languages, lang) {
		h.notFound(w, r)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
}

// contextWith returns the request's context carrying the principal.
func contextWith(r *http.Request, p *principal) context.Context {
	return context.WithValue(r.Context(), ctxKey{}, p)
}
