package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/vigil-security/vigil/notify/webhook"
	"github.com/vigil-security/vigil/store"
)

// Webhook routes, as Partner Center's webhook API has them (no version
// prefix: the path carries its own).
const (
	pathWebhookRegistration = "/webhooks/v1/registration"
	pathWebhookValidation   = "/webhooks/v1/registration/validationEvents"
	pathWebhookValidationID = "/webhooks/v1/registration/validationEvents/{correlationId}"
	pathWebhookDeliveries   = "/webhooks/v1/registration/deliveries"
)

// registrationJSON is Partner Center's webhook registration, plus Vigil's
// Payload ("event" or "alert"), Language and, once, the signing Secret.
type registrationJSON struct {
	SubscriberID  string   `json:"SubscriberId"`
	WebhookURL    string   `json:"WebhookUrl"`
	WebhookEvents []string `json:"WebhookEvents"`
	Payload       string   `json:"Payload"`
	Language      string   `json:"Language"`
	Secret        string   `json:"Secret,omitempty"`
}

// registrationID is the target of the principal's registration: one per
// token scope, as Partner Center keeps one per partner.
func (p *principal) registrationID() string {
	if p.tok.TenantID != "" {
		return "webhook:tenant:" + p.tok.TenantID
	}
	return "webhook:partner:" + p.tok.PartnerID
}

var errNoNotify = &httpError{http.StatusServiceUnavailable, CodeUnavailable, "notifications are not enabled on this server"}

// webhookConfig returns the principal's registration; 404 when none.
func (h *handler) webhookConfig(r *http.Request, p *principal) (store.Target, webhook.Config, error) {
	if h.outbox == nil {
		return store.Target{}, webhook.Config{}, errNoNotify
	}
	t, err := h.outbox.GetTarget(r.Context(), p.registrationID())
	if errors.Is(err, store.ErrNotFound) {
		return t, webhook.Config{}, notFound("no webhook registration for this token's scope")
	}
	if err != nil {
		return t, webhook.Config{}, err
	}
	c, err := webhook.ParseConfig(t.Config)
	return t, c, err
}

// applyRegistration sets c from a request body.
func (h *handler) applyRegistration(w http.ResponseWriter, r *http.Request, c *webhook.Config) error {
	m, err := readObject(w, r)
	if err != nil {
		return err
	}
	return applyRegistrationMembers(m, c, h.guard)
}

// applyRegistrationMembers sets c from the members of a registration
// body and checks the result.
func applyRegistrationMembers(m map[string]json.RawMessage, c *webhook.Config, guard *webhook.Guard) error {
	for k := range m {
		if !slices.Contains([]string{"WebhookUrl", "WebhookEvents", "Payload", "Language", "SubscriberId"}, k) {
			return badRequest(fmt.Sprintf("unknown member %q", k))
		}
	}
	if raw, ok := m["WebhookUrl"]; ok {
		if err := json.Unmarshal(raw, &c.URL); err != nil {
			return badRequest("WebhookUrl must be a string")
		}
	}
	if _, err := guard.CheckURL(c.URL); err != nil {
		return badRequest(err.Error())
	}
	if raw, ok := m["WebhookEvents"]; ok {
		c.Events = nil
		if err := json.Unmarshal(raw, &c.Events); err != nil {
			return badRequest("WebhookEvents must be an array of strings")
		}
	}
	if len(c.Events) == 0 {
		return badRequest(fmt.Sprintf("WebhookEvents must name at least one of %q", webhook.Events()))
	}
	for _, e := range c.Events {
		if !slices.Contains(webhook.Events(), e) {
			return badRequest(fmt.Sprintf("unknown event %q; known: %q", e, webhook.Events()))
		}
	}
	if raw, ok := m["Payload"]; ok {
		if err := json.Unmarshal(raw, &c.Payload); err != nil || (c.Payload != webhook.PayloadEvent && c.Payload != webhook.PayloadAlert && c.Payload != "") {
			return badRequest(`Payload must be "event" or "alert"`)
		}
	}
	if raw, ok := m["Language"]; ok {
		var l string
		if err := json.Unmarshal(raw, &l); err != nil {
			return badRequest("Language must be a string")
		}
		if l != "" {
			if _, ok := known(l); !ok {
				return badRequest(fmt.Sprintf("Language %q: want one of %q", l, languages))
			}
		}
		c.Language = l
	}
	return nil
}

func renderRegistration(c webhook.Config, withSecret bool) registrationJSON {
	out := registrationJSON{SubscriberID: c.SubscriberID, WebhookURL: c.URL, WebhookEvents: c.Events, Payload: c.Payload, Language: c.Language}
	if out.Payload == "" {
		out.Payload = webhook.PayloadEvent
	}
	if withSecret {
		out.Secret = c.Secret
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (h *handler) createRegistration(w http.ResponseWriter, r *http.Request, p *principal) error {
	if h.outbox == nil {
		return errNoNotify
	}
	if _, err := h.outbox.GetTarget(r.Context(), p.registrationID()); err == nil {
		return &httpError{http.StatusConflict, CodeNotAllowed, "a webhook registration exists for this scope; change it with PUT or remove it with DELETE"}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	c := webhook.Config{SubscriberID: randomUUID(), Secret: randomHex(32)}
	if err := h.applyRegistration(w, r, &c); err != nil {
		return err
	}
	if err := h.putRegistration(r, p, c); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, renderRegistration(c, true))
	return nil
}

func (h *handler) putRegistration(r *http.Request, p *principal, c webhook.Config) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	now := h.now()
	return h.outbox.PutTarget(r.Context(), store.Target{ID: p.registrationID(), Kind: webhook.Kind,
		PartnerID: p.tok.PartnerID, TenantID: p.tok.TenantID, Source: "api", Config: b, Updated: now})
}

func (h *handler) getRegistration(w http.ResponseWriter, r *http.Request, p *principal) error {
	_, c, err := h.webhookConfig(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderRegistration(c, false))
	return nil
}

func (h *handler) updateRegistration(w http.ResponseWriter, r *http.Request, p *principal) error {
	_, c, err := h.webhookConfig(r, p)
	if err != nil {
		return err
	}
	if err := h.applyRegistration(w, r, &c); err != nil {
		return err
	}
	if err := h.putRegistration(r, p, c); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderRegistration(c, false))
	return nil
}

func (h *handler) deleteRegistration(w http.ResponseWriter, r *http.Request, p *principal) error {
	if _, _, err := h.webhookConfig(r, p); err != nil {
		return err
	}
	if err := h.outbox.DeleteTarget(r.Context(), p.registrationID(), h.now()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// createValidationEvent queues a test-created event for the registration
// and returns its correlation ID.
func (h *handler) createValidationEvent(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, _, err := h.webhookConfig(r, p)
	if err != nil {
		return err
	}
	corr := randomUUID()
	now := h.now()
	ev := webhook.Event{EventName: webhook.EventTest, ResourceURI: h.baseURL(r) + pathWebhookValidation + "/" + corr,
		ResourceName: "test", ResourceChangeUtcDate: webhook.ChangeTime(now)}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if _, err := h.outbox.Enqueue(r.Context(), store.OutboxEntry{TargetID: t.ID, Event: webhook.EventTest,
		AlertID: corr, TenantID: p.tok.TenantID, Payload: body, Created: now}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"correlationId": corr})
	return nil
}

// validationStatus is Partner Center's status of a test event.
type validationStatus struct {
	CorrelationID string             `json:"correlationId"`
	PartnerID     *string            `json:"partnerId"`
	Status        string             `json:"status"`
	CallbackURL   string             `json:"callbackUrl"`
	Results       []validationResult `json:"results"`
}

type validationResult struct {
	ResponseCode    string `json:"responseCode"`
	ResponseMessage string `json:"responseMessage"`
	SystemMessage   string `json:"systemMessage"`
	DateTimeUtc     string `json:"dateTimeUtc"`
}

func (h *handler) getValidationEvent(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, c, err := h.webhookConfig(r, p)
	if err != nil {
		return err
	}
	corr := r.PathValue("correlationId")
	es, err := h.outbox.ListOutbox(r.Context(), store.OutboxQuery{TargetIDs: []string{t.ID}, AlertIDs: []string{corr}, Limit: 1})
	if err != nil {
		return err
	}
	if len(es) == 0 || es[0].Event != webhook.EventTest {
		return notFound("no validation event " + corr)
	}
	e := es[0]
	st := validationStatus{CorrelationID: corr, PartnerID: nullable(p.tok.PartnerID), CallbackURL: c.URL, Results: []validationResult{}}
	switch e.State {
	case store.OutboxDone:
		st.Status = "completed"
	case store.OutboxFailed:
		st.Status = "failed"
	default:
		st.Status = "pending"
	}
	if e.Attempts > 0 && (e.Result != "" || e.LastError != "") {
		res := validationResult{ResponseCode: e.Result, SystemMessage: e.LastError}
		at := e.Done
		if at.IsZero() {
			at = e.Next
		}
		res.DateTimeUtc = at.UTC().Format(time.RFC3339Nano)
		if e.State == store.OutboxDone {
			res.SystemMessage = "delivered"
		}
		st.Results = append(st.Results, res)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// deliveryJSON is one outbox entry of the registration, as listed.
type deliveryJSON struct {
	ID             int64   `json:"id"`
	IdempotencyKey string  `json:"idempotencyKey"`
	Event          string  `json:"event"`
	AlertID        string  `json:"alertId"`
	State          string  `json:"state"`
	Attempts       int     `json:"attempts"`
	Created        string  `json:"createdDateTime"`
	NextAttempt    *string `json:"nextAttemptDateTime"`
	Finished       *string `json:"finishedDateTime"`
	LastError      string  `json:"lastError"`
	Result         string  `json:"result"`
}

// listDeliveries lists the registration's outbox entries: ?state=failed
// shows what could not be delivered; ?after=ID pages.
func (h *handler) listDeliveries(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, _, err := h.webhookConfig(r, p)
	if err != nil {
		return err
	}
	q := store.OutboxQuery{TargetIDs: []string{t.ID}, Limit: 100}
	if s := r.URL.Query().Get("state"); s != "" {
		if s != store.OutboxPending && s != store.OutboxDone && s != store.OutboxFailed {
			return badRequest("state must be pending, done or failed")
		}
		q.States = []string{s}
	}
	if s := r.URL.Query().Get("after"); s != "" {
		if _, err := fmt.Sscan(s, &q.AfterID); err != nil {
			return badRequest("after must be an entry id")
		}
	}
	es, err := h.outbox.ListOutbox(r.Context(), q)
	if err != nil {
		return err
	}
	out := struct {
		Value []deliveryJSON `json:"value"`
	}{Value: []deliveryJSON{}}
	for _, e := range es {
		d := deliveryJSON{ID: e.ID, IdempotencyKey: e.Key, Event: e.Event, AlertID: e.AlertID, State: e.State,
			Attempts: e.Attempts, Created: e.Created.Format(time.RFC3339Nano), LastError: e.LastError, Result: e.Result}
		if e.State == store.OutboxPending {
			d.NextAttempt = nullable(e.Next.Format(time.RFC3339Nano))
		} else {
			d.Finished = nullable(e.Done.Format(time.RFC3339Nano))
		}
		out.Value = append(out.Value, d)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
