// Package api is Vigil's REST API, in Microsoft Graph's shape: a client
// written for Graph's partner security alerts works against it unchanged
// but for the base URL and the token.
//
// Routes (each also under /v1.0 and /beta, as Graph's are; the OpenAPI
// document, served at /openapi.yaml and /openapi.json, describes them):
//
//	GET    /security/partner/securityAlerts                 list: $filter $top $skip $orderby $count $select, @odata.nextLink
//	GET    /security/partner/securityAlerts/{id}            one alert ($select)
//	PATCH  /security/partner/securityAlerts/{id}            {"status": ..., "resolvedReason": ...}
//	POST   /security/partner/securityAlerts/resolveStale    {"olderThanDays": N}: resolve idle alerts as ignore
//	GET    /security/partner/activityLogs                   the system activity log: startDate, endDate, operationType, OData
//	GET    /security/partner/alertsSuppressionRules         suppression rules; POST creates one
//	GET    /security/partner/alertsSuppressionRules/{id}    one rule; PATCH changes it, DELETE deletes it
//	POST   /webhooks/v1/registration                        register the scope's webhook (Partner Center's API); GET, PUT, DELETE
//	POST   /webhooks/v1/registration/validationEvents       send a test-created event; GET .../{correlationId} its status
//	GET    /webhooks/v1/registration/deliveries             the registration's notifications (?state=failed)
//
// Every call but the OpenAPI document needs a bearer token ("vgl_..."),
// made with `vigil token create` and stored as its SHA-256. A token is
// scoped to a partner (every customer tenant the directory says it
// manages) or to one customer tenant, and may read or read-write. The scope
// is applied inside the store's query, ANDed with any $filter, so no filter
// can reach another tenant's alert; an alert out of scope is "not found".
// Changes are made and recorded in the activity log in one transaction,
// with the token's name as updatedBy; token use is recorded too.
//
// Alerts are rendered with alert.Render in the language of ?lang= or
// Accept-Language (en, ja, nl). Errors have Graph's body
// {"error":{"code":"...","message":"..."}}.
package api

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/notify/webhook"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// Options configures the API.
type Options struct {
	// Store keeps alerts, tokens, rules and the activity log. Required.
	Store store.Security
	// Directory says which customer tenants each partner manages; nil means
	// none (partner tokens then see nothing).
	Directory *tenancy.Directory
	// Silencer, when set, is refreshed after every rule change, so new
	// alerts meet the rules at once.
	Silencer *silence.Silencer
	// OnAlertChange, when set, is called with each alert the API changed
	// (status, resolution), after the change is stored: `vigil serve` hands
	// it to alert.Manager.Track so a repeat of a resolved alert opens a new
	// alert linked to it instead of reopening it.
	OnAlertChange func(*alert.Alert)
	// Logger receives errors and request logs; nil discards them.
	Logger *slog.Logger
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
	// BaseURL is the scheme and host (and path prefix, behind a reverse
	// proxy) clients reach the API at, such as "https://vigil.example.com",
	// for @odata.context, @odata.nextLink and Location. When empty, the
	// request's Host header is used if it names a loopback address,
	// "localhost" or one of AllowedHosts; otherwise ListenAddr.
	BaseURL string
	// AllowedHosts are the Host header values links may be built on when
	// BaseURL is empty: a host name (any port) or host:port.
	AllowedHosts []string
	// ListenAddr is the address the API is served on (host:port), the host
	// of links when BaseURL is empty and the request's Host is not allowed;
	// an empty or unspecified host ("0.0.0.0", "::") stands for this
	// machine's name.
	ListenAddr string
	// Language is the default language of alert texts (en, ja, nl); empty
	// means en.
	Language string
	// Outbox, when set, serves the webhook registration API (Partner
	// Center's /webhooks/v1/registration); without it those routes answer
	// 503.
	Outbox store.Outbox
	// WebhookGuard checks registered webhook URLs (default: refuse every
	// internal address; see webhook.Guard).
	WebhookGuard *webhook.Guard
	// TokenUseInterval is the longest a token's use goes unrecorded: the
	// first request of a token is recorded at once, later ones at most once
	// per interval with their count. Zero means one minute; negative
	// records every request.
	TokenUseInterval time.Duration
}

// handler serves the API.
type handler struct {
	st       store.Security
	dir      *tenancy.Index
	sil      *silence.Silencer
	onChange func(*alert.Alert)
	log      *slog.Logger
	now      func() time.Time
	links    *links
	lang     string
	useEvery time.Duration
	mux      *http.ServeMux
	outbox   store.Outbox
	guard    *webhook.Guard

	usesMu sync.Mutex
	uses   map[string]*useState // token ID -> uses not yet recorded
}

// versions are the path prefixes every Graph route is served under.
var versions = []string{"", "/v1.0", "/beta"}

// Paths of the routes, without a version prefix.
const (
	pathAlerts       = "/security/partner/securityAlerts"
	pathAlert        = "/security/partner/securityAlerts/{id}"
	pathResolveStale = "/security/partner/securityAlerts/resolveStale"
	pathActivity     = "/security/partner/activityLogs"
	pathRules        = "/security/partner/alertsSuppressionRules"
	pathRule         = "/security/partner/alertsSuppressionRules/{id}"
	pathOpenAPIYAML  = "/openapi.yaml"
	pathOpenAPIJSON  = "/openapi.json"
)

// route is one operation.
type route struct {
	method, path string
	// public routes need no token; write routes need a read-write token;
	// bare routes are served without the Graph version prefixes.
	public, write, bare bool
	serve               func(h *handler, w http.ResponseWriter, r *http.Request, p *principal) error
}

// routes lists every operation; the OpenAPI document must describe each.
func routes() []route {
	return []route{
		{method: "GET", path: pathAlerts, serve: (*handler).listAlerts},
		{method: "GET", path: pathAlert, serve: (*handler).getAlert},
		{method: "PATCH", path: pathAlert, write: true, serve: (*handler).patchAlert},
		{method: "POST", path: pathResolveStale, write: true, serve: (*handler).resolveStale},
		{method: "GET", path: pathActivity, serve: (*handler).listActivity},
		{method: "GET", path: pathRules, serve: (*handler).listRules},
		{method: "POST", path: pathRules, write: true, serve: (*handler).createRule},
		{method: "GET", path: pathRule, serve: (*handler).getRule},
		{method: "PATCH", path: pathRule, write: true, serve: (*handler).patchRule},
		{method: "DELETE", path: pathRule, write: true, serve: (*handler).deleteRule},
		{method: "POST", path: pathWebhookRegistration, write: true, bare: true, serve: (*handler).createRegistration},
		{method: "GET", path: pathWebhookRegistration, bare: true, serve: (*handler).getRegistration},
		{method: "PUT", path: pathWebhookRegistration, write: true, bare: true, serve: (*handler).updateRegistration},
		{method: "DELETE", path: pathWebhookRegistration, write: true, bare: true, serve: (*handler).deleteRegistration},
		{method: "POST", path: pathWebhookValidation, write: true, bare: true, serve: (*handler).createValidationEvent},
		{method: "GET", path: pathWebhookValidationID, bare: true, serve: (*handler).getValidationEvent},
		{method: "GET", path: pathWebhookDeliveries, bare: true, serve: (*handler).listDeliveries},
		{method: "GET", path: pathOpenAPIYAML, public: true, serve: (*handler).openAPIYAML},
		{method: "GET", path: pathOpenAPIJSON, public: true, serve: (*handler).openAPIJSON},
	}
}

// Routes lists the API's operations as "METHOD /path", paths without the
// /v1.0 and /beta prefixes, in the order of the package documentation.
func Routes() []string {
	var out []string
	for _, rt := range routes() {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}

// New returns the API's handler. It panics when opts.Store is nil, a
// programming error.
func New(opts Options) http.Handler {
	if opts.Store == nil {
		panic("api.New: Options.Store is nil")
	}
	h := &handler{
		st: opts.Store, dir: tenancy.NewIndex(opts.Directory), sil: opts.Silencer, onChange: opts.OnAlertChange,
		log: opts.Logger, now: opts.Now, links: newLinks(opts), lang: "en",
		useEvery: opts.TokenUseInterval, mux: http.NewServeMux(), uses: map[string]*useState{},
		outbox: opts.Outbox, guard: opts.WebhookGuard,
	}
	if h.guard == nil {
		h.guard = &webhook.Guard{}
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if l, ok := known(opts.Language); ok {
		h.lang = l
	}
	switch {
	case h.useEvery == 0:
		h.useEvery = time.Minute
	case h.useEvery < 0:
		h.useEvery = 0
	}

	allowed := map[string][]string{} // path -> methods
	for _, rt := range routes() {
		prefixes := versions
		if rt.public || rt.bare {
			prefixes = []string{""}
		}
		for _, pre := range prefixes {
			h.mux.Handle(rt.method+" "+pre+rt.path, h.wrap(rt))
			allowed[pre+rt.path] = append(allowed[pre+rt.path], rt.method)
		}
	}
	for path, methods := range allowed {
		if strings.HasSuffix(path, "/resolveStale") {
			continue // covered by the {id} pattern beside it
		}
		h.mux.Handle(path, methodNotAllowed(methods))
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrorBody(w, notFound("no such resource: "+r.URL.Path))
	})
	return h
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// methodNotAllowed answers 405 with the allowed methods.
func methodNotAllowed(methods []string) http.Handler {
	all := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allow := all
		if strings.HasSuffix(r.URL.Path, "/resolveStale") {
			allow = "POST"
		}
		w.Header().Set("Allow", allow)
		writeErrorBody(w, &httpError{http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			r.Method + " is not allowed here; allowed: " + allow})
	})
}

// wrap authenticates and authorises a request for rt, serves it and logs
// it.
func (h *handler) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := h.now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		var (
			p   *principal
			err error
		)
		if !rt.public {
			p, err = h.authenticate(r)
			if err == nil && rt.write && !p.tok.Write {
				err = &httpError{http.StatusForbidden, CodeAccessDenied, "this token may read only; create a token with --write to make changes"}
			}
		}
		if err == nil {
			err = rt.serve(h, rec, r, p)
		}
		if err != nil {
			h.writeError(rec, r, err)
		}
		attrs := []any{slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("took", h.now().Sub(start))}
		if p != nil {
			attrs = append(attrs, slog.String("token", p.tok.ID))
		}
		h.log.DebugContext(r.Context(), "api: request", attrs...)
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
