package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/checkpoint"
	"github.com/vigil-security/vigil/source/httppush"
	"github.com/vigil-security/vigil/store"
)

// A checkpoint is what a restart resumes from: the detectors' state (both
// engines), the alert manager's open alerts, the alerts a rule suppressed,
// and the input positions they correspond to (the spool position, each
// followed directory's offsets), written as one file (package checkpoint).
// Between checkpoints, inputs keep everything after the last one (the
// spool does not drop a segment, followed files' offsets are not saved),
// so after a `kill -9` the server restores the checkpoint and reads again
// what came after it. Reading it again is idempotent: the detectors and
// the manager start from the state that had seen exactly the input before
// the position, so they make the same alerts with the same IDs and counts,
// which the store upserts over what it already holds; detection records
// in the system activity log are written once per alert. Nothing
// acknowledged is lost, nothing is counted twice.

// checkpointFile is the checkpoint's name in DATA/state.
const checkpointFile = "checkpoint"

// Checkpoint sections.
const (
	sectionEngine     = "engine"
	sectionFlows      = "flows"
	sectionAlerts     = "alerts"
	sectionSuppressed = "suppressed"
)

// checkpointMeta is the checkpoint's metadata: where the inputs stood.
type checkpointMeta struct {
	Version int          `json:"version"`
	Written time.Time    `json:"written"`
	Spool   httppush.Pos `json:"spool"`
	// Tails holds each followed directory's offsets file, by its name.
	Tails map[string]json.RawMessage `json:"tails,omitempty"`
}

const checkpointVersion = 1

// checkpointer writes the server's checkpoints.
type checkpointer struct {
	path string
	// tails names each follower's offsets file, in the order of l.tails.
	tails []string
	// legacy are snapshot files of earlier versions, removed once a
	// checkpoint supersedes them.
	legacy []string
}

// write makes one checkpoint of l, between batches.
func (cp *checkpointer) write(l *live) error {
	w, err := checkpoint.Create(cp.path)
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := w.Section(sectionEngine, l.engine.Snapshot); err != nil {
		return err
	}
	if err := w.Section(sectionFlows, l.p.FlowEngine().Snapshot); err != nil {
		return err
	}
	if err := w.Section(sectionAlerts, jsonSection(l.p.Manager().Open())); err != nil {
		return err
	}
	if err := w.Section(sectionSuppressed, jsonSection(l.p.Suppressed())); err != nil {
		return err
	}
	meta := checkpointMeta{Version: checkpointVersion, Written: l.now().UTC(), Tails: map[string]json.RawMessage{}}
	if l.spool != nil {
		meta.Spool = l.spool.Consumed()
	}
	for i, t := range l.tails {
		st, err := t.State()
		if err != nil {
			return err
		}
		meta.Tails[cp.tails[i]] = st
	}
	if err := w.Commit(meta); err != nil {
		return err
	}
	for _, p := range cp.legacy {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove superseded snapshot: %w", err)
		}
	}
	cp.legacy = nil
	return nil
}

func jsonSection(v any) func(io.Writer) error {
	return func(w io.Writer) error { return json.NewEncoder(w).Encode(v) }
}

// restoreCheckpoint loads the server's last checkpoint into its engines,
// manager and triage, lays each followed directory's offsets file as the
// checkpoint had it, and returns the spool position it covers. found is
// false when there is none (a first start, or a data directory of an
// earlier version).
func (s *Server) restoreCheckpoint(ctx context.Context, path string, tailStates map[string]string) (pos httppush.Pos, found bool, err error) {
	cp, err := checkpoint.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return pos, false, nil
	}
	if err != nil {
		return pos, false, err
	}
	defer cp.Close()
	var meta checkpointMeta
	if err := cp.Meta(&meta); err != nil {
		return pos, false, err
	}
	if meta.Version != checkpointVersion {
		return pos, false, fmt.Errorf("checkpoint version %d, this build reads %d", meta.Version, checkpointVersion)
	}
	section := func(name string) (io.Reader, error) {
		r, ok := cp.Section(name)
		if !ok {
			return nil, fmt.Errorf("checkpoint has no %s section", name)
		}
		return r, nil
	}
	r, err := section(sectionEngine)
	if err != nil {
		return pos, false, err
	}
	rs, err := s.engine.Restore(r)
	if err != nil {
		return pos, false, fmt.Errorf("restore engine state: %w", err)
	}
	if r, err = section(sectionFlows); err != nil {
		return pos, false, err
	}
	if _, err := s.flowEngine.Restore(r); err != nil {
		return pos, false, fmt.Errorf("restore flow engine state: %w", err)
	}
	var open, suppressed []*alert.Alert
	if r, err = section(sectionAlerts); err != nil {
		return pos, false, err
	}
	if err := json.NewDecoder(r).Decode(&open); err != nil {
		return pos, false, fmt.Errorf("checkpoint alerts: %w", err)
	}
	if r, err = section(sectionSuppressed); err != nil {
		return pos, false, err
	}
	if err := json.NewDecoder(r).Decode(&suppressed); err != nil {
		return pos, false, fmt.Errorf("checkpoint suppressed alerts: %w", err)
	}
	// Triage made since the checkpoint (through the API) is in the store;
	// what detection knew is the checkpoint's.
	for _, a := range open {
		stored, err := s.st.GetAlert(ctx, a.ID)
		if errors.Is(err, store.ErrNotFound) {
			s.manager.Track(a)
			continue
		}
		if err != nil {
			return pos, false, fmt.Errorf("checkpoint alert %s: %w", a.ID, err)
		}
		a.Status, a.ResolvedReason, a.ResolvedBy, a.ResolvedOn = stored.Status, stored.ResolvedReason, stored.ResolvedBy, stored.ResolvedOn
		a.ActivityLogs, a.SuppressedBy = stored.ActivityLogs, stored.SuppressedBy
		s.manager.Track(a)
	}
	s.live.p.RestoreSuppressed(suppressed)
	for name, statePath := range tailStates {
		st, ok := meta.Tails[name]
		if !ok {
			continue // an input added since
		}
		if err := os.MkdirAll(filepath.Dir(statePath), 0o750); err != nil {
			return pos, false, err
		}
		if err := writeFileSync(statePath, st); err != nil {
			return pos, false, err
		}
	}
	s.log.Info("checkpoint restored", "written", meta.Written, "keys", rs.Keys, "openAlerts", len(open),
		"spool", meta.Spool.String(), "watermark", s.engine.Watermark())
	return meta.Spool, true, nil
}

// writeFileSync replaces path with data, synced.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
