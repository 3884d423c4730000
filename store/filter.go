package store

import (
	"fmt"
	"sync"
	"time"

	"github.com/vigil-security/vigil/api/odata"
)

// filterSchemas are the OData schemas filters over a table are checked
// against and compiled with, one per table and dialect: each column is a
// property of its own name.
var filterSchemas = struct {
	once sync.Once
	m    map[filterKey]*odata.Schema
}{}

type filterKey struct {
	activity bool
	d        dialect
}

func filterSchema(activity bool, d dialect) *odata.Schema {
	filterSchemas.once.Do(func() {
		filterSchemas.m = map[filterKey]*odata.Schema{}
		for _, act := range []bool{false, true} {
			cols := columns
			if act {
				cols = activityColumns
			}
			for _, d := range []dialect{sqliteDialect, postgresDialect} {
				s := &odata.Schema{Props: map[string]odata.Prop{}, DateTimeArg: func(t time.Time) any { return d.time(dbTime(t)) }}
				for _, c := range cols {
					p := odata.Prop{Column: c.Name, Nullable: c.Nullable}
					switch c.Kind {
					case KindText:
						p.Type, p.StringFuncs = odata.String, true
					case KindInt:
						p.Type = odata.Int
					case KindTime:
						p.Type = odata.DateTime
					}
					s.Props[c.Name] = p
				}
				filterSchemas.m[filterKey{act, d}] = s
			}
		}
	})
	return filterSchemas.m[filterKey{activity, d}]
}

// compileFilter checks e against the table's columns and compiles it for
// b's dialect, adding its arguments to b. It returns "" for a nil e.
//
// Text columns hold "" where the API shows null, so a comparison of a text
// column with null is one with "".
func compileFilter(e odata.Expr, activity bool, b *binder) (string, error) {
	if e == nil {
		return "", nil
	}
	s := filterSchema(activity, b.d)
	if err := odata.CheckExpr(s, e); err != nil {
		return "", fmt.Errorf("%w query: filter: %w", ErrInvalid, err)
	}
	e = emptyIsNull(e, s)
	where, args := odata.Where(s, e, b.d.odata(), len(b.args)+1)
	b.args = append(b.args, args...)
	return where, nil
}

// emptyIsNull returns e with null literals compared with text columns
// replaced by the empty string; the tree is copied where it changes.
func emptyIsNull(e odata.Expr, s *odata.Schema) odata.Expr {
	text := func(prop string) bool { return s.Props[prop].Type == odata.String }
	empty := func(v odata.Value) odata.Value {
		if v.Kind == odata.KindNull {
			return odata.Value{Kind: odata.KindString, At: v.At}
		}
		return v
	}
	switch x := e.(type) {
	case *odata.And:
		return &odata.And{Left: emptyIsNull(x.Left, s), Right: emptyIsNull(x.Right, s), At: x.At}
	case *odata.Or:
		return &odata.Or{Left: emptyIsNull(x.Left, s), Right: emptyIsNull(x.Right, s), At: x.At}
	case *odata.Not:
		return &odata.Not{X: emptyIsNull(x.X, s), At: x.At}
	case *odata.Compare:
		if text(x.Prop) && x.Value.Kind == odata.KindNull {
			c := *x
			c.Value = empty(x.Value)
			return &c
		}
	case *odata.In:
		if text(x.Prop) {
			c := *x
			c.Values = make([]odata.Value, len(x.Values))
			for i, v := range x.Values {
				c.Values[i] = empty(v)
			}
			return &c
		}
	}
	return e
}
