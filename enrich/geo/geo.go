// Package geo looks up the location and network owner of IP addresses in
// MaxMind DB (mmdb) files: MaxMind's GeoIP2/GeoLite2 City, Country and ASN
// databases, and the flat layouts published by ip-location-db
// (country_code, city, latitude, longitude; autonomous_system_number,
// autonomous_system_organization).
//
// A DB decodes a data record once and caches the resulting event.Geo by the
// record's offset in the file, in a bounded map, so that repeated look-ups of
// addresses in the same network cost a tree walk and a map look-up and do not
// allocate. A Locator combines several DBs (typically a city database and an
// ASN database): each field comes from the first DB that has it.
package geo

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"sync"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/vigil-security/vigil/event"
)

// DefaultCacheSize is the number of decoded records a DB keeps when
// Options.CacheSize is zero.
const DefaultCacheSize = 1 << 16

// Options tunes how a DB is opened.
type Options struct {
	// CacheSize bounds the number of decoded records kept per DB; when the
	// cache is full an arbitrary entry is evicted. Zero means
	// DefaultCacheSize; a negative value disables the cache.
	CacheSize int
}

// DB is one open mmdb file. It is safe for concurrent use.
type DB struct {
	name     string
	reader   *maxminddb.Reader
	ipv4Only bool

	mu       sync.Mutex
	cache    map[uintptr]event.Geo
	maxCache int
}

// Open opens the mmdb file at path. The error names the path and what is
// wrong with the file.
func Open(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("geo: open: empty path")
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("geo: %w", err) // names the path
	}
	if st.IsDir() {
		return nil, fmt.Errorf("geo: open %s: is a directory, not an mmdb file", path)
	}
	r, err := maxminddb.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("geo: %w", err)
		}
		return nil, fmt.Errorf("geo: open %s: %w", path, err)
	}
	db, err := newDB(path, r, opts)
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	return db, nil
}

// OpenBytes opens an mmdb database held in memory; name is used in errors.
// The buffer must not be modified while the DB is in use.
func OpenBytes(name string, b []byte, opts Options) (*DB, error) {
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, fmt.Errorf("geo: open %s: %w", name, err)
	}
	return newDB(name, r, opts)
}

func newDB(name string, r *maxminddb.Reader, opts Options) (*DB, error) {
	md := &r.Metadata
	if md.IPVersion != 4 && md.IPVersion != 6 {
		return nil, fmt.Errorf("geo: open %s: metadata ip_version is %d, want 4 or 6", name, md.IPVersion)
	}
	if md.BinaryFormatMajorVersion != 2 {
		return nil, fmt.Errorf("geo: open %s: binary format version %d, want 2", name, md.BinaryFormatMajorVersion)
	}
	size := opts.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	db := &DB{name: name, reader: r, ipv4Only: md.IPVersion == 4, maxCache: size}
	if size > 0 {
		db.cache = make(map[uintptr]event.Geo, min(size, 1024))
	}
	return db, nil
}

// Name returns the path or name the DB was opened with.
func (d *DB) Name() string { return d.name }

// DatabaseType returns the database_type from the file's metadata, e.g.
// "GeoLite2-City" or "city ipv4".
func (d *DB) DatabaseType() string { return d.reader.Metadata.DatabaseType }

// Lookup returns what the DB records for addr and whether it has a record.
// IPv4-mapped IPv6 addresses are looked up as IPv4; an IPv6 address in an
// IPv4-only database is simply not found. An error means the record could
// not be decoded (a corrupt file).
func (d *DB) Lookup(addr netip.Addr) (event.Geo, bool, error) {
	if !addr.IsValid() {
		return event.Geo{}, false, nil
	}
	addr = addr.Unmap()
	if d.ipv4Only && !addr.Is4() {
		return event.Geo{}, false, nil
	}
	res := d.reader.Lookup(addr)
	if err := res.Err(); err != nil {
		return event.Geo{}, false, fmt.Errorf("geo: %s: look up %s: %w", d.name, addr, err)
	}
	if !res.Found() {
		return event.Geo{}, false, nil
	}
	off := res.Offset()
	if d.cache != nil {
		d.mu.Lock()
		g, ok := d.cache[off]
		d.mu.Unlock()
		if ok {
			return g, true, nil
		}
	}
	var rec record
	if err := res.Decode(&rec); err != nil {
		return event.Geo{}, false, fmt.Errorf("geo: %s: decode record for %s at offset %d: %w", d.name, addr, off, err)
	}
	g := rec.geo()
	if d.cache != nil {
		d.mu.Lock()
		if len(d.cache) >= d.maxCache {
			for k := range d.cache {
				delete(d.cache, k)
				break
			}
		}
		d.cache[off] = g
		d.mu.Unlock()
	}
	return g, true, nil
}

// Close releases the file.
func (d *DB) Close() error {
	if err := d.reader.Close(); err != nil {
		return fmt.Errorf("geo: close %s: %w", d.name, err)
	}
	return nil
}

// Locator answers look-ups from several DBs at once. It is safe for
// concurrent use.
type Locator struct {
	dbs []*DB
}

// NewLocator combines dbs; earlier DBs take precedence field by field.
func NewLocator(dbs ...*DB) *Locator {
	return &Locator{dbs: dbs}
}

// OpenLocator opens every path in order. On error the DBs already opened
// are closed.
func OpenLocator(paths []string, opts Options) (*Locator, error) {
	l := &Locator{dbs: make([]*DB, 0, len(paths))}
	for _, p := range paths {
		db, err := Open(p, opts)
		if err != nil {
			_ = l.Close()
			return nil, err
		}
		l.dbs = append(l.dbs, db)
	}
	return l, nil
}

// DBs returns the Locator's databases in precedence order.
func (l *Locator) DBs() []*DB { return l.dbs }

// Lookup merges what every DB knows about addr: each field is taken from the
// first DB that has it. A DB that fails to decode is skipped and its error
// returned alongside what the others found.
func (l *Locator) Lookup(addr netip.Addr) (event.Geo, error) {
	var out event.Geo
	var firstErr error
	for _, db := range l.dbs {
		g, ok, err := db.Lookup(addr)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if ok {
			merge(&out, &g)
		}
	}
	return out, firstErr
}

// Close closes every DB and returns the first error.
func (l *Locator) Close() error {
	var first error
	for _, db := range l.dbs {
		if err := db.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// merge fills the empty fields of dst from src.
func merge(dst, src *event.Geo) {
	if dst.Country == "" {
		dst.Country = src.Country
	}
	if dst.City == "" {
		dst.City = src.City
	}
	if !dst.HasLocation && src.HasLocation {
		dst.Lat, dst.Lon, dst.HasLocation = src.Lat, src.Lon, true
		dst.AccuracyKm = src.AccuracyKm
	}
	if dst.ASN == 0 {
		dst.ASN = src.ASN
	}
	if dst.ASOrg == "" {
		dst.ASOrg = src.ASOrg
	}
}
