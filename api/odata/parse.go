package odata

import (
	"fmt"
	"unicode/utf8"
)

// nodeKind is the kind of a syntax-tree node: the shape of the text before
// any property or type is looked at.
type nodeKind int

const (
	nBinary nodeKind = iota // op: and or eq ne gt ge lt le has add sub mul div divby mod
	nNot                    // kids[0]
	nIn                     // kids[0] in list; kids[1:] are the items
	nCall                   // op is the function; kids are the arguments
	nIdent                  // tok
	nLit                    // tok
)

type node struct {
	kind nodeKind
	op   string
	tok  token
	pos  int
	kids []*node
}

// parser is a recursive-descent parser of $filter following OData's
// operator precedence: or < and < eq ne < gt ge lt le < not < in has.
type parser struct {
	lx       lexer
	tok      token
	depth    int
	maxDepth int
}

// parseSyntax parses src into a syntax tree.
func parseSyntax(src string, maxDepth int) (*node, *Error) {
	if !utf8.ValidString(src) {
		return nil, filterErr(-1, ReasonSyntax, "not valid UTF-8")
	}
	p := &parser{lx: lexer{src: src}, maxDepth: maxDepth}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tkEOF {
		return nil, filterErr(-1, ReasonSyntax, "empty expression")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tkEOF {
		return nil, p.unexpected("end of expression")
	}
	return n, nil
}

func (p *parser) advance() *Error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) isOp(ops ...string) bool {
	if p.tok.kind != tkOp {
		return false
	}
	for _, o := range ops {
		if p.tok.text == o {
			return true
		}
	}
	return false
}

func describe(t token) string {
	switch t.kind {
	case tkEOF:
		return "end of input"
	case tkLParen:
		return "'('"
	case tkRParen:
		return "')'"
	case tkComma:
		return "','"
	case tkString:
		return "string literal"
	case tkOp:
		return "operator " + t.text
	case tkFunc:
		return "function " + t.text
	}
	return fmt.Sprintf("%q", t.text)
}

func (p *parser) unexpected(want string) *Error {
	if p.tok.kind == tkIdent && opWords[lowerASCII(p.tok.text)] {
		return filterErr(p.tok.pos, ReasonSyntax, "operator %s needs white space and an operand after it", p.tok.text)
	}
	return filterErr(p.tok.pos, ReasonSyntax, "expected %s, found %s", want, describe(p.tok))
}

func (p *parser) binary(next func() (*node, *Error), ops ...string) (*node, *Error) {
	left, err := next()
	if err != nil {
		return nil, err
	}
	for p.isOp(ops...) {
		op := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := next()
		if err != nil {
			return nil, err
		}
		left = &node{kind: nBinary, op: op.text, pos: op.pos, kids: []*node{left, right}}
	}
	return left, nil
}

func (p *parser) or() (*node, *Error) { return p.binary(p.and, "or") }
func (p *parser) and() (*node, *Error) {
	return p.binary(p.equality, "and")
}
func (p *parser) equality() (*node, *Error) {
	return p.binary(p.relational, "eq", "ne")
}
func (p *parser) relational() (*node, *Error) {
	return p.binary(p.additive, "gt", "ge", "lt", "le")
}

// additive and multiplicative exist so arithmetic is reported as
// unsupported with its position rather than as a syntax error.
func (p *parser) additive() (*node, *Error) {
	return p.binary(p.multiplicative, "add", "sub")
}
func (p *parser) multiplicative() (*node, *Error) {
	return p.binary(p.unary, "mul", "div", "divby", "mod")
}

func (p *parser) enter() *Error {
	p.depth++
	if p.depth > p.maxDepth {
		return filterErr(p.tok.pos, ReasonLimit, "expression nested deeper than %d levels", p.maxDepth)
	}
	return nil
}

func (p *parser) unary() (*node, *Error) {
	if !p.isOp("not") {
		return p.membership()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	pos := p.tok.pos
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	return &node{kind: nNot, pos: pos, kids: []*node{x}}, nil
}

func (p *parser) membership() (*node, *Error) {
	left, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.isOp("in", "has") {
		op := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		if op.text == "has" {
			right, err := p.primary()
			if err != nil {
				return nil, err
			}
			left = &node{kind: nBinary, op: "has", pos: op.pos, kids: []*node{left, right}}
			continue
		}
		if p.tok.kind != tkLParen {
			return nil, p.unexpected("'(' starting the list after in")
		}
		items, err := p.list()
		if err != nil {
			return nil, err
		}
		left = &node{kind: nIn, pos: op.pos, kids: append([]*node{left}, items...)}
	}
	return left, nil
}

// list parses ( expr {, expr} ); the current token is '('.
func (p *parser) list() ([]*node, *Error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if err := p.advance(); err != nil {
		return nil, err
	}
	var items []*node
	if p.tok.kind == tkRParen {
		return nil, filterErr(p.tok.pos, ReasonSyntax, "empty list")
	}
	for {
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		items = append(items, x)
		switch p.tok.kind {
		case tkComma:
			if err := p.advance(); err != nil {
				return nil, err
			}
			continue
		case tkRParen:
			if err := p.advance(); err != nil {
				return nil, err
			}
			return items, nil
		}
		return nil, p.unexpected("',' or ')'")
	}
}

func (p *parser) primary() (*node, *Error) {
	t := p.tok
	switch t.kind {
	case tkLParen:
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind == tkComma {
			return nil, filterErr(p.tok.pos, ReasonSyntax, "a list is allowed only after in")
		}
		if p.tok.kind != tkRParen {
			return nil, p.unexpected("')'")
		}
		return x, p.advance()
	case tkFunc:
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tkLParen {
			return nil, p.unexpected("'(' after function " + t.text)
		}
		args, err := p.list()
		if err != nil {
			return nil, err
		}
		return &node{kind: nCall, op: t.text, pos: t.pos, kids: args}, nil
	case tkIdent:
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tkLParen {
			return nil, filterErr(p.tok.pos, ReasonUnsupported, "%q is not a supported function, and key segments are not supported", t.text)
		}
		return &node{kind: nIdent, tok: t, pos: t.pos}, nil
	case tkString, tkInt, tkFloat, tkDateTime, tkDate, tkGUID, tkTrue, tkFalse, tkNull:
		return &node{kind: nLit, tok: t, pos: t.pos}, p.advance()
	}
	return nil, p.unexpected("a property, a literal, '(' or not")
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
