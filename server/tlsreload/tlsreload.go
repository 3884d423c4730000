// Package tlsreload serves a certificate and key from PEM files and reads
// them again when they change on disk, so that a renewed certificate (by
// certbot, cert-manager, an operator) is served without a restart.
package tlsreload

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// DefaultCheckEvery is how often, at most, the files are looked at.
const DefaultCheckEvery = time.Second

// Loader holds the certificate last loaded from its files. Its
// GetCertificate goes in a tls.Config.
type Loader struct {
	certFile, keyFile string
	checkEvery        time.Duration
	onError           func(error)

	mu        sync.Mutex
	cert      *tls.Certificate
	certStamp stamp
	keyStamp  stamp
	checked   time.Time
}

// stamp tells whether a file changed.
type stamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// Options configure a Loader.
type Options struct {
	// CheckEvery is how often, at most, a handshake looks at the files'
	// modification times and sizes; default DefaultCheckEvery.
	CheckEvery time.Duration
	// OnError is told when changed files cannot be loaded (the previous
	// certificate stays in use, and loading is tried again at the next
	// check). Nil: ignore.
	OnError func(error)
}

// New loads the certificate and key; it fails when they cannot be read or
// do not match.
func New(certFile, keyFile string, opts Options) (*Loader, error) {
	if opts.CheckEvery <= 0 {
		opts.CheckEvery = DefaultCheckEvery
	}
	l := &Loader{certFile: certFile, keyFile: keyFile, checkEvery: opts.CheckEvery, onError: opts.OnError}
	if err := l.load(); err != nil {
		return nil, err
	}
	l.checked = time.Now()
	return l, nil
}

// load reads both files; called with mu held or before l is shared.
func (l *Loader) load() error {
	cs, err := stampOf(l.certFile)
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	ks, err := stampOf(l.keyFile)
	if err != nil {
		return fmt.Errorf("tls key: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(l.certFile, l.keyFile)
	if err != nil {
		return fmt.Errorf("tls certificate %s and key %s: %w", l.certFile, l.keyFile, err)
	}
	l.cert, l.certStamp, l.keyStamp = &cert, cs, ks
	return nil
}

// GetCertificate returns the current certificate, first reloading the
// files when they changed since they were last loaded.
func (l *Loader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := time.Now(); now.Sub(l.checked) >= l.checkEvery {
		l.checked = now
		cs, cerr := stampOf(l.certFile)
		ks, kerr := stampOf(l.keyFile)
		if cerr == nil && kerr == nil && (cs != l.certStamp || ks != l.keyStamp) {
			if err := l.load(); err != nil && l.onError != nil {
				// Half-written files, or a new certificate before its
				// new key: keep serving the old pair, try again later.
				l.onError(err)
			}
		} else if (cerr != nil || kerr != nil) && l.onError != nil {
			l.onError(fmt.Errorf("tls files: %w", errors.Join(cerr, kerr)))
		}
	}
	return l.cert, nil
}

// Config returns a server tls.Config that serves the Loader's certificate,
// TLS 1.2 or later, offering HTTP/2 and HTTP/1.1.
func (l *Loader) Config() *tls.Config {
	return &tls.Config{
		GetCertificate: l.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}
