package evaluate

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/simulate"
)

// EstateIdle is the unused-account idleness the evaluation asks for: a
// simulated estate of a few weeks cannot hold 60 days of silence, 10 days
// it can (its dormant account is silent from its third day on).
const EstateIdle = 10 * 24 * time.Hour

// ForEstate adapts cfg to a simulated estate: when cfg names no GeoIP
// database, the estate's own (Estate.WriteGeoIP) is written into dir and
// used; the estate's VPN egress is excepted from the location detections;
// the unused-account idleness is EstateIdle when the estate is shorter than
// the configured idleness allows.
func ForEstate(cfg config.Config, est *simulate.Estate, dir string) (config.Config, error) {
	if len(cfg.Intel.GeoIP) == 0 {
		path := filepath.Join(dir, "estate.mmdb")
		f, err := os.Create(path)
		if err != nil {
			return cfg, fmt.Errorf("evaluate: %w", err)
		}
		err = est.WriteGeoIP(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return cfg, fmt.Errorf("evaluate: %w", err)
		}
		cfg.Intel.GeoIP = []string{path}
	}
	cfg.ARMBehaviour.ExceptRanges = append(cfg.ARMBehaviour.ExceptRanges, est.VPNRanges()...)
	if est.End().Sub(est.Start()) < 2*cfg.ARMBehaviour.UnusedAccount.MinIdle {
		cfg.ARMBehaviour.UnusedAccount.MinIdle = EstateIdle
	}
	return cfg, cfg.Validate()
}
