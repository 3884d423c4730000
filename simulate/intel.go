package simulate

import (
	"fmt"
	"net/netip"
)

// Attack addresses, copied from examples/intel (see testdata/PROVENANCE.md);
// TestBuiltinAddressesAreInTheIntelLists checks them against those lists.
var (
	// builtinTorExits are IPv4 addresses of tor-exit-nodes.lst that ipsum.txt
	// does not name (so a Tor attack raises only the Tor alerts).
	builtinTorExits = []string{
		"193.163.170.149", "103.106.3.94", "38.242.239.62",
		"82.153.138.79", "185.183.159.40", "194.28.112.157",
	}
	// builtinBlocklisted are addresses ipsum.txt names with a score of at
	// least 3 that are not Tor exits.
	builtinBlocklisted = []string{
		"91.231.89.216", "185.242.226.85", "92.118.39.234",
		"139.59.42.255", "182.43.76.81", "211.240.117.75",
	}
	// builtinLowScore is an address ipsum.txt names with score 1 (one
	// list), not a Tor exit.
	builtinLowScore = "95.141.17.107"
)

// attackerVPS is a hosting address on no list: where an attacker's tooling
// runs when it does not hide behind Tor or a known-bad host. The intel test
// checks it is on neither list.
const attackerVPS = "146.190.22.57"

// checkAddresses validates the attack addresses of the options.
func checkAddresses(o EstateOptions) error {
	if len(o.TorExits) == 0 || len(o.Blocklisted) == 0 {
		return fmt.Errorf("simulate: need at least one Tor exit and one blocklisted address")
	}
	all := append(append([]string{o.LowScore}, o.TorExits...), o.Blocklisted...)
	for _, s := range all {
		if _, err := netip.ParseAddr(s); err != nil {
			return fmt.Errorf("simulate: attack address: %w", err)
		}
	}
	return nil
}

// Address ranges of the estate's normal traffic, none on the intel lists
// (TestNormalRangesAreClean checks every address of each /24).
var (
	// officeRanges are corporate egress ranges (first three octets; hosts
	// 1-14 are used), one per office.
	officeRanges = []string{"145.53.212", "210.148.59", "84.241.200"}
	// cloudRanges are where the estate's workloads run (Azure egress).
	cloudRanges = []string{"20.76.48", "51.124.60", "40.114.190", "52.174.88", "20.210.64", "104.40.128"}
	// microsoftRanges are where Microsoft's own services call from.
	microsoftRanges = []string{"20.38.128", "13.69.66"}
)
