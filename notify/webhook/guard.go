package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// deniedPrefixes are the addresses a webhook may not reach unless the
// configuration allows them: this machine, private networks, link-local
// (the cloud metadata services live there), carrier-grade NAT, Azure's
// host endpoint, and addresses no server has.
var deniedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("168.63.129.16/32"), // Azure WireServer
	netip.MustParsePrefix("169.254.0.0/16"),   // link-local; 169.254.169.254 metadata
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
	netip.MustParsePrefix("fd00:ec2::254/128"), // AWS metadata over IPv6 (inside fc00::/7; named for the reader)
}

// ErrRefused: the address is internal and not allowed.
var ErrRefused = errors.New("webhook: address refused")

// Guard decides which addresses webhooks may connect to.
type Guard struct {
	allow []netip.Prefix
}

// NewGuard returns a guard that refuses the internal ranges except those
// inside one of the allowed CIDRs (notify.allowTargets).
func NewGuard(allow []string) (*Guard, error) {
	g := &Guard{}
	for _, s := range allow {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("webhook: allowTargets %q: %w", s, err)
		}
		g.allow = append(g.allow, p.Masked())
	}
	return g, nil
}

// Permitted returns nil when a connection to addr may be made, else why not.
func (g *Guard) Permitted(addr netip.Addr) error {
	addr = addr.Unmap()
	for _, p := range g.allow {
		if p.Contains(addr) {
			return nil
		}
	}
	if !addr.IsValid() {
		return fmt.Errorf("%w: no address", ErrRefused)
	}
	for _, p := range deniedPrefixes {
		if p.Contains(addr) {
			return fmt.Errorf("%w: %s is internal (%s); allow it with notify.allowTargets", ErrRefused, addr, p)
		}
	}
	return nil
}

// control is the dialer's hook: it runs after name resolution, on the
// address actually dialled, so a name that resolves to an internal address
// (DNS rebinding included) is refused.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: dial %q: %w", address, err)
	}
	return g.Permitted(ap.Addr())
}

// Dialer returns a dialer that enforces the guard.
func (g *Guard) Dialer() *net.Dialer {
	return &net.Dialer{Control: g.control}
}

// CheckURL checks a webhook URL when it is registered: absolute http or
// https, a host, no credentials, and — when the host is an address — one the
// guard permits. Names are checked when dialled.
func (g *Guard) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("webhook URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("webhook URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("webhook URL %q: no host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("webhook URL: credentials in the URL are not allowed")
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("webhook URL %q: no fragment allowed", raw)
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if err := g.Permitted(a); err != nil {
			return nil, err
		}
	} else if h := strings.ToLower(u.Hostname()); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		if err := g.Permitted(netip.MustParseAddr("127.0.0.1")); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// dialContext is the transport's dial function.
func (g *Guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return g.Dialer().DialContext(ctx, network, addr)
}
