package simulate

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/azurelog"
)

// rec is what the tests keep of a record read back through azurelog.
type rec struct {
	t        time.Time
	kind     event.Kind
	resource string // Key Vault: vault resource ID; Activity Log: resource ID
	sub      string
	op       string
	status   int
	result   string
	oid      string
	upn      string
	appid    string
	ip       string
	target   string
	added    []string
}

// readBack reads data through the production reader, failing the test on
// any skipped record or reader error.
func readBack(t testing.TB, data []byte, name string) []rec {
	t.Helper()
	r, err := azurelog.NewReader(bytes.NewReader(data), name, azurelog.Options{
		OnError: func(e *azurelog.RecordError) { t.Errorf("skipped: %v", e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []rec
	var op event.Op
	for {
		err := r.Next(&op)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		x := rec{
			t: op.Time, kind: op.Kind, resource: op.ResourceID, sub: op.SubscriptionID, op: op.Operation,
			status: op.StatusCode, result: op.Result, oid: op.Caller.ObjectID, upn: op.Caller.UPN,
			appid: op.Caller.AppID, ip: op.CallerIPText, target: op.Target,
		}
		if len(op.AddedAccessPolicy) > 0 {
			x.added = append([]string(nil), op.AddedAccessPolicy...)
		}
		out = append(out, x)
	}
	if s := r.Stats(); s.Skipped != 0 {
		t.Fatalf("%s: %d records skipped", name, s.Skipped)
	}
	return out
}

// small is an estate small enough for thorough tests. SIMULATE_FULL=1 runs
// them on the default estate instead (slow: about 2 million records), and
// SIMULATE_SEED=n with another seed.
var small = func() EstateOptions {
	o := EstateOptions{Seed: 7, Days: 10, LearningDays: 4, Scale: 0.3}
	if os.Getenv("SIMULATE_FULL") != "" {
		o = EstateOptions{Seed: 1}
	}
	if s, err := strconv.ParseUint(os.Getenv("SIMULATE_SEED"), 10, 64); err == nil {
		o.Seed = s
	}
	return o
}()

// smallOutput caches the small estate and its JSON lines output.
var smallOutput = sync.OnceValues(func() (*Estate, []byte) {
	e, err := NewEstate(small)
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	if _, err := e.Write(&buf, JSONLines); err != nil {
		panic(err)
	}
	return e, buf.Bytes()
})

// intelLists are the Tor exits and ipsum scores of examples/intel.
type intelLists struct {
	tor   map[string]bool
	ipsum map[string]int
}

var loadIntel = sync.OnceValues(func() (*intelLists, error) {
	in := &intelLists{tor: map[string]bool{}, ipsum: map[string]int{}}
	for _, f := range []string{"../examples/intel/tor-exit-nodes.lst", "../examples/intel/ipsum.txt"} {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || line[0] == '#' {
				continue
			}
			fields := strings.Fields(line)
			if strings.HasSuffix(f, ".lst") {
				in.tor[fields[0]] = true
			} else if len(fields) == 2 {
				in.ipsum[fields[0]], _ = strconv.Atoi(fields[1])
			}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return in, nil
})

func intel(t testing.TB) *intelLists {
	t.Helper()
	in, err := loadIntel()
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// within reports whether x happened in [from, to].
func (x *rec) within(from, to time.Time) bool { return !x.t.Before(from) && !x.t.After(to) }
