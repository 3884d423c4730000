// Package intel loads threat-intelligence address lists — Tor exit lists,
// ipsum, plain address or CIDR blocklists — into an Index that answers "which
// lists name this address?" without allocating.
//
// Each list is loaded as a Source with a name, a category (tor, proxy,
// malicious, c2, mining-pool) and a date: the list's own header where it has
// one (ipsum's "# Last update: ..."), else a Last-Checked-At.txt file beside
// it, else the file's modification time. Exact addresses are kept in a map,
// networks in a bart routing table. Every address or network named by several
// lists (or lying inside a listed network) gets one merged []event.IntelHit,
// built once when the Index is built, so Lookup only returns a shared slice.
package intel

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gaissmai/bart"

	"github.com/vigil-security/vigil/event"
)

// Categories of list, as used in event.IntelHit.Category.
const (
	CategoryTor        = "tor"
	CategoryProxy      = "proxy"
	CategoryMalicious  = "malicious"
	CategoryC2         = "c2"
	CategoryMiningPool = "mining-pool"
)

// ValidCategory reports whether c is one of the Category constants.
func ValidCategory(c string) bool {
	switch c {
	case CategoryTor, CategoryProxy, CategoryMalicious, CategoryC2, CategoryMiningPool:
		return true
	}
	return false
}

// LastCheckedFile is the name of the file that, beside a list, says when
// the list was last checked (as in SecOps-Institute/Tor-IP-Addresses).
const LastCheckedFile = "Last-Checked-At.txt"

// MaxReportedErrors is how many malformed lines a Report keeps; the rest
// are only counted.
const MaxReportedErrors = 20

// Where a list's date came from, in Report.DateFrom.
const (
	DateFromSource      = "source" // Source.Date was set
	DateFromHeader      = "header" // the list's "# Last update:" comment
	DateFromLastChecked = LastCheckedFile
	DateFromModTime     = "mtime" // the file's modification time
	DateFromNone        = ""      // a reader without a date
)

// Source describes one list to load.
type Source struct {
	// Name is the list's name in hits; empty means the file name without
	// its extension ("ipsum", "tor-exit-nodes").
	Name string
	// Category is one of the Category constants.
	Category string
	// Path is the file to read (AddFile).
	Path string
	// MinScore drops entries whose score is below it. It applies only to
	// lines that carry a score (ipsum); plain lines are always kept.
	MinScore int
	// Date, when set, is the list's date and overrides every other.
	Date time.Time
}

// Report says what loading one list did.
type Report struct {
	Source   string
	Category string
	Path     string    // "" for a reader
	Date     time.Time // UTC; zero when unknown
	DateFrom string    // one of the DateFrom constants
	// DateNote explains a date source that was tried and rejected.
	DateNote  string
	Entries   int // addresses and networks loaded
	Skipped   int // entries dropped by MinScore
	Malformed int // malformed lines, all counted
	// Errors holds the first MaxReportedErrors malformed lines.
	Errors []*LineError
}

type srcInfo struct {
	name, category string
	date           time.Time
}

type entry struct {
	pfx   netip.Prefix
	src   int32
	score int32
}

// Builder collects lists and builds an Index. It is not safe for
// concurrent use.
type Builder struct {
	srcs    []srcInfo
	entries []entry
	reports []Report
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return &Builder{} }

// AddFile loads the list at src.Path. Malformed lines are counted and
// reported in the Report; the error is for a source that cannot be used at
// all: an unknown category, a file that cannot be read, or a file in which
// no line is valid.
func (b *Builder) AddFile(src Source) (Report, error) {
	if src.Path == "" {
		return Report{}, errors.New("intel: source has no path")
	}
	f, err := os.Open(src.Path)
	if err != nil {
		return Report{}, fmt.Errorf("intel: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Report{}, fmt.Errorf("intel: %w", err)
	}
	if st.IsDir() {
		return Report{}, fmt.Errorf("intel: %s is a directory, not a list", src.Path)
	}
	if src.Name == "" {
		base := filepath.Base(src.Path)
		src.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	return b.add(src, f, src.Path, func(rep *Report) {
		lc := filepath.Join(filepath.Dir(src.Path), LastCheckedFile)
		if t, err := readLastChecked(lc); err == nil {
			rep.Date, rep.DateFrom = t, DateFromLastChecked
			return
		} else if !errors.Is(err, os.ErrNotExist) {
			rep.DateNote = err.Error()
		}
		rep.Date, rep.DateFrom = st.ModTime().UTC(), DateFromModTime
	})
}

// AddReader loads a list from r. Its date is src.Date, else the list's
// header date, else unknown.
func (b *Builder) AddReader(src Source, r io.Reader) (Report, error) {
	if src.Name == "" {
		return Report{}, errors.New("intel: a list read from a reader needs a name")
	}
	return b.add(src, r, src.Name, nil)
}

// add parses one list; fallbackDate sets the date when neither the source
// nor the header gives one.
func (b *Builder) add(src Source, r io.Reader, file string, fallbackDate func(*Report)) (Report, error) {
	if !ValidCategory(src.Category) {
		return Report{}, fmt.Errorf("intel: %s: unknown category %q (want tor, proxy, malicious, c2 or mining-pool)", file, src.Category)
	}
	rep := Report{Source: src.Name, Category: src.Category, Path: src.Path}
	idx := int32(len(b.srcs))
	start := len(b.entries)
	h, err := Parse(file, r, func(e Entry) {
		if e.HasScore && e.Score < src.MinScore {
			rep.Skipped++
			return
		}
		rep.Entries++
		b.entries = append(b.entries, entry{pfx: e.Prefix, src: idx, score: int32(min(e.Score, 1<<31-1))})
	}, func(le *LineError) {
		rep.Malformed++
		if len(rep.Errors) < MaxReportedErrors {
			rep.Errors = append(rep.Errors, le)
		}
	})
	if err != nil {
		b.entries = b.entries[:start]
		return rep, fmt.Errorf("intel: read %w", err)
	}
	if rep.Entries == 0 && rep.Skipped == 0 && rep.Malformed > 0 {
		b.entries = b.entries[:start]
		return rep, fmt.Errorf("intel: %s: no valid line, %d malformed (first: %v)", file, rep.Malformed, rep.Errors[0])
	}
	switch {
	case !src.Date.IsZero():
		rep.Date, rep.DateFrom = src.Date.UTC(), DateFromSource
	case !h.Updated.IsZero():
		rep.Date, rep.DateFrom = h.Updated, DateFromHeader
	case fallbackDate != nil:
		fallbackDate(&rep)
	}
	b.srcs = append(b.srcs, srcInfo{name: src.Name, category: src.Category, date: rep.Date})
	b.reports = append(b.reports, rep)
	return rep, nil
}

// readLastChecked reads a Last-Checked-At.txt file.
func readLastChecked(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, err
	}
	t, err := ParseTime(strings.TrimSpace(string(b)))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Load builds an Index from files. It stops at the first source that
// cannot be used; malformed lines are only reported.
func Load(srcs ...Source) (*Index, []Report, error) {
	b := NewBuilder()
	for _, s := range srcs {
		if _, err := b.AddFile(s); err != nil {
			return nil, b.reports, err
		}
	}
	return b.Build(), b.reports, nil
}

// Index answers look-ups against the loaded lists. It is immutable and safe
// for concurrent use.
type Index struct {
	exact   map[netip.Addr]uint32
	nets    *bart.Table[uint32]
	sets    [][]event.IntelHit
	reports []Report
}

// Build merges everything added so far into an Index. The Builder may be
// reused afterwards; the Index does not share its memory.
func (b *Builder) Build() *Index {
	ix := &Index{reports: slices.Clone(b.reports)}
	in := interner{ix: ix, keys: map[string]uint32{}, srcs: b.srcs}

	single := 0
	for _, e := range b.entries {
		if e.pfx.IsSingleIP() {
			single++
		}
	}
	exact := make([]entry, 0, single)
	nets := make([]entry, 0, len(b.entries)-single)
	for _, e := range b.entries {
		if e.pfx.IsSingleIP() {
			exact = append(exact, e)
		} else {
			nets = append(nets, e)
		}
	}

	// Networks, shortest first, so that every supernet is in the table
	// (with its own supernets' hits merged) before its subnets.
	slices.SortFunc(nets, func(x, y entry) int {
		if c := x.pfx.Bits() - y.pfx.Bits(); c != 0 {
			return c
		}
		if c := x.pfx.Addr().Compare(y.pfx.Addr()); c != 0 {
			return c
		}
		return int(x.src - y.src)
	})
	if len(nets) > 0 {
		ix.nets = &bart.Table[uint32]{}
	}
	for i := 0; i < len(nets); {
		j := i + 1
		for j < len(nets) && nets[j].pfx == nets[i].pfx {
			j++
		}
		var parent []event.IntelHit
		if p, ok := ix.nets.LookupPrefix(nets[i].pfx); ok {
			parent = ix.sets[p]
		}
		ix.nets.Insert(nets[i].pfx, in.intern(nets[i:j], parent))
		i = j
	}

	slices.SortFunc(exact, func(x, y entry) int {
		if c := x.pfx.Addr().Compare(y.pfx.Addr()); c != 0 {
			return c
		}
		return int(x.src - y.src)
	})
	ix.exact = make(map[netip.Addr]uint32, len(exact))
	for i := 0; i < len(exact); {
		addr := exact[i].pfx.Addr()
		j := i + 1
		for j < len(exact) && exact[j].pfx.Addr() == addr {
			j++
		}
		var parent []event.IntelHit
		if ix.nets != nil {
			if p, ok := ix.nets.Lookup(addr); ok {
				parent = ix.sets[p]
			}
		}
		ix.exact[addr] = in.intern(exact[i:j], parent)
		i = j
	}
	return ix
}

// interner builds each distinct merged hit list once, so that the many
// addresses with the same hits (one list, one score) share a slice.
type interner struct {
	ix   *Index
	keys map[string]uint32
	srcs []srcInfo
	buf  []event.IntelHit
	key  []byte
}

// intern merges the hits of entries (sorted by source, one prefix) with
// the inherited hits of the enclosing network and returns the set's index.
// One hit is kept per list name and category: the highest score.
func (in *interner) intern(entries []entry, inherited []event.IntelHit) uint32 {
	hits := in.buf[:0]
	for _, e := range entries {
		s := in.srcs[e.src]
		hits = addHit(hits, event.IntelHit{Source: s.name, Category: s.category, Date: s.date, Score: int(e.score)})
	}
	for _, h := range inherited {
		hits = addHit(hits, h)
	}
	in.buf = hits
	key := in.key[:0]
	for _, h := range hits {
		key = append(key, h.Source...)
		key = append(key, 0)
		key = append(key, h.Category...)
		key = append(key, 0)
		key = strconv.AppendInt(key, h.Date.UnixNano(), 10)
		key = append(key, 0)
		key = strconv.AppendInt(key, int64(h.Score), 10)
		key = append(key, 1)
	}
	in.key = key
	if id, ok := in.keys[string(key)]; ok {
		return id
	}
	id := uint32(len(in.ix.sets))
	in.ix.sets = append(in.ix.sets, slices.Clip(slices.Clone(hits)))
	in.keys[string(key)] = id
	return id
}

// addHit appends h unless a hit of the same list and category is present,
// in which case the higher score (and later date) is kept.
func addHit(hits []event.IntelHit, h event.IntelHit) []event.IntelHit {
	for i := range hits {
		if hits[i].Source == h.Source && hits[i].Category == h.Category {
			if h.Score > hits[i].Score {
				hits[i].Score = h.Score
			}
			if h.Date.After(hits[i].Date) {
				hits[i].Date = h.Date
			}
			return hits
		}
	}
	return append(hits, h)
}

// Lookup returns every hit for addr: the lists that name it and those that
// name a network containing it. IPv4-mapped IPv6 addresses are looked up
// as IPv4 and zones are ignored. The slice is shared and must not be
// modified; it is nil when no list names addr. Lookup does not allocate.
func (ix *Index) Lookup(addr netip.Addr) []event.IntelHit {
	if !addr.IsValid() {
		return nil
	}
	addr = addr.Unmap()
	if addr.Zone() != "" {
		addr = addr.WithZone("")
	}
	if id, ok := ix.exact[addr]; ok {
		return ix.sets[id]
	}
	if ix.nets != nil {
		if id, ok := ix.nets.Lookup(addr); ok {
			return ix.sets[id]
		}
	}
	return nil
}

// Reports returns what loading each list did, in load order.
func (ix *Index) Reports() []Report { return ix.reports }

// Len returns the number of distinct listed addresses and networks.
func (ix *Index) Len() (addrs, nets int) {
	if ix.nets != nil {
		nets = ix.nets.Size()
	}
	return len(ix.exact), nets
}
