package tlsreload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/server/tlsreload/tlstest"
)

// subject returns the common name of the certificate the loader serves.
func subject(t *testing.T, l *Loader) string {
	t.Helper()
	c, err := l.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Subject.CommonName
}

// touch moves a file's modification time on, as a rewrite would.
func touch(t *testing.T, path string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func TestReloadWhenTheFilesChange(t *testing.T) {
	dir := t.TempDir()
	f := tlstest.Write(t, dir, "first", "127.0.0.1")
	var (
		mu   sync.Mutex
		errs []error
	)
	l, err := New(f.Cert, f.Key, Options{CheckEvery: time.Nanosecond, OnError: func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := subject(t, l); got != "first" {
		t.Fatalf("serving %q", got)
	}

	// A renewed pair, written in place.
	tlstest.Write(t, dir, "second", "127.0.0.1")
	later := time.Now().Add(time.Minute)
	touch(t, f.Cert, later)
	touch(t, f.Key, later)
	if got := subject(t, l); got != "second" {
		t.Fatalf("after renewal serving %q", got)
	}

	// A new certificate whose key has not been written yet: the old pair
	// stays, the error is reported, and the pair loads once the key comes.
	other := tlstest.Write(t, t.TempDir(), "third", "127.0.0.1")
	cert, _ := os.ReadFile(other.Cert)
	if err := os.WriteFile(f.Cert, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	touch(t, f.Cert, later.Add(time.Minute))
	if got := subject(t, l); got != "second" {
		t.Fatalf("with a mismatched pair serving %q", got)
	}
	mu.Lock()
	n := len(errs)
	mu.Unlock()
	if n == 0 {
		t.Fatal("a mismatched pair was not reported")
	}
	key, _ := os.ReadFile(other.Key)
	if err := os.WriteFile(f.Key, key, 0o600); err != nil {
		t.Fatal(err)
	}
	touch(t, f.Key, later.Add(2*time.Minute))
	if got := subject(t, l); got != "third" {
		t.Fatalf("once the key came serving %q", got)
	}

	// Files gone: the pair in memory is still served.
	os.Remove(f.Cert)
	if got := subject(t, l); got != "third" {
		t.Fatalf("with the files gone serving %q", got)
	}
}

func TestNewFails(t *testing.T) {
	dir := t.TempDir()
	f := tlstest.Write(t, dir, "x", "localhost")
	other := tlstest.Write(t, t.TempDir(), "y", "localhost")
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not PEM"), 0o600)
	for name, pair := range map[string][2]string{
		"missing certificate": {filepath.Join(dir, "none.pem"), f.Key},
		"missing key":         {f.Cert, filepath.Join(dir, "none.pem")},
		"mismatched pair":     {f.Cert, other.Key},
		"not PEM":             {garbage, f.Key},
	} {
		if _, err := New(pair[0], pair[1], Options{}); err == nil {
			t.Errorf("%s: loaded", name)
		} else if name == "missing certificate" && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v does not wrap os.ErrNotExist", name, err)
		}
	}
}

func TestCheckEveryLimitsStats(t *testing.T) {
	dir := t.TempDir()
	f := tlstest.Write(t, dir, "first", "127.0.0.1")
	l, err := New(f.Cert, f.Key, Options{CheckEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tlstest.Write(t, dir, "second", "127.0.0.1")
	later := time.Now().Add(time.Minute)
	touch(t, f.Cert, later)
	touch(t, f.Key, later)
	// Within CheckEvery of the load the files are not looked at.
	if got := subject(t, l); got != "first" {
		t.Fatalf("serving %q before the next check", got)
	}
}
