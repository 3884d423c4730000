package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/notify/dispatch"
	"github.com/vigil-security/vigil/notify/webhook"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// hookReceiver is a partner's webhook endpoint: it verifies the signature
// with the secret it was given at registration.
type hookReceiver struct {
	t      *testing.T
	now    func() time.Time
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	events []webhook.Event
}

func newHookReceiver(t *testing.T, now func() time.Time) *hookReceiver {
	h := &hookReceiver{t: t, now: now}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := webhook.Verify([]byte(h.secret), r.Header.Get(webhook.HeaderSignature), body, h.now(), 5*time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev webhook.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("receiver: %v", err)
		}
		h.events = append(h.events, ev)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) got() []webhook.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]webhook.Event(nil), h.events...)
}

func loopbackOnly(t *testing.T) *webhook.Guard {
	g, err := webhook.NewGuard([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestWebhookRegistrationAPI(t *testing.T) {
	g := loopbackOnly(t)
	e := newEnv(t, func(o *api.Options) { o.WebhookGuard = g })
	// Without an outbox the routes say notifications are off.
	e.do("GET", "/webhooks/v1/registration", "partnerRW", nil).want(t, http.StatusServiceUnavailable)

	e = newEnvWithOutbox(t, g)
	// The outbox stamps entries with the wall clock; the dispatcher runs on
	// the env's, which starts now.
	e.clock.Set(time.Now())
	rc := newHookReceiver(t, e.clock.Now)
	body := map[string]any{"WebhookUrl": rc.srv.URL + "/hook", "WebhookEvents": []string{"azure-fraud-event-detected", "test-created"}}

	e.do("POST", "/webhooks/v1/registration", "partnerRO", body).want(t, http.StatusForbidden)
	e.do("GET", "/webhooks/v1/registration", "partnerRW", nil).want(t, http.StatusNotFound)
	for _, bad := range []map[string]any{
		{"WebhookUrl": "ftp://example.com/", "WebhookEvents": []string{"test-created"}},
		{"WebhookUrl": "http://169.254.169.254/latest", "WebhookEvents": []string{"test-created"}},
		{"WebhookUrl": rc.srv.URL, "WebhookEvents": []string{}},
		{"WebhookUrl": rc.srv.URL, "WebhookEvents": []string{"customer-created"}},
		{"WebhookUrl": rc.srv.URL, "WebhookEvents": []string{"test-created"}, "Payload": "xml"},
		{"WebhookUrl": rc.srv.URL, "WebhookEvents": []string{"test-created"}, "Extra": 1},
	} {
		e.do("POST", "/webhooks/v1/registration", "partnerRW", bad).want(t, http.StatusBadRequest)
	}
	created := e.do("POST", "/webhooks/v1/registration", "partnerRW", body).want(t, http.StatusCreated)
	secret, _ := created.body["Secret"].(string)
	if len(secret) != 64 || created.body["SubscriberId"] == "" || created.body["WebhookUrl"] != rc.srv.URL+"/hook" {
		t.Fatalf("created %s", created.raw)
	}
	rc.mu.Lock()
	rc.secret = secret
	rc.mu.Unlock()
	e.do("POST", "/webhooks/v1/registration", "partnerRW", body).want(t, http.StatusConflict)
	got := e.do("GET", "/webhooks/v1/registration", "partnerRO", nil).want(t, http.StatusOK)
	if _, has := got.body["Secret"]; has || got.body["SubscriberId"] != created.body["SubscriberId"] {
		t.Errorf("get %s", got.raw)
	}
	// Customer B's own token has its own (empty) scope.
	e.do("GET", "/webhooks/v1/registration", "bRW", nil).want(t, http.StatusNotFound)

	// A test event, delivered by a real dispatcher.
	v := e.do("POST", "/webhooks/v1/registration/validationEvents", "partnerRW", nil).want(t, http.StatusOK)
	corr, _ := v.body["correlationId"].(string)
	st := e.do("GET", "/webhooks/v1/registration/validationEvents/"+corr, "partnerRO", nil).want(t, http.StatusOK)
	if st.body["status"] != "pending" {
		t.Errorf("before delivery: %s", st.raw)
	}
	d := e.dispatcher(t, g)
	// Alerts of the partner's customer A and of partner Q's customer C.
	if err := e.st.SaveAlerts(context.Background(), []*alert.Alert{
		mkAlert("alert-a", "KV_TORAccess", tenantA, alert.SeverityHigh, t0),
		mkAlert("alert-c", "KV_TORAccess", tenantC, alert.SeverityHigh, t0),
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(time.Now())
	if _, err := d.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	st = e.do("GET", "/webhooks/v1/registration/validationEvents/"+corr, "partnerRO", nil).want(t, http.StatusOK)
	if st.body["status"] != "completed" || st.body["partnerId"] != partnerP {
		t.Errorf("after delivery: %s", st.raw)
	}
	e.do("GET", "/webhooks/v1/registration/validationEvents/nope", "partnerRO", nil).want(t, http.StatusNotFound)
	evs := rc.got()
	if len(evs) != 2 || evs[0].EventName != "test-created" || evs[0].ResourceName != "test" ||
		evs[1].EventName != "azure-fraud-event-detected" || evs[1].ResourceName != "alert-a" ||
		evs[1].ResourceURI != "https://vigil.test/v1.0/security/partner/securityAlerts/alert-a" {
		t.Fatalf("receiver got %+v", evs)
	}
	dl := e.do("GET", "/webhooks/v1/registration/deliveries", "partnerRO", nil).want(t, http.StatusOK)
	if n := len(dl.values()); n != 3 { // test, alert-a delivered, alert-c skipped (out of scope)
		t.Errorf("deliveries: %s", dl.raw)
	}

	// PUT narrows the events; a status change is then not sent.
	e.do("PUT", "/webhooks/v1/registration", "partnerRW", map[string]any{"WebhookEvents": []string{"vigil-alert-status-changed"}}).want(t, http.StatusOK)
	e.do("PATCH", "/v1.0/security/partner/securityAlerts/alert-a", "partnerRW", map[string]any{"status": "investigating"}).want(t, http.StatusOK)
	e.clock.Set(time.Now())
	if _, err := d.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if evs := rc.got(); len(evs) != 3 || evs[2].EventName != "vigil-alert-status-changed" {
		t.Fatalf("after PUT: %+v", evs)
	}

	// The receiver goes away for good: after the last attempt, the entry
	// is listed as failed.
	rc.srv.Close()
	if err := e.st.SaveAlert(context.Background(), mkAlert("alert-a2", "KV_TORAccess", tenantA, alert.SeverityHigh, t0)); err != nil {
		t.Fatal(err)
	}
	e.do("PUT", "/webhooks/v1/registration", "partnerRW", map[string]any{"WebhookEvents": []string{"azure-fraud-event-detected"}}).want(t, http.StatusOK)
	for range 3 {
		e.clock.Set(e.clock.Now().Add(time.Hour))
		if _, err := d.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	failed := e.do("GET", "/webhooks/v1/registration/deliveries?state=failed", "partnerRO", nil).want(t, http.StatusOK)
	if f := failed.values(); len(f) != 1 || f[0]["alertId"] != "alert-a2" || f[0]["attempts"] != float64(2) {
		t.Errorf("failed deliveries: %s", failed.raw)
	}
	e.do("DELETE", "/webhooks/v1/registration", "partnerRO", nil).want(t, http.StatusForbidden)
	e.do("DELETE", "/webhooks/v1/registration", "partnerRW", nil).want(t, http.StatusNoContent)
	e.do("GET", "/webhooks/v1/registration", "partnerRW", nil).want(t, http.StatusNotFound)
}

// newEnvWithOutbox is newEnv with the webhook API on.
func newEnvWithOutbox(t *testing.T, g *webhook.Guard) *env {
	return newEnv(t, func(o *api.Options) {
		o.WebhookGuard = g
		o.Outbox = o.Store.(store.Outbox)
		o.BaseURL = "https://vigil.test"
	})
}

// dispatcher is a real dispatcher over the env's store, on its clock, that
// gives up after two attempts.
func (e *env) dispatcher(t *testing.T, g *webhook.Guard) *dispatch.Dispatcher {
	n, err := webhook.New(webhook.Options{BaseURL: "https://vigil.test", Guard: g, Alerts: e.st,
		Scope: webhook.DirectoryScope(tenancy.NewIndex(directory()))})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Options{Outbox: e.st, Notifiers: []notify.Notifier{n}, Now: e.clock.Now, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
