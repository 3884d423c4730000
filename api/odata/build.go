package odata

import (
	"errors"
	"fmt"
	"time"
)

// Filters built in code, not parsed from $filter text: a program that
// selects rows (a store's caller, a test) writes them with these helpers
// and hands them, as an Expr, to whatever compiles them, which checks them
// with [CheckExpr] first.

// StringValue is a string literal.
func StringValue(s string) Value { return Value{Kind: KindString, Str: s} }

// IntValue is an integer literal.
func IntValue(n int64) Value { return Value{Kind: KindInt, Int: n} }

// TimeValue is a DateTimeOffset literal (kept in UTC).
func TimeValue(t time.Time) Value { return Value{Kind: KindDateTime, Time: t.UTC()} }

// NullValue is the null literal.
func NullValue() Value { return Value{Kind: KindNull} }

// Cmp is the comparison prop op v.
func Cmp(prop string, op CmpOp, v Value) *Compare { return &Compare{Prop: prop, Op: op, Value: v} }

// AllOf joins the expressions with and, skipping nil ones; nil when none is
// left.
func AllOf(es ...Expr) Expr {
	var out Expr
	for _, e := range es {
		switch {
		case e == nil:
		case out == nil:
			out = e
		default:
			out = &And{Left: out, Right: e}
		}
	}
	return out
}

// MapProps returns e with every property name replaced by rename(name),
// such as an API's property names by a table's column names. e is not
// modified; the result shares no node with it.
func MapProps(e Expr, rename func(string) string) Expr {
	switch x := e.(type) {
	case *And:
		return &And{Left: MapProps(x.Left, rename), Right: MapProps(x.Right, rename), At: x.At}
	case *Or:
		return &Or{Left: MapProps(x.Left, rename), Right: MapProps(x.Right, rename), At: x.At}
	case *Not:
		return &Not{X: MapProps(x.X, rename), At: x.At}
	case *Compare:
		c := *x
		c.Prop = rename(x.Prop)
		return &c
	case *In:
		c := *x
		c.Prop = rename(x.Prop)
		c.Values = append([]Value(nil), x.Values...)
		return &c
	case *Call:
		c := *x
		c.Prop = rename(x.Prop)
		return &c
	case *BoolProp:
		c := *x
		c.Prop = rename(x.Prop)
		return &c
	case *Const:
		c := *x
		return &c
	}
	return e
}

// ErrExpr is returned (wrapped) by CheckExpr.
var ErrExpr = errors.New("invalid filter expression")

// CheckExpr checks an expression that was built in code, or rewritten after
// parsing, against the schema, as ParseFilter checks parsed text: every
// property exists and has a column, every literal has its property's kind
// (an enumeration's value is one of its members), order comparisons and
// string functions only where the property allows them, null compared with
// eq and ne only, nesting and in-lists within the schema's limits. Only an
// Expr that passes may be given to [Where]. Errors wrap ErrExpr.
func CheckExpr(s *Schema, e Expr) error {
	if err := s.Check(); err != nil {
		return err
	}
	if e == nil {
		return nil
	}
	c := exprChecker{s: s, maxDepth: orDefault(s.MaxDepth, DefaultMaxDepth), maxIn: orDefault(s.MaxInItems, DefaultMaxInItems)}
	return c.check(e, 1)
}

type exprChecker struct {
	s               *Schema
	maxDepth, maxIn int
}

func (c *exprChecker) prop(name string) (Prop, error) {
	p, ok := c.s.Props[name]
	if !ok || p.Column == "" {
		return Prop{}, fmt.Errorf("%w: unknown property %q", ErrExpr, name)
	}
	return p, nil
}

func (c *exprChecker) check(e Expr, depth int) error {
	if depth > c.maxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrExpr, c.maxDepth)
	}
	switch x := e.(type) {
	case *And:
		return c.pair(x.Left, x.Right, depth)
	case *Or:
		return c.pair(x.Left, x.Right, depth)
	case *Not:
		if x == nil || x.X == nil {
			return fmt.Errorf("%w: not without an operand", ErrExpr)
		}
		return c.check(x.X, depth+1)
	case *Compare:
		if x == nil || x.Op < Eq || x.Op > Le {
			return fmt.Errorf("%w: comparison without a valid operator", ErrExpr)
		}
		p, err := c.prop(x.Prop)
		if err != nil {
			return err
		}
		if x.Value.Kind == KindNull {
			if x.Op != Eq && x.Op != Ne {
				return fmt.Errorf("%w: %s: null can be compared with eq and ne only, not %s", ErrExpr, x.Prop, x.Op)
			}
			return nil
		}
		if x.Op != Eq && x.Op != Ne && (len(p.Enum) > 0 || p.Type == Bool || p.Type == GUID) {
			return fmt.Errorf("%w: %s has no order: use eq, ne or in, not %s", ErrExpr, x.Prop, x.Op)
		}
		return c.value(x.Prop, p, x.Value)
	case *In:
		if x == nil {
			return fmt.Errorf("%w: nil in", ErrExpr)
		}
		p, err := c.prop(x.Prop)
		if err != nil {
			return err
		}
		if len(x.Values) == 0 || len(x.Values) > c.maxIn {
			return fmt.Errorf("%w: %s in lists %d values, want 1 to %d", ErrExpr, x.Prop, len(x.Values), c.maxIn)
		}
		for _, v := range x.Values {
			if v.Kind == KindNull {
				continue
			}
			if err := c.value(x.Prop, p, v); err != nil {
				return err
			}
		}
		return nil
	case *Call:
		if x == nil || x.Func < Contains || x.Func > EndsWith {
			return fmt.Errorf("%w: call of an unknown function", ErrExpr)
		}
		p, err := c.prop(x.Prop)
		if err != nil {
			return err
		}
		if !p.StringFuncs {
			return fmt.Errorf("%w: %s cannot be used on %s", ErrExpr, x.Func, x.Prop)
		}
		return nil
	case *BoolProp:
		if x == nil {
			return fmt.Errorf("%w: nil property", ErrExpr)
		}
		p, err := c.prop(x.Prop)
		if err != nil {
			return err
		}
		if p.Type != Bool {
			return fmt.Errorf("%w: %s is %s, not a condition by itself", ErrExpr, x.Prop, p.Type)
		}
		return nil
	case *Const:
		if x == nil {
			return fmt.Errorf("%w: nil constant", ErrExpr)
		}
		return nil
	}
	return fmt.Errorf("%w: unsupported node %T", ErrExpr, e)
}

func (c *exprChecker) pair(l, r Expr, depth int) error {
	if l == nil || r == nil {
		return fmt.Errorf("%w: and/or without two operands", ErrExpr)
	}
	if err := c.check(l, depth+1); err != nil {
		return err
	}
	return c.check(r, depth+1)
}

// value checks a non-null literal against the property's type.
func (c *exprChecker) value(name string, p Prop, v Value) error {
	ok := false
	switch p.Type {
	case String:
		ok = v.Kind == KindString || v.Kind == KindGUID
		if ok && len(p.Enum) > 0 {
			ok = false
			for _, m := range p.Enum {
				ok = ok || m == v.Str
			}
			if !ok {
				return fmt.Errorf("%w: %q is not a value of %s", ErrExpr, v.Str, name)
			}
		}
	case GUID:
		ok = (v.Kind == KindGUID || v.Kind == KindString) && len(v.Str) == 36 && matchGUID(v.Str) == 36
	case Int:
		ok = v.Kind == KindInt
	case Float:
		ok = v.Kind == KindFloat || v.Kind == KindInt
	case Bool:
		ok = v.Kind == KindBool
	case DateTime:
		ok = v.Kind == KindDateTime
	}
	if !ok {
		return fmt.Errorf("%w: %s is %s and cannot be compared with %s", ErrExpr, name, p.Type, v)
	}
	return nil
}
