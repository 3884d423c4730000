package notify

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
)

// Config is the notify section of the configuration.
type Config struct {
	// Enabled runs the dispatcher in `vigil serve` (default true; it idles
	// while no target exists).
	Enabled bool `yaml:"enabled"`
	// BaseURL is where readers reach the API and dashboard, for the links
	// in webhooks and mails ("https://vigil.example.com"); empty means
	// http://<server.listen>.
	BaseURL string `yaml:"baseURL"`
	// AllowTargets are CIDRs webhooks may reach although internal
	// (loopback, private, link-local, metadata addresses are refused
	// otherwise).
	AllowTargets []string `yaml:"allowTargets"`
	// Dispatch tunes delivery.
	Dispatch Dispatch `yaml:"dispatch"`
	// Webhooks are webhook targets from the configuration (API
	// registrations are kept in the database).
	Webhooks []Webhook `yaml:"webhooks"`
	// SMTP is the mail server; mail is off while Host is empty.
	SMTP SMTP `yaml:"smtp"`
	// Recipients of mail.
	Recipients []Recipient `yaml:"recipients"`
	// Throttle is the shortest time between two real-time mails to one
	// recipient for one subscription and severity; alerts held back meanwhile
	// go into the next mail.
	Throttle Throttle `yaml:"throttle"`
	// Daily is when the daily summary goes out.
	Daily Daily `yaml:"daily"`
	// Export is the continuous export.
	Export Export `yaml:"export"`
}

// Dispatch tunes the dispatcher.
type Dispatch struct {
	Workers     int           `yaml:"workers"`
	Batch       int           `yaml:"batch"`
	Lease       time.Duration `yaml:"lease"`
	MaxAttempts int           `yaml:"maxAttempts"`
	BackoffBase time.Duration `yaml:"backoffBase"`
	BackoffMax  time.Duration `yaml:"backoffMax"`
	// Timeout bounds one webhook request.
	Timeout time.Duration `yaml:"timeout"`
	// Retention is how long delivered entries are kept (failed ones stay).
	Retention time.Duration `yaml:"retention"`
}

// Webhook is a webhook target from the configuration.
type Webhook struct {
	// Name identifies it (target "webhook:config:<name>").
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Events: azure-fraud-event-detected, vigil-alert-status-changed.
	Events []string `yaml:"events"`
	// Secret keys the signature; SecretFile reads it from a file instead.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secretFile"`
	// Payload is "event" (Partner Center's, default) or "alert".
	Payload  string `yaml:"payload"`
	Language string `yaml:"language"`
	Filter   Filter `yaml:",inline"`
}

// Filter selects alerts for a target; empty fields select all.
type Filter struct {
	Tenants       []string       `yaml:"tenants"`
	Subscriptions []string       `yaml:"subscriptions"`
	Types         []string       `yaml:"types"`
	MinSeverity   alert.Severity `yaml:"minSeverity"`
}

// Match reports whether an alert of the tenant, subscription, type and
// severity passes the filter.
func (f *Filter) Match(tenant, subscription, typ string, sev alert.Severity) bool {
	return (len(f.Tenants) == 0 || slices.Contains(f.Tenants, tenant)) &&
		(len(f.Subscriptions) == 0 || slices.Contains(f.Subscriptions, subscription)) &&
		(len(f.Types) == 0 || slices.Contains(f.Types, typ)) &&
		(f.MinSeverity == "" || sev.Rank() >= f.MinSeverity.Rank())
}

func (f *Filter) validate(where string) []error {
	if f.MinSeverity != "" && f.MinSeverity.Rank() < 0 {
		return []error{fmt.Errorf("%s.minSeverity must be informational, low, medium or high, got %q", where, f.MinSeverity)}
	}
	return nil
}

// SMTP is the mail server.
type SMTP struct {
	Host string `yaml:"host"`
	// Port defaults to 587 (submission with STARTTLS).
	Port int `yaml:"port"`
	// TLS: "starttls" (default: required), "opportunistic" (STARTTLS when
	// offered), "implicit" (TLS from the start, port 465), "none".
	TLS                string        `yaml:"tls"`
	Username           string        `yaml:"username"`
	Password           string        `yaml:"password"`
	PasswordFile       string        `yaml:"passwordFile"`
	From               string        `yaml:"from"`
	InsecureSkipVerify bool          `yaml:"insecureSkipVerify"`
	Timeout            time.Duration `yaml:"timeout"`
}

// Mail kinds of a recipient.
const (
	KindRealtime = "realtime"
	KindDaily    = "daily"
)

// Recipient is one mail address and what it wants.
type Recipient struct {
	Address string `yaml:"address"`
	// Language: en, ja or nl.
	Language string `yaml:"language"`
	// Kinds: realtime (a mail per alert, throttled), daily (the summary).
	Kinds  []string `yaml:"kinds"`
	Filter Filter   `yaml:",inline"`
}

// Throttle is the least time between two real-time mails per recipient,
// subscription and severity, as Defender for Cloud spaces its mails.
type Throttle struct {
	High   time.Duration `yaml:"high"`
	Medium time.Duration `yaml:"medium"`
	Low    time.Duration `yaml:"low"`
}

// For returns the interval of a severity (informational as low).
func (t Throttle) For(s alert.Severity) time.Duration {
	switch s {
	case alert.SeverityHigh:
		return t.High
	case alert.SeverityMedium:
		return t.Medium
	}
	return t.Low
}

// Daily is when the daily summary is sent.
type Daily struct {
	// Hour of the day (0-23) in TimeZone.
	Hour int `yaml:"hour"`
	// TimeZone is an IANA name ("Europe/Amsterdam", "Asia/Tokyo").
	TimeZone string `yaml:"timeZone"`
	// LookBack is how old the unresolved alerts summarised may be (60 days).
	LookBack time.Duration `yaml:"lookBack"`
}

// Export is the continuous export.
type Export struct {
	File  *FileExport  `yaml:"file"`
	Kafka *KafkaExport `yaml:"kafka"`
}

// FileExport writes JSON lines to a file that rotates by size.
type FileExport struct {
	Path     string `yaml:"path"`
	MaxBytes int64  `yaml:"maxBytes"`
	MaxFiles int    `yaml:"maxFiles"`
	Filter   Filter `yaml:",inline"`
}

// KafkaExport produces JSON records to a Kafka topic (or an Event Hub).
type KafkaExport struct {
	Brokers []string `yaml:"brokers"`
	Topic   string   `yaml:"topic"`
	// TLS, and SASL PLAIN with Username/Password (Event Hubs: username
	// "$ConnectionString", password the connection string).
	TLS          bool   `yaml:"tls"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"passwordFile"`
	Filter       Filter `yaml:",inline"`
}

// DefaultConfig is the notify section's defaults.
func DefaultConfig() Config {
	return Config{
		Enabled: true,
		Dispatch: Dispatch{Workers: 4, Batch: 256, Lease: 2 * time.Minute, MaxAttempts: 30,
			BackoffBase: 2 * time.Second, BackoffMax: 15 * time.Minute, Timeout: 10 * time.Second, Retention: 7 * 24 * time.Hour},
		SMTP:     SMTP{Port: 587, TLS: "starttls", Timeout: 30 * time.Second},
		Throttle: Throttle{High: 6 * time.Hour, Medium: 12 * time.Hour, Low: 24 * time.Hour},
		Daily:    Daily{Hour: 8, TimeZone: "UTC", LookBack: 60 * 24 * time.Hour},
	}
}

var webhookEvents = []string{"azure-fraud-event-detected", "vigil-alert-status-changed"}

// Validate checks the section.
func (c *Config) Validate() error {
	var errs []error
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("notify.baseURL must be an http(s) URL, got %q", c.BaseURL))
		}
	}
	for i, s := range c.AllowTargets {
		if _, err := netip.ParsePrefix(strings.TrimSpace(s)); err != nil {
			errs = append(errs, fmt.Errorf("notify.allowTargets[%d]: %w", i, err))
		}
	}
	d := c.Dispatch
	if d.Workers < 1 || d.Batch < 1 || d.Lease <= 0 || d.MaxAttempts < 1 || d.BackoffBase <= 0 || d.BackoffMax < d.BackoffBase || d.Timeout <= 0 || d.Timeout >= d.Lease {
		errs = append(errs, errors.New("notify.dispatch: workers, batch, maxAttempts must be >= 1; lease, backoffBase, timeout > 0; backoffMax >= backoffBase; timeout < lease"))
	}
	names := map[string]bool{}
	for i, w := range c.Webhooks {
		where := fmt.Sprintf("notify.webhooks[%d]", i)
		if w.Name == "" || names[w.Name] {
			errs = append(errs, fmt.Errorf("%s.name must be set and unique", where))
		}
		names[w.Name] = true
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s.url must be an http(s) URL, got %q", where, w.URL))
		}
		if len(w.Events) == 0 {
			errs = append(errs, fmt.Errorf("%s.events must name at least one of %q", where, webhookEvents))
		}
		for _, e := range w.Events {
			if !slices.Contains(webhookEvents, e) {
				errs = append(errs, fmt.Errorf("%s.events: unknown event %q; known: %q", where, e, webhookEvents))
			}
		}
		if (w.Secret == "") == (w.SecretFile == "") {
			errs = append(errs, fmt.Errorf("%s: set exactly one of secret and secretFile", where))
		}
		if w.Payload != "" && w.Payload != "event" && w.Payload != "alert" {
			errs = append(errs, fmt.Errorf("%s.payload must be event or alert, got %q", where, w.Payload))
		}
		errs = append(errs, checkLanguage(where, w.Language, true)...)
		errs = append(errs, w.Filter.validate(where)...)
	}
	if c.SMTP.Host != "" {
		switch c.SMTP.TLS {
		case "starttls", "opportunistic", "implicit", "none":
		default:
			errs = append(errs, fmt.Errorf("notify.smtp.tls must be starttls, opportunistic, implicit or none, got %q", c.SMTP.TLS))
		}
		if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
			errs = append(errs, fmt.Errorf("notify.smtp.port must be 1-65535, got %d", c.SMTP.Port))
		}
		if c.SMTP.From == "" {
			errs = append(errs, errors.New("notify.smtp.from is empty"))
		}
		if c.SMTP.Password != "" && c.SMTP.PasswordFile != "" {
			errs = append(errs, errors.New("notify.smtp: set at most one of password and passwordFile"))
		}
	} else if len(c.Recipients) > 0 {
		errs = append(errs, errors.New("notify.recipients need notify.smtp.host"))
	}
	for i, r := range c.Recipients {
		where := fmt.Sprintf("notify.recipients[%d]", i)
		if !strings.Contains(r.Address, "@") {
			errs = append(errs, fmt.Errorf("%s.address %q is not a mail address", where, r.Address))
		}
		errs = append(errs, checkLanguage(where, r.Language, true)...)
		if len(r.Kinds) == 0 {
			errs = append(errs, fmt.Errorf("%s.kinds must name realtime and/or daily", where))
		}
		for _, k := range r.Kinds {
			if k != KindRealtime && k != KindDaily {
				errs = append(errs, fmt.Errorf("%s.kinds: unknown kind %q (realtime, daily)", where, k))
			}
		}
		errs = append(errs, r.Filter.validate(where)...)
	}
	if c.Throttle.High < 0 || c.Throttle.Medium < 0 || c.Throttle.Low < 0 {
		errs = append(errs, errors.New("notify.throttle intervals must be >= 0"))
	}
	if c.Daily.Hour < 0 || c.Daily.Hour > 23 {
		errs = append(errs, fmt.Errorf("notify.daily.hour must be 0-23, got %d", c.Daily.Hour))
	}
	if _, err := time.LoadLocation(c.Daily.TimeZone); err != nil {
		errs = append(errs, fmt.Errorf("notify.daily.timeZone: %w", err))
	}
	if c.Daily.LookBack <= 0 {
		errs = append(errs, fmt.Errorf("notify.daily.lookBack must be > 0, got %s", c.Daily.LookBack))
	}
	if f := c.Export.File; f != nil {
		if f.Path == "" || f.MaxBytes < 0 || f.MaxFiles < 0 {
			errs = append(errs, errors.New("notify.export.file: path is required; maxBytes and maxFiles must be >= 0"))
		}
		errs = append(errs, f.Filter.validate("notify.export.file")...)
	}
	if k := c.Export.Kafka; k != nil {
		if len(k.Brokers) == 0 || k.Topic == "" {
			errs = append(errs, errors.New("notify.export.kafka: brokers and topic are required"))
		}
		errs = append(errs, k.Filter.validate("notify.export.kafka")...)
	}
	return errors.Join(errs...)
}

func checkLanguage(where, l string, emptyOK bool) []error {
	if (l == "" && emptyOK) || l == "en" || l == "ja" || l == "nl" {
		return nil
	}
	return []error{fmt.Errorf("%s.language must be en, ja or nl, got %q", where, l)}
}
