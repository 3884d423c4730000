package kvbehaviour

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// vaultDetector is the detector partitioned by vault (the upper-cased vault
// resource ID, which audit records carry already, so routing does not
// allocate). It runs KV_UserAnomaly, KV_AppAnomaly and KV_UserAppAnomaly
// (seen.go) and KV_OperationVolumeAnomaly (volume.go) over the vault's
// identified, not excepted operations, released in event-time order.
type vaultDetector struct {
	s      settings
	raise  raiser
	seenOn bool
	volOn  bool
}

func newVaultDetector(s settings) *vaultDetector {
	return &vaultDetector{
		s:      s,
		raise:  newRaiser(s),
		seenOn: s.UserAnomaly.Enabled || s.AppAnomaly.Enabled || s.UserAppAnomaly.Enabled,
		volOn:  s.OperationVolume.Enabled,
	}
}

// Name implements detect.Detector.
func (d *vaultDetector) Name() string { return NameVault }

// Consumes implements detect.Detector: Key Vault audit records only.
func (d *vaultDetector) Consumes(k event.Kind) bool { return k == event.KindKeyVault }

// NewShard implements detect.Detector.
func (d *vaultDetector) NewShard() detect.Shard { return azops.NewShard[vaultState](d) }

// PartitionKey implements detect.Detector: the vault of an identified,
// not excepted operation.
func (d *vaultDetector) PartitionKey(op *event.Op) (string, bool) {
	if !identified(op) || d.s.exceptions.match(op) {
		return "", false
	}
	v := vaultKey(op.ResourceID)
	return v, v != ""
}

// vaultState is one vault's state.
type vaultState struct {
	Pending azops.Buffer `json:"pending"`
	Seen    *seenState   `json:"seen,omitempty"`
	Volume  *volumeState `json:"volume,omitempty"`
}

// Pending implements azops.Logic.
func (d *vaultDetector) Pending(s *vaultState) *azops.Buffer { return &s.Pending }

// Release implements azops.Logic: one record of the vault, in time order.
func (d *vaultDetector) Release(key string, s *vaultState, r *azops.Rec, emit detect.Emitter) {
	var newCountry string
	if d.seenOn {
		if s.Seen == nil {
			s.Seen = d.newSeen(r.Time)
		}
		newCountry = d.observe(s.Seen, r, emit)
	}
	if d.volOn {
		if s.Volume == nil {
			s.Volume = d.newVolume()
		}
		d.countVolume(s.Volume, r, newCountry, emit)
	}
}

// Tick implements azops.Logic: closes the hour and the new-principal
// windows the watermark has passed, forgets what the look-back has passed
// (once a day), and reports the vault idle when it holds nothing.
func (d *vaultDetector) Tick(key string, s *vaultState, watermark time.Time, emit detect.Emitter) bool {
	idle := true
	if s.Volume != nil {
		if d.tickVolume(s.Volume, watermark, emit) {
			s.Volume = nil
		} else {
			idle = false
		}
	}
	if s.Seen != nil {
		if d.tickSeen(s.Seen, watermark, emit) {
			s.Seen = nil
		} else {
			idle = false
		}
	}
	return idle
}

// Check implements azops.Logic: validates a restored state and adapts it
// to the configuration in effect.
func (d *vaultDetector) Check(s *vaultState) error {
	if s.Seen != nil {
		if err := d.checkSeen(s.Seen); err != nil {
			return fmt.Errorf("seen: %w", err)
		}
	}
	if s.Volume != nil {
		if err := d.checkVolume(s.Volume); err != nil {
			return fmt.Errorf("volume: %w", err)
		}
	}
	return nil
}

// maxRestored bounds the records and entries a restored state may hold in
// any one list, whatever the configuration was when it was saved.
const maxRestored = 4096

// checkAcc validates an accumulator read back from a snapshot.
func checkAcc(a *azops.Acc) error {
	if err := a.Check(); err != nil {
		return err
	}
	if len(a.Recs) > maxRestored || len(a.Ops) > azops.MaxOps {
		return errors.New("accumulator too large")
	}
	return nil
}

// Speculate implements azops.Speculator: new users, applications and pairs
// are announced as they arrive (the other detections of the vault decide
// when event time closes their hour).
func (d *vaultDetector) Speculate(key string, s *vaultState, pending []azops.Rec, emit detect.Emitter) {
	if d.seenOn && s.Seen != nil {
		d.speculate(s.Seen, pending, emit)
	}
}
