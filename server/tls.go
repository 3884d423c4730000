package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/vigil-security/vigil/server/tlsreload"
)

// ErrInsecure is returned by Serve for a listener on an address other
// than the loopback without TLS, unless server.allowInsecure is set: API
// clients send bearer tokens, which must not cross a network in clear
// text (Microsoft's Graph SDKs send them over https only).
var ErrInsecure = errors.New("refusing to serve bearer tokens over plain HTTP on a non-loopback address: " +
	"set server.tls.cert and server.tls.key (--tls-cert, --tls-key), listen on 127.0.0.1, " +
	"or set server.allowInsecure (--allow-insecure) when a proxy in front terminates TLS")

// httpServer builds the server's http.Server for ln: with TLS (HTTP/2 and
// HTTP/1.1, certificates reloaded when their files change) when configured;
// plain HTTP only on the loopback or when allowed.
func (s *Server) httpServer(ln net.Listener) (*http.Server, error) {
	addr := ln.Addr().String()
	tlsCfg := s.cfg.Server.TLS
	loopback := isLoopback(addr)
	if !tlsCfg.Enabled() && !loopback && !s.cfg.Server.AllowInsecure {
		return nil, fmt.Errorf("listen %s: %w", addr, ErrInsecure)
	}
	if !tlsCfg.Enabled() && !loopback {
		s.log.Warn("serving plain HTTP on a non-loopback address (server.allowInsecure): bearer tokens cross the network in clear text unless a proxy in front terminates TLS",
			"listen", addr)
	}
	if !s.cfg.Server.Push.TokenRequired(s.cfg.Server.Listen) && !loopback {
		s.log.Warn("the push endpoint accepts data from anyone who can reach this address; set server.push.requireToken",
			"listen", addr)
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if tlsCfg.Enabled() {
		certs, err := tlsreload.New(tlsCfg.Cert, tlsCfg.Key, tlsreload.Options{
			OnError: func(err error) { s.log.Error("tls: keeping the certificate in use", "err", err) },
		})
		if err != nil {
			return nil, err
		}
		srv.TLSConfig = certs.Config()
	}
	return srv, nil
}
