package store

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/api/odata"
)

// dialect is what differs between the SQL databases the store runs on. The
// statements are written once, with '?' placeholders; PostgreSQL's are
// rewritten to $n.
type dialect struct {
	pg bool
}

var (
	sqliteDialect   = dialect{}
	postgresDialect = dialect{pg: true}
)

// odata is the OData compiler's dialect.
func (d dialect) odata() odata.Dialect {
	if d.pg {
		return odata.Postgres
	}
	return odata.SQLite
}

// time is the column value of a stored-form time (see dbTime): SQLite keeps
// INTEGER microseconds since the epoch, PostgreSQL timestamptz; NULL for
// the zero time.
func (d dialect) time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if d.pg {
		return t.UTC()
	}
	return t.UnixMicro()
}

// bool is the column value of a flag: SQLite's INTEGER 0 or 1, PostgreSQL's
// boolean.
func (d dialect) bool(v bool) any {
	if d.pg {
		return v
	}
	if v {
		return int64(1)
	}
	return int64(0)
}

// noLimit is the LIMIT argument that means "all rows".
func (d dialect) noLimit() any {
	if d.pg {
		return nil // LIMIT NULL
	}
	return int64(-1)
}

// forUpdate locks the rows a write transaction reads before changing them.
// SQLite's writer holds the database lock from BEGIN IMMEDIATE on.
func (d dialect) forUpdate() string {
	if d.pg {
		return " FOR UPDATE"
	}
	return ""
}

// forShare locks the rows a write transaction reads to keep them from
// changing or going until it ends (SQLite: the database lock does).
func (d dialect) forShare() string {
	if d.pg {
		return " FOR SHARE"
	}
	return ""
}

// readTx are the options of read transactions: one snapshot for all their
// statements (PostgreSQL's read committed takes one per statement).
func (d dialect) readTx() *sql.TxOptions {
	if d.pg {
		return &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
	}
	return &sql.TxOptions{ReadOnly: true}
}

// rebind rewrites the '?' placeholders of a statement written by this
// package (never one holding a '?' in a literal) to the dialect's.
func (d dialect) rebind(q string) string {
	if !d.pg || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// binder collects the arguments of a statement built piece by piece and
// writes each one's placeholder in the dialect's syntax.
type binder struct {
	d    dialect
	args []any
}

// add appends v and returns its placeholder.
func (b *binder) add(v any) string {
	b.args = append(b.args, v)
	if b.d.pg {
		return "$" + strconv.Itoa(len(b.args))
	}
	return "?"
}

// in returns "col IN (...)" over vals, or a false condition for none.
func (b *binder) in(col string, vals []string) string {
	if len(vals) == 0 {
		return "1 = 0"
	}
	var s strings.Builder
	s.WriteString(col)
	s.WriteString(" IN (")
	for i, v := range vals {
		if i > 0 {
			s.WriteString(", ")
		}
		s.WriteString(b.add(v))
	}
	s.WriteByte(')')
	return s.String()
}

// timeCol scans a time column of either dialect: NULL is the zero time.
type timeCol struct{ t time.Time }

// Scan implements sql.Scanner.
func (c *timeCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		c.t = time.Time{}
	case int64:
		c.t = time.UnixMicro(x).UTC()
	case time.Time:
		c.t = x.UTC()
	default:
		return fmt.Errorf("time column holds %T", v)
	}
	return nil
}

// boolCol scans a flag column of either dialect.
type boolCol struct{ v bool }

// Scan implements sql.Scanner.
func (c *boolCol) Scan(v any) error {
	switch x := v.(type) {
	case int64:
		c.v = x == 1
	case bool:
		c.v = x
	default:
		return fmt.Errorf("flag column holds %T", v)
	}
	return nil
}
