package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/server/tlsreload/tlstest"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

func TestDefaultIsValid(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default configuration: %v", err)
	}
	if cfg.Server.Listen != "127.0.0.1:8080" || cfg.Server.DataDir != "vigil-data" || !cfg.Server.Metrics {
		t.Errorf("server defaults %+v", cfg.Server)
	}
	// An empty file gives the defaults.
	for _, doc := range []string{"", "# only a comment\n", "---\n"} {
		got := Default()
		if err := Parse([]byte(doc), &got); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if got.Server.SnapshotInterval != cfg.Server.SnapshotInterval || got.Alerts != cfg.Alerts {
			t.Errorf("%q changed the defaults", doc)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("server:\n  listen: :8080\n  inputs: [{path: /x}]\n")
	f.Add("engine: {lateness: 5m}\n")
	f.Add("engine: {lateness: '5m'}\n")
	f.Add("directory: {partners: [{id: a, customers: [b]}]}\n")
	f.Add("server: {push: {maxBodyBytes: -1}}")
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, doc string) {
		cfg := Default()
		if err := Parse([]byte(doc), &cfg); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a configuration Validate rejects: %v", err)
		}
	})
}

func TestParseServerSection(t *testing.T) {
	const doc = `
server:
  listen: 0.0.0.0:9090
  dataDir: /var/lib/vigil
  inputs:
    - path: /mnt/insights-logs-auditevent
      pattern: "PT1H.json"
      poll: 5s
    - path: /srv/drop
  metrics: false
  snapshotInterval: 1m
  idleAdvance: 0s
  push:
    maxBodyBytes: 1048576
    spoolBytes: 10485760
directory:
  partners:
    - id: 4b1b6a9e-1f6f-4b0a-9d55-2b2f0c1a7e01
      name: Contoso CSP
      customers: [1889e718-414b-4bad-8bbe-c1135bd39a41]
`
	cfg := Default()
	if err := Parse([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	s := cfg.Server
	if s.Listen != "0.0.0.0:9090" || s.DataDir != "/var/lib/vigil" || s.Metrics || s.SnapshotInterval != time.Minute || s.IdleAdvance != 0 {
		t.Errorf("server %+v", s)
	}
	if len(s.Inputs) != 2 || s.Inputs[0].Pattern != "PT1H.json" || s.Inputs[0].Poll != 5*time.Second || s.Inputs[1].Path != "/srv/drop" {
		t.Errorf("inputs %+v", s.Inputs)
	}
	if s.Push.MaxBodyBytes != 1<<20 || s.Push.SpoolBytes != 10<<20 {
		t.Errorf("push %+v", s.Push)
	}
	if s.ShutdownTimeout != 30*time.Second {
		t.Errorf("a key the file does not set lost its default: %s", s.ShutdownTimeout)
	}
	if len(cfg.Directory.Partners) != 1 || cfg.Directory.Partners[0].Customers[0] != "1889e718-414b-4bad-8bbe-c1135bd39a41" {
		t.Errorf("directory %+v", cfg.Directory)
	}
}

func TestUnknownKeyNamesLineAndColumn(t *testing.T) {
	const doc = "server:\n  listen: 127.0.0.1:1\n  dataDri: /tmp/x\n"
	cfg := Default()
	err := Parse([]byte(doc), &cfg)
	if err == nil {
		t.Fatal("an unknown key was accepted")
	}
	if !strings.Contains(err.Error(), "[3:3]") || !strings.Contains(err.Error(), "dataDri") {
		t.Errorf("error %q does not name line 3, column 3 and the key", err)
	}
}

func TestExternalURLAndAllowedHostsAccepted(t *testing.T) {
	for _, doc := range []string{
		"server: {externalURL: 'https://vigil.example.com'}",
		"server: {externalURL: 'http://10.0.0.5:8080/'}",
		"server: {externalURL: 'https://example.com/vigil'}",
		"server: {externalURL: 'https://[2001:db8::1]:8443'}",
		"server: {allowedHosts: [vigil.example.com, 'vigil.internal:8080', '10.0.0.5', '[2001:db8::1]:80', '::1']}",
	} {
		cfg := Default()
		if err := Parse([]byte(doc), &cfg); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
	cfg := Default()
	if err := Parse([]byte("server: {externalURL: 'https://vigil.example.com', allowedHosts: [a.example]}"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Server.ExternalURL != "https://vigil.example.com" || len(cfg.Server.AllowedHosts) != 1 || cfg.Server.AllowedHosts[0] != "a.example" {
		t.Errorf("parsed %q %q", cfg.Server.ExternalURL, cfg.Server.AllowedHosts)
	}
}

func TestBadValuesRejected(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"listen without port", "server: {listen: localhost}", "server.listen must be host:port"},
		{"exporter allow-list entry that is no address", "server: {flows: {allowedExporters: [192.0.2.1, router-1]}}", "server.flows.allowedExporters: exporter 2: \"router-1\" is not an address"},
		{"empty data dir", "server: {dataDir: ''}", "server.dataDir is empty"},
		{"relative external URL", "server: {externalURL: vigil.example.com}", "server.externalURL \"vigil.example.com\": must be an absolute http or https URL"},
		{"external URL of another scheme", "server: {externalURL: 'ftp://vigil.example.com'}", "must be an absolute http or https URL"},
		{"external URL without host", "server: {externalURL: 'https:///x'}", "has no host"},
		{"external URL with query", "server: {externalURL: 'https://vigil.example.com/?a=1'}", "must not have a query"},
		{"external URL with empty query", "server: {externalURL: 'https://vigil.example.com/?'}", "must not have a query"},
		{"external URL with fragment", "server: {externalURL: 'https://vigil.example.com/#top'}", "must not have a fragment"},
		{"external URL with user", "server: {externalURL: 'https://u:p@vigil.example.com'}", "must not carry a user name"},
		{"external URL with bad host", "server: {externalURL: 'https://vi gil.example.com'}", "server.externalURL"},
		{"external URL with bad port", "server: {externalURL: 'https://vigil.example.com:x'}", "server.externalURL"},
		{"allowed host with scheme", "server: {allowedHosts: [ok.example, 'https://vigil.example.com']}", "server.allowedHosts[1] \"https://vigil.example.com\": must be a host name"},
		{"allowed host with path", "server: {allowedHosts: [vigil.example.com/x]}", "server.allowedHosts[0]"},
		{"allowed host with bad port", "server: {allowedHosts: ['vigil.example.com:80a']}", "bad port"},
		{"input without path", "server: {inputs: [{pattern: '*.json'}]}", "server.inputs[0].path is empty"},
		{"bad pattern", "server: {inputs: [{path: /x, pattern: '[a'}]}", "server.inputs[0].pattern"},
		{"negative poll", "server: {inputs: [{path: /x, poll: -1s}]}", "server.inputs[0].poll must be >= 0"},
		{"zero snapshot interval", "server: {snapshotInterval: 0s}", "server.snapshotInterval must be > 0"},
		{"negative idle advance", "server: {idleAdvance: -1s}", "server.idleAdvance must be >= 0"},
		{"zero shutdown timeout", "server: {shutdownTimeout: 0s}", "server.shutdownTimeout must be > 0"},
		{"zero queue", "server: {queueSize: 0}", "server.queueSize must be >= 1"},
		{"zero body limit", "server: {push: {maxBodyBytes: 0}}", "server.push.maxBodyBytes must be >= 1"},
		{"spool below body", "server: {push: {maxBodyBytes: 100, spoolBytes: 10}}", "server.push.spoolBytes (10) must be at least"},
		{"wrong type", "server: {queueSize: many}", "queueSize"},
		{"bad duration", "server:\n  snapshotInterval: soon\n", "[2:21] snapshotInterval: invalid duration \"soon\""},
		{"duration without unit", "engine: {lateness: 5}", "lateness: invalid duration \"5\""},
		{"duplicate partner", "directory: {partners: [{id: a}, {id: A}]}", "directory.partners[1].id: partner A is already listed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			err := Parse([]byte(tc.doc), &cfg)
			if err == nil {
				t.Fatalf("accepted %q", tc.doc)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(path, []byte("server:\n  queueSize: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load error %v does not name the file", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("a missing file is accepted")
	}
}

// TestExampleConfigLoads keeps examples/vigil.yaml, which the README shows,
// valid.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := Load("../examples/vigil.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Directory.Partners) != 1 || len(cfg.Directory.Customers[0].Subscriptions) != 1 || len(cfg.Intel.Blocklists) != 1 {
		t.Fatalf("example config read as %+v", cfg.Directory)
	}
}

func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	f := tlstest.Write(t, dir, "vigil", "127.0.0.1")
	other := tlstest.Write(t, t.TempDir(), "other", "127.0.0.1")
	tests := []struct {
		name string
		doc  string
		err  string // "" when valid
	}{
		{"neither", "server: {listen: 127.0.0.1:8443}", ""},
		{"both", fmt.Sprintf("server:\n  listen: 0.0.0.0:8443\n  tls: {cert: %s, key: %s}\n", f.Cert, f.Key), ""},
		{"allowInsecure", "server: {listen: 0.0.0.0:8080, allowInsecure: true}", ""},
		{"cert only", fmt.Sprintf("server: {tls: {cert: %s}}", f.Cert), "server.tls.cert is set but server.tls.key is not"},
		{"key only", fmt.Sprintf("server: {tls: {key: %s}}", f.Key), "server.tls.key is set but server.tls.cert is not"},
		{"unreadable", fmt.Sprintf("server: {tls: {cert: %s, key: %s}}", filepath.Join(dir, "none.pem"), f.Key), "no such file"},
		{"mismatched pair", fmt.Sprintf("server: {tls: {cert: %s, key: %s}}", f.Cert, other.Key), "private key does not match public key"},
		{"key as certificate", fmt.Sprintf("server: {tls: {cert: %s, key: %s}}", f.Key, f.Key), "server.tls: certificate"},
		{"unknown key", "server: {tls: {certificate: x}}", "unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			err := Parse([]byte(tc.doc), &cfg)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(tc.doc, "tls:") && (cfg.Server.TLS != TLS{Cert: f.Cert, Key: f.Key} || !cfg.Server.TLS.Enabled()) {
					t.Errorf("tls %+v", cfg.Server.TLS)
				}
				if strings.Contains(tc.doc, "allowInsecure") != cfg.Server.AllowInsecure {
					t.Errorf("allowInsecure %v", cfg.Server.AllowInsecure)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}
