// Package mail sends e-mail notifications over SMTP (STARTTLS and
// authentication through github.com/wneessen/go-mail): a mail per new alert
// (or raised severity), throttled per recipient, subscription and severity
// as Defender for Cloud spaces its mails — the alerts held back are gathered
// into the next mail, never dropped — and the daily summary of unresolved
// alerts. Each mail is multipart text and HTML, in the recipient's
// language, rendered from the alert catalogue.
//
// A recipient is an outbox target (kind "mail", ID "mail:<address>") whose
// settings are a notify.Recipient. The throttle's state (when the last mail
// of a subscription and severity went out) is kept in the store's marks,
// so a restart does not reset it.
package mail

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// Kind is the store.Target.Kind of mail recipients.
const Kind = "mail"

// EventDaily is the outbox event of a daily summary; its AlertID is
// "daily:<date>".
const EventDaily = "dailySummary"

// Store is what mail needs of the store.
type Store interface {
	store.Outbox
	GetAlert(ctx context.Context, id string) (*alert.Alert, error)
	ListAlerts(ctx context.Context, q store.ListQuery) ([]*alert.Alert, error)
}

// Options configures the notifier.
type Options struct {
	SMTP  notify.SMTP
	Store Store
	// Directory names tenants and subscriptions and says which partners
	// an alert affects.
	Directory *tenancy.Directory
	// BaseURL is where links point ("https://vigil.example.com").
	BaseURL  string
	Throttle notify.Throttle
	Daily    notify.Daily
	// TLSConfig overrides the TLS settings (tests trust their own CA);
	// nil means the system roots and SMTP.InsecureSkipVerify.
	TLSConfig *tls.Config
	Logger    *slog.Logger
}

// Notifier sends mail.
type Notifier struct {
	o    Options
	ix   *tenancy.Index
	loc  *time.Location
	pass string
}

// New returns a notifier.
func New(o Options) (*Notifier, error) {
	if o.SMTP.Host == "" || o.SMTP.From == "" {
		return nil, errors.New("mail: need notify.smtp.host and from")
	}
	if o.Store == nil {
		return nil, errors.New("mail: no store")
	}
	loc, err := time.LoadLocation(o.Daily.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("mail: time zone: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{o: o, ix: tenancy.NewIndex(o.Directory), loc: loc, pass: o.SMTP.Password}
	if o.SMTP.PasswordFile != "" {
		b, err := os.ReadFile(o.SMTP.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("mail: password: %w", err)
		}
		n.pass = strings.TrimSpace(string(b))
	}
	return n, nil
}

// Kind implements notify.Notifier.
func (n *Notifier) Kind() string { return Kind }

// Target returns the outbox target of a recipient.
func Target(r notify.Recipient) (store.Target, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return store.Target{}, err
	}
	return store.Target{ID: "mail:" + strings.ToLower(r.Address), Kind: Kind, Source: "config", Config: b}, nil
}

// client dials the SMTP server.
func (n *Notifier) client() (*gomail.Client, error) {
	s := n.o.SMTP
	opts := []gomail.Option{gomail.WithPort(s.Port), gomail.WithTimeout(s.Timeout)}
	switch s.TLS {
	case "implicit":
		opts = append(opts, gomail.WithSSL())
	case "opportunistic":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	tc := n.o.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: s.Host, InsecureSkipVerify: s.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // the operator's choice
	}
	opts = append(opts, gomail.WithTLSConfig(tc))
	if s.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(s.Username), gomail.WithPassword(n.pass))
	}
	return gomail.NewClient(s.Host, opts...)
}

// send delivers one rendered mail to one address; id is its Message-ID
// (the same on a retry, so a mail system can drop the repeat).
func (n *Notifier) send(ctx context.Context, to string, r Rendered, id string, at time.Time) error {
	m := gomail.NewMsg(gomail.WithCharset(gomail.CharsetUTF8))
	if err := m.From(n.o.SMTP.From); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := m.To(to); err != nil {
		return fmt.Errorf("mail: to: %w", err)
	}
	m.Subject(r.Subject)
	m.SetMessageIDWithValue(id)
	m.SetDateWithValue(at)
	m.SetGenHeader(gomail.HeaderContentLang, r.Lang)
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetBodyString(gomail.TypeTextPlain, r.Text)
	m.AddAlternativeString(gomail.TypeTextHTML, r.HTML)
	c, err := n.client()
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("mail: send to %s: %w", to, err)
	}
	return nil
}

// Deliver implements notify.Notifier.
func (n *Notifier) Deliver(ctx context.Context, t store.Target, es []store.OutboxEntry, now time.Time) []notify.Result {
	out := make([]notify.Result, len(es))
	var r notify.Recipient
	if err := json.Unmarshal(t.Config, &r); err != nil || r.Address == "" {
		for i := range out {
			out[i] = notify.Result{Outcome: notify.Permanent, Err: fmt.Errorf("mail: recipient settings: %v", err)}
		}
		return out
	}
	lang := r.Language
	if lang == "" {
		lang = "en"
	}
	// Real-time entries grouped by subscription and severity.
	type key struct {
		sub string
		sev alert.Severity
	}
	groups := map[key][]int{}
	var order []key
	for i := range es {
		e := &es[i]
		switch {
		case e.Event == EventDaily:
			out[i] = n.daily(ctx, r, lang, e, now)
		case e.Event != store.EventAlertCreated && e.Event != store.EventSeverityRaised:
			out[i] = notify.Result{Outcome: notify.Skipped, Detail: "only new alerts and raised severities are mailed"}
		case notify.Suppressed(e):
			out[i] = notify.Result{Outcome: notify.Skipped, Detail: "suppressed"}
		case !slices.Contains(r.Kinds, notify.KindRealtime):
			out[i] = notify.Result{Outcome: notify.Skipped, Detail: "recipient takes no real-time mail"}
		case !r.Filter.Match(e.TenantID, e.SubscriptionID, e.AlertType, e.Severity):
			out[i] = notify.Result{Outcome: notify.Skipped, Detail: "outside the recipient's filter"}
		default:
			k := key{e.SubscriptionID, e.Severity}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], i)
		}
	}
	for _, k := range order {
		res := n.realtime(ctx, r, lang, es, groups[k], now)
		for _, i := range groups[k] {
			out[i] = res
		}
	}
	return out
}

// throttleKey names the mark of the last mail to a recipient for a
// subscription and severity.
func throttleKey(addr, sub string, sev alert.Severity) string {
	return "mail:" + strings.ToLower(addr) + "|" + sub + "|" + string(sev)
}

// realtime sends one mail for the entries idx (one subscription and
// severity), or defers them all to the end of the throttle interval.
func (n *Notifier) realtime(ctx context.Context, r notify.Recipient, lang string, es []store.OutboxEntry, idx []int, now time.Time) notify.Result {
	first := &es[idx[0]]
	mk := throttleKey(r.Address, first.SubscriptionID, first.Severity)
	last, err := n.o.Store.Mark(ctx, mk)
	if err != nil {
		return notify.Result{Outcome: notify.Retry, Err: err}
	}
	// Entries held back once are sent when they come due, even if another
	// part of the same release (another batch, another worker) was mailed
	// a moment before: no alert is held twice.
	heldOnce := false
	for _, i := range idx {
		heldOnce = heldOnce || es[i].Result == "throttled"
	}
	if iv := n.o.Throttle.For(first.Severity); !heldOnce && !last.IsZero() && now.Before(last.Add(iv)) {
		return notify.Result{Outcome: notify.Defer, Until: last.Add(iv), Detail: "throttled"}
	}
	var (
		alerts   []*alert.Alert
		seen     = map[string]bool{}
		heldBack int
	)
	for _, i := range idx {
		e := &es[i]
		if seen[e.AlertID] {
			continue
		}
		seen[e.AlertID] = true
		a, err := n.o.Store.GetAlert(ctx, e.AlertID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return notify.Result{Outcome: notify.Retry, Err: err}
		}
		if e.Result == "throttled" { // deferred by an earlier mail
			heldBack++
		}
		alerts = append(alerts, a)
	}
	if len(alerts) == 0 {
		return notify.Result{Outcome: notify.Skipped, Detail: "alert no longer stored"}
	}
	rendered, err := RenderRealtime(lang, alerts, heldBack, n.o.BaseURL, n.loc, n.ix)
	if err != nil {
		return notify.Result{Outcome: notify.Permanent, Err: err}
	}
	if err := n.send(ctx, r.Address, rendered, first.Key+"@vigil", now); err != nil {
		return notify.Result{Outcome: notify.Retry, Err: err}
	}
	if err := n.o.Store.SetMark(ctx, mk, now); err != nil {
		n.o.Logger.Warn("mail: cannot record the throttle mark", "error", err)
	}
	return notify.Result{Outcome: notify.Delivered, Detail: fmt.Sprintf("mailed %d alerts", len(alerts))}
}

// daily sends the daily summary of the recipient's unresolved alerts.
func (n *Notifier) daily(ctx context.Context, r notify.Recipient, lang string, e *store.OutboxEntry, now time.Time) notify.Result {
	if !slices.Contains(r.Kinds, notify.KindDaily) {
		return notify.Result{Outcome: notify.Skipped, Detail: "recipient takes no daily summary"}
	}
	alerts, err := n.unresolved(ctx, r.Filter, e.Created)
	if err != nil {
		return notify.Result{Outcome: notify.Retry, Err: err}
	}
	if len(alerts) == 0 {
		return notify.Result{Outcome: notify.Skipped, Detail: "no unresolved alerts"}
	}
	rendered, err := RenderDaily(lang, Summarise(alerts, n.ix, e.Created, n.o.Daily.LookBack), n.o.BaseURL, n.loc)
	if err != nil {
		return notify.Result{Outcome: notify.Permanent, Err: err}
	}
	if err := n.send(ctx, r.Address, rendered, e.Key+"@vigil", now); err != nil {
		return notify.Result{Outcome: notify.Retry, Err: err}
	}
	return notify.Result{Outcome: notify.Delivered, Detail: fmt.Sprintf("summary of %d alerts", len(alerts))}
}

// unresolved lists the alerts of the look-back before at, unresolved,
// matching the filter.
func (n *Notifier) unresolved(ctx context.Context, f notify.Filter, at time.Time) ([]*alert.Alert, error) {
	q := store.ListQuery{Statuses: []alert.Status{alert.StatusActive, alert.StatusInvestigating},
		DetectedFrom: at.Add(-n.o.Daily.LookBack)}
	if len(f.Tenants) > 0 {
		q.TenantIDs = f.Tenants
	}
	if len(f.Subscriptions) > 0 {
		q.SubscriptionIDs = f.Subscriptions
	}
	if len(f.Types) > 0 {
		q.Types = f.Types
	}
	list, err := n.o.Store.ListAlerts(ctx, q)
	if err != nil {
		return nil, err
	}
	out := list[:0]
	for _, a := range list {
		if f.Match(a.TenantID, a.SubscriptionID, a.Type, a.Severity) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Scheduler enqueues each day's summary for every recipient of daily
// mail, once the configured hour has come in the configured time zone.
type Scheduler struct {
	Outbox store.Outbox
	Daily  notify.Daily
	Now    func() time.Time
	Logger *slog.Logger
}

// Due enqueues the summaries due at now that are not enqueued yet and
// returns how many it enqueued. The entry of a day is found by its
// AlertID "daily:<date>", so a restart never enqueues a day twice.
func (s *Scheduler) Due(ctx context.Context, now time.Time) (int, error) {
	loc, err := time.LoadLocation(s.Daily.TimeZone)
	if err != nil {
		return 0, err
	}
	local := now.In(loc)
	slot := time.Date(local.Year(), local.Month(), local.Day(), s.Daily.Hour, 0, 0, 0, loc)
	if local.Before(slot) {
		return 0, nil
	}
	day := "daily:" + slot.Format("2006-01-02")
	targets, err := s.Outbox.ListTargets(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range targets {
		if t.Kind != Kind {
			continue
		}
		var r notify.Recipient
		if json.Unmarshal(t.Config, &r) != nil || !slices.Contains(r.Kinds, notify.KindDaily) {
			continue
		}
		have, err := s.Outbox.ListOutbox(ctx, store.OutboxQuery{TargetIDs: []string{t.ID}, AlertIDs: []string{day}, Limit: 1})
		if err != nil {
			return n, err
		}
		if len(have) > 0 {
			continue
		}
		// Once: instances sharing a store run a scheduler each.
		_, added, err := s.Outbox.EnqueueOnce(ctx, store.OutboxEntry{TargetID: t.ID, Event: EventDaily, AlertID: day, Created: now})
		if err != nil {
			return n, err
		}
		if added {
			n++
		}
	}
	return n, nil
}

// Run calls Due every minute until ctx is done.
func (s *Scheduler) Run(ctx context.Context) {
	now := s.Now
	if now == nil {
		now = time.Now
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if _, err := s.Due(ctx, now()); err != nil && ctx.Err() == nil && s.Logger != nil {
			s.Logger.Warn("mail: daily summary schedule", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
