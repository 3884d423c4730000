// Package filetail follows a directory of Azure log files: it finds new
// files, reads what is appended to them, and remembers how far each file
// has been processed, so a restart resumes where the pipeline stopped.
//
// It polls (no file-system notifications), which works the same on local
// disks, network mounts and blob containers mounted with blobfuse.
//
// # Files
//
// A file's kind is decided from its first bytes:
//
//   - JSON lines (storage append blobs, PT1H.json): the first line is a
//     complete JSON object. Appended lines are read as they come, in chunks
//     that end at a newline; a last line without a newline is read once the
//     file has not changed for Options.Settle, and read again whole, from
//     its start, should the file grow after all (a writer that paused
//     mid-line: the fragment read first is a malformed record, counted).
//   - a document (a pretty-printed {"records":[...]} envelope, a JSON array,
//     or anything gzip-compressed): read as a whole once it has not changed
//     for Options.Settle; bytes appended later are read the same way, as a
//     continuation (the azurelog reader accepts concatenated envelopes and
//     gzip members).
//
// A file that shrinks or is replaced (another inode) is read again from its
// start; a file that disappears is forgotten.
//
// # Delivery
//
// Run sends Chunks to a channel; the consumer calls Done for each chunk once
// what it held has been processed (its alerts stored), and Commit to persist
// the offsets. Offsets only move on Done, so after a crash the chunks that
// were sent but not done are read again: at-least-once.
package filetail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Defaults.
const (
	DefaultPattern    = "*.json"
	DefaultPoll       = time.Second
	DefaultChunkBytes = 1 << 20
	// MaxLineBytes bounds the search for the end of one line; a longer
	// line is passed on whole, for the reader to reject.
	MaxLineBytes = 64 << 20
)

// Options configure a Follower.
type Options struct {
	// Dir is the directory to follow, with its subdirectories.
	Dir string
	// Pattern is matched (path.Match syntax) against file base names.
	Pattern string
	// Poll is the interval between scans of the directory.
	Poll time.Duration
	// Settle is how long a file must be unchanged before a document, or a
	// last line without a newline, is read; default two polls.
	Settle time.Duration
	// ChunkBytes is the size of the chunks JSON lines are read in.
	ChunkBytes int
	// StatePath is the file offsets are kept in; empty keeps them in
	// memory only.
	StatePath string
	// OnError is told about files that cannot be read; the follower goes
	// on with the others. Nil: ignore.
	OnError func(path string, err error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Chunk is a range of one file to process.
type Chunk struct {
	Path       string
	Start, End int64 // byte range [Start, End)
	// Data holds the bytes of a JSON-lines chunk; nil for a document,
	// which Open streams from the file.
	Data []byte
	gen  uint64
}

// Name identifies the chunk in record positions: the path, with "@offset"
// when the chunk does not start the file (line numbers then count from
// there).
func (c *Chunk) Name() string {
	if c.Start == 0 {
		return c.Path
	}
	return fmt.Sprintf("%s@%d", c.Path, c.Start)
}

// Open returns the chunk's bytes as a reader; close it after use.
func (c *Chunk) Open() (io.ReadCloser, error) {
	if c.Data != nil {
		return io.NopCloser(bytes.NewReader(c.Data)), nil
	}
	f, err := os.Open(c.Path)
	if err != nil {
		return nil, fmt.Errorf("filetail: %w", err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, c.Start, c.End-c.Start), f}, nil
}

// file kinds.
const (
	kindUnknown  = ""
	kindLines    = "lines"
	kindDocument = "document"
)

// fileState is what the follower knows of one file. The exported fields
// are persisted.
type fileState struct {
	Offset int64  `json:"offset"` // processed (Done) up to here
	Kind   string `json:"kind,omitempty"`
	ID     fileID `json:"id"`
	// Unterminated, when set, is where the file's last line started when it
	// was read without its newline (the file had settled): if the file grows
	// after all, that line was cut short by a writer that paused, and it is
	// read again whole from here.
	Unterminated *int64 `json:"unterminated,omitempty"`

	sent        int64 // sent up to here
	gen         uint64
	size        int64
	mod         time.Time
	stableSince time.Time
	seen        bool // found by the current scan
}

// Follower follows one directory. Run it on one goroutine; Done, Commit and
// Offsets may be called from others.
type Follower struct {
	opts Options

	mu    sync.Mutex
	files map[string]*fileState
	gen   uint64
	dirty bool
}

// New returns a follower, with the offsets from opts.StatePath when the
// file exists.
func New(opts Options) (*Follower, error) {
	if opts.Dir == "" {
		return nil, errors.New("filetail: no directory")
	}
	if opts.Pattern == "" {
		opts.Pattern = DefaultPattern
	}
	if _, err := filepath.Match(opts.Pattern, ""); err != nil {
		return nil, fmt.Errorf("filetail: pattern %q: %w", opts.Pattern, err)
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Settle <= 0 {
		opts.Settle = 2 * opts.Poll
	}
	if opts.ChunkBytes <= 0 {
		opts.ChunkBytes = DefaultChunkBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Follower{opts: opts, files: map[string]*fileState{}}
	if opts.StatePath != "" {
		data, err := os.ReadFile(opts.StatePath)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("filetail: %w", err)
		default:
			if err := json.Unmarshal(data, &f.files); err != nil {
				return nil, fmt.Errorf("filetail: state file %s: %w", opts.StatePath, err)
			}
			for path, st := range f.files {
				if st == nil || st.Offset < 0 {
					return nil, fmt.Errorf("filetail: state file %s: bad entry for %s", opts.StatePath, path)
				}
				st.sent = st.Offset
			}
		}
	}
	return f, nil
}

// Run scans the directory every Poll and sends what is new to out, until
// ctx is done. Sending blocks while out is full. A scan that fails (the
// directory is gone, say) is reported to OnError and tried again at the
// next poll.
func (f *Follower) Run(ctx context.Context, out chan<- Chunk) {
	t := time.NewTicker(f.opts.Poll)
	defer t.Stop()
	for {
		if err := f.Scan(ctx, out); err != nil {
			if ctx.Err() != nil {
				return
			}
			f.report(f.opts.Dir, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Scan looks at the directory once and sends every chunk ready now.
func (f *Follower) Scan(ctx context.Context, out chan<- Chunk) error {
	paths, err := f.list()
	if err != nil {
		return err
	}
	f.mu.Lock()
	for _, st := range f.files {
		st.seen = false
	}
	f.mu.Unlock()
	for _, path := range paths {
		if err := f.follow(ctx, path, out); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.report(path, err)
		}
	}
	f.mu.Lock()
	for path, st := range f.files {
		if !st.seen {
			delete(f.files, path)
			f.dirty = true
		}
	}
	f.mu.Unlock()
	return nil
}

func (f *Follower) report(path string, err error) {
	if f.opts.OnError != nil {
		f.opts.OnError(path, err)
	}
}

// list returns the matching regular files under Dir, sorted.
func (f *Follower) list() ([]string, error) {
	var paths []string
	err := filepath.WalkDir(f.opts.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == f.opts.Dir {
				return err
			}
			f.report(path, err)
			return nil // skip what cannot be read, keep the rest
		}
		if d.Type().IsRegular() {
			if ok, _ := filepath.Match(f.opts.Pattern, d.Name()); ok {
				paths = append(paths, path)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filetail: %w", err)
	}
	sort.Strings(paths)
	return paths, nil
}

// follow sends the ready chunks of one file.
func (f *Follower) follow(ctx context.Context, path string, out chan<- Chunk) error {
	file, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // removed since the scan
		}
		return fmt.Errorf("filetail: %w", err)
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return fmt.Errorf("filetail: %w", err)
	}
	now := f.opts.Now()
	id := identity(info)

	f.mu.Lock()
	st := f.files[path]
	switch {
	case st == nil:
		f.gen++
		st = &fileState{ID: id, gen: f.gen, stableSince: now}
		f.files[path] = st
		f.dirty = true
	case st.ID != id || info.Size() < st.Offset || info.Size() < st.sent:
		// Replaced or truncated: start again.
		f.gen++
		*st = fileState{ID: id, gen: f.gen, stableSince: now}
		f.dirty = true
	}
	st.seen = true
	if info.Size() != st.size || !info.ModTime().Equal(st.mod) {
		st.size, st.mod, st.stableSince = info.Size(), info.ModTime(), now
	}
	if u := st.Unterminated; u != nil && info.Size() > st.sent {
		// The line read as the file's last grew: read it again, whole.
		st.sent, st.Unterminated = min(*u, st.sent), nil
		f.dirty = true
	}
	stable := now.Sub(st.stableSince) >= f.opts.Settle
	f.mu.Unlock()

	for {
		f.mu.Lock()
		from, kind, gen := st.sent, st.Kind, st.gen
		f.mu.Unlock()
		size := info.Size()
		if from >= size {
			return nil
		}
		if kind == kindUnknown {
			if kind, err = detect(file, size, stable); err != nil {
				return err
			}
			if kind == kindUnknown {
				return nil // not enough to decide yet
			}
			f.mu.Lock()
			st.Kind = kind
			f.dirty = true
			f.mu.Unlock()
		}
		c := Chunk{Path: path, Start: from, gen: gen}
		switch kind {
		case kindDocument:
			if !stable {
				return nil
			}
			c.End = size
		default:
			if c.Data, err = readLines(file, from, size, f.opts.ChunkBytes, stable); err != nil {
				return err
			}
			if c.Data == nil {
				return nil
			}
			c.End = from + int64(len(c.Data))
			if c.Data[len(c.Data)-1] != '\n' { // the settled file's last line, without its newline
				start := from + int64(bytes.LastIndexByte(c.Data, '\n')+1)
				f.mu.Lock()
				if st.gen == gen {
					st.Unterminated = &start
					f.dirty = true
				}
				f.mu.Unlock()
			}
		}
		select {
		case out <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
		f.mu.Lock()
		if st.gen == gen {
			st.sent = c.End
		}
		f.mu.Unlock()
	}
}

// detect decides a file's kind from its first bytes, or returns kindUnknown
// when it cannot tell yet.
func detect(file *os.File, size int64, stable bool) (string, error) {
	head := make([]byte, min(size, 64<<10))
	if _, err := file.ReadAt(head, 0); err != nil && err != io.EOF {
		return "", fmt.Errorf("filetail: %w", err)
	}
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		return kindDocument, nil
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(trimmed) == 0 {
		return kindUnknown, nil
	}
	if trimmed[0] != '{' {
		return kindDocument, nil // an array, or not JSON (the reader will say)
	}
	nl := bytes.IndexByte(trimmed, '\n')
	if nl < 0 {
		if !stable && int64(len(head)) == size {
			return kindUnknown, nil // the first line is still being written
		}
		return kindDocument, nil // one record or envelope without a newline
	}
	if json.Valid(bytes.TrimRight(trimmed[:nl], " \t\r")) {
		return kindLines, nil
	}
	return kindDocument, nil
}

// readLines reads from..size and returns the bytes up to the last newline
// (at most about chunk bytes), the whole rest when the file is stable, or
// nil when no complete line is there yet.
func readLines(file *os.File, from, size int64, chunk int, stable bool) ([]byte, error) {
	n := min(size-from, int64(chunk))
	for {
		buf := make([]byte, n)
		if _, err := file.ReadAt(buf, from); err != nil && err != io.EOF {
			return nil, fmt.Errorf("filetail: %w", err)
		}
		if from+n == size && stable {
			return buf, nil // the file is quiet: its last line is complete
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			return buf[:i+1], nil
		}
		if from+n == size {
			return nil, nil // a line still being written
		}
		if n >= MaxLineBytes {
			return buf, nil // an overlong line: let the reader reject it
		}
		n = min(size-from, 4*n, MaxLineBytes)
	}
}

// Done records that c has been processed; Commit persists it.
func (f *Follower) Done(c Chunk) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.files[c.Path]
	if st == nil || st.gen != c.gen || c.End <= st.Offset {
		return // the file was replaced or forgotten meanwhile
	}
	st.Offset = c.End
	f.dirty = true
}

// Offsets returns the processed offset of every known file.
func (f *Follower) Offsets() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int64, len(f.files))
	for p, st := range f.files {
		out[p] = st.Offset
	}
	return out
}

// Commit writes the offsets to Options.StatePath when they changed.
func (f *Follower) Commit() error {
	if f.opts.StatePath == "" {
		return nil
	}
	f.mu.Lock()
	if !f.dirty {
		f.mu.Unlock()
		return nil
	}
	data, err := json.Marshal(f.files)
	f.dirty = false
	f.mu.Unlock()
	if err != nil {
		return fmt.Errorf("filetail: %w", err)
	}
	if err := writeAtomic(f.opts.StatePath, data); err != nil {
		f.mu.Lock()
		f.dirty = true
		f.mu.Unlock()
		return err
	}
	return nil
}

// writeAtomic replaces path with data through a synced temporary file.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("filetail: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".filetail-*")
	if err != nil {
		return fmt.Errorf("filetail: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("filetail: write state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("filetail: sync state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("filetail: write state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("filetail: write state: %w", err)
	}
	return nil
}

// State returns the offsets as Commit would write them (processed, Done,
// up to here), for a checkpoint that keeps them with other state; write it
// to Options.StatePath before New to resume from that checkpoint.
func (f *Follower) State() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := json.Marshal(f.files)
	if err != nil {
		return nil, fmt.Errorf("filetail: %w", err)
	}
	return data, nil
}
