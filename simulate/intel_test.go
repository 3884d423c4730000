package simulate

import (
	"strconv"
	"strings"
	"testing"
)

// TestBuiltinAddressesAreInTheIntelLists: the attack addresses are what
// examples/intel says they are, and only that.
func TestBuiltinAddressesAreInTheIntelLists(t *testing.T) {
	in := intel(t)
	for _, a := range builtinTorExits {
		if !in.tor[a] || in.ipsum[a] > 0 {
			t.Errorf("Tor exit %s: on the Tor list %v, ipsum score %d (want listed, not in ipsum)", a, in.tor[a], in.ipsum[a])
		}
	}
	for _, a := range builtinBlocklisted {
		if in.tor[a] || in.ipsum[a] < 3 {
			t.Errorf("blocklisted %s: Tor exit %v, ipsum score %d (want not Tor, score >= 3)", a, in.tor[a], in.ipsum[a])
		}
	}
	if a := builtinLowScore; in.tor[a] || in.ipsum[a] != 1 {
		t.Errorf("low-score %s: Tor exit %v, ipsum score %d (want not Tor, score 1)", a, in.tor[a], in.ipsum[a])
	}
}

// TestNormalRangesAreClean: no address of the /24 of any range normal
// traffic (or the attacker's unlisted host) comes from is on either list,
// so only the scenarios' addresses can match intelligence.
func TestNormalRangesAreClean(t *testing.T) {
	in := intel(t)
	ranges := append(append(append([]string{}, officeRanges...), cloudRanges...), microsoftRanges...)
	ranges = append(ranges, attackerVPS[:strings.LastIndexByte(attackerVPS, '.')])
	for _, r := range ranges {
		for h := range 256 {
			a := r + "." + strconv.Itoa(h)
			if in.tor[a] || in.ipsum[a] > 0 {
				t.Errorf("%s (range %s.0/24) is on an intel list", a, r)
			}
		}
	}
}
