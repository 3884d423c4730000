package store

import "context"

// Open opens the store named by db: a PostgreSQL database when db is a
// postgres:// or postgresql:// URL (see [OpenPostgres]), else the SQLite
// file at path db (see [OpenSQLite]).
func Open(ctx context.Context, db string) (Security, error) {
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
