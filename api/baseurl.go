package api

import (
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
)

// links decides the scheme and host that @odata.context, @odata.nextLink and
// Location are built on. A client controls the Host header, so it is used
// only when no external URL is configured and the host is one the operator
// allowed (or a loopback name, which only this machine reaches); otherwise
// the configured listen address stands in.
type links struct {
	// fixed is Options.BaseURL without its trailing slash; empty when unset.
	fixed string
	// hosts are the allowed host names ("vigil.example.com": any port) and
	// host:port pairs, lower case.
	hosts map[string]bool
	// listen is host:port of the fallback, with an unspecified host replaced
	// by this machine's name.
	listen string
}

func newLinks(opts Options) *links {
	l := &links{fixed: strings.TrimRight(opts.BaseURL, "/"), hosts: map[string]bool{}}
	for _, h := range opts.AllowedHosts {
		l.hosts[strings.ToLower(strings.TrimSpace(h))] = true
	}
	l.listen = fallbackHost(opts.ListenAddr)
	return l
}

// fallbackHost returns the host:port links use when the request's Host may
// not be: the listen address, whose empty or unspecified host ("0.0.0.0",
// "::") is replaced by this machine's name.
func fallbackHost(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		host, port = listen, ""
	}
	if a, err := netip.ParseAddr(host); host == "" || (err == nil && a.IsUnspecified()) {
		host = "localhost"
		if name, err := os.Hostname(); err == nil && validHostName(name) {
			host = strings.ToLower(name)
		}
	}
	if port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}

// base returns the scheme and host (and the external URL's path, if it has
// one) of links in the answer to r.
func (l *links) base(r *http.Request) string {
	if l.fixed != "" {
		return l.fixed
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := l.listen
	if l.allowed(r.Host) {
		host = strings.ToLower(r.Host)
	}
	return scheme + "://" + host
}

// allowed reports whether the Host header host may appear in links: a
// well-formed host[:port] that is a loopback address, "localhost", or on
// the allow-list (by name, or by name and port).
func (l *links) allowed(host string) bool {
	name, port := host, ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		name, port = h, p
		if port == "" || strings.Trim(port, "0123456789") != "" || len(port) > 5 {
			return false
		}
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		name = host[1 : len(host)-1]
		if _, err := netip.ParseAddr(name); err != nil {
			return false
		}
	}
	if name == "" {
		return false
	}
	name = strings.ToLower(name)
	if a, err := netip.ParseAddr(name); err == nil {
		if a.Zone() != "" {
			return false
		}
		if a.IsLoopback() {
			return true
		}
	} else if !validHostName(name) {
		return false
	} else if name == "localhost" {
		return true
	}
	return l.hosts[name] || (port != "" && l.hosts[strings.ToLower(host)])
}

// validHostName reports whether s is a DNS name: dot-separated labels of
// letters, digits and hyphens.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
