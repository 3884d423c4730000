package odata

import (
	"strconv"
	"strings"
	"time"
)

// Expr is a checked $filter expression: every property in it is in the
// schema and every literal has the property's type. Its String form is a
// canonical S-expression, the same for every spelling of one filter.
type Expr interface {
	// Pos is the byte offset of the expression in the $filter text.
	Pos() int
	// String renders the canonical S-expression.
	String() string
	write(b *strings.Builder)
}

// CmpOp is a comparison operator.
type CmpOp int

// Comparison operators.
const (
	Eq CmpOp = iota + 1
	Ne
	Gt
	Ge
	Lt
	Le
)

var cmpNames = [...]string{Eq: "eq", Ne: "ne", Gt: "gt", Ge: "ge", Lt: "lt", Le: "le"}

// String returns the OData keyword.
func (o CmpOp) String() string {
	if o < Eq || o > Le {
		return "CmpOp(" + strconv.Itoa(int(o)) + ")"
	}
	return cmpNames[o]
}

// mirror is the operator with its operands swapped: 5 lt count is count gt 5.
func (o CmpOp) mirror() CmpOp {
	switch o {
	case Gt:
		return Lt
	case Ge:
		return Le
	case Lt:
		return Gt
	case Le:
		return Ge
	}
	return o
}

// negate is the operator of the negated comparison over non-null values.
func (o CmpOp) negate() CmpOp {
	switch o {
	case Eq:
		return Ne
	case Ne:
		return Eq
	case Gt:
		return Le
	case Ge:
		return Lt
	case Lt:
		return Ge
	}
	return Gt
}

// Func is a string function.
type Func int

// Supported string functions.
const (
	Contains Func = iota + 1
	StartsWith
	EndsWith
)

// String returns the OData function name.
func (f Func) String() string {
	switch f {
	case Contains:
		return "contains"
	case StartsWith:
		return "startswith"
	case EndsWith:
		return "endswith"
	}
	return "Func(" + strconv.Itoa(int(f)) + ")"
}

// Kind is the kind of a literal.
type Kind int

// Literal kinds. A Value's kind is the property's kind after checking: a
// GUID written as a quoted string is KindGUID, a date is KindDateTime.
const (
	KindNull Kind = iota + 1
	KindString
	KindGUID
	KindInt
	KindFloat
	KindBool
	KindDateTime
)

// Value is a checked literal.
type Value struct {
	Kind  Kind
	Str   string // KindString (enumerations: the schema's spelling), KindGUID (lower case)
	Int   int64
	Float float64
	Bool  bool
	Time  time.Time // UTC
	// At is the byte offset of the literal in the $filter text.
	At int
}

// And is Left and Right.
type And struct {
	Left, Right Expr
	At          int
}

// Or is Left or Right.
type Or struct {
	Left, Right Expr
	At          int
}

// Not negates X.
type Not struct {
	X  Expr
	At int
}

// Compare is Prop Op Value. A literal written on the left is moved to the
// right with the operator mirrored.
type Compare struct {
	Prop  string // canonical property name
	Op    CmpOp
	Value Value
	At    int
}

// In is Prop in (Values...).
type In struct {
	Prop   string
	Values []Value
	At     int
}

// Call is Func(Prop, Arg), such as contains(displayName,'mining').
type Call struct {
	Func Func
	Prop string
	Arg  string
	At   int
}

// BoolProp is a Boolean property used as a condition by itself.
type BoolProp struct {
	Prop string
	At   int
}

// Const is the literal true or false used as a condition.
type Const struct {
	Value bool
	At    int
}

// Pos returns the offset of the operator.
func (e *And) Pos() int { return e.At }

// Pos returns the offset of the operator.
func (e *Or) Pos() int { return e.At }

// Pos returns the offset of not.
func (e *Not) Pos() int { return e.At }

// Pos returns the offset of the operator.
func (e *Compare) Pos() int { return e.At }

// Pos returns the offset of in.
func (e *In) Pos() int { return e.At }

// Pos returns the offset of the function name.
func (e *Call) Pos() int { return e.At }

// Pos returns the offset of the property.
func (e *BoolProp) Pos() int { return e.At }

// Pos returns the offset of the literal.
func (e *Const) Pos() int { return e.At }

func render(e Expr) string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

// String renders (and L R).
func (e *And) String() string { return render(e) }

// String renders (or L R).
func (e *Or) String() string { return render(e) }

// String renders (not X).
func (e *Not) String() string { return render(e) }

// String renders (op prop value).
func (e *Compare) String() string { return render(e) }

// String renders (in prop v1 v2 ...).
func (e *In) String() string { return render(e) }

// String renders (func prop 'arg').
func (e *Call) String() string { return render(e) }

// String renders the property name.
func (e *BoolProp) String() string { return e.Prop }

// String renders true or false.
func (e *Const) String() string { return strconv.FormatBool(e.Value) }

func (e *And) write(b *strings.Builder) { writeBin(b, "and", e.Left, e.Right) }
func (e *Or) write(b *strings.Builder)  { writeBin(b, "or", e.Left, e.Right) }
func (e *Not) write(b *strings.Builder) {
	b.WriteString("(not ")
	e.X.write(b)
	b.WriteByte(')')
}
func (e *Compare) write(b *strings.Builder) {
	b.WriteByte('(')
	b.WriteString(e.Op.String())
	b.WriteByte(' ')
	b.WriteString(e.Prop)
	b.WriteByte(' ')
	e.Value.write(b)
	b.WriteByte(')')
}
func (e *In) write(b *strings.Builder) {
	b.WriteString("(in ")
	b.WriteString(e.Prop)
	for _, v := range e.Values {
		b.WriteByte(' ')
		v.write(b)
	}
	b.WriteByte(')')
}
func (e *Call) write(b *strings.Builder) {
	b.WriteByte('(')
	b.WriteString(e.Func.String())
	b.WriteByte(' ')
	b.WriteString(e.Prop)
	b.WriteByte(' ')
	writeQuoted(b, e.Arg)
	b.WriteByte(')')
}
func (e *BoolProp) write(b *strings.Builder) { b.WriteString(e.Prop) }
func (e *Const) write(b *strings.Builder)    { b.WriteString(strconv.FormatBool(e.Value)) }

func writeBin(b *strings.Builder, op string, l, r Expr) {
	b.WriteByte('(')
	b.WriteString(op)
	b.WriteByte(' ')
	l.write(b)
	b.WriteByte(' ')
	r.write(b)
	b.WriteByte(')')
}

func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('\'')
	b.WriteString(strings.ReplaceAll(s, "'", "''"))
	b.WriteByte('\'')
}

// String renders the value as an OData literal.
func (v Value) String() string {
	var b strings.Builder
	v.write(&b)
	return b.String()
}

func (v Value) write(b *strings.Builder) {
	switch v.Kind {
	case KindNull:
		b.WriteString("null")
	case KindString:
		writeQuoted(b, v.Str)
	case KindGUID:
		b.WriteString(v.Str)
	case KindInt:
		b.WriteString(strconv.FormatInt(v.Int, 10))
	case KindFloat:
		b.WriteString(strconv.FormatFloat(v.Float, 'g', -1, 64))
	case KindBool:
		b.WriteString(strconv.FormatBool(v.Bool))
	case KindDateTime:
		b.WriteString(v.Time.Format(time.RFC3339Nano))
	default:
		b.WriteString("?")
	}
}
