package assets

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Header is the inventory file's required first line.
const Header = "ip,resource_id,subscription_id,valid_from,valid_to"

// ErrInventory is wrapped by every error about the content of an
// inventory file.
var ErrInventory = errors.New("invalid inventory")

// InventoryError says where an inventory file is wrong.
type InventoryError struct {
	File         string
	Line, Column int // 1-based; Column counts bytes, as encoding/csv does
	Msg          string
}

// Error formats the error as "file:line:column: message".
func (e *InventoryError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Unwrap returns ErrInventory.
func (e *InventoryError) Unwrap() error { return ErrInventory }

// LoadFile reads the inventory file at path into a new Index.
func LoadFile(path string) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	defer f.Close()
	x := New()
	if err := x.Load(f, path); err != nil {
		return nil, err
	}
	return x, nil
}

// Load adds the intervals of an inventory to the index: CSV (RFC 4180)
// whose first line is exactly Header, then one row per interval:
//
//	ip               one IPv4 or IPv6 address (no prefix, no zone)
//	resource_id      the resource that held it (required)
//	subscription_id  its subscription; empty means the one in resource_id
//	valid_from       RFC 3339 time the resource started holding it; empty: always had
//	valid_to         RFC 3339 time it stopped (exclusive); empty: still holds it
//
// Load stops at the first error, an *InventoryError (wrapping
// ErrInventory) with the file, line and column, having added the rows
// before it.
func (x *Index) Load(r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); len(bom) == 3 && string(bom) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // checked here, for a clearer message
	cr.ReuseRecord = true
	bad := func(line, col int, format string, args ...any) error {
		return &InventoryError{File: name, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
	}
	rec, err := cr.Read()
	if err == io.EOF {
		return bad(1, 1, "empty file, want the header %q", Header)
	}
	if err != nil {
		return csvError(name, err)
	}
	if got := strings.Join(rec, ","); got != Header {
		return bad(1, 1, "header %q, want %q", got, Header)
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != 5 {
			return bad(line, 1, "%d fields, want 5 (%s)", len(rec), Header)
		}
		pos := func(i int) (int, int) { return cr.FieldPos(i) }
		addr, err := netip.ParseAddr(rec[0])
		if err != nil || addr.Zone() != "" {
			l, c := pos(0)
			if strings.Contains(rec[0], "/") {
				return bad(l, c, "ip %q: want one address, not a prefix", rec[0])
			}
			return bad(l, c, "ip %q: not an IP address", rec[0])
		}
		id := rec[1]
		if strings.TrimSpace(id) == "" {
			l, c := pos(1)
			return bad(l, c, "resource_id is empty")
		}
		sub := strings.ToLower(rec[2])
		if sub == "" {
			if sub = subscriptionOf(id); sub == "" {
				l, c := pos(2)
				return bad(l, c, "subscription_id is empty and resource_id %q names none", id)
			}
		}
		var when [2]time.Time
		for i := range when {
			s := rec[3+i]
			if s == "" {
				continue
			}
			if when[i], err = time.Parse(time.RFC3339Nano, s); err != nil {
				l, c := pos(3 + i)
				return bad(l, c, "%s %q: not an RFC 3339 time", strings.Split(Header, ",")[3+i], s)
			}
		}
		if err := x.Add(addr, Resource{ID: id, Subscription: sub}, when[0], when[1]); err != nil {
			l, c := pos(4)
			return bad(l, c, "valid_to %q is not after valid_from %q", rec[4], rec[3])
		}
	}
}

// csvError converts an encoding/csv error into an *InventoryError.
func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &InventoryError{File: name, Line: pe.Line, Column: pe.Column, Msg: pe.Err.Error()}
	}
	return fmt.Errorf("assets: read %s: %w", name, err)
}
