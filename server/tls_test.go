package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/server/tlsreload/tlstest"
)

// serveOn runs a server on ln and returns a function that stops it and
// returns Serve's result.
func serveOn(t *testing.T, cfg config.Config, ln net.Listener) (stop func() error) {
	t.Helper()
	s, err := New(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var result error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return stop
}

// peerName is the common name of the certificate the server at addr
// presents on a new connection.
func peerName(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	f := tlstest.Write(t, dir, "first", "127.0.0.1")
	cfg := baseConfig(t)
	cfg.Server.TLS = config.TLS{Cert: f.Cert, Key: f.Key}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	stop := serveOn(t, cfg, ln)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.Pool}, ForceAttemptHTTP2: true}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Errorf("GET /healthz over TLS: %s %s, want 200 over HTTP/2", resp.Proto, resp.Status)
	}
	// HTTP/1.1 clients are served too.
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.Pool}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	if resp, err = h1.Get("https://" + addr + "/healthz"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 1 {
		t.Errorf("GET /healthz over TLS, HTTP/1.1: %s %s", resp.Proto, resp.Status)
	}
	// Plain HTTP to the TLS port gets no API.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(b), `"status"`) {
			t.Errorf("plain HTTP to the TLS port: %s %s", resp.Status, b)
		}
	}

	// A renewed certificate is served without a restart.
	if got := peerName(t, addr, f.Pool); got != "first" {
		t.Fatalf("serving %q", got)
	}
	firstCA, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	f2 := tlstest.Write(t, dir, "second", "127.0.0.1")
	later := time.Now().Add(time.Minute)
	os.Chtimes(f.Cert, later, later)
	os.Chtimes(f.Key, later, later)
	both := f2.Pool.Clone()
	both.AppendCertsFromPEM(firstCA)
	waitFor(t, "the renewed certificate", func() bool { return peerName(t, addr, both) == "second" })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestServeRefusesTokensInClearText(t *testing.T) {
	for _, tc := range []struct {
		name          string
		listen        string
		allowInsecure bool
		refused       bool
	}{
		{"loopback, no TLS", "127.0.0.1:0", false, false},
		{"every address, no TLS", "0.0.0.0:0", false, true},
		{"every address, no TLS, allowed", "0.0.0.0:0", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.Server.AllowInsecure = tc.allowInsecure
			ln, err := net.Listen("tcp", tc.listen)
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().(*net.TCPAddr)
			stop := serveOn(t, cfg, ln)
			if tc.refused {
				if err := stop(); !errors.Is(err, ErrInsecure) {
					t.Fatalf("Serve returned %v, want ErrInsecure", err)
				}
				if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(addr.Port))); err == nil {
					c.Close()
					t.Error("the listener was left open")
				}
				return
			}
			resp, err := http.Get("http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(addr.Port)) + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("healthz: %s", resp.Status)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
