// Package service assembles notifications for `vigil serve` from the
// configuration: it writes the configured targets (webhooks, mail
// recipients, export sinks) into the outbox's target table, replacing the
// configured ones of the previous start and leaving API registrations
// alone, builds the notifiers, and runs the dispatcher, the daily summary
// scheduler and the pruning of delivered entries until stopped.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/notify/dispatch"
	"github.com/vigil-security/vigil/notify/export"
	"github.com/vigil-security/vigil/notify/mail"
	"github.com/vigil-security/vigil/notify/webhook"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// Store is what notifications need of the store.
type Store interface {
	store.Outbox
	GetAlert(ctx context.Context, id string) (*alert.Alert, error)
	ListAlerts(ctx context.Context, q store.ListQuery) ([]*alert.Alert, error)
}

// Options configures the service.
type Options struct {
	Config    notify.Config
	Store     Store
	Directory *tenancy.Directory
	// BaseURL is used when Config.BaseURL is empty.
	BaseURL    string
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Extra notifiers (mail, export), beside the webhook one.
	Extra []notify.Notifier
	// Targets are extra configured targets (mail recipients, export sinks)
	// to write beside the configured webhooks.
	Targets []store.Target
	// Tasks run beside the dispatcher until Stop (the daily summary's
	// scheduler).
	Tasks []func(ctx context.Context)
}

// Service is running notifications.
type Service struct {
	d       *dispatch.Dispatcher
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closers []func()
}

// Guard returns the webhook address guard of the configuration.
func Guard(c notify.Config) (*webhook.Guard, error) {
	return webhook.NewGuard(c.AllowTargets)
}

// WebhookTargets returns the configured webhooks as targets.
func WebhookTargets(c notify.Config) ([]store.Target, error) {
	var out []store.Target
	for _, w := range c.Webhooks {
		secret := w.Secret
		if w.SecretFile != "" {
			b, err := os.ReadFile(w.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("notify: webhook %s: %w", w.Name, err)
			}
			secret = strings.TrimSpace(string(b))
		}
		b, err := json.Marshal(webhook.Config{URL: w.URL, Events: w.Events, Secret: secret, Payload: w.Payload,
			Language: w.Language, Tenants: w.Filter.Tenants, Subscriptions: w.Filter.Subscriptions, Types: w.Filter.Types,
			MinSeverity: w.Filter.MinSeverity})
		if err != nil {
			return nil, err
		}
		out = append(out, store.Target{ID: "webhook:config:" + w.Name, Kind: webhook.Kind, Source: "config", Config: b})
	}
	return out, nil
}

// SyncTargets makes the configured targets in the store exactly want:
// configured targets no longer wanted are deleted (their pending entries
// failed, visibly), the others written. API registrations stay.
func SyncTargets(ctx context.Context, st store.Outbox, want []store.Target, now time.Time) error {
	have, err := st.ListTargets(ctx)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, t := range want {
		keep[t.ID] = true
		t.Source = "config"
		if err := st.PutTarget(ctx, t); err != nil {
			return err
		}
	}
	for _, t := range have {
		if t.Source == "config" && !keep[t.ID] {
			if err := st.DeleteTarget(ctx, t.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// Start syncs the targets and starts delivering.
func Start(ctx context.Context, o Options) (*Service, error) {
	c := o.Config
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	base := strings.TrimRight(c.BaseURL, "/")
	if base == "" {
		base = strings.TrimRight(o.BaseURL, "/")
	}
	guard, err := Guard(c)
	if err != nil {
		return nil, err
	}
	wh, err := webhook.New(webhook.Options{Alerts: o.Store, BaseURL: base, Guard: guard, Timeout: c.Dispatch.Timeout,
		Scope: webhook.DirectoryScope(tenancy.NewIndex(o.Directory))})
	if err != nil {
		return nil, err
	}
	targets, err := WebhookTargets(c)
	if err != nil {
		return nil, err
	}
	targets = append(targets, o.Targets...)
	extra := o.Extra
	tasks := o.Tasks
	if c.SMTP.Host != "" {
		mn, err := mail.New(mail.Options{SMTP: c.SMTP, Store: o.Store, Directory: o.Directory, BaseURL: base,
			Throttle: c.Throttle, Daily: c.Daily, Logger: o.Logger})
		if err != nil {
			return nil, err
		}
		extra = append(extra, mn)
		for _, r := range c.Recipients {
			t, err := mail.Target(r)
			if err != nil {
				return nil, err
			}
			targets = append(targets, t)
		}
		sch := &mail.Scheduler{Outbox: o.Store, Daily: c.Daily, Now: o.Now, Logger: o.Logger}
		tasks = append(tasks, sch.Run)
	}
	exp, closers, err := exporter(c.Export, o.Store)
	if err != nil {
		return nil, err
	}
	if exp != nil {
		extra = append(extra, exp.n)
		targets = append(targets, exp.targets...)
	}
	closeAll := func() {
		for _, f := range closers {
			f()
		}
	}
	if err := SyncTargets(ctx, o.Store, targets, o.Now()); err != nil {
		closeAll()
		return nil, fmt.Errorf("notify: targets: %w", err)
	}
	d, err := dispatch.New(dispatch.Options{
		Outbox: o.Store, Notifiers: append([]notify.Notifier{wh}, extra...),
		Lease: c.Dispatch.Lease, Batch: c.Dispatch.Batch, Workers: c.Dispatch.Workers, MaxAttempts: c.Dispatch.MaxAttempts,
		Backoff: dispatch.Backoff{Base: c.Dispatch.BackoffBase, Max: c.Dispatch.BackoffMax, Factor: 2, Jitter: 0.5},
		Now:     o.Now, Registerer: o.Registerer, Logger: o.Logger,
	})
	if err != nil {
		closeAll()
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Service{d: d, cancel: cancel, closers: closers}
	s.wg.Go(func() { _ = d.Run(rctx) })
	s.wg.Go(func() { prune(rctx, o.Store, c.Dispatch.Retention, o.Now, o.Logger) })
	for _, f := range tasks {
		s.wg.Go(func() { f(rctx) })
	}
	o.Logger.Info("notifications on", "targets", len(targets), "baseURL", base)
	return s, nil
}

// Stop stops delivering and waits for the batches in flight.
func (s *Service) Stop() {
	s.cancel()
	s.wg.Wait()
	for _, f := range s.closers {
		f()
	}
}

// exported is the export notifier and its targets.
type exported struct {
	n       *export.Notifier
	targets []store.Target
}

// exporter opens the configured export sinks; nil when none is.
func exporter(c notify.Export, st Store) (*exported, []func(), error) {
	sinks := map[string]export.Sink{}
	var (
		targets []store.Target
		closers []func()
	)
	fail := func(err error) (*exported, []func(), error) {
		for _, f := range closers {
			f()
		}
		return nil, nil, err
	}
	if f := c.File; f != nil {
		w, err := export.OpenFile(f.Path, f.MaxBytes, f.MaxFiles)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, func() { _ = w.Close() })
		sinks["export:file"] = export.FileSink{W: w}
		t, err := export.Target("export:file", f.Filter)
		if err != nil {
			return fail(err)
		}
		targets = append(targets, t)
	}
	if k := c.Kafka; k != nil {
		pass := k.Password
		if k.PasswordFile != "" {
			b, err := os.ReadFile(k.PasswordFile)
			if err != nil {
				return fail(fmt.Errorf("notify: export kafka password: %w", err))
			}
			pass = strings.TrimSpace(string(b))
		}
		ks, err := export.NewKafkaSink(*k, pass)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, ks.Close)
		sinks["export:kafka"] = ks
		t, err := export.Target("export:kafka", k.Filter)
		if err != nil {
			return fail(err)
		}
		targets = append(targets, t)
	}
	if len(sinks) == 0 {
		return nil, nil, nil
	}
	n, err := export.New(export.Options{Alerts: st, Sinks: sinks})
	if err != nil {
		return fail(err)
	}
	return &exported{n: n, targets: targets}, closers, nil
}

// prune deletes delivered entries older than the retention, hourly.
func prune(ctx context.Context, st store.Outbox, keep time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := st.PruneOutbox(ctx, now().Add(-keep)); err != nil && ctx.Err() == nil {
			log.Warn("notify: prune outbox", "error", err)
		} else if n > 0 {
			log.Debug("notify: pruned delivered entries", "entries", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
