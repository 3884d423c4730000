package detecttest

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/event"
)

// Intel is a small address-to-hits index built from intelligence list
// files, standing in for the enrichment stage in detection tests.
type Intel map[netip.Addr][]event.IntelHit

// Dates of the list snapshots in /work/shared/data/intel (Last-Checked-At.txt
// for the Tor list, the "Last update" header of ipsum.txt).
var (
	TorListDate   = time.Date(2024, 2, 27, 0, 0, 0, 0, time.UTC)
	IpsumListDate = time.Date(2026, 8, 22, 0, 0, 0, 0, time.UTC)
)

// TorHit and IpsumHit are the hits the two lists give.
func TorHit() event.IntelHit {
	return event.IntelHit{Source: "tor-exit-nodes", Category: "tor", Date: TorListDate}
}

// IpsumHit is an ipsum entry with its number of blocklists.
func IpsumHit(score int) event.IntelHit {
	return event.IntelHit{Source: "ipsum", Category: "malicious", Date: IpsumListDate, Score: score}
}

// Add reads one list: an address a line, optionally followed by whitespace
// and a score (ipsum's number of blocklists); '#' starts a comment line.
// Every address gets hit, with the line's score when it has one.
func (in Intel) Add(r io.Reader, name string, hit event.IntelHit) error {
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		fields := strings.Fields(text)
		addr, err := netip.ParseAddr(fields[0])
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		h := hit
		if len(fields) > 1 {
			if h.Score, err = strconv.Atoi(fields[1]); err != nil {
				return fmt.Errorf("%s:%d: score: %w", name, line, err)
			}
		}
		in[addr.Unmap()] = append(in[addr.Unmap()], h)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// AddFile reads one list file (see Add).
func (in Intel) AddFile(path string, hit event.IntelHit) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("intel list: %w", err)
	}
	defer f.Close()
	return in.Add(f, path, hit)
}

// LoadIntel reads a Tor exit list and an ipsum list.
func LoadIntel(torPath, ipsumPath string) (Intel, error) {
	in := Intel{}
	if err := in.AddFile(torPath, TorHit()); err != nil {
		return nil, err
	}
	if err := in.AddFile(ipsumPath, IpsumHit(0)); err != nil {
		return nil, err
	}
	return in, nil
}

// Lookup returns the hits of addr (nil when none): what enrichment would
// put in event.Op.Intel.Hits.
func (in Intel) Lookup(addr string) []event.IntelHit {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return nil
	}
	return in[a.Unmap()]
}
