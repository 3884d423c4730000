package odata

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Values from the example response on Graph's "List securityAlerts" page.
const (
	tenant = "1889e718-414b-4bad-8bbe-c1135bd39a41"
	sub    = "5f6e6521-6e5f-4b0b-80aa-bd44fad7a398"
)

func TestFilterValid(t *testing.T) {
	s := alertSchema()
	cases := []struct {
		in     string
		ast    string
		sqlite string
		pg     string
		args   []any
	}{
		{
			in:     "status eq 'active'",
			ast:    "(eq status 'active')",
			sqlite: "status = ?", pg: "status = $3", args: []any{"active"},
		},
		{
			in:     "status in ('active','investigating')",
			ast:    "(in status 'active' 'investigating')",
			sqlite: "status IN (?, ?)", pg: "status IN ($3, $4)", args: []any{"active", "investigating"},
		},
		{ // enumeration members match case-insensitively and take the schema's spelling
			in:     "Status EQ 'Active' or SEVERITY eq 'HIGH'",
			ast:    "(or (eq status 'active') (eq severity 'high'))",
			sqlite: "(status = ? OR severity = ?)", pg: "(status = $3 OR severity = $4)", args: []any{"active", "high"},
		},
		{
			in:     "detectedDateTime ge 2026-11-01T00:00:00Z and detectedDateTime lt 2026-11-02T00:00:00Z",
			ast:    "(and (ge detectedDateTime 2026-11-01T00:00:00Z) (lt detectedDateTime 2026-11-02T00:00:00Z))",
			sqlite: "detected_at >= ? AND detected_at < ?", pg: "detected_at >= $3 AND detected_at < $4",
			args: []any{ts("2026-11-01T00:00:00Z"), ts("2026-11-02T00:00:00Z")},
		},
		{ // offsets are converted to UTC; fractions are kept; a bare date is midnight UTC
			in:     "lastObservedDateTime gt 2024-01-23T17:03:33.05+01:00 or firstObservedDateTime le 2024-01-23",
			ast:    "(or (gt lastObservedDateTime 2024-01-23T16:03:33.05Z) (le firstObservedDateTime 2024-01-23T00:00:00Z))",
			sqlite: "(last_observed > ? OR first_observed <= ?)", pg: "(last_observed > $3 OR first_observed <= $4)",
			args: []any{ts("2024-01-23T16:03:33.05Z"), ts("2024-01-23T00:00:00Z")},
		},
		{ // GUIDs bare (as OData writes them) or quoted, normalised to lower case
			in:     "customerTenantId eq 1889E718-414B-4BAD-8BBE-C1135BD39A41 and subscriptionId eq '" + sub + "'",
			ast:    "(and (eq customerTenantId " + tenant + ") (eq subscriptionId " + sub + "))",
			sqlite: "tenant_id = ? AND subscription_id = ?", pg: "tenant_id = $3 AND subscription_id = $4",
			args: []any{tenant, sub},
		},
		{ // ne on a nullable column keeps OData's meaning: null ne 'x' is true
			in:     "resolvedReason ne 'fraud'",
			ast:    "(ne resolvedReason 'fraud')",
			sqlite: "(resolved_reason <> ? OR resolved_reason IS NULL)", pg: "(resolved_reason <> $3 OR resolved_reason IS NULL)",
			args: []any{"fraud"},
		},
		{ // not is pushed down: not(a and b) is (not a) or (not b)
			in:     "not (status eq 'resolved' and resolvedReason eq 'legitimate')",
			ast:    "(not (and (eq status 'resolved') (eq resolvedReason 'legitimate')))",
			sqlite: "(status <> ? OR (resolved_reason <> ? OR resolved_reason IS NULL))",
			pg:     "(status <> $3 OR (resolved_reason <> $4 OR resolved_reason IS NULL))",
			args:   []any{"resolved", "legitimate"},
		},
		{ // not(null gt x) is true in OData
			in:     "not(resolvedOnDateTime gt 2026-01-01T00:00:00Z)",
			ast:    "(not (gt resolvedOnDateTime 2026-01-01T00:00:00Z))",
			sqlite: "(resolved_on <= ? OR resolved_on IS NULL)", pg: "(resolved_on <= $3 OR resolved_on IS NULL)",
			args: []any{ts("2026-01-01T00:00:00Z")},
		},
		{
			in:     "resolvedBy eq null or resolvedOnDateTime ne null",
			ast:    "(or (eq resolvedBy null) (ne resolvedOnDateTime null))",
			sqlite: "(resolved_by IS NULL OR resolved_on IS NOT NULL)", pg: "(resolved_by IS NULL OR resolved_on IS NOT NULL)",
		},
		{
			in:     "not (resolvedBy eq null)",
			ast:    "(not (eq resolvedBy null))",
			sqlite: "resolved_by IS NOT NULL", pg: "resolved_by IS NOT NULL",
		},
		{ // null in a list
			in:     "resolvedReason in (null, 'ignore')",
			ast:    "(in resolvedReason null 'ignore')",
			sqlite: "(resolved_reason IN (?) OR resolved_reason IS NULL)", pg: "(resolved_reason IN ($3) OR resolved_reason IS NULL)",
			args: []any{"ignore"},
		},
		{
			in:     "not(resolvedReason in ('ignore','fraud'))",
			ast:    "(not (in resolvedReason 'ignore' 'fraud'))",
			sqlite: "(resolved_reason NOT IN (?, ?) OR resolved_reason IS NULL)",
			pg:     "(resolved_reason NOT IN ($3, $4) OR resolved_reason IS NULL)",
			args:   []any{"ignore", "fraud"},
		},
		{
			in:     "not(resolvedReason in (null,'fraud'))",
			ast:    "(not (in resolvedReason null 'fraud'))",
			sqlite: "(resolved_reason NOT IN (?) AND resolved_reason IS NOT NULL)",
			pg:     "(resolved_reason NOT IN ($3) AND resolved_reason IS NOT NULL)",
			args:   []any{"fraud"},
		},
		{
			in:     "resolvedReason in (null)",
			ast:    "(in resolvedReason null)",
			sqlite: "resolved_reason IS NULL", pg: "resolved_reason IS NULL",
		},
		{ // string functions: wildcards in the argument are escaped
			in:     "contains(displayName,'crypto') and startsWith(alertType, 'network') and endswith(description,'50%_off\\')",
			ast:    `(and (and (contains displayName 'crypto') (startswith alertType 'network')) (endswith description '50%_off\'))`,
			sqlite: `display_name LIKE ? ESCAPE '\' AND alert_type LIKE ? ESCAPE '\' AND description LIKE ? ESCAPE '\'`,
			pg:     `display_name ILIKE $3 ESCAPE '\' AND alert_type ILIKE $4 ESCAPE '\' AND description ILIKE $5 ESCAPE '\'`,
			args:   []any{"%crypto%", "network%", `%50\%\_off\\`},
		},
		{ // not of a function stays three-valued, as in OData
			in:     "not contains(resolvedBy,'@contoso.com')",
			ast:    "(not (contains resolvedBy '@contoso.com'))",
			sqlite: `resolved_by NOT LIKE ? ESCAPE '\'`, pg: `resolved_by NOT ILIKE $3 ESCAPE '\'`,
			args: []any{"%@contoso.com%"},
		},
		{ // quotes inside strings
			in:     "displayName eq 'Customer''s VM'",
			ast:    "(eq displayName 'Customer''s VM')",
			sqlite: "display_name = ?", pg: "display_name = $3", args: []any{"Customer's VM"},
		},
		{ // a literal on the left mirrors the operator
			in:     "5 lt count",
			ast:    "(gt count 5)",
			sqlite: "event_count > ?", pg: "event_count > $3", args: []any{int64(5)},
		},
		{
			in:     "count ge -1 and count le 9223372036854775807",
			ast:    "(and (ge count -1) (le count 9223372036854775807))",
			sqlite: "event_count >= ? AND event_count <= ?", pg: "event_count >= $3 AND event_count <= $4",
			args: []any{int64(-1), int64(9223372036854775807)},
		},
		{ // bare Boolean properties and literals
			in:     "isTest or not isTest or true",
			ast:    "(or (or isTest (not isTest)) true)",
			sqlite: "((is_test OR NOT is_test) OR ?)", pg: "((is_test OR NOT is_test) OR $3)", args: []any{true},
		},
		{
			in:     "isTest eq false",
			ast:    "(eq isTest false)",
			sqlite: "is_test = ?", pg: "is_test = $3", args: []any{false},
		},
		{ // precedence: and binds tighter than or; not tighter than and
			in:     "status eq 'active' or severity eq 'high' and not isTest",
			ast:    "(or (eq status 'active') (and (eq severity 'high') (not isTest)))",
			sqlite: "(status = ? OR severity = ? AND NOT is_test)", pg: "(status = $3 OR severity = $4 AND NOT is_test)",
			args: []any{"active", "high"},
		},
		{ // parentheses, spaces and tabs
			in:     "( ( status eq 'active' )or(severity\teq 'low') )and count gt 1",
			ast:    "(and (or (eq status 'active') (eq severity 'low')) (gt count 1))",
			sqlite: "(status = ? OR severity = ?) AND event_count > ?", pg: "(status = $3 OR severity = $4) AND event_count > $5",
			args: []any{"active", "low", int64(1)},
		},
		{ // De Morgan over or
			in:     "not(status eq 'active' or count gt 3)",
			ast:    "(not (or (eq status 'active') (gt count 3)))",
			sqlite: "status <> ? AND event_count <= ?", pg: "status <> $3 AND event_count <= $4",
			args: []any{"active", int64(3)},
		},
		{ // double negation
			in:     "not not (confidenceLevel eq 'high')",
			ast:    "(not (not (eq confidenceLevel 'high')))",
			sqlite: "confidence = ?", pg: "confidence = $3", args: []any{"high"},
		},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			e, err := ParseFilter(s, c.in)
			if err != nil {
				t.Fatalf("ParseFilter: %v", err)
			}
			if got := e.String(); got != c.ast {
				t.Errorf("AST\n got %s\nwant %s", got, c.ast)
			}
			for _, d := range []struct {
				d    Dialect
				want string
			}{{SQLite, c.sqlite}, {Postgres, c.pg}} {
				sql, args := Where(s, e, d.d, 3)
				if sql != d.want {
					t.Errorf("%s SQL\n got %s\nwant %s", d.d, sql, d.want)
				}
				if len(args) != len(c.args) || (len(args) > 0 && !reflect.DeepEqual(args, c.args)) {
					t.Errorf("%s args\n got %#v\nwant %#v", d.d, args, c.args)
				}
			}
		})
	}
}

func TestFilterInvalid(t *testing.T) {
	s := alertSchema()
	cases := []struct {
		in     string
		reason Reason
		pos    int
		msg    string // substring of the message
	}{
		{"detectedDateTime ge 'yesterday'", ReasonType, 20, "property detectedDateTime is an Edm.DateTimeOffset and cannot be compared with the string 'yesterday'; DateTimeOffset values are written without quotes"},
		{"detectedDateTime ge '2026-11-01T00:00:00Z'", ReasonType, 20, "without quotes"},
		{"detectedDateTime gt 5", ReasonType, 20, "cannot be compared with the integer 5"},
		{"status eq 'closed'", ReasonType, 10, "'closed' is not a value of status, which is one of: active, resolved, investigating, unknownFutureValue"},
		{"status gt 'active'", ReasonType, 7, "status is an enumeration: use eq, ne or in, not gt"},
		{"status eq active", ReasonUnsupported, 7, "comparing two properties"},
		{"colour eq 'red'", ReasonUnknownProperty, 0, `unknown property "colour"`},
		{"activityLogs eq 'x'", ReasonUnknownProperty, 0, "activityLogs cannot be used in $filter"},
		{"customerTenantId eq 'contoso'", ReasonType, 20, "write a GUID"},
		{"customerTenantId gt " + tenant, ReasonType, 17, "has no order"},
		{"count eq 1.5", ReasonType, 9, "cannot be compared with the number 1.5"},
		{"count eq 99999999999999999999", ReasonType, 9, "out of range"},
		{"count eq '1'", ReasonType, 9, "cannot be compared with the string '1'"},
		{"isTest eq 'true'", ReasonType, 10, "write true or false"},
		{"isTest gt false", ReasonType, 7, "has no order"},
		{"resolvedOnDateTime gt null", ReasonType, 22, "null can be compared with eq and ne only"},
		{"detectedDateTime ge 2026-02-30T00:00:00Z", ReasonType, 20, "not a valid date and time"},
		{"detectedDateTime ge 2026-11-01T24:00:00Z", ReasonType, 20, "not a valid date and time"},
		{"detectedDateTime ge 2026-11-01T00:00:00", ReasonSyntax, 20, "malformed DateTimeOffset"},
		{"status", ReasonType, 0, "property status is an enumeration (active, resolved, investigating, unknownFutureValue), not a Boolean condition"},
		{"'active'", ReasonType, 0, "not a Boolean condition"},
		{"1 eq 1", ReasonUnsupported, 2, "compares two literals"},
		{"status eq 'active' and", ReasonSyntax, 19, "operator and needs white space and an operand"},
		{"status eq 'active' and ", ReasonSyntax, 23, "expected a property, a literal, '(' or not, found end of input"},
		{"status eq 'active", ReasonSyntax, 10, "unterminated string literal"},
		{"(status eq 'active'", ReasonSyntax, 19, "expected ')'"},
		{"status eq 'active')", ReasonSyntax, 18, "expected end of expression"},
		{"status eq 'a' 'b'", ReasonSyntax, 14, "expected end of expression, found string literal"},
		{"status in ()", ReasonSyntax, 11, "empty list"},
		{"status in 'active'", ReasonSyntax, 10, "'(' starting the list after in"},
		{"(status, severity) eq 'x'", ReasonSyntax, 7, "a list is allowed only after in"},
		{"status in ('active', severity)", ReasonUnsupported, 21, "literals only"},
		{"count add 1 eq 2", ReasonUnsupported, 6, "arithmetic operator add"},
		{"alertType has 'x'", ReasonUnsupported, 10, "operator has"},
		{"tolower(displayName) eq 'x'", ReasonUnsupported, 0, "function tolower is not supported"},
		{"contains(status,'act')", ReasonType, 9, "contains cannot be used on property status"},
		{"contains(customerTenantId,'1889')", ReasonType, 9, "contains cannot be used on property customerTenantId"},
		{"contains('x', displayName)", ReasonUnsupported, 9, "first argument of contains must be a property"},
		{"contains(displayName, 5)", ReasonType, 22, "second argument of contains must be a string literal"},
		{"contains(displayName)", ReasonSyntax, 0, "contains takes 2 arguments, got 1"},
		{"contains(displayName,'a') eq true", ReasonUnsupported, 0, "each side of eq must be a property or a literal"},
		{"affectedResources/any(r:r/resourceType eq 'AzureResource')", ReasonUnsupported, 17, "lambda operator any is not supported"},
		{"@p eq 1", ReasonUnsupported, 0, "parameter aliases"},
		{"status eq 'active' & severity eq 'high'", ReasonSyntax, 19, "unexpected character '&'"},
		{"", ReasonSyntax, -1, "empty expression"},
		{"   ", ReasonSyntax, -1, "empty expression"},
		{"status eq 'caf\xe9'", ReasonSyntax, -1, "not valid UTF-8"},
		{"displayName eq 'a\x00b'", ReasonSyntax, 15, "NUL"},
		{"displayName(1) eq 'x'", ReasonUnsupported, 11, "key segments"},
		{strings.Repeat("(", 70) + "isTest" + strings.Repeat(")", 70), ReasonLimit, 64, "nested deeper than 64"},
		{"status eq '" + strings.Repeat("x", 5000) + "'", ReasonLimit, -1, "longer than 4096 bytes"},
		{"status in (" + strings.Repeat("'active',", 100) + "'active')", ReasonLimit, 7, "more than 100 values"},
	}
	for _, c := range cases {
		name := c.in
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			e, err := ParseFilter(s, c.in)
			if err == nil {
				t.Fatalf("accepted as %s", e)
			}
			var oe *Error
			if !errors.As(err, &oe) {
				t.Fatalf("error %T %v is not *Error", err, err)
			}
			if oe.Reason != c.reason || oe.Pos != c.pos || oe.Option != "$filter" || oe.Code != "BadRequest" {
				t.Errorf("got reason %v pos %d option %s code %s, want %v pos %d: %v", oe.Reason, oe.Pos, oe.Option, oe.Code, c.reason, c.pos, err)
			}
			if !strings.Contains(oe.Error(), c.msg) {
				t.Errorf("message %q does not contain %q", oe.Error(), c.msg)
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	_, err := ParseFilter(alertSchema(), "detectedDateTime ge 'yesterday'")
	var oe *Error
	if !errors.As(err, &oe) {
		t.Fatalf("want *Error, got %v", err)
	}
	if oe.HTTPStatus() != 400 {
		t.Errorf("status %d", oe.HTTPStatus())
	}
	b, jerr := json.Marshal(oe)
	if jerr != nil {
		t.Fatal(jerr)
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := "invalid $filter at position 20: property detectedDateTime is an Edm.DateTimeOffset and cannot be compared with the string 'yesterday'; DateTimeOffset values are written without quotes, such as 2026-11-01T00:00:00Z"
	if body.Error.Code != "BadRequest" || body.Error.Message != want {
		t.Errorf("body %s", b)
	}
}

func TestSchemaCheck(t *testing.T) {
	cases := []struct {
		name string
		s    *Schema
		msg  string
	}{
		{"case clash", &Schema{Props: map[string]Prop{"id": {Column: "id", Type: String}, "ID": {Column: "x", Type: String}}}, "differ only in case"},
		{"bad column", &Schema{Props: map[string]Prop{"id": {Column: "id; DROP TABLE x", Type: String}}}, "not a plain SQL identifier"},
		{"no key", &Schema{Props: map[string]Prop{"name": {Column: "name", Type: String}}}, `key property "id"`},
		{"enum on int", &Schema{Props: map[string]Prop{"id": {Column: "id", Type: Int, Enum: []string{"a"}}}}, "has an Enum"},
		{"funcs on guid", &Schema{Props: map[string]Prop{"id": {Column: "id", Type: GUID, StringFuncs: true}}}, "string functions"},
		{"no type", &Schema{Props: map[string]Prop{"id": {Column: "id"}}}, "unknown type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.s.Check()
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want %q", err, c.msg)
			}
			if _, perr := ParseFilter(c.s, "id eq 'x'"); perr == nil {
				t.Error("ParseFilter accepted a bad schema")
			}
		})
	}
	if err := alertSchema().Check(); err != nil {
		t.Fatal(err)
	}
}

func TestFloatProperty(t *testing.T) {
	s := &Schema{Props: map[string]Prop{"id": {Column: "id", Type: String}, "score": {Column: "score", Type: Float, Nullable: true}}}
	e, err := ParseFilter(s, "score gt 1 and score le 2.5")
	if err != nil {
		t.Fatal(err)
	}
	sql, args := Where(s, e, Postgres, 1)
	if sql != "score > $1 AND score <= $2" || !reflect.DeepEqual(args, []any{1.0, 2.5}) {
		t.Errorf("got %s %#v", sql, args)
	}
	if e.String() != "(and (gt score 1) (le score 2.5))" {
		t.Errorf("AST %s", e)
	}
	if _, err := ParseFilter(s, "score eq true"); err == nil {
		t.Error("Float compared with Boolean accepted")
	}
}
