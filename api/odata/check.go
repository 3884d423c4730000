package odata

import (
	"strconv"
	"strings"
	"time"
)

// ParseFilter parses and checks a $filter value against the schema. The
// value is the decoded query parameter. Errors are *Error.
func ParseFilter(s *Schema, filter string) (Expr, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	if max := orDefault(s.MaxFilterLen, DefaultMaxFilterLen); len(filter) > max {
		return nil, filterErr(-1, ReasonLimit, "longer than %d bytes", max)
	}
	n, perr := parseSyntax(filter, orDefault(s.MaxDepth, DefaultMaxDepth))
	if perr != nil {
		return nil, perr
	}
	c := checker{s: s, maxIn: orDefault(s.MaxInItems, DefaultMaxInItems)}
	e, cerr := c.boolExpr(n)
	if cerr != nil {
		return nil, cerr
	}
	return e, nil
}

type checker struct {
	s     *Schema
	maxIn int
}

// boolExpr checks a node in a position that needs a Boolean.
func (c *checker) boolExpr(n *node) (Expr, *Error) {
	switch n.kind {
	case nBinary:
		switch n.op {
		case "and", "or":
			l, err := c.boolExpr(n.kids[0])
			if err != nil {
				return nil, err
			}
			r, err := c.boolExpr(n.kids[1])
			if err != nil {
				return nil, err
			}
			if n.op == "and" {
				return &And{Left: l, Right: r, At: n.pos}, nil
			}
			return &Or{Left: l, Right: r, At: n.pos}, nil
		case "eq", "ne", "gt", "ge", "lt", "le":
			return c.compare(n)
		case "has":
			return nil, filterErr(n.pos, ReasonUnsupported, "operator has is not supported")
		}
		return nil, filterErr(n.pos, ReasonUnsupported, "arithmetic operator %s is not supported", n.op)
	case nNot:
		x, err := c.boolExpr(n.kids[0])
		if err != nil {
			return nil, err
		}
		return &Not{X: x, At: n.pos}, nil
	case nIn:
		return c.in(n)
	case nCall:
		return c.call(n)
	case nIdent:
		name, p, err := c.prop(n)
		if err != nil {
			return nil, err
		}
		if p.Type != Bool {
			return nil, filterErr(n.pos, ReasonType, "property %s is %s, not a Boolean condition; compare it with a value", name, typeName(p))
		}
		return &BoolProp{Prop: name, At: n.pos}, nil
	case nLit:
		switch n.tok.kind {
		case tkTrue, tkFalse:
			return &Const{Value: n.tok.kind == tkTrue, At: n.pos}, nil
		}
		return nil, filterErr(n.pos, ReasonType, "the literal %s is not a Boolean condition", litText(n.tok))
	}
	return nil, filterErr(n.pos, ReasonSyntax, "not a Boolean condition")
}

func typeName(p Prop) string {
	if len(p.Enum) > 0 {
		return "an enumeration (" + strings.Join(p.Enum, ", ") + ")"
	}
	switch p.Type {
	case Int:
		return "an Edm.Int64"
	case Bool:
		return "an Edm.Boolean"
	case DateTime:
		return "an Edm.DateTimeOffset"
	}
	return "an " + p.Type.String()
}

func litText(t token) string {
	switch t.kind {
	case tkString:
		var b strings.Builder
		writeQuoted(&b, t.text)
		return b.String()
	}
	return t.text
}

// prop resolves an identifier to a queryable property.
func (c *checker) prop(n *node) (string, Prop, *Error) {
	name, p, ok := c.s.lookup(n.tok.text)
	if !ok {
		return "", Prop{}, filterErr(n.pos, ReasonUnknownProperty, "unknown property %q", n.tok.text)
	}
	if p.Column == "" {
		return "", Prop{}, filterErr(n.pos, ReasonUnknownProperty, "property %s cannot be used in $filter", name)
	}
	return name, p, nil
}

func (c *checker) compare(n *node) (Expr, *Error) {
	var op CmpOp
	switch n.op {
	case "eq":
		op = Eq
	case "ne":
		op = Ne
	case "gt":
		op = Gt
	case "ge":
		op = Ge
	case "lt":
		op = Lt
	default:
		op = Le
	}
	l, r := n.kids[0], n.kids[1]
	switch {
	case l.kind == nIdent && r.kind == nLit:
	case l.kind == nLit && r.kind == nIdent:
		l, r = r, l
		op = op.mirror()
	case l.kind == nIdent && r.kind == nIdent:
		return nil, filterErr(n.pos, ReasonUnsupported, "comparing two properties (%s %s %s) is not supported", l.tok.text, n.op, r.tok.text)
	case l.kind == nLit && r.kind == nLit:
		return nil, filterErr(n.pos, ReasonUnsupported, "%s compares two literals; one side must be a property", n.op)
	default:
		bad := l
		if l.kind == nIdent || l.kind == nLit {
			bad = r
		}
		return nil, c.operandErr(n.op, bad)
	}
	name, p, err := c.prop(l)
	if err != nil {
		return nil, err
	}
	v, err := c.value(name, p, r.tok)
	if err != nil {
		return nil, err
	}
	if v.Kind == KindNull {
		if op != Eq && op != Ne {
			return nil, filterErr(r.pos, ReasonType, "null can be compared with eq and ne only, not %s", op)
		}
	} else if op != Eq && op != Ne {
		switch {
		case len(p.Enum) > 0:
			return nil, filterErr(n.pos, ReasonType, "property %s is an enumeration: use eq, ne or in, not %s", name, op)
		case p.Type == Bool || p.Type == GUID:
			return nil, filterErr(n.pos, ReasonType, "property %s is %s, which has no order: use eq, ne or in, not %s", name, typeName(p), op)
		}
	}
	return &Compare{Prop: name, Op: op, Value: v, At: n.pos}, nil
}

// operandErr explains why n cannot be an operand of a comparison, naming
// an unsupported operator or function when that is the cause.
func (c *checker) operandErr(op string, n *node) *Error {
	switch {
	case n.kind == nBinary && !isBoolOp(n.op):
		_, err := c.boolExpr(n)
		return err
	case n.kind == nCall && n.op != "contains" && n.op != "startswith" && n.op != "endswith":
		_, err := c.call(n)
		return err
	}
	return filterErr(n.pos, ReasonUnsupported, "each side of %s must be a property or a literal", op)
}

func isBoolOp(op string) bool {
	switch op {
	case "and", "or", "eq", "ne", "gt", "ge", "lt", "le":
		return true
	}
	return false
}

func (c *checker) in(n *node) (Expr, *Error) {
	l := n.kids[0]
	if l.kind != nIdent {
		return nil, filterErr(l.pos, ReasonUnsupported, "the left side of in must be a property")
	}
	name, p, err := c.prop(l)
	if err != nil {
		return nil, err
	}
	items := n.kids[1:]
	if len(items) > c.maxIn {
		return nil, filterErr(n.pos, ReasonLimit, "in lists more than %d values", c.maxIn)
	}
	vals := make([]Value, 0, len(items))
	for _, it := range items {
		if it.kind != nLit {
			return nil, filterErr(it.pos, ReasonUnsupported, "the list after in may hold literals only")
		}
		v, err := c.value(name, p, it.tok)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	return &In{Prop: name, Values: vals, At: n.pos}, nil
}

func (c *checker) call(n *node) (Expr, *Error) {
	var f Func
	switch n.op {
	case "contains":
		f = Contains
	case "startswith":
		f = StartsWith
	case "endswith":
		f = EndsWith
	default:
		return nil, filterErr(n.pos, ReasonUnsupported, "function %s is not supported; supported are contains, startswith and endswith", n.op)
	}
	if len(n.kids) != 2 {
		return nil, filterErr(n.pos, ReasonSyntax, "%s takes 2 arguments, got %d", f, len(n.kids))
	}
	a, b := n.kids[0], n.kids[1]
	if a.kind != nIdent {
		return nil, filterErr(a.pos, ReasonUnsupported, "the first argument of %s must be a property", f)
	}
	name, p, err := c.prop(a)
	if err != nil {
		return nil, err
	}
	if !p.StringFuncs {
		return nil, filterErr(a.pos, ReasonType, "%s cannot be used on property %s (%s); it is allowed on some Edm.String properties only", f, name, typeName(p))
	}
	if b.kind != nLit || b.tok.kind != tkString {
		return nil, filterErr(b.pos, ReasonType, "the second argument of %s must be a string literal", f)
	}
	return &Call{Func: f, Prop: name, Arg: b.tok.text, At: n.pos}, nil
}

// value checks literal t against property p and converts it.
func (c *checker) value(name string, p Prop, t token) (Value, *Error) {
	if t.kind == tkNull {
		return Value{Kind: KindNull, At: t.pos}, nil
	}
	mismatch := func(hint string) (Value, *Error) {
		return Value{}, filterErr(t.pos, ReasonType, "property %s is %s and cannot be compared with %s %s%s", name, typeName(p), kindName(t.kind), litText(t), hint)
	}
	switch p.Type {
	case String:
		if t.kind != tkString {
			return mismatch("; quote string values")
		}
		if len(p.Enum) == 0 {
			return Value{Kind: KindString, Str: t.text, At: t.pos}, nil
		}
		for _, m := range p.Enum {
			if strings.EqualFold(m, t.text) {
				return Value{Kind: KindString, Str: m, At: t.pos}, nil
			}
		}
		return Value{}, filterErr(t.pos, ReasonType, "%s is not a value of %s, which is one of: %s", litText(t), name, strings.Join(p.Enum, ", "))
	case GUID:
		if t.kind == tkGUID || t.kind == tkString && len(t.text) == 36 && matchGUID(t.text) == 36 {
			return Value{Kind: KindGUID, Str: strings.ToLower(t.text), At: t.pos}, nil
		}
		return mismatch("; write a GUID such as 1889e718-414b-4bad-8bbe-c1135bd39a41")
	case Int:
		if t.kind != tkInt {
			return mismatch("")
		}
		i, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return Value{}, filterErr(t.pos, ReasonType, "integer %s is out of range for %s", t.text, name)
		}
		return Value{Kind: KindInt, Int: i, At: t.pos}, nil
	case Float:
		if t.kind != tkInt && t.kind != tkFloat {
			return mismatch("")
		}
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return Value{}, filterErr(t.pos, ReasonType, "number %s is out of range for %s", t.text, name)
		}
		return Value{Kind: KindFloat, Float: f, At: t.pos}, nil
	case Bool:
		if t.kind != tkTrue && t.kind != tkFalse {
			return mismatch("; write true or false")
		}
		return Value{Kind: KindBool, Bool: t.kind == tkTrue, At: t.pos}, nil
	case DateTime:
		switch t.kind {
		case tkDateTime, tkDate:
			tm, ok := parseDateTime(t.text)
			if !ok {
				return Value{}, filterErr(t.pos, ReasonType, "%s is not a valid date and time", t.text)
			}
			return Value{Kind: KindDateTime, Time: tm, At: t.pos}, nil
		case tkString:
			return mismatch("; DateTimeOffset values are written without quotes, such as 2026-11-01T00:00:00Z")
		}
		return mismatch("; write a DateTimeOffset such as 2026-11-01T00:00:00Z")
	}
	return mismatch("")
}

func kindName(k tokKind) string {
	switch k {
	case tkString:
		return "the string"
	case tkInt:
		return "the integer"
	case tkFloat:
		return "the number"
	case tkDateTime:
		return "the DateTimeOffset"
	case tkDate:
		return "the date"
	case tkGUID:
		return "the GUID"
	case tkTrue, tkFalse:
		return "the Boolean"
	}
	return "the literal"
}

// parseDateTime parses a literal lexed as tkDateTime or tkDate, checking
// field ranges; fractional seconds beyond nanoseconds are truncated.
func parseDateTime(s string) (time.Time, bool) {
	num := func(i, n int) int {
		v := 0
		for k := i; k < i+n; k++ {
			v = v*10 + int(s[k]-'0')
		}
		return v
	}
	y, mo, d := num(0, 4), num(5, 2), num(8, 2)
	if mo < 1 || mo > 12 || d < 1 || d > 31 {
		return time.Time{}, false
	}
	var h, mi, sec, nsec int
	loc := time.UTC
	if len(s) > 10 {
		h, mi = num(11, 2), num(14, 2)
		i := 16
		if s[i] == ':' {
			sec = num(i+1, 2)
			i += 3
			if s[i] == '.' {
				i++
				scale := 100000000
				for ; isDigit(s[i]); i++ {
					nsec += int(s[i]-'0') * scale
					scale /= 10
				}
			}
		}
		if s[i] != 'Z' {
			oh, om := num(i+1, 2), num(i+4, 2)
			if oh > 23 || om > 59 {
				return time.Time{}, false
			}
			off := oh*3600 + om*60
			if s[i] == '-' {
				off = -off
			}
			loc = time.FixedZone("", off)
		}
		if h > 23 || mi > 59 || sec > 59 {
			return time.Time{}, false
		}
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, nsec, loc)
	if t.Day() != d { // 2026-02-30 normalises to March
		return time.Time{}, false
	}
	return t.UTC(), true
}
