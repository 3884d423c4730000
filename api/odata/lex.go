package odata

import (
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token of $filter.
type tokKind int

const (
	tkEOF tokKind = iota
	tkLParen
	tkRParen
	tkComma
	tkString   // text is the unescaped value
	tkInt      // text as written
	tkFloat    // text as written
	tkDateTime // text as written
	tkDate     // text as written
	tkGUID     // text as written
	tkTrue
	tkFalse
	tkNull
	tkIdent // text as written
	tkOp    // text is the lower-case operator keyword
	tkFunc  // text is the lower-case function name
)

type token struct {
	kind tokKind
	pos  int
	text string
}

// Operator keywords. An identifier spelt like one of these (in any case)
// and followed by white space or '(' is the operator, as in OData 4.01 and
// in godata's tokenizer.
var opWords = map[string]bool{
	"eq": true, "ne": true, "gt": true, "ge": true, "lt": true, "le": true,
	"and": true, "or": true, "not": true, "in": true, "has": true,
	"add": true, "sub": true, "mul": true, "div": true, "divby": true, "mod": true,
}

// Canonical OData function names. A word spelt like one of these and
// followed by white space or '(' is a call. Only contains, startswith and
// endswith are implemented; the others are recognised to say so.
var funcWords = map[string]bool{
	"contains": true, "startswith": true, "endswith": true,
	"substringof": true, "substring": true, "length": true, "indexof": true, "exists": true,
	"tolower": true, "toupper": true, "trim": true, "concat": true,
	"year": true, "month": true, "day": true, "hour": true, "minute": true, "second": true,
	"fractionalseconds": true, "date": true, "time": true, "totaloffsetminutes": true,
	"now": true, "maxdatetime": true, "mindatetime": true, "totalseconds": true,
	"round": true, "floor": true, "ceiling": true, "isof": true, "cast": true,
	"any": true, "all": true, "case": true,
}

// lexer splits a $filter value into tokens. White space is space or tab
// (OData's RWS also allows %20 and %09, which URL decoding has already
// turned into these).
type lexer struct {
	src string
	pos int
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func (l *lexer) skipSpace() {
	for l.pos < len(l.src) && isSpace(l.src[l.pos]) {
		l.pos++
	}
}

// next returns the next token or a syntax error.
func (l *lexer) next() (token, *Error) {
	l.skipSpace()
	start := l.pos
	if start >= len(l.src) {
		return token{kind: tkEOF, pos: start}, nil
	}
	rest := l.src[start:]
	c := rest[0]
	switch c {
	case '(':
		l.pos++
		return token{kind: tkLParen, pos: start}, nil
	case ')':
		l.pos++
		return token{kind: tkRParen, pos: start}, nil
	case ',':
		l.pos++
		return token{kind: tkComma, pos: start}, nil
	case '\'':
		return l.str()
	case '/':
		after := lowerASCII(rest[1:min(len(rest), 8)])
		switch {
		case strings.HasPrefix(after, "any(") || strings.HasPrefix(after, "all("):
			return token{}, filterErr(start, ReasonUnsupported, "the lambda operator %s is not supported", after[:3])
		case strings.HasPrefix(after, "$count"):
			return token{}, filterErr(start, ReasonUnsupported, "/$count in $filter is not supported")
		}
		return token{}, filterErr(start, ReasonUnsupported, "navigation paths (property/property) are not supported")
	case '$', '@':
		return token{}, filterErr(start, ReasonUnsupported, "%q: parameter aliases, $it, $root and $count are not supported", word(rest[1:], string(c)))
	}
	if n := matchGUID(rest); n > 0 {
		l.pos += n
		return token{kind: tkGUID, pos: start, text: rest[:n]}, nil
	}
	if n := matchDate(rest); n > 0 {
		if m := matchDateTimeTail(rest[n:]); m > 0 {
			l.pos += n + m
			return token{kind: tkDateTime, pos: start, text: rest[:n+m]}, nil
		}
		if n < len(rest) && (rest[n] == 'T' || rest[n] == 't') {
			return token{}, filterErr(start, ReasonSyntax, "malformed DateTimeOffset %q: write yyyy-mm-ddThh:mm[:ss[.fff]] followed by Z or ±hh:mm", word(rest, ""))
		}
		l.pos += n
		return token{kind: tkDate, pos: start, text: rest[:n]}, nil
	}
	if c == '-' || isDigit(c) {
		return l.number()
	}
	if isLetter(c) {
		n := 1
		for n < len(rest) && (isLetter(rest[n]) || isDigit(rest[n]) || rest[n] == '_' || rest[n] == '.') {
			n++
		}
		w := rest[:n]
		l.pos += n
		followed := n < len(rest) && (isSpace(rest[n]) || rest[n] == '(')
		lw := strings.ToLower(w)
		switch {
		case w == "true":
			return token{kind: tkTrue, pos: start, text: w}, nil
		case w == "false":
			return token{kind: tkFalse, pos: start, text: w}, nil
		case w == "null":
			return token{kind: tkNull, pos: start, text: w}, nil
		case followed && funcWords[lw]:
			return token{kind: tkFunc, pos: start, text: lw}, nil
		case followed && opWords[lw]:
			return token{kind: tkOp, pos: start, text: lw}, nil
		}
		return token{kind: tkIdent, pos: start, text: w}, nil
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return token{}, filterErr(start, ReasonSyntax, "unexpected character %q", r)
}

// word returns the run of non-space, non-delimiter bytes at the start of s,
// prefixed, for error messages.
func word(s, prefix string) string {
	n := 0
	for n < len(s) && n < 40 && !isSpace(s[n]) && s[n] != ')' && s[n] != '(' && s[n] != ',' {
		n++
	}
	return prefix + s[:n]
}

// str lexes a string literal in single quotes, where two single quotes
// stand for one.
func (l *lexer) str() (token, *Error) {
	start := l.pos
	var b strings.Builder
	i := start + 1
	for {
		j := strings.IndexByte(l.src[i:], '\'')
		if j < 0 {
			return token{}, filterErr(start, ReasonSyntax, "unterminated string literal")
		}
		b.WriteString(l.src[i : i+j])
		i += j + 1
		if i < len(l.src) && l.src[i] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		break
	}
	l.pos = i
	v := b.String()
	if strings.IndexByte(v, 0) >= 0 {
		return token{}, filterErr(start, ReasonSyntax, "string literal contains a NUL character")
	}
	return token{kind: tkString, pos: start, text: v}, nil
}

// number lexes -?digits(.digits)?.
func (l *lexer) number() (token, *Error) {
	start := l.pos
	s := l.src
	i := start
	if s[i] == '-' {
		i++
	}
	d := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == d {
		return token{}, filterErr(start, ReasonSyntax, "unexpected character '-'")
	}
	kind := tkInt
	if i+1 < len(s) && s[i] == '.' && isDigit(s[i+1]) {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		kind = tkFloat
	}
	l.pos = i
	return token{kind: kind, pos: start, text: s[start:i]}, nil
}

// matchGUID returns 36 if s starts with 8-4-4-4-12 hex digits.
func matchGUID(s string) int {
	if len(s) < 36 {
		return 0
	}
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return 0
			}
		default:
			if !isHex(s[i]) {
				return 0
			}
		}
	}
	return 36
}

// digits reports whether s[i:i+n] are all decimal digits.
func digits(s string, i, n int) bool {
	if i+n > len(s) {
		return false
	}
	for k := i; k < i+n; k++ {
		if !isDigit(s[k]) {
			return false
		}
	}
	return true
}

// matchDate returns 10 if s starts with yyyy-mm-dd.
func matchDate(s string) int {
	if digits(s, 0, 4) && len(s) >= 10 && s[4] == '-' && digits(s, 5, 2) && s[7] == '-' && digits(s, 8, 2) {
		return 10
	}
	return 0
}

// matchDateTimeTail returns the length of Thh:mm[:ss[.f+]](Z|±hh:mm) at the
// start of s, or 0.
func matchDateTimeTail(s string) int {
	if len(s) < 6 || s[0] != 'T' || !digits(s, 1, 2) || s[3] != ':' || !digits(s, 4, 2) {
		return 0
	}
	i := 6
	if i < len(s) && s[i] == ':' && digits(s, i+1, 2) {
		i += 3
		if i+1 < len(s) && s[i] == '.' && isDigit(s[i+1]) {
			i++
			for i < len(s) && isDigit(s[i]) {
				i++
			}
		}
	}
	switch {
	case i < len(s) && s[i] == 'Z':
		return i + 1
	case i < len(s) && (s[i] == '+' || s[i] == '-') && digits(s, i+1, 2) && i+3 < len(s) && s[i+3] == ':' && digits(s, i+4, 2):
		return i + 6
	}
	return 0
}

func filterErr(pos int, r Reason, format string, a ...any) *Error {
	return newErr("$filter", pos, r, format, a...)
}
