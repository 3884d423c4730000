package detect

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// snapshotVersion is written in the header of every snapshot.
const snapshotVersion = 1

// snapshotHeader is the first line of a snapshot.
type snapshotHeader struct {
	Version   int       `json:"version"`
	Watermark time.Time `json:"watermark"`
	MaxTime   time.Time `json:"maxTime"`
}

// snapshotEntry is one key's state of one detector.
type snapshotEntry struct {
	Detector string `json:"detector"`
	Key      string `json:"key"`
	State    []byte `json:"state"`
}

// Snapshot writes the engine's time and every detector's state as JSON lines,
// ordered by detector and key, so the same state gives the same bytes
// whatever the number of workers. Call it between batches.
func (e *Engine) Snapshot(w io.Writer) error {
	var entries []snapshotEntry
	for _, wk := range e.workers {
		for d, s := range wk.shards {
			name := e.detectors[d].Name()
			err := s.Snapshot(func(key string, state []byte) error {
				entries = append(entries, snapshotEntry{Detector: name, Key: key, State: slices.Clone(state)})
				return nil
			})
			if err != nil {
				return fmt.Errorf("snapshot of detector %s: %w", name, err)
			}
		}
	}
	slices.SortFunc(entries, func(a, b snapshotEntry) int {
		if c := cmp.Compare(a.Detector, b.Detector); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Version: snapshotVersion, Watermark: e.watermark, MaxTime: e.maxTime}); err != nil {
		return fmt.Errorf("write snapshot header: %w", err)
	}
	for i := range entries {
		if err := enc.Encode(&entries[i]); err != nil {
			return fmt.Errorf("write snapshot entry: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// RestoreStats says what a Restore loaded.
type RestoreStats struct {
	Keys int // keys restored
	// Unknown counts keys of detectors this engine does not run (the
	// configuration changed since the snapshot); they are skipped.
	Unknown int
}

// Restore loads a snapshot written by Snapshot into an engine that has not
// processed anything yet, routing every key to the worker that owns it now.
func (e *Engine) Restore(r io.Reader) (RestoreStats, error) {
	var st RestoreStats
	dec := json.NewDecoder(bufio.NewReader(r))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return st, fmt.Errorf("read snapshot header: %w", err)
	}
	if h.Version != snapshotVersion {
		return st, fmt.Errorf("snapshot version %d, this build reads %d", h.Version, snapshotVersion)
	}
	index := make(map[string]int, len(e.detectors))
	for i, d := range e.detectors {
		index[d.Name()] = i
	}
	n := len(e.workers)
	for line := 2; ; line++ {
		var ent snapshotEntry
		err := dec.Decode(&ent)
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("read snapshot entry %d: %w", line, err)
		}
		d, ok := index[ent.Detector]
		if !ok {
			st.Unknown++
			continue
		}
		w := shardOf(d, ent.Key, n)
		if _, isFlow := e.detectors[d].(FlowDetector); isFlow {
			k, err := strconv.ParseUint(ent.Key, 10, 64)
			if err != nil {
				return st, fmt.Errorf("restore detector %s: flow key %q is not a number", ent.Detector, ent.Key)
			}
			w = shardOfHash(d, k, n)
		}
		shard := e.workers[w].shards[d]
		if err := shard.Restore(ent.Key, ent.State); err != nil {
			return st, fmt.Errorf("restore detector %s key %q: %w", ent.Detector, ent.Key, err)
		}
		st.Keys++
	}
	e.watermark, e.maxTime = h.Watermark, h.MaxTime
	return st, nil
}

// SnapshotFile writes a snapshot to path atomically (a temporary file in the
// same directory, synced, then renamed), so a crash never leaves half a state.
func (e *Engine) SnapshotFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("snapshot directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".snapshot-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := e.Snapshot(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("snapshot sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapshot close: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("snapshot rename: %w", err)
	}
	return nil
}

// RestoreFile loads a snapshot from path; a missing file is not an error
// (first start) and restores nothing.
func (e *Engine) RestoreFile(path string) (RestoreStats, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return RestoreStats{}, nil
	}
	if err != nil {
		return RestoreStats{}, fmt.Errorf("open snapshot: %w", err)
	}
	defer f.Close()
	st, err := e.Restore(f)
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}
