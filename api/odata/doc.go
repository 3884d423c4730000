// Package odata parses and checks the OData v4 query options of a Microsoft
// Graph-shaped collection request (GET /security/partner/securityAlerts) and
// compiles them to parameterised SQL for SQLite and PostgreSQL.
//
// The caller describes the entity with a Schema: a whitelist of properties,
// each with its SQL column, EDM type, optional enumeration values and
// whether it is nullable or allows the string functions. Everything a
// request names is checked against it; nothing from the request reaches SQL
// except as a bound argument.
//
// Supported:
//
//   - $filter: eq ne gt ge lt le, and or not, in with a literal list,
//     parentheses, contains/startswith/endswith(property,'text'), string
//     literals (two single quotes stand for one), integers, decimals, true,
//     false, null, bare GUIDs and DateTimeOffsets (2026-11-01T00:00:00Z) as
//     Graph writes them, and bare dates (2026-11-01, midnight UTC). Operator,
//     function and property names are case-insensitive, as in Graph.
//     Precedence is OData's: or < and < eq ne < gt ge lt le < not < in.
//   - $orderby: property [asc|desc], several, with the schema's key
//     appended as a tiebreak so paging is stable.
//   - $top (default 100, at most Schema.MaxTop, never above 1000), $skip,
//     $count=true|false, $select (returned to the caller, which trims the
//     JSON), $skiptoken: an opaque offset bound to a hash of the canonical
//     $filter and $orderby (format at Query.SkipToken; Query.NextPage builds
//     the parameters of @odata.nextLink).
//
// Typical use in a handler:
//
//	q, err := odata.ParseQuery(schema, r.URL.Query())
//	if err != nil { /* 400 with err as the JSON body */ }
//	c := q.SQL(schema, odata.Postgres, 2) // $1 is the tenant
//	sql := "SELECT ... FROM alerts WHERE tenant_id = $1"
//	if c.Where != "" { sql += " AND " + c.Where }
//	sql += " ORDER BY " + c.OrderBy + " LIMIT ... OFFSET ..."
//	args := append([]any{tenant}, c.Args...)
//
// A program that hands the filter to a store instead renames its
// properties to columns with MapProps; the store checks the tree against
// its own column whitelist with CheckExpr (which also checks filters built
// in code with Cmp, AllOf and the Value helpers) and calls Where for its
// dialect.
//
// Not supported, and answered with a clear error: lambda operators
// (any/all), navigation paths, has, arithmetic, other functions, comparing
// two properties, $expand, $search and the other options.
//
// Null semantics follow OData, whose comparisons are two-valued: null eq
// 'x' is false, null ne 'x' is true, not(null gt 5) is true. The compiler
// pushes not down to the comparisons and adds "OR col IS NULL" where a
// nullable column must match, instead of wrapping comparisons in COALESCE,
// so indexes stay usable.
//
// String functions compile to LIKE (SQLite, case-insensitive for ASCII
// letters) and ILIKE (PostgreSQL, case-insensitive), with %, _ and \ in the
// argument escaped.
//
// Every error is an *Error: Graph's code "BadRequest", the option, the byte
// position in the option's value, a Reason and a message that names the
// property and says why. Its MarshalJSON renders Graph's error body
// {"error":{"code":"BadRequest","message":"..."}}.
package odata
