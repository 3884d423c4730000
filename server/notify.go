package server

// Notifications (issue 10): the outbox dispatcher runs beside the
// pipeline. Everything lives in package notify; the server only starts it
// after the HTTP listener is up and stops it after the pipeline has stored
// its last alerts.

import (
	"context"
	"net"
	"net/netip"

	"github.com/vigil-security/vigil/notify/service"
	"github.com/vigil-security/vigil/notify/webhook"
)

// startNotify starts notifications unless notify.enabled is false; the
// returned function stops them. Links name ln's address (https when tls)
// unless notify.baseURL is set.
func (s *Server) startNotify(ctx context.Context, ln net.Listener, tls bool) (func(), error) {
	if !s.cfg.Notify.Enabled {
		return func() {}, nil
	}
	if s.cfg.Notify.BaseURL == "" {
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && ap.Addr().IsUnspecified() {
			s.log.Warn("notify.baseURL is not set: links in webhooks and mails name the listen address, which readers cannot reach",
				"listen", ln.Addr().String())
		}
	}
	base := "http://" + ln.Addr().String()
	if tls {
		base = "https://" + ln.Addr().String()
	}
	// A shutdown asked for during start still gets a started (and then
	// stopped) service, not a failed start.
	svc, err := service.Start(context.WithoutCancel(ctx), service.Options{
		Config: s.cfg.Notify, Store: s.st, Directory: &s.cfg.Directory, BaseURL: base,
		Registerer: s.m.Registry, Logger: s.log, Now: s.now,
	})
	if err != nil {
		return nil, err
	}
	return svc.Stop, nil
}

// webhookGuard checks webhook URLs registered through the API against
// notify.allowTargets (validated with the configuration).
func (s *Server) webhookGuard() *webhook.Guard {
	g, err := service.Guard(s.cfg.Notify)
	if err != nil {
		return &webhook.Guard{}
	}
	return g
}
