package intel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// MaxLineLength is the longest line the parser accepts; a longer line is
// reported as malformed and skipped.
const MaxLineLength = 4096

// Entry is one address or network read from a list.
type Entry struct {
	// Prefix is the network, masked; a single address is a /32 or /128.
	// IPv4-mapped IPv6 addresses and networks are converted to IPv4.
	Prefix netip.Prefix
	// Score is the number after the address (ipsum's count of blocklists),
	// 0 when the line has none.
	Score int
	// HasScore reports whether the line carried a score.
	HasScore bool
	// Line is the 1-based line number.
	Line int
}

// Header is what the comment lines at the top of a list say about it.
type Header struct {
	// Updated is the time of a "# Last update: ..." comment (ipsum), zero
	// when there is none.
	Updated time.Time
}

// LineError is a malformed line.
type LineError struct {
	File string // the list's file name or name
	Line int    // 1-based
	Text string // the line, truncated to 80 bytes
	Err  error
}

// Error formats the error as file:line: reason: "text".
func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: %v: %q", e.File, e.Line, e.Err, e.Text)
}

// Unwrap returns the reason.
func (e *LineError) Unwrap() error { return e.Err }

var (
	errLineTooLong = errors.New("line too long")
	errBadScore    = errors.New("score is not a non-negative integer")
	errTrailing    = errors.New("unexpected text after the score")
)

// Parse reads a list in any of the supported line formats: one address or
// CIDR a line (Tor exit lists, plain blocklists), optionally followed by
// whitespace and a count (ipsum), optionally followed by a # comment; blank
// lines and lines starting with # are skipped. Each entry is passed to emit;
// each malformed line to bad, after which parsing goes on. name is used in
// LineErrors. The error is a read error of r.
func Parse(name string, r io.Reader, emit func(Entry), bad func(*LineError)) (Header, error) {
	var h Header
	br := bufio.NewReaderSize(r, MaxLineLength)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			bad(&LineError{File: name, Line: n, Text: clip(line), Err: errLineTooLong})
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				return h, nil
			}
			if err != nil {
				return h, fmt.Errorf("%s:%d: %w", name, n, err)
			}
			continue
		}
		if err != nil && err != io.EOF {
			return h, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		parseLine(name, n, line, &h, emit, bad)
		if err == io.EOF {
			return h, nil
		}
	}
}

// parseLine handles one line without its terminator.
func parseLine(name string, n int, line []byte, h *Header, emit func(Entry), bad func(*LineError)) {
	s := strings.TrimSpace(string(line))
	if s == "" {
		return
	}
	if s[0] == '#' {
		if v, ok := cutFold(strings.TrimSpace(s[1:]), "last update:"); ok && h.Updated.IsZero() {
			t, err := ParseTime(v)
			if err != nil {
				bad(&LineError{File: name, Line: n, Text: clip(line), Err: fmt.Errorf("header date: %w", err)})
				return
			}
			h.Updated = t
		}
		return
	}
	field, rest := cutSpace(s)
	pfx, err := parsePrefix(field)
	if err != nil {
		bad(&LineError{File: name, Line: n, Text: clip(line), Err: err})
		return
	}
	e := Entry{Prefix: pfx, Line: n}
	if rest != "" && rest[0] != '#' {
		num, after := cutSpace(rest)
		score, err := strconv.Atoi(num)
		if err != nil || score < 0 {
			bad(&LineError{File: name, Line: n, Text: clip(line), Err: errBadScore})
			return
		}
		if after != "" && after[0] != '#' {
			bad(&LineError{File: name, Line: n, Text: clip(line), Err: errTrailing})
			return
		}
		e.Score, e.HasScore = score, true
	}
	emit(e)
}

// parsePrefix reads an address or a CIDR and returns it as a masked prefix,
// IPv4-mapped forms converted to IPv4.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.IndexByte(s, '/') < 0 {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("address %q has a zone", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("IPv4-mapped prefix %q is wider than ::ffff:0:0/96", s)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// cutSpace splits s at its first run of spaces or tabs.
func cutSpace(s string) (field, rest string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

// cutFold reports whether s starts with prefix, ignoring case, and returns
// the rest trimmed.
func cutFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(s[len(prefix):]), true
}

// clip returns the line without its terminator, at most 80 bytes, for
// error reports.
func clip(line []byte) string {
	line = bytes.TrimRight(line, "\r\n")
	if len(line) > 80 {
		line = line[:80]
	}
	return string(line)
}

// zoneOffsets maps the time-zone abbreviations that list metadata uses to
// their UTC offsets in seconds, so that a date reads the same on every
// machine (time.Parse alone only knows the local zone's abbreviations).
// Ambiguous abbreviations take their most common reading: IST is India
// Standard Time (+05:30; not Irish or Israel time), CST is US Central
// Standard Time, BST is British Summer Time. An abbreviation not listed here
// is read as UTC.
var zoneOffsets = map[string]int{
	"UTC": 0, "GMT": 0, "UT": 0, "WET": 0,
	"WEST": 1 * 3600, "BST": 1 * 3600, "CET": 1 * 3600, "MET": 1 * 3600,
	"CEST": 2 * 3600, "MEST": 2 * 3600, "EET": 2 * 3600, "SAST": 2 * 3600,
	"EEST": 3 * 3600, "MSK": 3 * 3600,
	"PKT": 5 * 3600, "IST": 5*3600 + 1800,
	"ICT": 7 * 3600, "WIB": 7 * 3600,
	"SGT": 8 * 3600, "HKT": 8 * 3600, "AWST": 8 * 3600,
	"JST": 9 * 3600, "KST": 9 * 3600,
	"ACST": 9*3600 + 1800, "AEST": 10 * 3600, "AEDT": 11 * 3600,
	"NZST": 12 * 3600, "NZDT": 13 * 3600,
	"HST": -10 * 3600, "AKST": -9 * 3600, "AKDT": -8 * 3600,
	"PST": -8 * 3600, "PDT": -7 * 3600, "MST": -7 * 3600, "MDT": -6 * 3600,
	"CST": -6 * 3600, "CDT": -5 * 3600, "EST": -5 * 3600, "EDT": -4 * 3600,
	"BRT": -3 * 3600, "ART": -3 * 3600,
}

// timeLayouts are the date forms list metadata uses: ipsum's header
// (RFC 1123 with a numeric zone), date(1)'s default output as in
// Last-Checked-At.txt, and RFC 3339.
var timeLayouts = []string{
	time.RFC1123Z,
	time.RFC1123,
	time.UnixDate,
	time.RFC3339,
	time.ANSIC,
}

// ParseTime reads a list date such as "Sat, 22 Aug 2026 03:00:29 +0200" or
// "Tue Feb 27 09:27:52 IST 2024" and returns it in UTC. Zone
// abbreviations are resolved with a fixed table (see zoneOffsets), never with
// the machine's local zone.
func ParseTime(s string) (time.Time, error) {
	s = strings.Join(strings.Fields(s), " ")
	for _, layout := range timeLayouts {
		t, err := time.ParseInLocation(layout, s, time.UTC)
		if err != nil {
			continue
		}
		if strings.Contains(layout, "MST") {
			abbr, off := t.Zone()
			if known, ok := zoneOffsets[strings.ToUpper(abbr)]; ok && off == 0 {
				off = known
			}
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.FixedZone(abbr, off))
		}
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("unrecognised date %q", s)
}
