// Package config is Vigil's configuration: one YAML file for everything the
// command-line flags do not cover, with every default working when the file
// is absent. Unknown keys and wrong types are errors that name the line and
// column, checked at start.
package config

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/arm"
	"github.com/vigil-security/vigil/detect/armbehaviour"
	"github.com/vigil-security/vigil/detect/fraud"
	"github.com/vigil-security/vigil/detect/keyvault"
	"github.com/vigil-security/vigil/detect/kvbehaviour"
	"github.com/vigil-security/vigil/detect/network"
	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/source/ipfix"
	"github.com/vigil-security/vigil/tenancy"
)

// Config is the whole configuration.
type Config struct {
	Engine Engine `yaml:"engine"`
	Alerts Alerts `yaml:"alerts"`
	Intel  Intel  `yaml:"intel"`
	// KeyVault configures the Key Vault detections.
	KeyVault keyvault.Config `yaml:"keyvault"`
	// KVBehaviour configures the behavioural Key Vault detections (new
	// users, applications and pairs, operation pattern and volume, vaults
	// per account).
	KVBehaviour kvbehaviour.Config `yaml:"keyvaultBehaviour"`
	// ARM configures the Resource Manager (Activity Log) detections.
	ARM arm.Config `yaml:"arm"`
	// ARMBehaviour configures the behavioural Resource Manager detections
	// (toolkit sweeps, unused account and PowerShell persistence,
	// privileged custom roles, infrequent country, impossible travel).
	ARMBehaviour armbehaviour.Config `yaml:"armBehaviour"`
	// Fraud configures the partner (CSP) compute fraud detections.
	Fraud fraud.Config `yaml:"fraud"`
	// Network configures the network-layer detections (flows).
	Network network.Config `yaml:"network"`
	// Server configures `vigil serve`.
	Server Server `yaml:"server"`
	// Directory lists partners, their customer tenants and subscriptions.
	Directory tenancy.Directory `yaml:"directory"`
	// Notify configures notifications: webhooks, mail, the daily summary,
	// continuous export (see package notify).
	Notify notify.Config `yaml:"notify"`
}

// Server configures `vigil serve`: where it listens, where it keeps its
// state, what it reads. The command-line flags --listen, --data and --db
// override Listen, DataDir and Database.
type Server struct {
	// Listen is the address of the API, dashboard, push endpoint, /metrics
	// and /healthz (host:port).
	Listen string `yaml:"listen"`
	// ExternalURL is the absolute http(s) URL clients reach the API at,
	// such as "https://vigil.example.com" (a path is kept, for a reverse
	// proxy that serves Vigil under a prefix): the base of @odata.context,
	// @odata.nextLink and Location. Unset, links are built on the request's
	// Host header only when it names a loopback address, "localhost" or one
	// of AllowedHosts, and on Listen otherwise.
	ExternalURL string `yaml:"externalURL"`
	// AllowedHosts are the Host header values links may be built on when
	// ExternalURL is unset: a host name (any port) or host:port.
	AllowedHosts []string `yaml:"allowedHosts"`
	// DataDir holds the SQLite database (vigil.db), the push spool
	// (spool/) and the saved state (state/: engine snapshot, file offsets).
	// A relative path is relative to the working directory.
	DataDir string `yaml:"dataDir"`
	// Database is the store of alerts, tokens, suppression rules and the
	// activity log: empty for the SQLite file vigil.db in DataDir, a file
	// path for another SQLite file, or a postgres:// (postgresql://) URL for
	// a PostgreSQL database that several instances share. libpq's
	// environment variables (PGPASSWORD, PGSSLMODE, ...) apply to the URL.
	// The flag --db overrides it.
	Database string `yaml:"database"`
	// Inputs are directories to follow for Azure log files.
	Inputs []Input `yaml:"inputs"`
	// Metrics serves Prometheus metrics at /metrics.
	Metrics bool `yaml:"metrics"`
	// SnapshotInterval is how often the engine's state is saved (it is also
	// saved at shutdown).
	SnapshotInterval time.Duration `yaml:"snapshotInterval"`
	// IdleAdvance: when no input has arrived for this long, the engine's
	// event time is moved to the wall clock minus the lateness, so windows
	// close on quiet live inputs. 0 turns it off (event time then only
	// moves with the events).
	IdleAdvance time.Duration `yaml:"idleAdvance"`
	// ShutdownTimeout bounds a graceful shutdown: draining the spool stops
	// after it (what is left stays spooled for the next start).
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// QueueSize is how many input chunks may wait for the pipeline.
	QueueSize int `yaml:"queueSize"`
	// Push configures the HTTP push endpoint (POST /ingest/azure).
	Push Push `yaml:"push"`
	// Flows configures the UDP collector of NetFlow v5 / v9 / IPFIX.
	Flows Flows `yaml:"flows"`
	// TLS makes the server speak HTTPS (and HTTP/2) on Listen. The
	// command-line flags --tls-cert and --tls-key override it.
	TLS TLS `yaml:"tls"`
	// AllowInsecure lets the server listen without TLS on an address
	// other than the loopback, where bearer tokens would cross the network
	// in clear text: only behind a proxy that terminates TLS. Without it,
	// such a server refuses to start.
	AllowInsecure bool `yaml:"allowInsecure"`
}

// TLS names the server's certificate and private key: PEM files, the
// certificate file holding the chain (leaf first). Both or neither. They
// are read again when they change on disk (a renewed certificate is
// served without a restart).
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.Cert != "" || t.Key != "" }

// Check verifies that both files are named, readable, and hold a matching
// certificate and key.
func (t TLS) Check() error {
	switch {
	case t.Cert == "" && t.Key == "":
		return nil
	case t.Cert == "":
		return errors.New("server.tls.key is set but server.tls.cert is not (--tls-cert and --tls-key go together)")
	case t.Key == "":
		return errors.New("server.tls.cert is set but server.tls.key is not (--tls-cert and --tls-key go together)")
	}
	if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
		return fmt.Errorf("server.tls: certificate %s and key %s: %w", t.Cert, t.Key, err)
	}
	return nil
}

// Flows configures the UDP flow collector.
type Flows struct {
	// Listen is the UDP address (host:port, e.g. ":4739" or ":2055"); empty
	// turns the collector off. The protocol is told from each packet.
	Listen string `yaml:"listen"`
	// ReadBuffer is the socket receive buffer in bytes (0: the system's).
	ReadBuffer int `yaml:"readBuffer"`
	// AllowedExporters are exporter addresses or networks ("192.0.2.1",
	// "192.0.2.0/24") that always get a session, however many (spoofed)
	// exporters fill the table of 1,024; refusals are counted per source.
	AllowedExporters []string `yaml:"allowedExporters"`
}

// Input is one directory to follow.
type Input struct {
	// Path is the directory; files are found in it and its subdirectories.
	Path string `yaml:"path"`
	// Pattern is matched against file names (path.Match syntax); empty
	// means DefaultInputPattern.
	Pattern string `yaml:"pattern"`
	// Poll is the interval between scans; 0 means one second.
	Poll time.Duration `yaml:"poll"`
}

// Push configures the HTTP push endpoint and its spool.
type Push struct {
	// MaxBodyBytes bounds one request body as sent (413 above it).
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// SpoolBytes bounds the data accepted but not yet processed (503 with
	// Retry-After above it).
	SpoolBytes int64 `yaml:"spoolBytes"`
	// MinBytesPerSecond is the slowest a client may send a body, after
	// ReadGrace: a client slower than that (declaring 64 MiB and sending a
	// byte now and then) is cut off so it cannot hold a slot.
	MinBytesPerSecond int64 `yaml:"minBytesPerSecond"`
	// ReadGrace is how long a body may take before MinBytesPerSecond
	// applies (and the longest a client may send nothing).
	ReadGrace time.Duration `yaml:"readGrace"`
	// RequireToken makes pushes present a read-write API token
	// (Authorization: Bearer vgl_..., made with `vigil token create`),
	// whose scope then bounds what the body may bring: records of other
	// tenants' subscriptions are refused and counted. Unset, it is on
	// unless server.listen is a loopback address (where only local
	// forwarders can reach the endpoint); see TokenRequired.
	RequireToken *bool `yaml:"requireToken"`
}

// Engine configures the detection engine.
type Engine struct {
	// Workers is the number of detection shards; 0 means one per CPU.
	Workers int `yaml:"workers"`
	// Lateness is how far out of order events may arrive before the windows
	// they fall in are closed (default 5m; 0 means none: every event is
	// taken as in order when it arrives).
	Lateness time.Duration `yaml:"lateness"`
	// EmitEarly (default true) raises alerts as soon as their condition
	// holds on the events that have arrived, instead of once the watermark
	// releases them: Tor / suspicious / proxy addresses at once, secret
	// listing bursts and access-policy-change-then-read at the read that
	// crosses the threshold. What the alert finally says is the same.
	EmitEarly bool `yaml:"emitEarly"`
}

// Alerts configures how candidates become alerts.
type Alerts struct {
	// AggregationWindow merges repeats of one incident (same type and key
	// entities) seen within this much event time into one alert.
	AggregationWindow time.Duration `yaml:"aggregationWindow"`
	// EvidenceCap is the most evidence records an alert keeps.
	EvidenceCap int `yaml:"evidenceCap"`
	// Language is the default language of rendered alerts: en, ja or nl.
	Language string `yaml:"language"`
}

// Intel lists the enrichment data files.
type Intel struct {
	// GeoIP are MaxMind-format mmdb files (city and/or ASN).
	GeoIP []string `yaml:"geoip"`
	// Tor are Tor exit-node lists, one address a line.
	Tor []string `yaml:"tor"`
	// Blocklists are lists of malicious addresses or networks.
	Blocklists []Blocklist `yaml:"blocklists"`
	// MinScore drops entries of scored lists (ipsum) below this score.
	MinScore int `yaml:"minScore"`
	// Assets are inventories of which resource held which address when:
	// CSV with the header ip,resource_id,subscription_id,valid_from,valid_to.
	// Network alerts fire only for addresses our resources held.
	Assets []string `yaml:"assets"`
}

// Blocklist is one list of addresses and what they are.
type Blocklist struct {
	Path string `yaml:"path"`
	// Category is what the list names: malicious, c2, proxy, tor or mining-pool.
	Category string `yaml:"category"`
	// Source names the list in alerts; the file name when empty.
	Source string `yaml:"source"`
}

// Default returns the configuration used when no file is given.
func Default() Config {
	return Config{
		Engine:       Engine{Lateness: detect.DefaultLateness, EmitEarly: true},
		Alerts:       Alerts{AggregationWindow: 24 * time.Hour, EvidenceCap: 50, Language: "en"},
		KeyVault:     keyvault.DefaultConfig(),
		KVBehaviour:  kvbehaviour.DefaultConfig(),
		ARM:          arm.DefaultConfig(),
		ARMBehaviour: armbehaviour.DefaultConfig(),
		Fraud:        fraud.DefaultConfig(),
		Network:      network.DefaultConfig(),
		Notify:       notify.DefaultConfig(),
		Server: Server{
			Listen:           DefaultListen,
			DataDir:          DefaultDataDir,
			Metrics:          true,
			SnapshotInterval: 5 * time.Minute,
			IdleAdvance:      10 * time.Second,
			ShutdownTimeout:  30 * time.Second,
			QueueSize:        64,
			Push:             Push{MaxBodyBytes: 64 << 20, SpoolBytes: 1 << 30, MinBytesPerSecond: 64 << 10, ReadGrace: 10 * time.Second},
		},
	}
}

// Server defaults.
const (
	DefaultListen = "127.0.0.1:8080"
	// DefaultDataDir is relative to the working directory, so a service
	// manager's working or state directory (systemd StateDirectory=, a
	// container volume) decides where the data goes.
	DefaultDataDir = "vigil-data"
	// DefaultInputPattern is the file pattern of an input without one.
	DefaultInputPattern = "*.json"
)

// Load reads a YAML file over the defaults: keys the file does not set keep
// their default values. Unknown keys are errors.
func Load(path string) (Config, error) {
	cfg := Default()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := Parse(data, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes YAML into cfg (which holds the defaults) and validates it.
// An empty document (or one of comments only) leaves cfg as it is.
func Parse(data []byte, cfg *Config) error {
	next := *cfg
	err := yaml.NewDecoder(bytes.NewReader(data), yaml.Strict(), yaml.CustomUnmarshaler(parseDuration)).Decode(&next)
	if errors.Is(err, io.EOF) {
		return cfg.Validate() // no document
	}
	if err != nil {
		if de, ok := errors.AsType[*durationError](err); ok {
			return de.locate(data)
		}
		return errors.New(yaml.FormatError(err, false, true))
	}
	*cfg = next
	return cfg.Validate()
}

// durationError is a value that is not a duration.
type durationError struct{ text string }

func (e *durationError) Error() string {
	return fmt.Sprintf("invalid duration %q (use a number with a unit: 30s, 5m, 24h)", e.text)
}

// parseDuration decodes a duration written as Go does ("90s", "1h30m").
func parseDuration(d *time.Duration, b []byte) error {
	text := strings.TrimSpace(string(b))
	if len(text) >= 2 && (text[0] == '"' || text[0] == '\'') && text[len(text)-1] == text[0] {
		text = text[1 : len(text)-1]
	}
	v, err := time.ParseDuration(text)
	if err != nil {
		return &durationError{text: text}
	}
	*d = v
	return nil
}

// locate finds the value in the document, to name its key, line and column
// (the decoder does not for values it does not convert itself).
func (e *durationError) locate(data []byte) error {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return e
	}
	var found error
	for _, doc := range file.Docs {
		ast.Walk(visitFunc(func(n ast.Node) bool {
			if found != nil {
				return false
			}
			if mv, ok := n.(*ast.MappingValueNode); ok && mv.Value != nil {
				if tk := mv.Value.GetToken(); tk != nil && tk.Value == e.text {
					found = fmt.Errorf("[%d:%d] %s: %w", tk.Position.Line, tk.Position.Column, mv.Key.String(), e)
					return false
				}
			}
			return true
		}), doc)
	}
	if found == nil {
		return e
	}
	return found
}

// visitFunc adapts a function to ast.Visitor: it returns whether to go on
// into the node's children.
type visitFunc func(ast.Node) bool

func (f visitFunc) Visit(n ast.Node) ast.Visitor {
	if f(n) {
		return f
	}
	return nil
}

// Validate checks values the types alone cannot.
func (c *Config) Validate() error {
	var errs []error
	if c.Engine.Workers < 0 {
		errs = append(errs, fmt.Errorf("engine.workers must be >= 0, got %d", c.Engine.Workers))
	}
	if c.Engine.Lateness < 0 {
		errs = append(errs, fmt.Errorf("engine.lateness must be >= 0, got %s", c.Engine.Lateness))
	}
	if c.Alerts.AggregationWindow <= 0 {
		errs = append(errs, fmt.Errorf("alerts.aggregationWindow must be > 0, got %s", c.Alerts.AggregationWindow))
	}
	if c.Alerts.EvidenceCap < 1 {
		errs = append(errs, fmt.Errorf("alerts.evidenceCap must be >= 1, got %d", c.Alerts.EvidenceCap))
	}
	switch c.Alerts.Language {
	case "en", "ja", "nl":
	default:
		errs = append(errs, fmt.Errorf("alerts.language must be en, ja or nl, got %q", c.Alerts.Language))
	}
	for i, b := range c.Intel.Blocklists {
		if b.Path == "" {
			errs = append(errs, fmt.Errorf("intel.blocklists[%d].path is empty", i))
		}
		switch b.Category {
		case "malicious", "c2", "proxy", "tor", "mining-pool":
		default:
			errs = append(errs, fmt.Errorf("intel.blocklists[%d].category must be malicious, c2, proxy, tor or mining-pool, got %q", i, b.Category))
		}
	}
	errs = append(errs, c.Server.validate()...)
	if _, err := ipfix.ParseExporters(c.Server.Flows.AllowedExporters); err != nil {
		errs = append(errs, fmt.Errorf("server.flows.allowedExporters: %w", err))
	}
	if err := c.Directory.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, sec := range []struct {
		name string
		v    interface{ Validate() error }
	}{{"keyvault", &c.KeyVault}, {"keyvaultBehaviour", &c.KVBehaviour}, {"arm", &c.ARM}, {"armBehaviour", &c.ARMBehaviour}, {"fraud", &c.Fraud}, {"network", &c.Network}, {"notify", &c.Notify}} {
		if err := sec.v.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sec.name, err))
		}
	}
	return errors.Join(errs...)
}

// validate checks the server section.
func (s *Server) validate() []error {
	var errs []error
	if _, port, err := net.SplitHostPort(s.Listen); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("server.listen must be host:port (e.g. %s or :8080), got %q", DefaultListen, s.Listen))
	}
	errs = append(errs, s.validateLinks()...)
	if s.DataDir == "" {
		errs = append(errs, errors.New("server.dataDir is empty"))
	}
	for i, in := range s.Inputs {
		if in.Path == "" {
			errs = append(errs, fmt.Errorf("server.inputs[%d].path is empty", i))
		}
		if _, err := filepath.Match(in.Pattern, ""); err != nil {
			errs = append(errs, fmt.Errorf("server.inputs[%d].pattern %q: %w", i, in.Pattern, err))
		}
		if in.Poll < 0 {
			errs = append(errs, fmt.Errorf("server.inputs[%d].poll must be >= 0, got %s", i, in.Poll))
		}
	}
	if s.SnapshotInterval <= 0 {
		errs = append(errs, fmt.Errorf("server.snapshotInterval must be > 0, got %s", s.SnapshotInterval))
	}
	if s.IdleAdvance < 0 {
		errs = append(errs, fmt.Errorf("server.idleAdvance must be >= 0, got %s", s.IdleAdvance))
	}
	if s.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("server.shutdownTimeout must be > 0, got %s", s.ShutdownTimeout))
	}
	if s.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("server.queueSize must be >= 1, got %d", s.QueueSize))
	}
	if s.Push.MaxBodyBytes < 1 {
		errs = append(errs, fmt.Errorf("server.push.maxBodyBytes must be >= 1, got %d", s.Push.MaxBodyBytes))
	}
	if s.Push.MinBytesPerSecond <= 0 || s.Push.ReadGrace <= 0 {
		errs = append(errs, fmt.Errorf("server.push.minBytesPerSecond (%d) and server.push.readGrace (%s) must be > 0", s.Push.MinBytesPerSecond, s.Push.ReadGrace))
	}
	if s.Push.SpoolBytes < s.Push.MaxBodyBytes {
		errs = append(errs, fmt.Errorf("server.push.spoolBytes (%d) must be at least server.push.maxBodyBytes (%d)", s.Push.SpoolBytes, s.Push.MaxBodyBytes))
	}
	if err := s.TLS.Check(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// TokenRequired reports whether pushes must present a token: as
// RequireToken says, or, unset, unless listen is a loopback address.
func (p Push) TokenRequired(listen string) bool {
	if p.RequireToken != nil {
		return *p.RequireToken
	}
	return !IsLoopback(listen)
}

// IsLoopback reports whether a listen address (host:port) is on the
// loopback: 127.0.0.0/8, ::1 or localhost.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
