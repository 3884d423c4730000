package azops

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/event"
)

var t0 = time.Date(2026, 8, 22, 10, 0, 0, 0, time.UTC)

const kvID = "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/FINANCE/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/SALARY"

func TestVaultID(t *testing.T) {
	tests := []struct{ in, id, recorded string }{
		{kvID, kvID, kvID},
		{"/subscriptions/a921d5d4-bdb7-43c3-aa01-88c6ae24992f/resourceGroups/finance/providers/Microsoft.KeyVault/vaults/salary",
			kvID, "/subscriptions/a921d5d4-bdb7-43c3-aa01-88c6ae24992f/resourceGroups/finance/providers/Microsoft.KeyVault/vaults/salary"},
		{"/subscriptions/a921d5d4-bdb7-43c3-aa01-88c6ae24992f/resourceGroups/finance/providers/Microsoft.KeyVault/vaults/salary/accessPolicies/add",
			kvID, "/subscriptions/a921d5d4-bdb7-43c3-aa01-88c6ae24992f/resourceGroups/finance/providers/Microsoft.KeyVault/vaults/salary"},
		{"/subscriptions/x/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/nsg", "", "/subscriptions/x/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/nsg"},
		{"/subscriptions/x/providers/Microsoft.KeyVault/vaults/", "", "/subscriptions/x/providers/Microsoft.KeyVault/vaults/"},
		{"/subscriptions/x/providers/Microsoft.KeyVault/vaults//secrets", "", "/subscriptions/x/providers/Microsoft.KeyVault/vaults//secrets"},
		{"", "", ""},
	}
	for _, tc := range tests {
		if got := VaultID(tc.in); got != tc.id {
			t.Errorf("VaultID(%q) = %q, want %q", tc.in, got, tc.id)
		}
		if got := RecordedVaultID(tc.in); got != tc.recorded {
			t.Errorf("RecordedVaultID(%q) = %q, want %q", tc.in, got, tc.recorded)
		}
	}
	// Upper-case IDs are returned without copying (routing does not allocate).
	if n := testing.AllocsPerRun(100, func() { _ = VaultID(kvID) }); n != 0 {
		t.Errorf("VaultID of an upper-case ID allocates %.0f times", n)
	}
	r := Rec{ResourceID: kvID, ResourceName: "SALARY"}
	if VaultName(&r) != "SALARY" || VaultEntity(&r).ResourceID != kvID || VaultEntity(&r).Type != alert.EntityKeyVault {
		t.Errorf("vault name %q entity %+v", VaultName(&r), VaultEntity(&r))
	}
}

func TestSubscriptionOf(t *testing.T) {
	for in, want := range map[string]string{
		kvID: "a921d5d4-bdb7-43c3-aa01-88c6ae24992f",
		"/subscriptions/a921d5d4-bdb7-43c3-aa01-88c6ae24992f": "a921d5d4-bdb7-43c3-aa01-88c6ae24992f",
		"/providers/Microsoft.Management/managementGroups/x":  "",
		"": "",
	} {
		if got := SubscriptionOf(in); got != want {
			t.Errorf("SubscriptionOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Minute: "1m", time.Hour: "1h", 24 * time.Hour: "24h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", 30 * time.Second: "30s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
	hits := []event.IntelHit{
		{Source: "ipsum", Category: "malicious", Date: time.Date(2026, 8, 22, 1, 0, 0, 0, time.FixedZone("CEST", 7200)), Score: 5},
		{Source: "feed", Category: "c2"},
	}
	want := []string{"ipsum (malicious, 2026-08-21)", "feed (c2)"}
	if got := IntelStrings(hits); !slices.Equal(got, want) {
		t.Errorf("IntelStrings = %v, want %v", got, want)
	}
}

func TestMatchHits(t *testing.T) {
	tor := event.IntelHit{Source: "tor-exit-nodes", Category: "tor"}
	ipsum := func(s int) event.IntelHit { return event.IntelHit{Source: "ipsum", Category: "malicious", Score: s} }
	tests := []struct {
		hits []event.IntelHit
		cats []string
		min  int
		want bool
	}{
		{[]event.IntelHit{tor}, []string{"tor"}, 0, true},
		{[]event.IntelHit{tor}, []string{"malicious"}, 3, false},
		{[]event.IntelHit{ipsum(3)}, []string{"malicious", "c2"}, 3, true},
		{[]event.IntelHit{ipsum(2)}, []string{"malicious", "c2"}, 3, false},
		{[]event.IntelHit{ipsum(2), tor}, []string{"malicious", "tor"}, 3, true},
		{[]event.IntelHit{{Category: "c2"}}, []string{"c2"}, 3, true},
		{nil, []string{"tor"}, 0, false},
	}
	for i, tc := range tests {
		if got := MatchHits(tc.hits, tc.cats, tc.min); got != tc.want {
			t.Errorf("case %d: MatchHits = %v, want %v", i, got, tc.want)
		}
	}
}

func op(at time.Duration, line int) event.Op {
	return event.Op{Kind: event.KindKeyVault, Time: t0.Add(at), ResourceID: kvID, Operation: "SecretGet",
		Pos: event.Position{File: "f.json", Line: line, Index: line - 1}}
}

func TestBuffer(t *testing.T) {
	var b Buffer
	// Arrival order: 3, 1, 2 (same time as 1 but later in the file), 4.
	for _, o := range []event.Op{op(2*time.Second, 3), op(0, 1), op(0, 2), op(3*time.Second, 4)} {
		b.Add(&o)
	}
	var lines []int
	b.Release(t0.Add(2*time.Second), func(r *Rec) { lines = append(lines, r.Pos.Line) })
	if !slices.Equal(lines, []int{1, 2}) || b.Len() != 2 {
		t.Fatalf("released %v (left %d), want [1 2] (the one at the watermark waits)", lines, b.Len())
	}
	lines = nil
	b.ReleaseOldest(1, func(r *Rec) { lines = append(lines, r.Pos.Line) })
	if !slices.Equal(lines, []int{3}) || b.Len() != 1 {
		t.Fatalf("oldest released %v (left %d), want [3]", lines, b.Len())
	}
	// Reuse: adding into a buffer that had room does not allocate.
	o := op(4*time.Second, 5)
	if n := testing.AllocsPerRun(100, func() {
		b.Add(&o)
		b.Release(t0.Add(time.Hour), func(*Rec) {})
	}); n != 0 {
		t.Errorf("Add+Release allocates %.0f times", n)
	}
}

func TestRecFillCopies(t *testing.T) {
	o := op(0, 1)
	o.AddedAccessPolicy = []string{"f409edeb-4d29-44b5-9763-ee9348ad91bb"}
	o.Intel.Hits = []event.IntelHit{{Source: "tor-exit-nodes", Category: "tor"}}
	o.CallerIP = netip.MustParseAddr("185.220.101.13")
	o.StatusCode, o.Result = 403, "Failure"
	var r Rec
	r.Fill(&o)
	o.AddedAccessPolicy[0] = "changed"
	o.Intel.Hits[0].Category = "changed"
	if r.Added[0] != "f409edeb-4d29-44b5-9763-ee9348ad91bb" || r.Intel[0].Category != "tor" {
		t.Errorf("Fill kept the op's slices: %v %v", r.Added, r.Intel)
	}
	if !r.Failed() || !r.Denied() || r.IP() != "185.220.101.13" {
		t.Errorf("failed %v denied %v ip %q", r.Failed(), r.Denied(), r.IP())
	}
	e := r.Evidence()
	if e.Result != "Failure (403)" || e.Source != "f.json:1" || e.Caller != "unknown" {
		t.Errorf("evidence %+v", e)
	}
	if _, ok := AccountEntity(&r.Caller, "x"); ok {
		t.Error("account entity for a record naming nobody")
	}
	if _, ok := (&Rec{}).IPEntity("x"); ok {
		t.Error("ip entity for a record without address")
	}
}

func TestAcc(t *testing.T) {
	var a Acc
	for i, code := range []int{200, 403, 404, 200} {
		o := op(time.Duration(3-i)*time.Second, i+1)
		o.StatusCode = code
		if i == 2 {
			o.Operation = "SecretList"
		}
		var r Rec
		r.Fill(&o)
		a.Add(&r, 2)
	}
	if a.Count != 4 || a.Failed != 2 || a.Denied != 1 || len(a.Recs) != 2 || !a.First.Equal(t0) || !a.Last.Equal(t0.Add(3*time.Second)) {
		t.Errorf("acc %+v", a)
	}
	c := a.Candidate("T", "related")
	if c.Count != 4 || c.Details["operations"] != "SecretGet, SecretList" || c.Details["failed"] != "2" || c.Details["denied"] != "1" {
		t.Errorf("candidate %+v", c)
	}
	if err := a.Check(); err != nil {
		t.Error(err)
	}
	bad := []Acc{{Count: -1}, {Count: 1, Failed: 2}, {Count: 1}, {Count: 1, Recs: make([]Rec, 2)}}
	for i, b := range bad {
		if b.Check() == nil {
			t.Errorf("bad acc %d passes Check", i)
		}
	}
	a.Reset()
	if a.Count != 0 || len(a.Recs) != 0 || len(a.Ops) != 0 {
		t.Errorf("reset %+v", a)
	}
}

type sink struct{ got []alert.Candidate }

func (s *sink) Emit(c alert.Candidate) { s.got = append(s.got, c) }

func TestShardRestoreErrors(t *testing.T) {
	d := NewTIDetector(TISpec{Type: "T", Kind: event.KindKeyVault, Scope: ScopeVault, Categories: []string{"tor"}})
	for _, state := range []string{``, `{`, `{"v":2,"s":{}}`, `{"v":1}`, `{"v":1,"s":{"groups":[null]}}`,
		`{"v":1,"s":{"groups":[{"summary":{"count":2}}]}}`} {
		if err := d.NewShard().Restore("K", []byte(state)); err == nil || !strings.Contains(err.Error(), `"K"`) {
			t.Errorf("Restore(%q) = %v, want an error naming the key", state, err)
		}
	}
}

func TestShardOverflowAndPool(t *testing.T) {
	d := NewTIDetector(TISpec{Type: "T", Kind: event.KindKeyVault, Scope: ScopeVault, Categories: []string{"tor"}, Window: time.Minute, MaxEvidence: 3})
	sh := NewShard[tiState](tiLogic{d.spec})
	em := &sink{}
	o := op(0, 1)
	o.Intel.Hits = []event.IntelHit{{Source: "tor-exit-nodes", Category: "tor"}}
	o.CallerIP = netip.MustParseAddr("185.220.101.13")
	for i := range MaxPending + 1 {
		o.Time = t0.Add(time.Duration(i) * time.Millisecond)
		sh.Process(&o, "K", em)
	}
	// The overflow released the oldest half: the first is a candidate already.
	if len(em.got) != 1 || sh.states["K"].Pending.Len() != MaxPending/2+1 {
		t.Fatalf("%d candidates, %d pending after overflow", len(em.got), sh.states["K"].Pending.Len())
	}
	sh.Advance(t0.Add(time.Hour), em)
	if len(em.got) != 2 || em.got[1].Count != MaxPending || len(em.got[1].Evidence) != 3 {
		t.Fatalf("summary %d candidates, count %d", len(em.got), em.got[len(em.got)-1].Count)
	}
	if sh.Keys() != 0 || len(sh.pool) != 0 {
		t.Errorf("%d keys, %d pooled buffers after the window closed (a buffer this large is let go)", sh.Keys(), len(sh.pool))
	}
	// A small buffer is kept for the next key.
	for i := range 10 {
		o.Time = t0.Add(2*time.Hour + time.Duration(i)*time.Second)
		sh.Process(&o, "K", em)
	}
	sh.Advance(t0.Add(4*time.Hour), em)
	if sh.Keys() != 0 || len(sh.pool) != 1 {
		t.Fatalf("%d keys, %d pooled buffers after the window closed", sh.Keys(), len(sh.pool))
	}
	o.Time = t0.Add(5 * time.Hour)
	sh.Process(&o, "K2", em)
	if len(sh.pool) != 0 || cap(sh.states["K2"].Pending.Recs) < 10 {
		t.Errorf("new key did not take the pooled buffer")
	}
}
