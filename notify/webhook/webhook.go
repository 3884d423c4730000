// Package webhook delivers outbox entries as signed HTTP POSTs in Partner
// Center's webhook event shape, to URLs registered as with Partner Center's
// webhook API (or in the configuration).
//
// Each request carries the event as JSON — {"EventName", "ResourceUri",
// "ResourceName", "AuditUri", "ResourceChangeUtcDate"}, or the full alert
// in the API's shape when the registration asks for it — and three headers:
// Vigil-Signature ("t=<unix seconds>,v1=<hex HMAC-SHA256 of t + "." +
// body>" keyed with the registration's secret; see [Verify]),
// Idempotency-Key (the same on every attempt of one notification) and
// Vigil-Event. Only http and https URLs are used; redirects are not
// followed; connections to loopback, private, link-local and metadata
// addresses are refused at dial time, after name resolution, unless
// notify.allowTargets allows them ([Guard]).
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// Kind is the store.Target.Kind of webhook targets.
const Kind = "webhook"

// Event names a registration may ask for.
const (
	// EventFraudDetected is Partner Center's event for a detected Azure
	// fraud event: Vigil sends it for a new alert and for an alert whose
	// severity was raised.
	EventFraudDetected = "azure-fraud-event-detected"
	// EventTest is the test event of validationEvents.
	EventTest = "test-created"
	// EventStatusChanged is Vigil's own: an alert's status changed.
	EventStatusChanged = "vigil-alert-status-changed"
)

// Events lists the event names a registration may ask for.
func Events() []string { return []string{EventFraudDetected, EventStatusChanged, EventTest} }

// Payload formats.
const (
	PayloadEvent = "event" // Partner Center's event (default)
	PayloadAlert = "alert" // the alert in the API's shape, with EventName
)

// Config is a webhook target's settings (store.Target.Config).
type Config struct {
	// SubscriberID is the registration's ID, as Partner Center gives one.
	SubscriberID string   `json:"subscriberId,omitempty"`
	URL          string   `json:"url"`
	Events       []string `json:"events"`
	// Secret keys the HMAC signature.
	Secret string `json:"secret"`
	// Payload is PayloadEvent or PayloadAlert.
	Payload string `json:"payload,omitempty"`
	// Language of the texts of a full alert (en, ja, nl).
	Language string `json:"language,omitempty"`
	// Tenants, Subscriptions and Types limit a configured target to these
	// (empty: all).
	Tenants       []string `json:"tenants,omitempty"`
	Subscriptions []string `json:"subscriptions,omitempty"`
	Types         []string `json:"types,omitempty"`
	// MinSeverity drops alerts below it (empty: all).
	MinSeverity alert.Severity `json:"minSeverity,omitempty"`
}

// filter is the configured selection of alerts.
func (c *Config) filter() notify.Filter {
	return notify.Filter{Tenants: c.Tenants, Subscriptions: c.Subscriptions, Types: c.Types, MinSeverity: c.MinSeverity}
}

// Event is Partner Center's webhook event.
type Event struct {
	EventName             string  `json:"EventName"`
	ResourceURI           string  `json:"ResourceUri"`
	ResourceName          string  `json:"ResourceName"`
	AuditURI              *string `json:"AuditUri"`
	ResourceChangeUtcDate string  `json:"ResourceChangeUtcDate"`
}

// AlertEvent is the full-alert payload: the event name and the alert.
type AlertEvent struct {
	EventName             string           `json:"EventName"`
	ResourceChangeUtcDate string           `json:"ResourceChangeUtcDate"`
	Change                string           `json:"Change"`
	Alert                 alert.GraphAlert `json:"Alert"`
}

// ChangeTime formats a time as Partner Center's ResourceChangeUtcDate.
func ChangeTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.0000000-07:00")
}

// Options configures the notifier.
type Options struct {
	// Alerts loads the alert of a full-alert payload. Required for such
	// registrations.
	Alerts interface {
		GetAlert(ctx context.Context, id string) (*alert.Alert, error)
	}
	// BaseURL is where the API is reached, for ResourceUri and AuditUri
	// ("https://vigil.example.com"). Required.
	BaseURL string
	// Guard decides which addresses may be reached (default: refuse every
	// internal range).
	Guard *Guard
	// Timeout bounds one request, connection included (default 10 s).
	Timeout time.Duration
	// Scope returns the customer tenants a target registered by a partner
	// or tenant may hear of; nil means the target's own TenantID only.
	Scope func(t store.Target) []string
}

// Notifier delivers webhook targets' entries.
type Notifier struct {
	o      Options
	client *http.Client
}

// New returns a notifier.
func New(o Options) (*Notifier, error) {
	if o.BaseURL == "" {
		return nil, errors.New("webhook: no base URL for ResourceUri")
	}
	if o.Guard == nil {
		o.Guard = &Guard{}
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the guard
		DialContext:           o.Guard.dialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
	}
	return &Notifier{o: o, client: &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}, nil
}

// Kind implements notify.Notifier.
func (n *Notifier) Kind() string { return Kind }

// ParseConfig reads a target's settings.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("webhook: settings: %w", err)
	}
	return c, nil
}

// eventName maps an outbox event to the webhook event name.
func eventName(e *store.OutboxEntry) string {
	switch e.Event {
	case store.EventAlertCreated, store.EventSeverityRaised:
		return EventFraudDetected
	case store.EventStatusChanged:
		return EventStatusChanged
	}
	return e.Event
}

// Deliver implements notify.Notifier: one POST per entry, in order. After
// a failure to connect, the rest of the batch is retried later without
// being tried, so an unreachable receiver costs one timeout per batch.
func (n *Notifier) Deliver(ctx context.Context, t store.Target, es []store.OutboxEntry, now time.Time) []notify.Result {
	out := make([]notify.Result, len(es))
	cfg, err := ParseConfig(t.Config)
	if err == nil {
		_, err = n.o.Guard.CheckURL(cfg.URL)
	}
	if err != nil {
		for i := range out {
			out[i] = notify.Result{Outcome: notify.Permanent, Err: err}
		}
		return out
	}
	var tenants []string
	if n.o.Scope != nil && t.Source == "api" {
		tenants = n.o.Scope(t)
	} else if t.TenantID != "" {
		tenants = []string{t.TenantID}
	}
	var down error
	for i := range es {
		e := &es[i]
		if down != nil {
			out[i] = notify.Result{Outcome: notify.Retry, Err: fmt.Errorf("not tried: %w", down)}
			continue
		}
		if ctx.Err() != nil { // the dispatcher's time for this batch is up
			out[i] = notify.Result{Outcome: notify.Defer, Until: now, Detail: "not tried: batch out of time"}
			continue
		}
		if why := n.skip(&cfg, t, tenants, e); why != "" {
			out[i] = notify.Result{Outcome: notify.Skipped, Detail: why}
			continue
		}
		body, err := n.body(ctx, &cfg, e)
		if err != nil {
			out[i] = notify.Result{Outcome: notify.Retry, Err: err}
			continue
		}
		out[i] = n.post(ctx, &cfg, e, body, now)
		var ne net.Error
		if out[i].Outcome == notify.Retry && errors.As(out[i].Err, &ne) {
			down = out[i].Err
		}
	}
	return out
}

// skip says why the target does not want the entry ("" if it does).
func (n *Notifier) skip(cfg *Config, t store.Target, tenants []string, e *store.OutboxEntry) string {
	if !slices.Contains(cfg.Events, eventName(e)) {
		return "event " + eventName(e) + " not registered"
	}
	if e.Event == EventTest {
		return ""
	}
	if notify.Suppressed(e) {
		return "suppressed"
	}
	if t.Source == "api" && !slices.Contains(tenants, e.TenantID) {
		return "tenant out of the registration's scope"
	}
	if f := cfg.filter(); !f.Match(e.TenantID, e.SubscriptionID, e.AlertType, e.Severity) {
		return "outside the target's filter"
	}
	return ""
}

// body renders the request body of an entry.
func (n *Notifier) body(ctx context.Context, cfg *Config, e *store.OutboxEntry) ([]byte, error) {
	name := eventName(e)
	if e.Event == EventTest && len(e.Payload) > 0 {
		return e.Payload, nil
	}
	if cfg.Payload == PayloadAlert {
		if n.o.Alerts == nil {
			return nil, errors.New("webhook: no alert store for a full-alert payload")
		}
		a, err := n.o.Alerts.GetAlert(ctx, e.AlertID)
		if err != nil {
			return nil, fmt.Errorf("webhook: load alert %s: %w", e.AlertID, err)
		}
		lang := cfg.Language
		if lang == "" {
			lang = "en"
		}
		return json.Marshal(AlertEvent{EventName: name, ResourceChangeUtcDate: ChangeTime(e.Created),
			Change: e.Event, Alert: alert.Render(a, lang)})
	}
	return json.Marshal(AlertResourceEvent(n.o.BaseURL, name, e.AlertID, e.Created))
}

// AlertResourceEvent is the Partner Center event of a change of alert id
// at t: ResourceUri is the alert in the API, AuditUri its activity log.
func AlertResourceEvent(base, name, id string, t time.Time) Event {
	alertURI := base + "/v1.0/security/partner/securityAlerts/" + url.PathEscape(id)
	audit := base + "/v1.0/security/partner/activityLogs?" + url.Values{
		"$filter": {"resourceId eq '" + escapeOData(id) + "'"}}.Encode()
	return Event{EventName: name, ResourceURI: alertURI, ResourceName: id, AuditURI: &audit,
		ResourceChangeUtcDate: ChangeTime(t)}
}

func escapeOData(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		if r == '\'' {
			b.WriteString("''")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// post sends one request and classifies the answer: 2xx delivered; 410
// Gone failed for good; anything else (3xx not followed, 4xx, 5xx, network
// errors) retried.
func (n *Notifier) post(ctx context.Context, cfg *Config, e *store.OutboxEntry, body []byte, now time.Time) notify.Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(body))
	if err != nil {
		return notify.Result{Outcome: notify.Permanent, Err: fmt.Errorf("webhook: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Vigil-Webhook/1")
	req.Header.Set(HeaderSignature, Sign([]byte(cfg.Secret), now, body))
	req.Header.Set(HeaderIdempotencyKey, e.Key)
	req.Header.Set(HeaderEvent, eventName(e))
	resp, err := n.client.Do(req)
	if errors.Is(err, ErrRefused) {
		return notify.Result{Outcome: notify.Permanent, Err: err}
	}
	if err != nil {
		return notify.Result{Outcome: notify.Retry, Err: fmt.Errorf("webhook: %w", err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	status := fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return notify.Result{Outcome: notify.Delivered, Detail: status}
	case resp.StatusCode == http.StatusGone:
		return notify.Result{Outcome: notify.Permanent, Err: fmt.Errorf("webhook: receiver answered %s", status)}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return notify.Result{Outcome: notify.Retry, Err: fmt.Errorf("webhook: receiver answered %s (redirects are not followed)", status)}
	default:
		return notify.Result{Outcome: notify.Retry, Err: fmt.Errorf("webhook: receiver answered %s", status)}
	}
}

// DirectoryScope is the Scope of targets registered through the API: a
// partner's registration hears of its customers' alerts, a customer
// tenant's of its own.
func DirectoryScope(ix *tenancy.Index) func(store.Target) []string {
	return func(t store.Target) []string {
		if t.TenantID != "" {
			return []string{t.TenantID}
		}
		if t.PartnerID == "" || ix == nil {
			return nil
		}
		return ix.CustomersOf(t.PartnerID)
	}
}
