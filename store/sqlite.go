package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLite is the [Store] in one SQLite file (pure Go driver modernc.org/sqlite).
//
// The file is in WAL mode, so readers never wait for the writer. Writes go
// through a pool of exactly one connection, which serialises them inside the
// process, and take the write lock when they begin (BEGIN IMMEDIATE), so a
// second process writing the same file waits up to the busy timeout instead
// of failing half-way. Reads use a separate pool of query-only connections,
// each ListAlerts or GetAlert in one read transaction (one snapshot).
// Commits are synchronous=FULL: a triage decision survives a power cut.
type SQLite struct {
	*sqlDB
	path string

	// unanalysed counts alerts written since the planner's statistics were
	// last refreshed.
	unanalysed atomic.Int64
}

var _ Store = (*SQLite)(nil)

// busyTimeout is how long a connection waits for another process's lock.
const busyTimeout = 10 * time.Second

// OpenSQLite opens the SQLite database file at path, creating it when it does
// not exist (its directory must), and applies pending migrations.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store: open sqlite %q: %w: need a file path (not :memory: or a URI)", path, ErrInvalid)
	}
	if dir := filepath.Dir(path); dir != "" {
		if st, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("store: open sqlite %q: %s is not a directory", path, dir)
		}
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	s := &SQLite{sqlDB: newSQLDB(sqliteDialect), path: path}
	s.wrote = s.analyse
	if err := s.open(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("store: open sqlite %q: %w", path, err), s.Close())
	}
	return s, nil
}

// createPrivate creates the database file, readable and writable by its
// owner only, if it does not exist. SQLite makes the -wal and -shm files
// with the database file's permissions, so they are private too (it would
// create the database 0644). An existing file keeps its mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

func (s *SQLite) open(ctx context.Context) error {
	var err error
	s.w, err = sql.Open("sqlite", sqliteDSN(s.path, false))
	if err != nil {
		return err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)

	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not wal (is the file on a network file system?)", mode)
	}
	if _, err := migrateSQLite(ctx, s.w); err != nil {
		return err
	}
	if err := s.optimize(ctx); err != nil {
		return err
	}

	n := max(4, runtime.GOMAXPROCS(0))
	s.r, err = sql.Open("sqlite", sqliteDSN(s.path, true))
	if err != nil {
		return err
	}
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)

	return s.prepareStmts(ctx)
}

// sqliteDSN returns the driver name for the file: a SQLite URI (so that '?'
// and '#' in the path are escaped, not parsed) with the connection PRAGMAs.
// busy_timeout comes first so that switching to WAL waits for other
// processes too.
func sqliteDSN(path string, readOnly bool) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(filepath.ToSlash(path))
	var b strings.Builder
	b.WriteString("file:")
	b.WriteString(esc)
	fmt.Fprintf(&b, "?_pragma=busy_timeout(%d)", busyTimeout.Milliseconds())
	b.WriteString("&_pragma=foreign_keys(1)")
	if readOnly {
		b.WriteString("&_pragma=query_only(1)")
	} else {
		b.WriteString("&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	}
	return b.String()
}

// migrateSQLite applies the pending migrations and returns what it applied.
func migrateSQLite(ctx context.Context, db *sql.DB) ([]*goose.MigrationResult, error) {
	fsys, err := fs.Sub(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return res, nil
}

// optimizeEvery is how many alerts are written between two refreshes of the
// query planner's statistics.
const optimizeEvery = 20_000

// optimize refreshes the query planner's statistics where SQLite thinks
// they are stale (all tables, bounded work). Without them SQLite may pick
// the type or status index over the tenant one and read a quarter of the
// table to count one tenant's alerts.
func (s *SQLite) optimize(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		return fmt.Errorf("optimize: %w", err)
	}
	return nil
}

// analyse counts n alerts written and refreshes the statistics every
// optimizeEvery. The refresh is advisory: its failure fails no write.
func (s *SQLite) analyse(ctx context.Context, n int) {
	if s.unanalysed.Add(int64(n)) < optimizeEvery {
		return
	}
	s.unanalysed.Store(0)
	_ = s.optimize(ctx)
}

// Close implements [Store]: it lets SQLite refresh its query statistics and
// closes both pools.
func (s *SQLite) Close() error {
	var errs []error
	if s.sqlDB == nil {
		return nil
	}
	if s.w != nil {
		if s.upsertAlert != nil {
			// Best effort: statistics help the planner but are not data.
			_, _ = s.w.Exec("PRAGMA optimize")
		}
		errs = append(errs, s.w.Close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close sqlite %q: %w", s.path, err)
	}
	return nil
}
