package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/event"
)

// windowCounter is a test detector: per key it counts events in tumbling
// one-minute windows and emits a candidate when a window closes with at
// least min events. It exercises keyed state, watermarks and snapshots.
type windowCounter struct{ min int }

func (windowCounter) Name() string               { return "window-counter" }
func (windowCounter) Consumes(k event.Kind) bool { return k == event.KindKeyVault }
func (d windowCounter) NewShard() Shard {
	return &counterShard{min: d.min, state: map[string]*counterState{}}
}
func (windowCounter) PartitionKey(op *event.Op) (string, bool) {
	return op.ResourceName + "|" + op.Caller.Key(), op.ResourceName != ""
}

type counterState struct {
	Window time.Time `json:"window"`
	Count  int       `json:"count"`
}

type counterShard struct {
	min   int
	state map[string]*counterState
}

func (s *counterShard) Process(op *event.Op, key string, emit Emitter) {
	w := op.Time.Truncate(time.Minute)
	st := s.state[key]
	if st == nil {
		st = &counterState{Window: w}
		s.state[key] = st
	}
	if !w.Equal(st.Window) {
		s.close(key, st, emit)
		st.Window, st.Count = w, 0
	}
	st.Count++
}

func (s *counterShard) close(key string, st *counterState, emit Emitter) {
	if st.Count >= s.min {
		emit.Emit(alert.Candidate{Type: "TEST", Time: st.Window.Add(time.Minute), First: st.Window,
			Count: st.Count, FingerprintKeys: []string{key}})
	}
}

func (s *counterShard) Advance(wm time.Time, emit Emitter) {
	for key, st := range s.state {
		if !st.Window.Add(time.Minute).After(wm) {
			s.close(key, st, emit)
			delete(s.state, key)
		}
	}
}

func (s *counterShard) Snapshot(save func(string, []byte) error) error {
	for k, st := range s.state {
		b, _ := json.Marshal(st)
		if err := save(k, b); err != nil {
			return err
		}
	}
	return nil
}

func (s *counterShard) Restore(key string, b []byte) error {
	var st counterState
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	s.state[key] = &st
	return nil
}

// stream makes n Key Vault events over 20 vaults and 7 callers, mostly in
// time order with some jitter, deterministically for a seed.
func stream(n int, seed uint64) []event.Op {
	r := rand.New(rand.NewPCG(seed, 1))
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	ops := make([]event.Op, n)
	for i := range ops {
		jitter := time.Duration(r.IntN(90)) * time.Second
		ops[i] = event.Op{
			Kind:         event.KindKeyVault,
			Time:         t0.Add(time.Duration(i)*700*time.Millisecond - jitter),
			ResourceName: "vault" + strconv.Itoa(r.IntN(20)),
			Operation:    "SecretGet",
			Caller:       event.Principal{ObjectID: "oid-" + strconv.Itoa(r.IntN(7))},
		}
	}
	return ops
}

func run(t *testing.T, e *Engine, ops []event.Op, batch int) []alert.Candidate {
	t.Helper()
	var out []alert.Candidate
	for i := 0; i < len(ops); i += batch {
		end := min(i+batch, len(ops))
		out = append(out, e.Process(ops[i:end])...)
	}
	return append(out, e.Flush()...)
}

func TestEngineSameOutputWhateverTheWorkers(t *testing.T) {
	ops := stream(20000, 42)
	var want []alert.Candidate
	for _, workers := range []int{1, 2, 3, 8} {
		e := New([]Detector{windowCounter{min: 2}}, Options{Workers: workers})
		got := run(t, e, ops, 512)
		e.Close()
		if len(got) == 0 {
			t.Fatalf("workers=%d: no candidates; the test detector should fire", workers)
		}
		if want == nil {
			want = got
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("workers=%d: %d candidates differ from workers=1 (%d)", workers, len(got), len(want))
		}
	}
}

func TestEngineWatermarkClosesWindows(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	op := func(sec int, who string) event.Op {
		return event.Op{Kind: event.KindKeyVault, Time: t0.Add(time.Duration(sec) * time.Second),
			ResourceName: "v", Caller: event.Principal{ObjectID: who}}
	}
	e := New([]Detector{windowCounter{min: 1}}, Options{Workers: 1, Lateness: 30 * time.Second})
	defer e.Close()
	if got := e.Process([]event.Op{op(0, "a"), op(10, "a")}); len(got) != 0 {
		t.Fatalf("window [0,60s) closed before the watermark passed it: %v", got)
	}
	// Newest 85 s -> watermark 55 s: the first window is still open.
	if got := e.Process([]event.Op{op(85, "b")}); len(got) != 0 {
		t.Fatalf("closed at watermark 55s: %v", got)
	}
	// Newest 95 s -> watermark 65 s >= 60 s: the first window closes with 2 events.
	got := e.Process([]event.Op{op(95, "b")})
	if len(got) != 1 || got[0].Count != 2 || !got[0].First.Equal(t0) {
		t.Fatalf("want one candidate of 2 events for the first window, got %+v", got)
	}
	// An event from before the watermark is counted as late but processed.
	e.Process([]event.Op{op(5, "c")})
	if st := e.Stats(); st.Late != 1 || st.Events != 5 {
		t.Fatalf("stats = %+v, want 1 late of 5 events", st)
	}
	if wm := e.Watermark(); !wm.Equal(t0.Add(65 * time.Second)) {
		t.Fatalf("watermark = %v", wm)
	}
}

func TestEngineSnapshotRestoreContinues(t *testing.T) {
	ops := stream(10000, 7)
	whole := New([]Detector{windowCounter{min: 2}}, Options{Workers: 2})
	want := run(t, whole, ops, 500)
	whole.Close()

	for _, workersAfter := range []int{1, 4} {
		first := New([]Detector{windowCounter{min: 2}}, Options{Workers: 2})
		var got []alert.Candidate
		for i := 0; i < 5000; i += 500 {
			got = append(got, first.Process(ops[i:i+500])...)
		}
		var buf bytes.Buffer
		if err := first.Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		first.Close()

		second := New([]Detector{windowCounter{min: 2}}, Options{Workers: workersAfter})
		st, err := second.Restore(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if st.Keys == 0 {
			t.Fatal("snapshot restored no keys")
		}
		got = append(got, run(t, second, ops[5000:], 500)...)
		second.Close()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("restored into %d workers: %d candidates, want %d as without the restart", workersAfter, len(got), len(want))
		}
	}
}

func TestSnapshotBytesIndependentOfWorkers(t *testing.T) {
	ops := stream(3000, 3)
	var first []byte
	for _, workers := range []int{1, 5} {
		e := New([]Detector{windowCounter{min: 2}}, Options{Workers: workers})
		e.Process(ops)
		var buf bytes.Buffer
		if err := e.Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		e.Close()
		if first == nil {
			first = buf.Bytes()
		} else if !bytes.Equal(first, buf.Bytes()) {
			t.Fatalf("snapshot with %d workers differs from 1 worker", workers)
		}
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	for name, in := range map[string]string{
		"empty":       "",
		"not json":    "hello\n",
		"bad version": `{"version":99}` + "\n",
		"bad entry":   `{"version":1}` + "\n" + `{"detector":"window-counter","key":"k","state":"e30="}` + "\n{",
		"bad state":   `{"version":1}` + "\n" + fmt.Sprintf(`{"detector":"window-counter","key":"k","state":%q}`, "bm90IGpzb24="),
	} {
		e := New([]Detector{windowCounter{min: 1}}, Options{Workers: 1})
		if _, err := e.Restore(bytes.NewReader([]byte(in))); err == nil {
			t.Errorf("%s: Restore accepted it", name)
		}
		e.Close()
	}
	e := New([]Detector{windowCounter{min: 1}}, Options{Workers: 1})
	st, err := e.Restore(bytes.NewReader([]byte(`{"version":1}` + "\n" + `{"detector":"gone","key":"k","state":"e30="}` + "\n")))
	if err != nil || st.Unknown != 1 {
		t.Fatalf("unknown detector: stats %+v err %v, want skipped", st, err)
	}
}

func BenchmarkEngineRouting(b *testing.B) {
	ops := stream(4096, 1)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			e := New([]Detector{windowCounter{min: 1000000}}, Options{Workers: workers})
			defer e.Close()
			b.ReportAllocs()
			for b.Loop() {
				e.Process(ops)
			}
			b.ReportMetric(float64(b.N*len(ops))/b.Elapsed().Seconds(), "events/s")
		})
	}
}
