// Package pgtest gives tests a real, empty PostgreSQL database.
//
// When VIGIL_TEST_POSTGRES holds a DSN (postgres://user:pass@host:port/db),
// each database is created on that server. Otherwise the first call starts
// a throwaway cluster from Debian's PostgreSQL binaries
// (/usr/lib/postgresql/<version>/bin, the newest installed; apt package
// postgresql): initdb into a temporary directory, then postgres listening
// on 127.0.0.1 on a free port, with its unix socket in that directory.
// As root, both run as the postgres user (initdb refuses root). The cluster
// trades durability for speed (fsync off): it is thrown away.
//
// A package that uses it calls [Main] from TestMain, which stops the
// cluster and removes its directory when the tests end:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Tests then call [DSN] for a new empty database each. There is no skip:
// without PostgreSQL installed and no DSN given, DSN fails the test
// (scripts/test installs the package).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// EnvDSN names the environment variable that points the tests at an
// existing server instead of a throwaway cluster.
const EnvDSN = "VIGIL_TEST_POSTGRES"

var (
	mu      sync.Mutex
	server  *cluster // the started cluster, nil before the first DSN
	base    string   // DSN of the maintenance database
	initErr error
	started bool
	seq     atomic.Int64
)

// Main runs the tests and then stops the cluster, if one was started, and
// exits with the tests' code.
func Main(m *testing.M) {
	code := m.Run()
	if err := Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Stop stops the cluster started by DSN and removes its files; it does
// nothing when none was started. Main calls it.
func Stop() error {
	mu.Lock()
	defer mu.Unlock()
	if server == nil {
		return nil
	}
	err := server.stop()
	server = nil
	return err
}

// DSN returns the URL of a new, empty database, dropped when the test
// ends. It fails the test when no server can be had.
func DSN(tb testing.TB) string {
	tb.Helper()
	admin, err := adminDSN()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	name := fmt.Sprintf("vigil_test_%d_%d", os.Getpid(), seq.Add(1))
	if err := exec1(admin, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		if err := exec1(admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// adminDSN returns the DSN of the server's maintenance database, starting
// the cluster on first use.
func adminDSN() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if started {
		return base, initErr
	}
	started = true
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		base = dsn
		return base, nil
	}
	server, initErr = start()
	if initErr == nil {
		base = server.dsn
	}
	return base, initErr
}

// exec1 runs one statement on the database of dsn.
func exec1(dsn, stmt string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// cluster is a running throwaway PostgreSQL.
type cluster struct {
	dir  string
	cmd  *exec.Cmd
	done chan error // the postgres process's exit
	dsn  string
}

// Bin returns the directory of the newest installed PostgreSQL's binaries.
func Bin() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(found) == 0 {
		return "", errors.New("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; apt-get install -y postgresql) and " + EnvDSN + " is not set")
	}
	slices.SortFunc(found, func(a, b string) int { return version(a) - version(b) })
	return filepath.Dir(found[len(found)-1]), nil
}

func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// start initialises and starts a cluster.
func start() (*cluster, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vigil-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir}
	cred, err := credential(dir)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, errors.Join(fmt.Errorf("initdb: %w\n%s", err, out), os.RemoveAll(dir))
	}
	port, err := freePort()
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	log, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	defer log.Close()
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
	c.cmd.Stdout, c.cmd.Stderr = log, log
	// Pdeathsig: a test binary that dies takes its cluster with it (SIGINT
	// is PostgreSQL's fast shutdown).
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT}
	if err := c.cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start postgres: %w", err), os.RemoveAll(dir))
	}
	c.done = make(chan error, 1)
	go func() { c.done <- c.cmd.Wait() }()
	c.dsn = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := c.ready(30 * time.Second); err != nil {
		logText, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		return nil, errors.Join(fmt.Errorf("%w\n%s", err, logText), c.stop())
	}
	return c, nil
}

// credential returns the user to run PostgreSQL as: postgres when running
// as root (initdb refuses root), which then gets dir; nil otherwise.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ready waits until the server accepts a query.
func (c *cluster) ready(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-c.done:
			c.done <- err
			return fmt.Errorf("postgres exited: %v", err)
		default:
		}
		if last = exec1(c.dsn, "SELECT 1"); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("postgres not ready after %s: %w", timeout, last)
}

// stop shuts the server down (fast shutdown) and removes its files.
func (c *cluster) stop() error {
	var err error
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			err = errors.New("postgres did not stop in 30s; killed")
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	return errors.Join(err, os.RemoveAll(c.dir))
}
