package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// Postgres is the [Store] (and [Security]) in a PostgreSQL database, for
// several Vigil instances sharing one store (driver jackc/pgx).
//
// Every instance writes through its own pool of connections. Writes are
// read-committed transactions whose conflicting steps are made safe by
// locks, not retries: the alert upsert (INSERT ... ON CONFLICT DO UPDATE)
// locks the alert's row and merges into its latest committed version, so
// two instances saving the same alert (alert IDs derive from the
// fingerprint and first observation) leave one row, with the later save's
// detection fields and the lifecycle never going backwards; a status
// change reads the row FOR UPDATE before it checks the transition; batches
// lock their alerts in ID order, so they cannot deadlock. Reads are
// read-only repeatable-read transactions: ListAlerts and GetAlert see one
// snapshot. Migrations run at open under an advisory lock, so instances
// starting together migrate once.
//
// The notification outbox is shared by the instances: a save that writes
// outbox entries first locks the alert's ID (a transaction advisory lock)
// and then its row, so an alert two instances insert at once is reported
// created once; dispatchers claim with FOR UPDATE SKIP LOCKED, so they take
// different entries without waiting for each other. Locks are taken in one
// order: notification targets (FOR SHARE), alerts by ID, outbox entries by
// ID.
type Postgres struct {
	*sqlDB
	where string // the DSN without its password, for errors
}

var (
	_ Store    = (*Postgres)(nil)
	_ Security = (*Postgres)(nil)
)

// IsPostgresDSN reports whether s names a PostgreSQL database (a
// postgres:// or postgresql:// URL) rather than a file.
func IsPostgresDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// OpenPostgres connects to the PostgreSQL database named by dsn (a
// postgres:// URL or a key=value connection string, as libpq takes them)
// and applies pending migrations. A URL may also set the most connections
// the store opens, pool_max_conns=N (as pgxpool reads it; default
// max(8, 4 × GOMAXPROCS)): several instances on one server share its
// max_connections.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	dsn, poolMax, err := poolMaxConns(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w: %w", ErrInvalid, err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w: %w", ErrInvalid, err)
	}
	if _, set := cfg.RuntimeParams["jit"]; !set {
		// The store's statements are short: compiling one costs more
		// than it saves (hundreds of milliseconds on a partner's page).
		cfg.RuntimeParams["jit"] = "off"
	}
	s := &Postgres{sqlDB: newSQLDB(postgresDialect), where: redact(cfg)}
	if err := s.open(ctx, cfg, poolMax); err != nil {
		return nil, errors.Join(fmt.Errorf("store: open postgres %s: %w", s.where, err), s.Close())
	}
	return s, nil
}

// redact names the database of cfg without secrets.
func redact(cfg *pgx.ConnConfig) string {
	u := url.URL{Scheme: "postgres", User: url.User(cfg.User), Host: fmt.Sprintf("%s:%d", cfg.Host, cfg.Port), Path: "/" + cfg.Database}
	return u.String()
}

// poolMaxConns takes pool_max_conns out of a URL's query; 0 when absent.
func poolMaxConns(dsn string) (string, int, error) {
	if !IsPostgresDSN(dsn) || !strings.Contains(dsn, "pool_max_conns") {
		return dsn, 0, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", 0, fmt.Errorf("parse URL: %w", err)
	}
	q := u.Query()
	v := q.Get("pool_max_conns")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return "", 0, fmt.Errorf("pool_max_conns=%q: want a whole number from 1", v)
	}
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String(), n, nil
}

func (s *Postgres) open(ctx context.Context, cfg *pgx.ConnConfig, poolMax int) error {
	db := stdlib.OpenDB(*cfg)
	s.w, s.r = db, db
	n := poolMax
	if n == 0 {
		n = max(8, 4*runtime.GOMAXPROCS(0))
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if _, err := migratePostgres(ctx, db); err != nil {
		return err
	}
	return s.prepareStmts(ctx)
}

// migratePostgres applies the pending migrations, holding a session
// advisory lock so that concurrent instances do not race, and returns what
// it applied.
func migratePostgres(ctx context.Context, db *sql.DB) ([]*goose.MigrationResult, error) {
	fsys, err := fs.Sub(postgresMigrations, "migrations/postgres")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return res, nil
}

// Close implements [Store]: it closes the connection pool.
func (s *Postgres) Close() error {
	if s.sqlDB == nil || s.w == nil {
		return nil
	}
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("store: close postgres %s: %w", s.where, err)
	}
	return nil
}
