package odata

import (
	"database/sql"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// row is one alert for the SQLite tests: property name -> value, nil for
// NULL. Values are string (String, GUID), int64, bool or time.Time.
type row map[string]any

func tm(s string) time.Time { return ts(s) }

// alertRows are the two alerts of the example response on Graph's "List
// securityAlerts" page, and variations of them that put NULLs, wildcards,
// quotes, case and non-ASCII text where filters can trip on them.
var alertRows = []row{
	{
		"id": "d8b202fc-a216-3404-69ef-bdffa445eff6", "displayName": "Action Required: Virtual machine connecting to crypto currency mining pool Detected",
		"description": "Analysis of azure resource network activity detected the resource was connecting to a crypto currency mining pool.  this would often be an indication that your azure resource is compromised.",
		"alertType":   "networkConnectionsToCryptoMiningPools", "status": "active", "severity": "high", "confidenceLevel": "medium",
		"customerTenantId": tenant, "subscriptionId": sub,
		"detectedDateTime": tm("2024-01-23T16:03:33.05Z"), "firstObservedDateTime": tm("2024-01-23T16:03:33.05Z"), "lastObservedDateTime": tm("2024-01-23T16:03:33.05Z"),
		"resolvedReason": "fraud", "resolvedBy": "testuser@testtestgaapartneraccount01.onmicrosoft.com", "resolvedOnDateTime": tm("2024-02-23T16:03:33.05Z"),
		"isTest": false, "count": int64(5),
	},
	{
		"id": "5f6e6521-6e5f-4b0b-80aa-bd44fad7a398-758e2259-f00b-4dec-8087-0950afe6d6a4", "displayName": "Action Required: Subscription Usage Anomaly Detected",
		"description": "Analysis of Azure resource detected anomalies in: Anomalous increase in Machine Learning General purpose CPU deployment regions compared to trend in the last 30 days Subscription is part of a cluster of subscriptions that are controlled from the same login session IP Address.",
		"alertType":   "usageAnomalyDetection", "status": "investigating", "severity": "high", "confidenceLevel": "medium",
		"customerTenantId": tenant, "subscriptionId": sub,
		"detectedDateTime": tm("2024-01-23T16:03:33.05Z"), "firstObservedDateTime": tm("2024-01-23T16:03:33.05Z"), "lastObservedDateTime": tm("2024-01-23T16:03:33.05Z"),
		"resolvedReason": nil, "resolvedBy": "testuser@testtestgaapartneraccount01.onmicrosoft.com", "resolvedOnDateTime": nil,
		"isTest": false, "count": int64(1),
	},
	{
		"id": "a1", "displayName": "50% off_deal \\ 'quoted' ACTION", "description": "", "alertType": "CryptoMining",
		"status": "resolved", "severity": "low", "confidenceLevel": nil,
		"customerTenantId": "c296b2ce-8cd1-4346-9e82-d8eccca70d65", "subscriptionId": nil,
		"detectedDateTime": tm("2026-11-01T00:00:00Z"), "firstObservedDateTime": tm("2026-10-31T23:59:59.999999999Z"), "lastObservedDateTime": tm("2026-11-01T00:00:00.5Z"),
		"resolvedReason": "legitimate", "resolvedBy": nil, "resolvedOnDateTime": tm("2026-11-02T08:00:00+01:00"),
		"isTest": nil, "count": int64(0),
	},
	{
		"id": "a2", "displayName": "Café résumé MINING pool", "description": "naïve", "alertType": "KV_TORAccess",
		"status": "active", "severity": "informational", "confidenceLevel": "unknownFutureValue",
		"customerTenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "subscriptionId": "2e2ddb96-6af9-4b1d-a3f0-d6ecfd22edb2",
		"detectedDateTime": tm("1999-12-31T23:59:59Z"), "firstObservedDateTime": tm("1999-12-31T23:59:59Z"), "lastObservedDateTime": tm("2000-01-01T00:00:00Z"),
		"resolvedReason": nil, "resolvedBy": "", "resolvedOnDateTime": nil,
		"isTest": true, "count": int64(-7),
	},
	{
		"id": "a3", "displayName": "x", "description": "_%", "alertType": "ARM_MicroBurst.AzDomainInfo",
		"status": "unknownFutureValue", "severity": "medium", "confidenceLevel": "low",
		"customerTenantId": tenant, "subscriptionId": nil,
		"detectedDateTime": tm("2262-04-11T23:47:16Z"), "firstObservedDateTime": tm("1678-01-01T00:00:00Z"), "lastObservedDateTime": tm("2262-04-11T23:47:16Z"),
		"resolvedReason": "ignore", "resolvedBy": "Admin@Contoso.com", "resolvedOnDateTime": tm("2026-01-01T00:00:00Z"),
		"isTest": true, "count": int64(math.MaxInt64),
	},
}

// nanos is the tests' DateTimeArg: Unix nanoseconds, clamped to int64.
func nanos(t time.Time) any {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return int64(math.MinInt64)
	case t.After(time.Unix(0, math.MaxInt64)):
		return int64(math.MaxInt64)
	}
	return t.UnixNano()
}

// openAlertsDB creates the alerts table in an in-memory SQLite database and
// loads alertRows.
func openAlertsDB(tb testing.TB, s *Schema) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1) // each connection to file::memory: is its own database
	tb.Cleanup(func() { db.Close() })
	var cols, names, marks []string
	for name, p := range s.Props {
		if p.Column == "" {
			continue
		}
		typ := "TEXT"
		switch p.Type {
		case Int, Bool, DateTime:
			typ = "INTEGER"
		case Float:
			typ = "REAL"
		}
		if !p.Nullable {
			typ += " NOT NULL"
		}
		cols = append(cols, p.Column+" "+typ)
		names = append(names, name)
		marks = append(marks, "?")
	}
	if _, err := db.Exec("CREATE TABLE alerts (" + strings.Join(cols, ", ") + ")"); err != nil {
		tb.Fatal(err)
	}
	var colNames []string
	for _, n := range names {
		colNames = append(colNames, s.Props[n].Column)
	}
	ins := "INSERT INTO alerts (" + strings.Join(colNames, ", ") + ") VALUES (" + strings.Join(marks, ", ") + ")"
	for _, r := range alertRows {
		args := make([]any, len(names))
		for i, n := range names {
			v := r[n]
			if t, ok := v.(time.Time); ok {
				v = nanos(t)
			}
			args[i] = v
		}
		if _, err := db.Exec(ins, args...); err != nil {
			tb.Fatal(err)
		}
	}
	return db
}

// queryIDs runs the compiled filter and returns the matching ids, sorted.
func queryIDs(db *sql.DB, where string, args []any) ([]string, error) {
	q := "SELECT id FROM alerts"
	if where != "" {
		q += " WHERE " + where
	}
	rows, err := db.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, rows.Err()
}

// evalIDs evaluates e over alertRows with OData's semantics, independently
// of the SQL compiler: comparisons are two-valued (null eq x is false, null
// ne x is true), functions of null are null, and, or and not are
// three-valued. String functions fold ASCII case only, as SQLite's LIKE.
func evalIDs(s *Schema, e Expr) []string {
	var ids []string
	for _, r := range alertRows {
		if v, known := eval(s, e, r); known && v {
			ids = append(ids, r["id"].(string))
		}
	}
	slices.Sort(ids)
	return ids
}

// eval returns the value and whether it is known (not null).
func eval(s *Schema, e Expr, r row) (bool, bool) {
	switch e := e.(type) {
	case *And:
		l, lk := eval(s, e.Left, r)
		rv, rk := eval(s, e.Right, r)
		switch {
		case lk && !l, rk && !rv:
			return false, true
		case lk && rk:
			return true, true
		}
		return false, false
	case *Or:
		l, lk := eval(s, e.Left, r)
		rv, rk := eval(s, e.Right, r)
		switch {
		case lk && l, rk && rv:
			return true, true
		case lk && rk:
			return false, true
		}
		return false, false
	case *Not:
		v, k := eval(s, e.X, r)
		return !v, k
	case *Compare:
		return compareValue(r[e.Prop], e.Op, e.Value), true
	case *In:
		for _, v := range e.Values {
			if compareValue(r[e.Prop], Eq, v) {
				return true, true
			}
		}
		return false, true
	case *Call:
		v := r[e.Prop]
		if v == nil {
			return false, false
		}
		str, arg := foldASCII(v.(string)), foldASCII(e.Arg)
		switch e.Func {
		case Contains:
			return strings.Contains(str, arg), true
		case StartsWith:
			return strings.HasPrefix(str, arg), true
		}
		return strings.HasSuffix(str, arg), true
	case *BoolProp:
		v := r[e.Prop]
		if v == nil {
			return false, false
		}
		return v.(bool), true
	case *Const:
		return e.Value, true
	}
	panic("unknown expression")
}

func compareValue(have any, op CmpOp, lit Value) bool {
	if have == nil || lit.Kind == KindNull {
		both := have == nil && lit.Kind == KindNull
		switch op {
		case Eq:
			return both
		case Ne:
			return !both
		}
		return false
	}
	var c int
	switch h := have.(type) {
	case string:
		c = strings.Compare(h, lit.Str)
	case int64:
		c = cmpOrdered(h, lit.Int)
	case bool:
		c = cmpOrdered(b2i(h), b2i(lit.Bool))
	case time.Time:
		c = h.Compare(lit.Time)
	}
	switch op {
	case Eq:
		return c == 0
	case Ne:
		return c != 0
	case Gt:
		return c > 0
	case Ge:
		return c >= 0
	case Lt:
		return c < 0
	}
	return c <= 0
}

func cmpOrdered[T int64 | int](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func foldASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}
