package network

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// maxPoolLine is the longest line ReadPools accepts.
const maxPoolLine = 64 << 10

// ReadPools reads a mining-pool list for CryptoMining.Pools: one entry a
// line, an address, a CIDR or "address:port" (the form of Maltrail's
// crypto_mining trail, stamparm/maltrail; the port is dropped, as a pool
// answers on several), "[v6]:port" too. Blank lines and '#' comments are
// skipped; so are host names, URLs and other lines that name no address
// (flows carry addresses), which are counted in skipped. Entries come back
// normalised ("192.0.2.0/24", "198.51.100.7") and without duplicates. name
// labels errors.
func ReadPools(r io.Reader, name string) (pools []string, skipped int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxPoolLine)
	seen := map[netip.Prefix]bool{}
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = strings.TrimSpace(s[:i])
		}
		if s == "" {
			continue
		}
		if f := strings.Fields(s); len(f) > 0 {
			s = f[0]
		}
		p, ok := poolPrefix(s)
		if !ok {
			skipped++
			continue
		}
		if !seen[p] {
			seen[p] = true
			if p.IsSingleIP() {
				pools = append(pools, p.Addr().String())
			} else {
				pools = append(pools, p.String())
			}
		}
	}
	if err := sc.Err(); err != nil {
		return pools, skipped, fmt.Errorf("mining pools %s: %w", name, err)
	}
	return pools, skipped, nil
}

// poolPrefix reads an address, a CIDR or an address with a port.
func poolPrefix(s string) (netip.Prefix, bool) {
	if p, err := parsePrefix(s); err == nil {
		return p, true
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Addr().Zone() != "" {
		return netip.Prefix{}, false
	}
	a := ap.Addr().Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}
