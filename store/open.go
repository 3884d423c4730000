package store

import "context"

// Database is a store with everything: alerts, the security tables and
// the notification outbox. Both [SQLite] and [Postgres] are one.
type Database interface {
	Security
	Outbox
}

var (
	_ Database = (*SQLite)(nil)
	_ Database = (*Postgres)(nil)
)

// Open opens the store named by db: a PostgreSQL database when db is a
// postgres:// or postgresql:// URL (see [OpenPostgres]), else the SQLite
// file at path db (see [OpenSQLite]).
func Open(ctx context.Context, db string) (Database, error) {
	if IsPostgresDSN(db) {
		s, err := OpenPostgres(ctx, db)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	s, err := OpenSQLite(ctx, db)
	if err != nil {
		return nil, err
	}
	return s, nil
}
