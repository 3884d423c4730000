package odata

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Type is the EDM type of a property.
type Type int

// Property types.
const (
	// String is Edm.String. With Prop.Enum it is an enumeration.
	String Type = iota + 1
	// GUID is Edm.Guid. Literals may be written bare (as OData does) or
	// quoted; values are passed to SQL as lower-case text.
	GUID
	// Int is Edm.Int64.
	Int
	// Float is Edm.Double.
	Float
	// Bool is Edm.Boolean. A bare Bool property is a filter by itself.
	Bool
	// DateTime is Edm.DateTimeOffset. Literals are bare, as OData writes
	// them (2026-11-01T00:00:00Z); a bare date (2026-11-01) means midnight
	// UTC. Values are passed through Schema.DateTimeArg.
	DateTime
)

// String returns the EDM name of the type.
func (t Type) String() string {
	switch t {
	case String:
		return "Edm.String"
	case GUID:
		return "Edm.Guid"
	case Int:
		return "Edm.Int64"
	case Float:
		return "Edm.Double"
	case Bool:
		return "Edm.Boolean"
	case DateTime:
		return "Edm.DateTimeOffset"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Prop describes one property of the entity: how it is stored and what may
// be done with it.
type Prop struct {
	// Column is the SQL column name. It is written into SQL as is, so it
	// must be a plain identifier chosen by the program, never by a request.
	// Empty means the property exists in the JSON only: it may be named in
	// $select but not in $filter or $orderby.
	Column string
	// Type is the property's type.
	Type Type
	// Enum, for a String property, lists the allowed values (matched
	// case-insensitively, passed to SQL as written here). Enumerations allow
	// eq, ne and in only.
	Enum []string
	// Nullable says the column can hold NULL. The compiler then adds the
	// IS NULL terms that OData's two-valued comparisons need (null ne 'x' is
	// true in OData, NULL <> 'x' is unknown in SQL).
	Nullable bool
	// StringFuncs allows contains, startswith and endswith on a String
	// property (Graph allows them on some properties only).
	StringFuncs bool
}

// Defaults and hard limits.
const (
	// DefaultTop is the page size when $top is absent and Schema.DefaultTop
	// is zero.
	DefaultTop = 100
	// MaxTopCap is the largest page size ever allowed, as in Graph.
	MaxTopCap = 1000
	// DefaultMaxFilterLen bounds the length of $filter in bytes.
	DefaultMaxFilterLen = 4096
	// DefaultMaxDepth bounds the nesting of $filter expressions.
	DefaultMaxDepth = 64
	// DefaultMaxInItems bounds the number of values in one in list.
	DefaultMaxInItems = 100
	// MaxOrderBy bounds the number of $orderby items.
	MaxOrderBy = 8
)

// Schema is the whitelist a query is checked against: the properties that
// exist, their columns and types, and the limits that apply. A Schema must
// not be modified or copied after first use; it is safe for concurrent use.
type Schema struct {
	// Props maps each property name (as written in JSON, e.g.
	// "detectedDateTime") to its description. Lookups are case-insensitive,
	// as Graph's are; two names that differ only in case are an error.
	Props map[string]Prop
	// Key is the property appended to every $orderby as the tiebreak that
	// makes paging stable; default "id". It must be a queryable property.
	Key string
	// DateTimeArg converts a DateTime literal to the SQL argument, so the
	// store decides the storage format (for example t.UnixNano() or
	// t.Format(time.RFC3339Nano)). Nil passes the time.Time in UTC.
	DateTimeArg func(time.Time) any
	// DefaultTop is the page size without $top (default DefaultTop).
	DefaultTop int
	// MaxTop is the largest $top accepted (default and cap MaxTopCap).
	MaxTop int
	// MaxFilterLen, MaxDepth and MaxInItems bound $filter (defaults
	// DefaultMaxFilterLen, DefaultMaxDepth, DefaultMaxInItems).
	MaxFilterLen, MaxDepth, MaxInItems int

	once  sync.Once
	err   error
	lower map[string]string // lower-case name -> name in Props
}

// Check validates the schema: column names are identifiers, types are
// known, the key exists, no two names differ only in case. Parse functions
// call it too and fail with its error.
func (s *Schema) Check() error {
	s.once.Do(s.init)
	return s.err
}

func (s *Schema) init() {
	s.lower = make(map[string]string, len(s.Props))
	for name, p := range s.Props {
		l := strings.ToLower(name)
		if other, dup := s.lower[l]; dup {
			s.err = fmt.Errorf("odata schema: properties %q and %q differ only in case", other, name)
			return
		}
		s.lower[l] = name
		if !isIdent(name) {
			s.err = fmt.Errorf("odata schema: property name %q is not an identifier", name)
			return
		}
		if p.Column != "" && !isIdent(p.Column) {
			s.err = fmt.Errorf("odata schema: column %q of %s is not a plain SQL identifier", p.Column, name)
			return
		}
		if p.Type < String || p.Type > DateTime {
			s.err = fmt.Errorf("odata schema: property %s has unknown type %d", name, int(p.Type))
			return
		}
		if len(p.Enum) > 0 && p.Type != String {
			s.err = fmt.Errorf("odata schema: property %s has an Enum but is %s, not Edm.String", name, p.Type)
			return
		}
		if p.StringFuncs && (p.Type != String || len(p.Enum) > 0) {
			s.err = fmt.Errorf("odata schema: property %s allows string functions but is not a plain Edm.String", name)
			return
		}
	}
	key := s.key()
	if p, ok := s.Props[key]; !ok || p.Column == "" {
		s.err = fmt.Errorf("odata schema: key property %q is not a queryable property", key)
	}
}

// lookup finds a property by case-insensitive name and returns its
// canonical name.
func (s *Schema) lookup(name string) (string, Prop, bool) {
	canon, ok := s.lower[strings.ToLower(name)]
	if !ok {
		return "", Prop{}, false
	}
	return canon, s.Props[canon], true
}

func (s *Schema) key() string {
	if s.Key == "" {
		return "id"
	}
	return s.Key
}

func (s *Schema) dateArg(t time.Time) any {
	if s.DateTimeArg != nil {
		return s.DateTimeArg(t)
	}
	return t.UTC()
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func (s *Schema) maxTop() int {
	return min(orDefault(s.MaxTop, MaxTopCap), MaxTopCap)
}

func (s *Schema) defaultTop() int {
	return min(orDefault(s.DefaultTop, DefaultTop), s.maxTop())
}

// isIdent reports whether v is a letter followed by letters, digits and
// underscores: safe to write into SQL unquoted.
func isIdent(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_'):
		default:
			return false
		}
	}
	return true
}
