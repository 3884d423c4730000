package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/detect"
)

// TestBuildTakesLatenessAsWritten: `lateness: 0` in YAML means no lateness,
// not the default, and nonsense is refused rather than mapped.
func TestBuildTakesLatenessAsWritten(t *testing.T) {
	discard := []Sink{SinkFunc(func(*alert.Alert) error { return nil })}
	for _, tc := range []struct {
		yaml string
		want time.Duration
	}{
		{"engine:\n  lateness: 0s\n", 0},
		{"engine:\n  lateness: 90s\n", 90 * time.Second},
		{"alerts:\n  language: nl\n", detect.DefaultLateness},
	} {
		path := filepath.Join(t.TempDir(), "vigil.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Build(cfg, BuildOptions{Sinks: discard})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Engine().String(); !strings.Contains(got, "lateness "+tc.want.String()+",") {
			t.Errorf("%q: %s, want lateness %s", tc.yaml, got, tc.want)
		}
		p.Close()
	}
	cfg := config.Default()
	cfg.Engine.Lateness = -time.Second
	if _, err := Build(cfg, BuildOptions{Sinks: discard}); err == nil {
		t.Error("a negative lateness was accepted")
	}
	if _, err := Build(config.Default(), BuildOptions{}); err == nil {
		t.Error("a chain without sinks was built")
	}
	if err := (detect.Options{Workers: -1}).Validate(); err == nil {
		t.Error("negative workers validated")
	}
}
