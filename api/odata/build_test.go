package odata

import (
	"errors"
	"testing"
	"time"
)

func TestCheckExpr(t *testing.T) {
	s := &Schema{Props: map[string]Prop{
		"id":     {Column: "id", Type: String, StringFuncs: true},
		"status": {Column: "status", Type: String, Enum: []string{"active", "resolved"}},
		"count":  {Column: "event_count", Type: Int},
		"when":   {Column: "at", Type: DateTime, Nullable: true},
		"tenant": {Column: "tenant_id", Type: GUID},
		"isTest": {Column: "is_test", Type: Bool},
		"json":   {Type: String},
	}}
	guid := "1889e718-414b-4bad-8bbe-c1135bd39a41"
	ok := []Expr{
		nil,
		Cmp("id", Eq, StringValue("x")),
		Cmp("status", Ne, StringValue("active")),
		Cmp("count", Ge, IntValue(3)),
		Cmp("when", Eq, NullValue()),
		Cmp("tenant", Eq, StringValue(guid)),
		&BoolProp{Prop: "isTest"},
		&Not{X: &Call{Func: EndsWith, Prop: "id", Arg: "%"}},
		&In{Prop: "status", Values: []Value{StringValue("resolved"), NullValue()}},
		AllOf(Cmp("when", Lt, TimeValue(time.Unix(0, 0))), &Const{Value: true}),
	}
	for _, e := range ok {
		if err := CheckExpr(s, e); err != nil {
			t.Errorf("CheckExpr(%v) = %v, want nil", e, err)
		}
	}
	bad := []Expr{
		Cmp("nope", Eq, StringValue("x")),
		Cmp("json", Eq, StringValue("x")), // no column
		Cmp("status", Eq, StringValue("Active")),
		Cmp("status", Gt, StringValue("active")),
		Cmp("count", Eq, StringValue("3")),
		Cmp("count", Gt, NullValue()),
		Cmp("tenant", Eq, StringValue("not-a-guid")),
		Cmp("tenant", Lt, StringValue(guid)),
		&Compare{Prop: "id", Op: CmpOp(99), Value: StringValue("x")},
		&Call{Func: Contains, Prop: "count", Arg: "1"},
		&Call{Func: Func(9), Prop: "id", Arg: "1"},
		&BoolProp{Prop: "id"},
		&In{Prop: "id"},
		&And{Left: Cmp("id", Eq, StringValue("x"))},
		&Not{},
	}
	for _, e := range bad {
		if err := CheckExpr(s, e); !errors.Is(err, ErrExpr) {
			t.Errorf("CheckExpr(%v) = %v, want ErrExpr", e, err)
		}
	}
	deep := Expr(Cmp("id", Eq, StringValue("x")))
	for range DefaultMaxDepth + 1 {
		deep = &Not{X: deep}
	}
	if err := CheckExpr(s, deep); !errors.Is(err, ErrExpr) {
		t.Errorf("CheckExpr(too deep) = %v, want ErrExpr", err)
	}
}

func TestMapPropsToColumns(t *testing.T) {
	s := alertSchema()
	e, err := ParseFilter(s, "not(severity in ('high', 'low')) and (contains(displayName,'x') or detectedDateTime ge 2026-01-01)")
	if err != nil {
		t.Fatal(err)
	}
	before := e.String()
	got := MapProps(e, func(p string) string { return "c_" + p }).String()
	want := "(and (not (in c_severity 'high' 'low')) (or (contains c_displayName 'x') (ge c_detectedDateTime 2026-01-01T00:00:00Z)))"
	if got != want {
		t.Errorf("MapProps = %s, want %s", got, want)
	}
	if e.String() != before {
		t.Errorf("MapProps modified its input: %s", e)
	}
}
