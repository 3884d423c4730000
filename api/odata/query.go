package odata

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"net/url"
	"strconv"
	"strings"
)

// Order is one $orderby item.
type Order struct {
	Prop string // canonical property name
	Desc bool
}

// Query is a parsed and checked set of query options for one collection
// request.
type Query struct {
	// Filter is the checked $filter, nil when absent.
	Filter Expr
	// OrderBy holds the $orderby items followed by the schema's key
	// (ascending) unless the key was already listed, so the order is total
	// and paging is stable.
	OrderBy []Order
	// Top is the page size: $top, or the schema's default.
	Top int
	// Skip is the number of rows to skip: $skip, or the offset carried by
	// $skiptoken.
	Skip int
	// Count is $count=true: the response carries @odata.count.
	Count bool
	// Select lists the canonical names of the $select properties in the
	// order given, without duplicates; nil when absent or "*" (all).
	Select []string

	hash uint64 // of the canonical filter and order, bound into skip tokens
}

// SQL is a query compiled for one dialect.
type SQL struct {
	// Where is a boolean expression without the WHERE keyword, "" when
	// there is no filter. It is safe to join with AND as it is.
	Where string
	// Args are the arguments of Where's placeholders, in order.
	Args []any
	// OrderBy is the ORDER BY list without the keywords, never empty.
	OrderBy string
	// Limit and Offset are Top and Skip.
	Limit, Offset int
}

// Names of the query options, without "$".
const (
	optFilter    = "filter"
	optOrderBy   = "orderby"
	optTop       = "top"
	optSkip      = "skip"
	optCount     = "count"
	optSelect    = "select"
	optSkipToken = "skiptoken"
)

var unsupportedOpts = map[string]bool{
	"expand": true, "search": true, "format": true, "apply": true, "compute": true,
	"index": true, "levels": true, "schemaversion": true, "deltatoken": true, "id": true,
}

// maxSkip bounds $skip and skip-token offsets.
const maxSkip = 1 << 30

// ParseQuery reads the system query options from a request's query:
// $filter, $orderby, $top, $skip, $count, $select and $skiptoken. As OData
// 4.01 allows, option names are case-insensitive and the "$" may be left
// out. Other OData options ($expand, $search, ...) and unknown "$" options
// are errors; parameters without "$" that are not options are ignored.
// Errors are *Error.
func ParseQuery(s *Schema, v url.Values) (*Query, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	opts := map[string]string{}
	for k, vals := range v {
		name := strings.ToLower(strings.TrimPrefix(k, "$"))
		switch name {
		case optFilter, optOrderBy, optTop, optSkip, optCount, optSelect, optSkipToken:
		default:
			if strings.HasPrefix(k, "$") {
				if unsupportedOpts[name] {
					return nil, newErr(k, -1, ReasonUnsupported, "query option %s is not supported", k)
				}
				return nil, newErr(k, -1, ReasonUnsupported, "unknown query option %s", k)
			}
			continue
		}
		if _, dup := opts[name]; dup || len(vals) != 1 {
			return nil, newErr("$"+name, -1, ReasonSyntax, "given more than once")
		}
		opts[name] = vals[0]
	}
	q := &Query{Top: s.defaultTop()}
	if f, ok := opts[optFilter]; ok {
		e, err := ParseFilter(s, f)
		if err != nil {
			return nil, err
		}
		q.Filter = e
	}
	var err *Error
	if q.OrderBy, err = parseOrderBy(s, opts); err != nil {
		return nil, err
	}
	if t, ok := opts[optTop]; ok {
		if q.Top, err = parseCount("$top", t, s.maxTop()); err != nil {
			return nil, err
		}
	}
	if t, ok := opts[optSkip]; ok {
		if q.Skip, err = parseCount("$skip", t, maxSkip); err != nil {
			return nil, err
		}
	}
	if c, ok := opts[optCount]; ok {
		switch c {
		case "true":
			q.Count = true
		case "false":
		default:
			return nil, newErr("$count", 0, ReasonSyntax, "must be true or false, not %q", c)
		}
	}
	if sel, ok := opts[optSelect]; ok {
		if q.Select, err = parseSelect(s, sel); err != nil {
			return nil, err
		}
	}
	q.hash = q.digest()
	if tok, ok := opts[optSkipToken]; ok {
		if _, both := opts[optSkip]; both {
			return nil, newErr("$skiptoken", -1, ReasonSkipToken, "cannot be combined with $skip")
		}
		if q.Skip, err = q.decodeSkipToken(tok); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// parseCount parses a non-negative decimal integer no larger than max.
func parseCount(opt, v string, max int) (int, *Error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max || v == "" || v[0] == '+' || v[0] == '-' {
		return 0, newErr(opt, 0, ReasonSyntax, "must be a whole number from 0 to %d, not %q", max, v)
	}
	return n, nil
}

// fields splits v at commas, returning each trimmed item with its offset.
func fields(v string) (items []string, offs []int) {
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == ',' {
			item := v[start:i]
			lead := len(item) - len(strings.TrimLeft(item, " \t"))
			items = append(items, strings.TrimSpace(item))
			offs = append(offs, start+lead)
			start = i + 1
		}
	}
	return items, offs
}

func parseSelect(s *Schema, v string) ([]string, *Error) {
	items, offs := fields(v)
	var out []string
	seen := map[string]bool{}
	for i, it := range items {
		if it == "" {
			return nil, newErr("$select", offs[i], ReasonSyntax, "empty item")
		}
		if it == "*" {
			if len(items) > 1 {
				return nil, newErr("$select", offs[i], ReasonSyntax, "* cannot be combined with property names")
			}
			return nil, nil
		}
		name, _, ok := s.lookup(it)
		if !ok {
			return nil, newErr("$select", offs[i], ReasonUnknownProperty, "unknown property %q", it)
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out, nil
}

func parseOrderBy(s *Schema, opts map[string]string) ([]Order, *Error) {
	var out []Order
	seen := map[string]bool{}
	if v, ok := opts[optOrderBy]; ok {
		items, offs := fields(v)
		if len(items) > MaxOrderBy {
			return nil, newErr("$orderby", -1, ReasonLimit, "more than %d items", MaxOrderBy)
		}
		for i, it := range items {
			parts := strings.Fields(it)
			if len(parts) == 0 || len(parts) > 2 {
				return nil, newErr("$orderby", offs[i], ReasonSyntax, "expected a property optionally followed by asc or desc, found %q", it)
			}
			name, p, ok := s.lookup(parts[0])
			if !ok {
				return nil, newErr("$orderby", offs[i], ReasonUnknownProperty, "unknown property %q", parts[0])
			}
			if p.Column == "" {
				return nil, newErr("$orderby", offs[i], ReasonUnknownProperty, "cannot order by property %s", name)
			}
			o := Order{Prop: name}
			if len(parts) == 2 {
				switch strings.ToLower(parts[1]) {
				case "asc":
				case "desc":
					o.Desc = true
				default:
					at := offs[i] + len(parts[0]) + strings.Index(it[len(parts[0]):], parts[1])
					return nil, newErr("$orderby", at, ReasonSyntax, "expected asc or desc after %s, found %q", parts[0], parts[1])
				}
			}
			if seen[name] {
				return nil, newErr("$orderby", offs[i], ReasonSyntax, "property %s is listed twice", name)
			}
			seen[name] = true
			out = append(out, o)
		}
	}
	if key := s.key(); !seen[key] {
		out = append(out, Order{Prop: key})
	}
	return out, nil
}

// digest hashes what decides the sequence of rows: the canonical filter and
// the order.
func (q *Query) digest() uint64 {
	h := fnv.New64a()
	if q.Filter != nil {
		h.Write([]byte(q.Filter.String()))
	}
	h.Write([]byte{0})
	for _, o := range q.OrderBy {
		h.Write([]byte(o.Prop))
		if o.Desc {
			h.Write([]byte(" desc,"))
		} else {
			h.Write([]byte(" asc,"))
		}
	}
	return h.Sum64()
}

// skipTokenVersion is the first byte of every skip token.
const skipTokenVersion = 1

// SkipToken returns the opaque $skiptoken for the page that starts at
// offset rows into this query's result. The token is base64url (no
// padding) of: one version byte (1), the 8-byte big-endian FNV-1a hash of
// the canonical $filter and $orderby, and the offset as an unsigned varint.
// It is not encrypted or signed: it only lets the server refuse a token
// replayed with a different filter or order (which would skip the wrong
// rows); a client that edits the offset gains nothing $skip would not give.
func (q *Query) SkipToken(offset int) string {
	var buf [1 + 8 + binary.MaxVarintLen64]byte
	buf[0] = skipTokenVersion
	binary.BigEndian.PutUint64(buf[1:9], q.hash)
	n := binary.PutUvarint(buf[9:], uint64(offset))
	return base64.RawURLEncoding.EncodeToString(buf[:9+n])
}

func (q *Query) decodeSkipToken(tok string) (int, *Error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 10 || b[0] != skipTokenVersion {
		return 0, newErr("$skiptoken", -1, ReasonSkipToken, "malformed token")
	}
	off, n := binary.Uvarint(b[9:])
	if n <= 0 || 9+n != len(b) || off > maxSkip {
		return 0, newErr("$skiptoken", -1, ReasonSkipToken, "malformed token")
	}
	if binary.BigEndian.Uint64(b[1:9]) != q.hash {
		return 0, newErr("$skiptoken", -1, ReasonSkipToken, "the token belongs to another query: $filter or $orderby changed since it was issued")
	}
	return int(off), nil
}

// NextPage returns a copy of the request's query parameters for the next
// page, to build @odata.nextLink from: $skip and any earlier $skiptoken are
// removed and $skiptoken carries offset Skip+Top. The caller emits a next
// link only when the page was full and Top is not 0.
func (q *Query) NextPage(v url.Values) url.Values {
	out := url.Values{}
	for k, vals := range v {
		switch strings.ToLower(strings.TrimPrefix(k, "$")) {
		case optSkip, optSkipToken:
			continue
		}
		out[k] = append([]string(nil), vals...)
	}
	out.Set("$skiptoken", q.SkipToken(q.Skip+q.Top))
	return out
}

// SQL compiles the query for dialect d, numbering Where's placeholders from
// start. NULLs sort first in ascending order, as in OData (SQLite's default;
// PostgreSQL gets NULLS FIRST / NULLS LAST on nullable columns).
func (q *Query) SQL(s *Schema, d Dialect, start int) SQL {
	where, args := Where(s, q.Filter, d, start)
	var b strings.Builder
	for i, o := range q.OrderBy {
		if i > 0 {
			b.WriteString(", ")
		}
		p := s.Props[o.Prop]
		b.WriteString(p.Column)
		if o.Desc {
			b.WriteString(" DESC")
		} else {
			b.WriteString(" ASC")
		}
		if d == Postgres && p.Nullable {
			if o.Desc {
				b.WriteString(" NULLS LAST")
			} else {
				b.WriteString(" NULLS FIRST")
			}
		}
	}
	return SQL{Where: where, Args: args, OrderBy: b.String(), Limit: q.Top, Offset: q.Skip}
}
