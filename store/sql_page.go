package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-security/vigil/alert"
)

// maxTenantArms is the most tenants a paged list query reads as separate,
// merged index scans (SQLite allows 500 arms in a compound select).
const maxTenantArms = 200

// maxVariables bounds the arguments of one statement (SQLite's limit is
// 32766, PostgreSQL's 65535).
const maxVariables = 30000

// listSQL returns the query of ListAlerts and its arguments. byID is
// 0 when the query selects alertColumns; otherwise the query selects the
// page's IDs, in order, followed by byID-1 sort columns, and the alerts
// are read by ID afterwards (see pageByID).
//
// A page of several tenants' alerts is read with one SELECT per tenant,
// joined by UNION ALL under the ORDER BY and LIMIT: SQLite merges the arms,
// each read in order from the (tenant_id, detected_at) index, and stops
// after the page. The plain "tenant_id IN (...)" reads and sorts every
// alert of every tenant first: a partner's newest page over a million
// alerts takes hundreds of milliseconds that way, a few this way. The arms
// carry only the ID and sort columns, so skipping far into the list moves
// little data. PostgreSQL gets the same with pgTenantsPage.
func (s *sqlDB) listSQL(q *ListQuery) (query string, args []any, byID int, err error) {
	order, err := buildOrder(q)
	if err != nil {
		return "", nil, 0, err
	}
	tenants := slices.Compact(slices.Sorted(slices.Values(q.TenantIDs)))
	rest := *q
	rest.TenantIDs = nil
	probe := binder{d: s.d}
	if _, err := buildWhere(&rest, &probe); err != nil {
		return "", nil, 0, err
	}
	if s.d.pg && q.Limit > 0 && len(tenants) >= 2 {
		query, args, byID, err := pgTenantsPage(q, &rest, tenants, order)
		return query, args, byID, err
	}
	if q.Limit > 0 && len(tenants) >= 2 && len(tenants) <= maxTenantArms && (len(probe.args)+1)*len(tenants) <= maxVariables {
		// A compound's ORDER BY may name only its result columns.
		cols := pageKeys(q)
		sel := "SELECT " + strings.Join(cols, ", ") + " FROM alerts WHERE tenant_id = "
		bd := binder{d: s.d}
		var b strings.Builder
		for i, t := range tenants {
			if i > 0 {
				b.WriteString(" UNION ALL ")
			}
			b.WriteString(sel)
			b.WriteString(bd.add(t))
			where, err := buildWhere(&rest, &bd)
			if err != nil {
				return "", nil, 0, err
			}
			if where != "" {
				b.WriteString(" AND (" + where + ")")
			}
		}
		b.WriteString(" ORDER BY " + order + " LIMIT " + bd.add(int64(q.Limit)) + " OFFSET " + bd.add(int64(q.Offset)))
		return b.String(), bd.args, len(cols), nil
	}

	bd := binder{d: s.d}
	where, err := buildWhere(q, &bd)
	if err != nil {
		return "", nil, 0, err
	}
	var b strings.Builder
	b.WriteString(`SELECT ` + alertColumns + ` FROM alerts`)
	if where != "" {
		b.WriteString(" WHERE " + where)
	}
	b.WriteString(" ORDER BY " + order)
	if q.Limit > 0 || q.Offset > 0 {
		limit := s.d.noLimit()
		if q.Limit > 0 {
			limit = int64(q.Limit)
		}
		b.WriteString(" LIMIT " + bd.add(limit) + " OFFSET " + bd.add(int64(q.Offset)))
	}
	return b.String(), bd.args, 0, nil
}

// pageKeys are the columns a page of IDs is read with: the ID and the sort
// columns, which the outer ORDER BY of a merged query may name.
func pageKeys(q *ListQuery) []string {
	cols := []string{"id"}
	keys := q.OrderBy
	if len(keys) == 0 {
		keys = []Order{{Column: "detected_at"}}
	}
	for _, o := range keys {
		if !slices.Contains(cols, o.Column) {
			cols = append(cols, o.Column)
		}
	}
	return cols
}

// pgTenantsPage is PostgreSQL's query of a page over several tenants: per
// tenant (an array parameter, unnested), the first Offset+Limit keys in
// order from the (tenant_id, detected_at, id) index, as a LATERAL subquery;
// then the page of the merged rows. PostgreSQL does not merge the arms of a
// UNION ALL under a LIMIT as SQLite does: it reads and sorts every row of
// every tenant first.
func pgTenantsPage(q, rest *ListQuery, tenants []string, order string) (string, []any, int, error) {
	cols := strings.Join(pageKeys(q), ", ")
	b := binder{d: postgresDialect}
	var sb strings.Builder
	sb.WriteString("SELECT " + cols + " FROM unnest(" + b.add(tenants) + "::text[]) AS t(tid) CROSS JOIN LATERAL (SELECT " +
		cols + " FROM alerts WHERE tenant_id = t.tid")
	where, err := buildWhere(rest, &b)
	if err != nil {
		return "", nil, 0, err
	}
	if where != "" {
		sb.WriteString(" AND (" + where + ")")
	}
	sb.WriteString(" ORDER BY " + order + " LIMIT " + b.add(int64(q.Offset)+int64(q.Limit)) + ") AS a")
	sb.WriteString(" ORDER BY " + order + " LIMIT " + b.add(int64(q.Limit)) + " OFFSET " + b.add(int64(q.Offset)))
	return sb.String(), b.args, len(pageKeys(q)), nil
}

// pageByID runs a query of IDs (with ncols columns in all) and reads those
// alerts, in the query's order, inside tx.
func (s *sqlDB) pageByID(ctx context.Context, tx *sql.Tx, query string, args []any, ncols int) ([]*alert.Alert, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	var ids []any
	dest := make([]any, ncols)
	var id string
	dest[0] = &id
	for i := 1; i < ncols; i++ {
		dest[i] = new(any)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	pos := make(map[string]int, len(ids))
	for i, id := range ids {
		pos[id.(string)] = i
	}
	out := make([]*alert.Alert, len(ids))
	for start := 0; start < len(ids); start += idChunk {
		chunk := ids[start:min(start+idChunk, len(ids))]
		rows, err := tx.QueryContext(ctx, s.d.rebind(`SELECT `+alertColumns+` FROM alerts WHERE id IN (?`+
			strings.Repeat(", ?", len(chunk)-1)+`)`), chunk...)
		if err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		for rows.Next() {
			a, err := scanAlert(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[pos[a.ID]] = a
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, fmt.Errorf("query: %w", err)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
