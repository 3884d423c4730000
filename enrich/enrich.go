// Package enrich fills the enrichment fields of events once, before
// detection: the location and network owner of the caller's address (from
// mmdb files, package geo) and the threat-intel lists that name it (Tor exit
// lists and blocklists, package intel).
package enrich

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vigil-security/vigil/enrich/geo"
	"github.com/vigil-security/vigil/enrich/intel"
	"github.com/vigil-security/vigil/event"
)

// Blocklist is one threat-intel list file and what it lists.
type Blocklist struct {
	Path string
	// Category is one of intel's categories; empty means malicious.
	Category string
	// Name is the source name in hits; empty means the file name without
	// its extension.
	Name string
}

// ParseBlocklist reads the value of a --blocklist flag: FILE, or
// CATEGORY=FILE where CATEGORY is tor, proxy, malicious, c2 or mining-pool
// (e.g. "c2=feodo.txt"). A FILE alone is a list of malicious addresses.
func ParseBlocklist(s string) (Blocklist, error) {
	if cat, path, ok := strings.Cut(s, "="); ok && intel.ValidCategory(cat) {
		if path == "" {
			return Blocklist{}, fmt.Errorf("blocklist %q: no file after %s=", s, cat)
		}
		return Blocklist{Path: path, Category: cat}, nil
	}
	if s == "" {
		return Blocklist{}, errors.New("blocklist: empty file name")
	}
	return Blocklist{Path: s, Category: intel.CategoryMalicious}, nil
}

// Options lists the files an Enricher is built from; every field may be
// empty.
type Options struct {
	// GeoIP are mmdb files (city, country, ASN), in precedence order.
	GeoIP []string
	// Tor are Tor exit lists, one address a line.
	Tor []string
	// Blocklists are other lists, each with its category.
	Blocklists []Blocklist
	// MinScore drops entries of scored lists (ipsum's count of blocklists)
	// below it; unscored lists are unaffected.
	MinScore int
	// GeoCacheSize bounds each mmdb's cache of decoded records; 0 means
	// geo.DefaultCacheSize.
	GeoCacheSize int
}

// Enricher fills event.Op's Geo and Intel. Either source may be nil, in
// which case that field is left zero. A nil *Enricher enriches nothing. It is
// safe for concurrent use.
type Enricher struct {
	geo   *geo.Locator
	intel *intel.Index

	geoErrs atomic.Uint64
	errMu   sync.Mutex
	lastErr error
}

// New returns an Enricher over already opened sources.
func New(g *geo.Locator, ix *intel.Index) *Enricher {
	return &Enricher{geo: g, intel: ix}
}

// Open opens the files named in opts. Malformed lines in intel lists do not
// fail it; see IntelReports.
func Open(opts Options) (*Enricher, error) {
	e := &Enricher{}
	if len(opts.GeoIP) > 0 {
		l, err := geo.OpenLocator(opts.GeoIP, geo.Options{CacheSize: opts.GeoCacheSize})
		if err != nil {
			return nil, fmt.Errorf("enrich: --geoip: %w", err)
		}
		e.geo = l
	}
	if len(opts.Tor) == 0 && len(opts.Blocklists) == 0 {
		return e, nil
	}
	b := intel.NewBuilder()
	for _, p := range opts.Tor {
		if _, err := b.AddFile(intel.Source{Path: p, Category: intel.CategoryTor, MinScore: opts.MinScore}); err != nil {
			_ = e.Close()
			return nil, fmt.Errorf("enrich: --tor: %w", err)
		}
	}
	for _, bl := range opts.Blocklists {
		cat := bl.Category
		if cat == "" {
			cat = intel.CategoryMalicious
		}
		if _, err := b.AddFile(intel.Source{Path: bl.Path, Category: cat, Name: bl.Name, MinScore: opts.MinScore}); err != nil {
			_ = e.Close()
			return nil, fmt.Errorf("enrich: --blocklist: %w", err)
		}
	}
	e.intel = b.Build()
	return e, nil
}

// Enrich sets op.Geo and op.Intel from op.CallerIP. Geo is looked up only
// for public unicast addresses (not private, loopback, link-local,
// multicast or unspecified); intel for every valid address. An invalid
// CallerIP ("<Redacted>", a CIDR) clears both. Enrich does not allocate.
func (e *Enricher) Enrich(op *event.Op) {
	op.Geo, op.Intel = e.LookupAddr(op.CallerIP)
}

// LookupAddr returns the geo data and intel hits for one address, as Enrich
// would set them; flows use it for both ends. It does not allocate.
func (e *Enricher) LookupAddr(addr netip.Addr) (event.Geo, event.Intel) {
	if e == nil || !addr.IsValid() {
		return event.Geo{}, event.Intel{}
	}
	addr = addr.Unmap()
	var g event.Geo
	if e.geo != nil && Locatable(addr) {
		var err error
		if g, err = e.geo.Lookup(addr); err != nil {
			e.recordErr(err)
		}
	}
	var in event.Intel
	if e.intel != nil {
		in.Hits = e.intel.Lookup(addr)
	}
	return g, in
}

// Locatable reports whether addr is worth a geo look-up: a valid global
// unicast address that is not private (RFC 1918, RFC 4193).
func Locatable(addr netip.Addr) bool {
	addr = addr.Unmap()
	return addr.IsGlobalUnicast() && !addr.IsPrivate()
}

func (e *Enricher) recordErr(err error) {
	e.geoErrs.Add(1)
	e.errMu.Lock()
	e.lastErr = err
	e.errMu.Unlock()
}

// GeoErrors returns how many geo look-ups failed to decode a record (a
// corrupt database) and the last such error.
func (e *Enricher) GeoErrors() (uint64, error) {
	if e == nil {
		return 0, nil
	}
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return e.geoErrs.Load(), e.lastErr
}

// IntelReports says what loading each intel list did (entries, date and its
// origin, malformed lines), for logs and status pages.
func (e *Enricher) IntelReports() []intel.Report {
	if e == nil || e.intel == nil {
		return nil
	}
	return e.intel.Reports()
}

// Geo returns the geo Locator, or nil.
func (e *Enricher) Geo() *geo.Locator {
	if e == nil {
		return nil
	}
	return e.geo
}

// Intel returns the intel Index, or nil.
func (e *Enricher) Intel() *intel.Index {
	if e == nil {
		return nil
	}
	return e.intel
}

// Close releases the geo databases.
func (e *Enricher) Close() error {
	if e == nil || e.geo == nil {
		return nil
	}
	return e.geo.Close()
}
