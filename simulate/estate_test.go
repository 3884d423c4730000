package simulate

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

func digest(t *testing.T, opts EstateOptions, f Format) [32]byte {
	t.Helper()
	e, err := NewEstate(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := e.Write(h, f); err != nil {
		t.Fatal(err)
	}
	var labels bytes.Buffer
	if err := e.WriteLabels(&labels); err != nil {
		t.Fatal(err)
	}
	h.Write(labels.Bytes())
	return [32]byte(h.Sum(nil))
}

func TestDeterministicForASeed(t *testing.T) {
	opts := EstateOptions{Seed: 3, Days: 4, LearningDays: 2, Scale: 0.2}
	for _, f := range []Format{JSONLines, Records} {
		a, b := digest(t, opts, f), digest(t, opts, f)
		if a != b {
			t.Errorf("%s: same seed, different bytes", f)
		}
		other := opts
		other.Seed = 4
		if digest(t, other, f) == a {
			t.Errorf("%s: different seeds, same bytes", f)
		}
	}
	// One estate written twice (and concurrently) writes the same bytes.
	e, err := NewEstate(opts)
	if err != nil {
		t.Fatal(err)
	}
	var x, y bytes.Buffer
	done := make(chan error)
	go func() { _, err := e.Write(&y, JSONLines); done <- err }()
	if _, err := e.Write(&x, JSONLines); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x.Bytes(), y.Bytes()) {
		t.Error("one estate written twice gives different bytes")
	}
}

func TestEveryRecordParsesInTimeOrder(t *testing.T) {
	e, data := smallOutput()
	recs := readBack(t, data, "small.jsonl")
	var records bytes.Buffer
	st, err := e.Write(&records, Records)
	if err != nil {
		t.Fatal(err)
	}
	enveloped := readBack(t, records.Bytes(), "small.records")
	if len(recs) != len(enveloped) || int64(len(recs)) != st.Records {
		t.Fatalf("jsonl %d records, envelopes %d, Stats %d", len(recs), len(enveloped), st.Records)
	}
	if lines := bytes.Count(records.Bytes(), []byte("\n")); lines != int((st.Records+RecordsPerEnvelope-1)/RecordsPerEnvelope) {
		t.Errorf("%d envelopes for %d records", lines, st.Records)
	}
	var kv, act int
	for i, x := range recs {
		if i > 0 && x.t.Before(recs[i-1].t) {
			t.Fatalf("record %d (%s) before record %d (%s)", i, x.t, i-1, recs[i-1].t)
		}
		if x.t.Before(e.Start()) || !x.t.Before(e.End()) {
			t.Fatalf("record %d at %s outside [%s, %s)", i, x.t, e.Start(), e.End())
		}
		if x.t != enveloped[i].t || x.op != enveloped[i].op {
			t.Fatalf("record %d differs between formats", i)
		}
		switch x.kind {
		case event.KindKeyVault:
			kv++
			if x.status == 0 || !strings.Contains(x.resource, "/VAULTS/") {
				t.Fatalf("record %d: Key Vault record without status or vault: %+v", i, x)
			}
			if (x.status == 401) != (x.oid == "") {
				t.Fatalf("record %d: status %d with object ID %q (only 401s have no identity)", i, x.status, x.oid)
			}
		case event.KindActivity:
			act++
			if x.oid == "" || x.sub == "" || !strings.Contains(x.op, "/") {
				t.Fatalf("record %d: Activity Log record without caller, subscription or operation: %+v", i, x)
			}
		default:
			t.Fatalf("record %d: kind %v", i, x.kind)
		}
		if x.ip == "" {
			t.Fatalf("record %d has no caller address", i)
		}
	}
	if int64(kv) != st.KeyVault || int64(act) != st.Activity || act == 0 {
		t.Errorf("read %d Key Vault and %d Activity Log records, Stats say %d and %d", kv, act, st.KeyVault, st.Activity)
	}
}

func TestDefaultEstateSizeAndShape(t *testing.T) {
	if testing.Short() {
		t.Skip("writes the default 21-day estate")
	}
	e, err := NewEstate(EstateOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.Write(io.Discard, JSONLines)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records < 2_000_000*9/10 || st.Records > 5_000_000 {
		t.Errorf("default estate wrote %d records, want 2-5 million", st.Records)
	}
	counts := map[PrincipalKind]int{}
	for _, p := range e.Principals() {
		counts[p.Kind]++
	}
	if len(e.Vaults()) != defaultVaults || counts[KindUser] < defaultUsers || counts[KindServicePrincipal] < defaultSPs ||
		counts[KindManagedIdentity] != defaultMIs || counts[KindFirstParty] != 2*defaultTenants {
		t.Errorf("default estate: %d vaults, principals %v", len(e.Vaults()), counts)
	}
	if got := e.End().Sub(e.Start()); got != 21*24*time.Hour {
		t.Errorf("default estate spans %s", got)
	}
	if e.Start().Weekday() != time.Monday || e.LearningEnd() != e.Start().AddDate(0, 0, 7) {
		t.Errorf("start %s, learning end %s", e.Start(), e.LearningEnd())
	}
}

func TestWriteSplitSeparatesTheLogs(t *testing.T) {
	e, data := smallOutput()
	var kv, act bytes.Buffer
	st, err := e.WriteSplit(&kv, &act, JSONLines)
	if err != nil {
		t.Fatal(err)
	}
	if int64(kv.Len()+act.Len()) != st.Bytes || st.Bytes != int64(len(data)) {
		t.Errorf("split wrote %d + %d bytes (Stats %d), joined %d", kv.Len(), act.Len(), st.Bytes, len(data))
	}
	for name, want := range map[string]event.Kind{"kv": event.KindKeyVault, "activity": event.KindActivity} {
		buf := map[string]*bytes.Buffer{"kv": &kv, "activity": &act}[name]
		recs := readBack(t, buf.Bytes(), name)
		if len(recs) == 0 {
			t.Fatalf("%s: no records", name)
		}
		for i, x := range recs {
			if x.kind != want {
				t.Fatalf("%s record %d is %v", name, i, x.kind)
			}
		}
	}
}

type failWriter struct{ n int }

var errDisk = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errDisk
	}
	return len(p), nil
}

func TestWriteErrorStopsAndIsReturned(t *testing.T) {
	e, _ := smallOutput()
	st, err := e.Write(&failWriter{n: 3 << 20}, JSONLines)
	if !errors.Is(err, errDisk) {
		t.Fatalf("err = %v, want disk full", err)
	}
	if st.Bytes > 3<<20 {
		t.Errorf("Stats.Bytes %d after the writer failed at %d", st.Bytes, 3<<20)
	}
}

func TestOptionsOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts EstateOptions
		want string
	}{
		{"too few days", EstateOptions{Days: 8}, "no room for attacks"},
		{"negative days", EstateOptions{Days: -1}, "positive"},
		{"negative scale", EstateOptions{Scale: -1}, "out of range"},
		{"huge scale", EstateOptions{Scale: 1e6}, "out of range"},
		{"bad tor address", EstateOptions{TorExits: []string{"not-an-ip"}}, "attack address"},
		{"empty blocklist", EstateOptions{Blocklisted: []string{}}, "at least one"},
		{"year 3000", EstateOptions{Start: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewEstate(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"jsonl", "records"} {
		f, err := ParseFormat(s)
		if err != nil || f.String() != s {
			t.Errorf("ParseFormat(%q) = %v, %v", s, f, err)
		}
	}
	if _, err := ParseFormat("csv"); err == nil {
		t.Error("ParseFormat(csv) succeeded")
	}
}

func TestNoScenariosWritesOnlyTheRhythm(t *testing.T) {
	e, err := NewEstate(EstateOptions{Seed: 2, Days: 4, LearningDays: 2, Scale: 0.2, NoScenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range e.Labels() {
		if l.Kind != LabelLearning {
			t.Errorf("label %s %s with NoScenarios", l.ID, l.AlertType)
		}
	}
	var buf bytes.Buffer
	if _, err := e.Write(&buf, JSONLines); err != nil {
		t.Fatal(err)
	}
	in := intel(t)
	for _, x := range readBack(t, buf.Bytes(), "quiet") {
		if in.tor[x.ip] || in.ipsum[x.ip] > 0 {
			t.Fatalf("address %s of the intel lists in an estate without scenarios", x.ip)
		}
	}
}

func TestLabelsAreJSONLines(t *testing.T) {
	e, _ := smallOutput()
	var buf bytes.Buffer
	if err := e.WriteLabels(&buf); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != len(e.Labels()) {
		t.Fatalf("%d lines for %d labels", len(lines), len(e.Labels()))
	}
	for i, line := range lines {
		var l Label
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if l.AlertType == "" || l.ID == "" || l.Note == "" || !l.From.Before(l.To) {
			t.Errorf("line %d: incomplete label %+v", i+1, l)
		}
	}
}
