package odata

import (
	"strconv"
	"strings"
)

// Dialect is the SQL flavour to compile to.
type Dialect int

// Dialects.
const (
	// SQLite uses ? placeholders and LIKE, which SQLite matches
	// case-insensitively for ASCII letters.
	SQLite Dialect = iota + 1
	// Postgres uses $n placeholders and ILIKE (case-insensitive).
	Postgres
)

// String names the dialect.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// Where compiles a filter that ParseFilter checked against the same schema
// to a parameterised SQL boolean expression and its arguments. Placeholders are numbered from start (PostgreSQL's $n;
// SQLite's ? is positional and ignores it). A nil Expr gives "" and no
// arguments.
//
// The SQL holds only the schema's column names, keywords, placeholders and
// the constant ESCAPE '\'; every literal of the filter is an argument. A
// top-level OR is parenthesised, so the result can be joined to other
// conditions (such as the caller's tenant scope) with AND as it is.
// Comparisons keep OData's two-valued meaning over nullable columns: for a
// Nullable property "ne" and negated comparisons add "OR col IS NULL", and
// not is pushed down to the comparisons, so indexes stay usable.
func Where(s *Schema, e Expr, d Dialect, start int) (string, []any) {
	if e == nil {
		return "", nil
	}
	c := compiler{s: s, d: d, next: start}
	c.b.Grow(64)
	c.expr(e, false, true)
	return c.b.String(), c.args
}

type compiler struct {
	s    *Schema
	d    Dialect
	b    strings.Builder
	args []any
	next int
}

func (c *compiler) arg(v any) {
	c.args = append(c.args, v)
	if c.d == Postgres {
		c.b.WriteByte('$')
		c.b.WriteString(strconv.Itoa(c.next))
	} else {
		c.b.WriteByte('?')
	}
	c.next++
}

func (c *compiler) value(v Value) {
	switch v.Kind {
	case KindString, KindGUID:
		c.arg(v.Str)
	case KindInt:
		c.arg(v.Int)
	case KindFloat:
		c.arg(v.Float)
	case KindBool:
		c.arg(v.Bool)
	case KindDateTime:
		c.arg(c.s.dateArg(v.Time))
	}
}

func (c *compiler) col(prop string) Prop {
	p := c.s.Props[prop]
	c.b.WriteString(p.Column)
	return p
}

// expr writes e, negated when neg. nested says e is an operand of and/or,
// so an or (or a term with an added IS NULL) needs parentheses.
func (c *compiler) expr(e Expr, neg, nested bool) {
	switch e := e.(type) {
	case *And:
		c.logical(e.Left, e.Right, neg, !neg, nested)
	case *Or:
		c.logical(e.Left, e.Right, neg, neg, nested)
	case *Not:
		c.expr(e.X, !neg, nested)
	case *Compare:
		c.compare(e, neg, nested)
	case *In:
		c.in(e, neg, nested)
	case *Call:
		c.call(e, neg)
	case *BoolProp:
		if neg {
			c.b.WriteString("NOT ")
		}
		c.col(e.Prop)
	case *Const:
		if neg {
			c.b.WriteString("NOT ")
		}
		c.arg(e.Value)
	}
}

// logical writes l AND r (isAnd) or l OR r; De Morgan has been applied by
// the caller through isAnd, and each operand is negated when neg.
func (c *compiler) logical(l, r Expr, neg, isAnd, nested bool) {
	paren := nested && !isAnd
	if paren {
		c.b.WriteByte('(')
	}
	c.expr(l, neg, true)
	if isAnd {
		c.b.WriteString(" AND ")
	} else {
		c.b.WriteString(" OR ")
	}
	c.expr(r, neg, true)
	if paren {
		c.b.WriteByte(')')
	}
}

var sqlOps = [...]string{Eq: " = ", Ne: " <> ", Gt: " > ", Ge: " >= ", Lt: " < ", Le: " <= "}

func (c *compiler) compare(e *Compare, neg, nested bool) {
	op := e.Op
	if e.Value.Kind == KindNull {
		c.col(e.Prop)
		if (op == Eq) != neg {
			c.b.WriteString(" IS NULL")
		} else {
			c.b.WriteString(" IS NOT NULL")
		}
		return
	}
	// OData: a null operand makes eq and the order comparisons false and
	// ne true; not flips that. So NULL rows belong to the result exactly
	// when (op is ne) differs from neg.
	nullTrue := (op == Ne) != neg && c.s.Props[e.Prop].Nullable
	if neg {
		op = op.negate()
	}
	if nullTrue && nested {
		c.b.WriteByte('(')
	}
	c.col(e.Prop)
	c.b.WriteString(sqlOps[op])
	c.value(e.Value)
	if nullTrue {
		c.b.WriteString(" OR ")
		c.col(e.Prop)
		c.b.WriteString(" IS NULL")
		if nested {
			c.b.WriteByte(')')
		}
	}
}

func (c *compiler) in(e *In, neg, nested bool) {
	hasNull := false
	n := 0
	for _, v := range e.Values {
		if v.Kind == KindNull {
			hasNull = true
		} else {
			n++
		}
	}
	p := c.s.Props[e.Prop]
	// Positive: col IN (...) [OR col IS NULL when null is listed].
	// Negated: col NOT IN (...) and, when null is listed, col IS NOT NULL;
	// when it is not, a NULL column is "not in" the list: OR col IS NULL.
	var tail string
	switch {
	case !neg && hasNull && n > 0:
		tail = " OR " + p.Column + " IS NULL"
	case neg && !hasNull && p.Nullable:
		tail = " OR " + p.Column + " IS NULL"
	case neg && hasNull && n > 0:
		tail = " AND " + p.Column + " IS NOT NULL"
	}
	if n == 0 { // only nulls
		c.col(e.Prop)
		if neg {
			c.b.WriteString(" IS NOT NULL")
		} else {
			c.b.WriteString(" IS NULL")
		}
		return
	}
	paren := nested && tail != ""
	if paren {
		c.b.WriteByte('(')
	}
	c.col(e.Prop)
	if neg {
		c.b.WriteString(" NOT IN (")
	} else {
		c.b.WriteString(" IN (")
	}
	first := true
	for _, v := range e.Values {
		if v.Kind == KindNull {
			continue
		}
		if !first {
			c.b.WriteString(", ")
		}
		first = false
		c.value(v)
	}
	c.b.WriteByte(')')
	c.b.WriteString(tail)
	if paren {
		c.b.WriteByte(')')
	}
}

// likeEscaper escapes LIKE's wildcards and the escape character itself.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func (c *compiler) call(e *Call, neg bool) {
	// A function of a NULL column is null in OData, and not(null) is null:
	// SQL's three-valued NOT (x LIKE y) behaves the same, so no IS NULL.
	c.col(e.Prop)
	switch {
	case neg && c.d == Postgres:
		c.b.WriteString(" NOT ILIKE ")
	case neg:
		c.b.WriteString(" NOT LIKE ")
	case c.d == Postgres:
		c.b.WriteString(" ILIKE ")
	default:
		c.b.WriteString(" LIKE ")
	}
	pat := likeEscaper.Replace(e.Arg)
	switch e.Func {
	case Contains:
		pat = "%" + pat + "%"
	case StartsWith:
		pat += "%"
	case EndsWith:
		pat = "%" + pat
	}
	c.arg(pat)
	c.b.WriteString(` ESCAPE '\'`)
}
