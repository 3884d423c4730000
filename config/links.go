package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// validateLinks checks server.externalURL and server.allowedHosts.
func (s *Server) validateLinks() []error {
	var errs []error
	if s.ExternalURL != "" {
		if err := checkExternalURL(s.ExternalURL); err != nil {
			errs = append(errs, fmt.Errorf("server.externalURL %q: %w", s.ExternalURL, err))
		}
	}
	for i, h := range s.AllowedHosts {
		if err := checkHost(h); err != nil {
			errs = append(errs, fmt.Errorf("server.allowedHosts[%d] %q: %w", i, h, err))
		}
	}
	return errs
}

// checkExternalURL accepts an absolute http or https URL with a host and
// no user, query or fragment.
func checkExternalURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("must be an absolute http or https URL (such as https://vigil.example.com)")
	case u.Opaque != "" || u.Host == "":
		return fmt.Errorf("has no host")
	case u.User != nil:
		return fmt.Errorf("must not carry a user name or password")
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("must not have a query")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("must not have a fragment")
	}
	return checkHost(u.Host)
}

// checkHost accepts a host name or IP address, optionally with a port.
func checkHost(h string) error {
	if strings.ContainsAny(h, "/?#@") {
		return fmt.Errorf("must be a host name or IP address, optionally with :port, without scheme or path")
	}
	name := h
	if host, port, err := net.SplitHostPort(h); err == nil {
		name = host
		if port == "" || strings.Trim(port, "0123456789") != "" || len(port) > 5 {
			return fmt.Errorf("bad port %q", port)
		}
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		name = h[1 : len(h)-1]
	}
	if a, err := netip.ParseAddr(name); err == nil {
		if a.Zone() != "" {
			return fmt.Errorf("an address with a zone cannot be a host")
		}
		return nil
	}
	if !hostName(name) {
		return fmt.Errorf("must be a host name or IP address, optionally with :port")
	}
	return nil
}

// hostName reports whether s is a DNS name: dot-separated labels of
// letters, digits, hyphens and underscores.
func hostName(s string) bool {
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
