package odata

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/CiscoM31/godata"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// FuzzFilter checks, for any $filter text, that:
//
//	(a) ParseFilter never panics and fails only with *Error;
//	(b) an accepted filter compiles, in both dialects, to SQL whose only
//	    identifiers are whitelisted columns and keywords, with no quoted
//	    text but the ESCAPE constant, and one argument per literal;
//	(c) it agrees with github.com/CiscoM31/godata on accept/reject within
//	    the supported subset, and on the tree (precedence, operands);
//	(d) the SQLite SQL runs against an in-memory table and selects exactly
//	    the rows the OData evaluator selects.
func FuzzFilter(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	s := alertSchemaNanos()
	if err := s.Check(); err != nil {
		f.Fatal(err)
	}
	db := openAlertsDB(f, s)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, in string) {
		e, err := ParseFilter(s, in)
		var oe *Error
		if err != nil && !errors.As(err, &oe) {
			t.Fatalf("error %T %v is not *Error", err, err)
		}
		if oe != nil && (oe.Pos < -1 || oe.Pos > len(in) || oe.Code != CodeBadRequest) {
			t.Fatalf("bad error position or code: %+v", oe)
		}
		checkOracle(t, s, in, e, oe)
		if e == nil {
			return
		}
		for _, d := range []Dialect{SQLite, Postgres} {
			where, args := Where(s, e, d, 7)
			checkSQLShape(t, s, d, where, args, countLiterals(e), 7)
		}
		where, args := Where(s, e, SQLite, 1)
		got, qerr := queryIDs(db, where, args)
		if qerr != nil {
			t.Fatalf("%q -> %s %v: %v", in, where, args, qerr)
		}
		if want := evalIDs(s, e); !slices.Equal(got, want) {
			t.Fatalf("%q -> %s %v\nSQLite %q\neval   %q", in, where, args, got, want)
		}
	})
}

func fuzzSeeds(tb testing.TB) []string {
	var seeds []string
	for _, file := range []string{"graph-docs-filters.txt", "partner-alert-filters.txt"} {
		fh, err := os.Open(filepath.Join("testdata", file))
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
				seeds = append(seeds, line)
			}
		}
		fh.Close()
	}
	for _, c := range sqliteCases {
		seeds = append(seeds, c.filter)
	}
	return append(seeds,
		"status eq 'active'", "(status eq 'a')", "not not isTest", "5 lt count",
		"status in ('active')", "count eq -1.5", "detectedDateTime ge 2026-11-01T00:00Z",
		"detectedDateTime ge 2026-11-01T00:00:00+14:00", "displayName eq ''''", "displayName eq ''",
		"displayName eq 'P1D'", "contains(displayName,'%') or not contains(displayName,'_')",
		"isTest eq null or isTest ne null", "(isTest)", "true", "not(false)", "status eq'active'",
		"Status Eq 'ACTIVE' AND Count Gt 2", "detectedDateTime le 2024-01-23", "resolvedBy in (null)",
	)
}

// countLiterals counts the values the SQL must pass as arguments.
func countLiterals(e Expr) int {
	switch e := e.(type) {
	case *And:
		return countLiterals(e.Left) + countLiterals(e.Right)
	case *Or:
		return countLiterals(e.Left) + countLiterals(e.Right)
	case *Not:
		return countLiterals(e.X)
	case *Compare:
		if e.Value.Kind == KindNull {
			return 0
		}
		return 1
	case *In:
		n := 0
		for _, v := range e.Values {
			if v.Kind != KindNull {
				n++
			}
		}
		return n
	case *Call, *Const:
		return 1
	}
	return 0
}

var sqlKeywords = map[string]bool{"AND": true, "OR": true, "NOT": true, "IS": true, "NULL": true, "IN": true, "LIKE": true, "ILIKE": true, "ESCAPE": true}

var pgPlaceholder = regexp.MustCompile(`\$[0-9]+`)

// checkSQLShape asserts property (b).
func checkSQLShape(t *testing.T, s *Schema, d Dialect, where string, args []any, literals, start int) {
	t.Helper()
	cols := map[string]bool{}
	for _, p := range s.Props {
		if p.Column != "" {
			cols[p.Column] = true
		}
	}
	if len(args) != literals {
		t.Fatalf("%s: %d args for %d literals: %s", d, len(args), literals, where)
	}
	rest := where
	switch d {
	case Postgres:
		ph := pgPlaceholder.FindAllString(rest, -1)
		if len(ph) != len(args) {
			t.Fatalf("%d placeholders, %d args: %s", len(ph), len(args), where)
		}
		for i, p := range ph {
			if p != "$"+strconv.Itoa(start+i) {
				t.Fatalf("placeholder %d is %s: %s", i, p, where)
			}
		}
		rest = pgPlaceholder.ReplaceAllString(rest, " ")
		if strings.Contains(rest, "?") {
			t.Fatalf("? in PostgreSQL SQL: %s", where)
		}
	default:
		if n := strings.Count(rest, "?"); n != len(args) {
			t.Fatalf("%d placeholders, %d args: %s", n, len(args), where)
		}
		rest = strings.ReplaceAll(rest, "?", " ")
	}
	rest = strings.ReplaceAll(rest, ` ESCAPE '\'`, " ESCAPE ")
	for _, w := range strings.FieldsFunc(rest, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
	}) {
		if !sqlKeywords[w] && !cols[w] {
			t.Fatalf("word %q in SQL is neither a keyword nor a column: %s", w, where)
		}
	}
	if strings.ContainsAny(rest, "'\";-\\/*") {
		t.Fatalf("unexpected punctuation in SQL: %s", where)
	}
}

// checkOracle asserts property (c). godata is a syntax-level parser; the
// oracle below decides whether its tree lies in the subset this package
// supports against the schema, and renders it in the same canonical form
// as ourCanon. Known differences, each excluded here:
//   - godata's white space is the space only; OData's also includes tab.
//   - godata reads 'P1D' (any ISO 8601 duration in quotes) as a duration
//     and accepts duration'P1D'; here a quoted duration is a string.
//   - our own size limits (ReasonLimit) do not exist in godata.
//   - godata, which does not know types, rejects a filter that is a bare
//     property ("isTest"); OData allows a Boolean property there.
//   - godata reads ':' (the lambda separator) as ',' everywhere, so it
//     accepts status in ('a':'b').
//   - godata needs no space after null, true and false: "x eq nullor y".
func checkOracle(t *testing.T, s *Schema, in string, e Expr, oe *Error) {
	t.Helper()
	if strings.Contains(in, "\t") || strings.Contains(in, "duration'") || (oe != nil && oe.Reason == ReasonLimit) || godataLenient(in) {
		return
	}
	if _, bare := e.(*BoolProp); bare {
		return
	}
	canon, ok := godataCanon(s, in)
	switch {
	case e != nil && !ok:
		t.Fatalf("%q: accepted as %s, but godata rejects it or it is outside the subset", in, e)
	case e != nil && canon != ourCanon(e):
		t.Fatalf("%q: trees differ\n ours   %s\n godata %s", in, ourCanon(e), canon)
	case e == nil && ok:
		t.Fatalf("%q: rejected (%v), but godata accepts it as %s", in, oe, canon)
	}
}

var (
	stringLit = regexp.MustCompile(`'(''|[^'])*'`)
	gluedWord = regexp.MustCompile(`\b(null|true|false)[A-Za-z0-9_.]`)
)

// godataLenient reports inputs that godata accepts against the OData ABNF
// in the ways listed at checkOracle.
func godataLenient(in string) bool {
	toks, err := godata.GlobalFilterTokenizer.Tokenize(context.Background(), in)
	if err != nil {
		return false
	}
	for _, tk := range toks {
		if tk.Type == godata.ExpressionTokenColon {
			return true
		}
	}
	return gluedWord.MatchString(stringLit.ReplaceAllString(in, "''"))
}

// godataCanon parses with godata and renders the tree, reporting false when
// godata rejects the text (or panics) or the tree is outside the subset.
func godataCanon(s *Schema, in string) (canon string, ok bool) {
	defer func() {
		if recover() != nil {
			canon, ok = "", false
		}
	}()
	if !utf8.ValidString(in) { // godata reads any bytes; a URL's text is UTF-8
		return "", false
	}
	q, err := godata.ParseFilterString(context.Background(), in)
	if err != nil || q == nil || q.Tree == nil {
		return "", false
	}
	return oracleExpr(s, q.Tree)
}

func tokType(n *godata.ParseNode) godata.TokenType { return n.Token.Type }

func oracleExpr(s *Schema, n *godata.ParseNode) (string, bool) {
	switch tokType(n) {
	case godata.ExpressionTokenLogical:
		switch v := n.Token.Value; v {
		case "and", "or":
			if len(n.Children) != 2 {
				return "", false
			}
			l, ok1 := oracleExpr(s, n.Children[0])
			r, ok2 := oracleExpr(s, n.Children[1])
			return "(" + v + " " + l + " " + r + ")", ok1 && ok2
		case "not":
			if len(n.Children) != 1 {
				return "", false
			}
			x, ok := oracleExpr(s, n.Children[0])
			return "(not " + x + ")", ok
		case "eq", "ne", "gt", "ge", "lt", "le":
			return oracleCompare(s, v, n)
		case "in":
			return oracleIn(s, n)
		}
	case godata.ExpressionTokenFunc:
		return oracleCall(s, n)
	case godata.ExpressionTokenLiteral:
		name, p, ok := oracleProp(s, n)
		if !ok || p.Type != Bool {
			return "", false
		}
		return name, true
	case godata.ExpressionTokenBoolean:
		return n.Token.Value, len(n.Children) == 0
	}
	return "", false
}

func oracleProp(s *Schema, n *godata.ParseNode) (string, Prop, bool) {
	if tokType(n) != godata.ExpressionTokenLiteral || len(n.Children) != 0 {
		return "", Prop{}, false
	}
	for name, p := range s.Props {
		if strings.EqualFold(name, n.Token.Value) && p.Column != "" {
			return name, p, true
		}
	}
	return "", Prop{}, false
}

func oracleCompare(s *Schema, op string, n *godata.ParseNode) (string, bool) {
	if len(n.Children) != 2 {
		return "", false
	}
	l, r := n.Children[0], n.Children[1]
	if tokType(l) != godata.ExpressionTokenLiteral {
		l, r = r, l
		op = map[string]string{"gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}[op] + map[string]string{"eq": "eq", "ne": "ne"}[op]
	}
	name, p, ok := oracleProp(s, l)
	if !ok {
		return "", false
	}
	v, ok := oracleValue(p, r)
	if !ok {
		return "", false
	}
	if op != "eq" && op != "ne" && (v == "null" || len(p.Enum) > 0 || p.Type == Bool || p.Type == GUID) {
		return "", false
	}
	return "(" + op + " " + name + " " + v + ")", true
}

func oracleIn(s *Schema, n *godata.ParseNode) (string, bool) {
	if len(n.Children) != 2 || tokType(n.Children[1]) != godata.TokenTypeListExpr {
		return "", false
	}
	name, p, ok := oracleProp(s, n.Children[0])
	items := n.Children[1].Children
	if !ok || len(items) == 0 {
		return "", false
	}
	out := "(in " + name
	for _, it := range items {
		v, ok := oracleValue(p, it)
		if !ok {
			return "", false
		}
		out += " " + v
	}
	return out + ")", true
}

func oracleCall(s *Schema, n *godata.ParseNode) (string, bool) {
	f := n.Token.Value
	if f != "contains" && f != "startswith" && f != "endswith" || len(n.Children) != 2 {
		return "", false
	}
	name, p, ok := oracleProp(s, n.Children[0])
	if !ok || !p.StringFuncs {
		return "", false
	}
	arg, ok := oracleString(n.Children[1])
	if !ok {
		return "", false
	}
	return "(" + f + " " + name + " " + arg + ")", true
}

// oracleString renders a string literal's value with quotes dropped (godata
// unescapes doubled quotes imperfectly, so quotes are not compared).
func oracleString(n *godata.ParseNode) (string, bool) {
	if len(n.Children) != 0 {
		return "", false
	}
	v := n.Token.Value
	switch tokType(n) {
	case godata.ExpressionTokenString:
		if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			return "", false
		}
		v = v[1 : len(v)-1]
	case godata.ExpressionTokenDuration:
	default:
		return "", false
	}
	if strings.Contains(v, "\x00") {
		return "", false
	}
	return "'" + strings.ReplaceAll(v, "'", "") + "'", true
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func oracleValue(p Prop, n *godata.ParseNode) (string, bool) {
	if len(n.Children) != 0 {
		return "", false
	}
	v := n.Token.Value
	typ := tokType(n)
	if typ == godata.ExpressionTokenNull {
		return "null", true
	}
	switch p.Type {
	case String:
		str, ok := oracleString(n)
		if !ok || len(p.Enum) == 0 {
			return str, ok
		}
		for _, m := range p.Enum {
			if strings.EqualFold("'"+m+"'", str) && strings.Count(v, "'") <= 2 {
				return "'" + m + "'", true
			}
		}
	case GUID:
		if typ == godata.ExpressionTokenGuid && guidRe.MatchString(v) {
			return strings.ToLower(v), true
		}
		if str, ok := oracleString(n); ok && typ == godata.ExpressionTokenString && guidRe.MatchString(strings.Trim(str, "'")) && strings.Count(v, "'") == 2 {
			return strings.ToLower(strings.Trim(str, "'")), true
		}
	case Int:
		if typ == godata.ExpressionTokenInteger {
			i, err := strconv.ParseInt(v, 10, 64)
			return strconv.FormatInt(i, 10), err == nil
		}
	case Float:
		if typ == godata.ExpressionTokenInteger || typ == godata.ExpressionTokenFloat {
			f, err := strconv.ParseFloat(v, 64)
			return strconv.FormatFloat(f, 'g', -1, 64), err == nil
		}
	case Bool:
		if typ == godata.ExpressionTokenBoolean {
			return v, true
		}
	case DateTime:
		var tm time.Time
		var err error
		switch {
		case typ == godata.ExpressionTokenDate && !strings.HasPrefix(v, "-"):
			tm, err = time.Parse("2006-01-02", v)
		case typ == godata.ExpressionTokenDateTime && !strings.Contains(v, ","):
			tm, err = time.Parse(time.RFC3339Nano, v)
			if err != nil {
				tm, err = time.Parse("2006-01-02T15:04Z07:00", v)
			}
		default:
			return "", false
		}
		return tm.UTC().Format(time.RFC3339Nano), err == nil
	}
	return "", false
}

// ourCanon renders an Expr in the oracle's form: as String, but with the
// quotes inside string values dropped.
func ourCanon(e Expr) string {
	switch e := e.(type) {
	case *And:
		return "(and " + ourCanon(e.Left) + " " + ourCanon(e.Right) + ")"
	case *Or:
		return "(or " + ourCanon(e.Left) + " " + ourCanon(e.Right) + ")"
	case *Not:
		return "(not " + ourCanon(e.X) + ")"
	case *Compare:
		return "(" + e.Op.String() + " " + e.Prop + " " + canonValue(e.Value) + ")"
	case *In:
		out := "(in " + e.Prop
		for _, v := range e.Values {
			out += " " + canonValue(v)
		}
		return out + ")"
	case *Call:
		return "(" + e.Func.String() + " " + e.Prop + " '" + strings.ReplaceAll(e.Arg, "'", "") + "')"
	}
	return e.String()
}

func canonValue(v Value) string {
	if v.Kind == KindString {
		return "'" + strings.ReplaceAll(v.Str, "'", "") + "'"
	}
	return v.String()
}

// TestOracleSeeds runs the fuzz checks on the seeds as a plain test, so they
// hold in every go test run, not only under -fuzz.
func TestOracleSeeds(t *testing.T) {
	s := alertSchemaNanos()
	db := openAlertsDB(t, s)
	for _, in := range fuzzSeeds(t) {
		e, err := ParseFilter(s, in)
		var oe *Error
		if err != nil && !errors.As(err, &oe) {
			t.Fatalf("%q: %v", in, err)
		}
		checkOracle(t, s, in, e, oe)
		if e == nil {
			continue
		}
		for _, d := range []Dialect{SQLite, Postgres} {
			where, args := Where(s, e, d, 7)
			checkSQLShape(t, s, d, where, args, countLiterals(e), 7)
		}
		where, args := Where(s, e, SQLite, 1)
		got, qerr := queryIDs(db, where, args)
		if qerr != nil {
			t.Fatalf("%q -> %s: %v", in, where, qerr)
		}
		if want := evalIDs(s, e); !slices.Equal(got, want) {
			t.Fatalf("%q -> %s\nSQLite %q\neval   %q", in, where, got, want)
		}
	}
}
