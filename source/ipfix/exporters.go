package ipfix

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// maxRefusalSources bounds the exporter addresses whose refused datagrams
// are counted one by one; the others are counted together (Refusals'
// other).
const maxRefusalSources = 256

// Refusal is how many datagrams of one source address the exporter table
// refused (over MaxExporters).
type Refusal struct {
	Source netip.Addr `json:"source"`
	Count  uint64     `json:"count"`
}

// ParseExporters reads an allow-list of exporters: addresses ("192.0.2.1")
// or networks ("192.0.2.0/24"), IPv4 or IPv6.
func ParseExporters(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("exporter %d: %q is not an address or network", i+1, s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// allowed reports whether addr is on the allow-list of exporters.
func (d *Decoder) allowed(addr netip.Addr) bool {
	for _, p := range d.opts.AllowedExporters {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// refuse counts a datagram of a new session the table has no room for.
func (d *Decoder) refuse(addr netip.Addr, st *Stats) {
	st.DroppedExporters++
	if d.refused == nil {
		d.refused = make(map[netip.Addr]uint64)
	}
	if _, ok := d.refused[addr]; ok || len(d.refused) < maxRefusalSources {
		d.refused[addr]++
		return
	}
	d.refusedOther++
}

// Refusals returns the datagrams refused per source address, most first
// (up to 256 sources), and those of further sources.
func (d *Decoder) Refusals() (bySource []Refusal, other uint64) {
	bySource = make([]Refusal, 0, len(d.refused))
	for a, n := range d.refused {
		bySource = append(bySource, Refusal{Source: a, Count: n})
	}
	slices.SortFunc(bySource, func(x, y Refusal) int {
		if c := cmp.Compare(y.Count, x.Count); c != 0 {
			return c
		}
		return x.Source.Compare(y.Source)
	})
	return bySource, d.refusedOther
}
