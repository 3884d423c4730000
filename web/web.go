// Package web is Vigil's dashboard: server-rendered HTML pages, embedded in
// the binary with their style sheet and a little JavaScript, served by
// `vigil serve` at /.
//
// Pages are html/template over the same store the API uses, with no build
// step and nothing fetched from elsewhere: the pages work without
// JavaScript, which only adds keyboard shortcuts on the alert list and
// saves the playbook checklist when a box is ticked. Pictures are SVG drawn
// on the server.
//
// # Sign-in
//
// The login form takes an API token (`vigil token create`); the dashboard
// keeps, in memory, a session that refers to the token's hash, and sets a
// session cookie (HttpOnly, SameSite=Strict, Secure when the request came
// over TLS). Every request looks the token up again, so revoking it ends
// its sessions at once. A session ends on logout, after SessionIdle without
// requests, after SessionMaxAge, or when the server restarts.
//
// # Tenancy
//
// A page shows what the API would show the same token: a partner token sees
// the alerts, rules and activity of every customer tenant the directory
// says it manages, side by side; a customer token only its own. Changes need
// a read-write token and are recorded in the activity log with the token's
// name, as the API's are.
//
// # Forms
//
// Every POST but the login carries the session's CSRF token, compared in
// constant time; requests from other origins are refused
// (http.CrossOriginProtection) before any handler runs.
//
// # Language
//
// Every text of the dashboard and of the alerts is in English, Japanese or
// Dutch: the language chosen in the page footer (a cookie), else the
// browser's Accept-Language, else Options.Language. The UI strings are an
// embedded catalogue (i18n/*.json); the alert texts come from the alert
// catalogue.
package web

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

//go:embed templates/*.html static/* i18n/*.json
var assets embed.FS

// Options configure the dashboard.
type Options struct {
	// Store keeps alerts, tokens, rules and the activity log. Required.
	Store store.Security
	// Dashboard adds playbook ticks and counts; nil means Store's, when it
	// implements store.Dashboard (the SQLite and PostgreSQL stores do).
	// Without one, the checklist cannot be ticked and the summary page says
	// it is not available. The entity search is store.ListQuery.EntityText,
	// which every store compiles.
	Dashboard store.Dashboard
	// Directory says which customer tenants each partner manages, and names
	// tenants and subscriptions.
	Directory *tenancy.Directory
	// Silencer, when set, is refreshed after every rule change.
	Silencer *silence.Silencer
	// OnAlertChange, when set, is called with each alert the dashboard
	// changed, after the change is stored (as api.Options.OnAlertChange).
	OnAlertChange func(*alert.Alert)
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
	// Language is the default language (en, ja, nl); empty means en.
	Language string
	// SessionIdle ends a session after this long without a request; zero
	// means 8 hours.
	SessionIdle time.Duration
	// SessionMaxAge ends a session this long after login; zero means 24
	// hours.
	SessionMaxAge time.Duration
}

// handler serves the dashboard.
type handler struct {
	st       store.Security
	dash     store.Dashboard
	dir      *tenancy.Index
	names    names
	sil      *silence.Silencer
	onChange func(*alert.Alert)
	log      *slog.Logger
	now      func() time.Time
	lang     string
	sessions *sessions
	pages    *pageSet
	mux      *http.ServeMux
}

// New returns the dashboard's handler. It panics when opts.Store is nil or
// the embedded templates do not parse, both programming errors.
func New(opts Options) http.Handler {
	if opts.Store == nil {
		panic("web.New: Options.Store is nil")
	}
	h := &handler{
		st: opts.Store, dash: opts.Dashboard, dir: tenancy.NewIndex(opts.Directory), names: newNames(opts.Directory),
		sil: opts.Silencer, onChange: opts.OnAlertChange, log: opts.Logger, now: opts.Now,
		lang: alert.NormalizeLanguage(opts.Language),
	}
	if h.dash == nil {
		h.dash, _ = opts.Store.(store.Dashboard)
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	idle, maxAge := opts.SessionIdle, opts.SessionMaxAge
	if idle <= 0 {
		idle = 8 * time.Hour
	}
	if maxAge <= 0 {
		maxAge = 24 * time.Hour
	}
	h.sessions = newSessions(idle, maxAge, h.now)
	var err error
	if h.pages, err = parsePages(); err != nil {
		panic("web.New: " + err.Error())
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		panic("web.New: " + err.Error())
	}
	m := http.NewServeMux()
	m.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(static)))
	m.HandleFunc("GET /login", h.loginPage)
	m.HandleFunc("POST /login", h.login)
	m.HandleFunc("GET /lang/{lang}", h.setLanguage)
	m.Handle("POST /logout", h.authed(h.logout))
	m.Handle("GET /{$}", h.authed(h.alertsPage))
	m.Handle("GET /alerts", h.authed(h.alertsPage))
	m.Handle("POST /alerts/bulk", h.authed(h.bulk))
	m.Handle("GET /alerts/{id}", h.authed(h.alertPage))
	m.Handle("POST /alerts/{id}/status", h.authed(h.changeStatus))
	m.Handle("POST /alerts/{id}/playbook", h.authed(h.savePlaybook))
	m.Handle("POST /alerts/{id}/rule", h.authed(h.ruleFromAlert))
	m.Handle("GET /rules", h.authed(h.rulesPage))
	m.Handle("POST /rules/{id}/state", h.authed(h.ruleState))
	m.Handle("POST /rules/{id}/delete", h.authed(h.deleteRule))
	m.Handle("GET /activity", h.authed(h.activityPage))
	m.Handle("GET /summary", h.authed(h.summaryPage))
	m.HandleFunc("/", h.notFound)
	h.mux = m
	return http.NewCrossOriginProtection().Handler(h)
}

// ServeHTTP implements http.Handler, adding the security headers every
// response carries.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

// staticFiles serves the embedded assets with a day's caching.
func staticFiles(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}

// changed tells OnAlertChange about an alert the dashboard changed.
func (h *handler) changed(a *alert.Alert) {
	if h.onChange != nil && a != nil {
		h.onChange(a.Clone())
	}
}
