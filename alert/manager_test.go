package alert

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// t0 is the time of the Key Vault AuditEvent sample (testdata/PROVENANCE.md).
var t0 = time.Date(2016, 1, 5, 1, 32, 1, 269122600, time.UTC)

const (
	sampleSub   = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
	sampleVault = "/SUBSCRIPTIONS/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/RESOURCEGROUPS/CONTOSOGROUP/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/CONTOSOKEYVAULT"
	sampleOID   = "d9da5048-2737-4770-bd64-XXXXXXXXXXXX"
	sampleUPN   = "live.com#username@outlook.com"
	torIP       = "101.99.92.179"
)

// torCandidate is a KV_TORAccess finding built from the sample AuditEvent,
// its caller address replaced by an address of the Tor exit list.
func torCandidate(at time.Time, n int) Candidate {
	return Candidate{
		Type:           "KV_TORAccess",
		Time:           at,
		First:          at,
		Last:           at,
		TenantID:       "aaaabbbb-0000-cccc-1111-dddd2222eeee",
		SubscriptionID: sampleSub,
		Resource:       sampleVault,
		Entities: []Entity{
			{Type: EntityKeyVault, Role: "compromised", ResourceID: sampleVault, Name: "CONTOSOKEYVAULT"},
			{Type: EntityAccount, Role: "attacker", ObjectID: sampleOID, UPN: sampleUPN, AppID: "00001111-aaaa-2222-bbbb-3333cccc4444"},
			{Type: EntityIP, Role: "attacker", Address: torIP, Intel: []string{"tor-exit-nodes (tor, 2024-02-27)"}},
		},
		Evidence: []Evidence{{
			Time: at, Operation: "VaultGet", Caller: sampleUPN, CallerIP: torIP,
			Resource: sampleVault, Target: "https://contosokeyvault.vault.azure.net/", Result: "Success",
			Source: fmt.Sprintf("keyvault-logging.md.auditevent-sample.json:%d", n),
		}},
		Details: map[string]string{
			"vault":       "CONTOSOKEYVAULT",
			"caller":      sampleUPN,
			"objectId":    sampleOID,
			"callerIp":    torIP,
			"intelSource": "tor-exit-nodes (tor, 2024-02-27)",
		},
		Count:           1,
		FingerprintKeys: []string{sampleVault, sampleOID, torIP},
	}
}

var fixedNow = func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }

func mustAdd(t testing.TB, m *Manager, c Candidate) (*Alert, bool) {
	t.Helper()
	a, created, err := m.Add(c)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	return a, created
}

func TestManagerMergesRepeats(t *testing.T) {
	m := NewManager(ManagerOptions{Now: fixedNow})
	first, created := mustAdd(t, m, torCandidate(t0, 1))
	if !created {
		t.Fatal("first candidate did not create an alert")
	}
	if first.Status != StatusActive || first.Severity != SeverityMedium || first.Count != 1 {
		t.Errorf("new alert: status %q severity %q count %d", first.Status, first.Severity, first.Count)
	}
	if !first.Detected.Equal(t0) || !first.FirstObserved.Equal(t0) || !first.LastObserved.Equal(t0) {
		t.Errorf("new alert times: detected %v first %v last %v, want %v", first.Detected, first.FirstObserved, first.LastObserved, t0)
	}

	// A repeat 3 hours later, raised to high because the address is also on a blocklist.
	c := torCandidate(t0.Add(3*time.Hour), 2)
	c.Count = 4
	c.Severity = SeverityHigh
	c.Entities = append(c.Entities, Entity{Type: EntityIP, Role: "attacker", Address: "185.220.101.1"})
	c.Details["ip"] = "185.220.101.1"
	merged, created := mustAdd(t, m, c)
	if created {
		t.Fatal("repeat inside the window created a new alert")
	}
	if merged.ID != first.ID {
		t.Errorf("merged id %s, want %s", merged.ID, first.ID)
	}
	if merged.Count != 5 {
		t.Errorf("count %d, want 5", merged.Count)
	}
	if !merged.FirstObserved.Equal(t0) || !merged.LastObserved.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("observed %v..%v, want widened to %v..%v", merged.FirstObserved, merged.LastObserved, t0, t0.Add(3*time.Hour))
	}
	if !merged.Detected.Equal(t0) {
		t.Errorf("detected moved to %v", merged.Detected)
	}
	if merged.Severity != SeverityHigh {
		t.Errorf("severity %q, want raised to high", merged.Severity)
	}
	if len(merged.Entities) != 4 {
		t.Errorf("%d entities, want 4 (3 shared + 1 new): %+v", len(merged.Entities), merged.Entities)
	}
	if len(merged.Evidence) != 2 {
		t.Errorf("%d evidence, want 2", len(merged.Evidence))
	}
	if merged.Details["ip"] != "185.220.101.1" {
		t.Errorf("details not updated: ip %q", merged.Details["ip"])
	}
	want := map[string]string{"count": "5", "first": "2016-01-05T01:32:01Z", "last": "2016-01-05T04:32:01Z"}
	for k, v := range want {
		if merged.Details[k] != v {
			t.Errorf("details[%q] = %q, want %q", k, merged.Details[k], v)
		}
	}

	// A lower severity does not lower the alert's.
	c = torCandidate(t0.Add(4*time.Hour), 3)
	c.Severity = SeverityLow
	again, _ := mustAdd(t, m, c)
	if again.Severity != SeverityHigh {
		t.Errorf("severity lowered to %q", again.Severity)
	}
	if m.Len() != 1 {
		t.Errorf("index holds %d alerts, want 1", m.Len())
	}
}

func TestManagerRepeatAfterWindowCreatesAlert(t *testing.T) {
	tests := []struct {
		name    string
		gap     time.Duration
		window  time.Duration
		created bool
	}{
		{"just inside default window", 24 * time.Hour, 0, false},
		{"just after default window", 24*time.Hour + time.Second, 0, true},
		{"inside 1h window", 59 * time.Minute, time.Hour, false},
		{"after 1h window", 61 * time.Minute, time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewManager(ManagerOptions{AggregationWindow: tt.window, Now: fixedNow})
			a, _ := mustAdd(t, m, torCandidate(t0, 1))
			b, created := mustAdd(t, m, torCandidate(t0.Add(tt.gap), 2))
			if created != tt.created {
				t.Fatalf("created = %v, want %v", created, tt.created)
			}
			if tt.created {
				if b.ID == a.ID {
					t.Error("new alert has the old alert's id")
				}
				if b.Count != 1 || !b.FirstObserved.Equal(t0.Add(tt.gap)) {
					t.Errorf("new alert count %d first %v", b.Count, b.FirstObserved)
				}
				if b.Fingerprint != a.Fingerprint {
					t.Error("same incident keys gave a different fingerprint")
				}
			}
		})
	}
}

func TestManagerDifferentKeysDoNotMerge(t *testing.T) {
	m := NewManager(ManagerOptions{Now: fixedNow})
	a, _ := mustAdd(t, m, torCandidate(t0, 1))
	tests := []struct {
		name   string
		change func(c *Candidate)
	}{
		{"other type", func(c *Candidate) {
			c.Type = "KV_SuspiciousIPAccess"
		}},
		{"other subscription", func(c *Candidate) { c.SubscriptionID = "bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f" }},
		{"other tenant", func(c *Candidate) { c.TenantID = "ffffffff-eeee-dddd-cccc-bbbbbbbbbbb0" }},
		{"other key", func(c *Candidate) { c.FingerprintKeys = []string{sampleVault, sampleOID, "185.220.101.1"} }},
		{"keys split differently", func(c *Candidate) {
			c.FingerprintKeys = []string{sampleVault + sampleOID, torIP}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := torCandidate(t0.Add(time.Minute), 2)
			tt.change(&c)
			b, created := mustAdd(t, m, c)
			if !created || b.ID == a.ID || b.Fingerprint == a.Fingerprint {
				t.Errorf("created %v, id %s (first %s): want a separate alert", created, b.ID, a.ID)
			}
		})
	}
	// Key order does not matter.
	c := torCandidate(t0.Add(time.Minute), 3)
	c.FingerprintKeys = []string{torIP, sampleVault, sampleOID}
	if b, created := mustAdd(t, m, c); created || b.ID != a.ID {
		t.Errorf("reordered keys: created %v id %s, want merge into %s", created, b.ID, a.ID)
	}
}

func TestManagerEvidenceCap(t *testing.T) {
	tests := []struct {
		cap, candidates, perCandidate, want int
	}{
		{cap: 0, candidates: 60, perCandidate: 1, want: DefaultEvidenceCap},
		{cap: 5, candidates: 3, perCandidate: 1, want: 3},
		{cap: 5, candidates: 3, perCandidate: 4, want: 5},
		{cap: 5, candidates: 1, perCandidate: 9, want: 5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("cap%d_%dx%d", tt.cap, tt.candidates, tt.perCandidate), func(t *testing.T) {
			m := NewManager(ManagerOptions{EvidenceCap: tt.cap, Now: fixedNow})
			var a *Alert
			for i := range tt.candidates {
				c := torCandidate(t0.Add(time.Duration(i)*time.Minute), i)
				ev := c.Evidence[0]
				c.Evidence = nil
				for j := range tt.perCandidate {
					ev.Source = fmt.Sprintf("c%d/e%d", i, j)
					c.Evidence = append(c.Evidence, ev)
				}
				a, _ = mustAdd(t, m, c)
			}
			if len(a.Evidence) != tt.want {
				t.Fatalf("%d evidence, want %d", len(a.Evidence), tt.want)
			}
			if a.Evidence[0].Source != "c0/e0" {
				t.Errorf("first evidence %q: the oldest must be kept", a.Evidence[0].Source)
			}
			if a.Count != tt.candidates {
				t.Errorf("count %d, want %d (all merged even when evidence is capped)", a.Count, tt.candidates)
			}
		})
	}
}

func TestManagerEntityCap(t *testing.T) {
	m := NewManager(ManagerOptions{EntityCap: 4, Now: fixedNow})
	var a *Alert
	for i := range 10 {
		c := torCandidate(t0.Add(time.Duration(i)*time.Minute), i)
		c.Entities = append(c.Entities, Entity{Type: EntityIP, Address: fmt.Sprintf("192.0.2.%d", i)})
		a, _ = mustAdd(t, m, c)
	}
	if len(a.Entities) != 4 {
		t.Errorf("%d entities, want the cap 4", len(a.Entities))
	}
}

// TestManagerDeterministic replays the same candidates into two managers
// and expects the same alerts, ids included.
func TestManagerDeterministic(t *testing.T) {
	run := func() []*Alert {
		m := NewManager(ManagerOptions{AggregationWindow: time.Hour, Now: fixedNow})
		var out []*Alert
		for i := range 20 {
			c := torCandidate(t0.Add(time.Duration(i)*25*time.Minute), i)
			if i%3 == 0 {
				c.FingerprintKeys = []string{sampleVault, "other"}
			}
			a, created := mustAdd(t, m, c)
			if created {
				out = append(out, a)
			}
		}
		return out
	}
	a, b := run(), run()
	if len(a) != len(b) || len(a) < 2 {
		t.Fatalf("runs created %d and %d alerts, want the same number (>= 2)", len(a), len(b))
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := range a {
		if a[i].ID != b[i].ID {
			t.Errorf("alert %d: ids %s and %s", i, a[i].ID, b[i].ID)
		}
		if !uuid.MatchString(a[i].ID) {
			t.Errorf("id %q is not a version-8 UUID", a[i].ID)
		}
		if seen[a[i].ID] {
			t.Errorf("id %s used twice", a[i].ID)
		}
		seen[a[i].ID] = true
	}
	if got := AlertID(a[0].Fingerprint, a[0].FirstObserved.In(time.FixedZone("JST", 9*3600))); got != a[0].ID {
		t.Errorf("AlertID depends on the time zone: %s vs %s", got, a[0].ID)
	}
}

func TestManagerRejectsBadCandidates(t *testing.T) {
	tests := []struct {
		name    string
		change  func(c *Candidate)
		wantErr string
	}{
		{"unknown type", func(c *Candidate) { c.Type = "KV_Unheard" }, `"KV_Unheard" is not in the catalogue`},
		{"no type", func(c *Candidate) { c.Type = "" }, "no type"},
		{"no time", func(c *Candidate) { c.Time, c.First, c.Last = time.Time{}, time.Time{}, time.Time{} }, "no time"},
		{"first after last", func(c *Candidate) { c.First = c.Last.Add(time.Second) }, "after last"},
		{"negative count", func(c *Candidate) { c.Count = -1 }, "negative count"},
		{"bad severity", func(c *Candidate) { c.Severity = "critical" }, `severity "critical"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewManager(ManagerOptions{Now: fixedNow})
			c := torCandidate(t0, 1)
			tt.change(&c)
			a, _, err := m.Add(c)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if a != nil || m.Len() != 0 {
				t.Error("a rejected candidate left an alert")
			}
		})
	}
}

func TestManagerDefaultsFromCandidate(t *testing.T) {
	m := NewManager(ManagerOptions{Now: fixedNow})
	c := torCandidate(t0, 1)
	c.First, c.Last, c.Count = time.Time{}, time.Time{}, 0
	a, _ := mustAdd(t, m, c)
	if a.Count != 1 || !a.FirstObserved.Equal(t0) || !a.LastObserved.Equal(t0) {
		t.Errorf("count %d first %v last %v: want 1 and the candidate time", a.Count, a.FirstObserved, a.LastObserved)
	}
	if !a.Updated.Equal(fixedNow()) {
		t.Errorf("updated %v, want the wall clock %v", a.Updated, fixedNow())
	}
}

func TestManagerReturnsCopies(t *testing.T) {
	m := NewManager(ManagerOptions{Now: fixedNow})
	c := torCandidate(t0, 1)
	a, _ := mustAdd(t, m, c)
	a.Details["vault"] = "tampered"
	a.Entities[0].Name = "tampered"
	c.Details["caller"] = "tampered" // the candidate's memory must not be shared either
	c.Entities[0].Name = "tampered"
	repeat := torCandidate(t0.Add(time.Minute), 2)
	repeat.Details = nil
	b, _ := mustAdd(t, m, repeat)
	if b.Details["vault"] != "CONTOSOKEYVAULT" || b.Entities[0].Name != "CONTOSOKEYVAULT" {
		t.Error("changing a returned alert changed the manager's")
	}
	if b.Details["caller"] != sampleUPN {
		t.Error("changing the candidate after Add changed the alert")
	}
}

func TestManagerExpire(t *testing.T) {
	m := NewManager(ManagerOptions{AggregationWindow: time.Hour, Now: fixedNow})
	mustAdd(t, m, torCandidate(t0, 1))
	c := torCandidate(t0.Add(30*time.Minute), 2)
	c.FingerprintKeys = []string{"other"}
	mustAdd(t, m, c)
	if m.Len() != 2 {
		t.Fatalf("Len %d, want 2", m.Len())
	}
	if n := len(m.Expire(t0.Add(time.Hour))); n != 0 {
		t.Errorf("Expire at the window's end dropped %d", n)
	}
	if n := len(m.Expire(t0.Add(time.Hour + time.Minute))); n != 1 || m.Len() != 1 {
		t.Errorf("Expire dropped %d, Len %d: want 1 and 1", n, m.Len())
	}
	// Event time moving on expires the rest without an explicit call.
	later := torCandidate(t0.Add(10*time.Hour), 3)
	later.FingerprintKeys = []string{"third"}
	mustAdd(t, m, later)
	if m.Len() != 1 {
		t.Errorf("Len %d after event time advanced 10 windows, want 1 (only the new alert)", m.Len())
	}
	// What Add closed on its own is handed out by the next Expire, once.
	if closed := m.Expire(t0.Add(10 * time.Hour)); len(closed) != 1 || closed[0].FirstObserved != t0.Add(30*time.Minute) {
		t.Errorf("Expire after the automatic sweep returned %d alerts, want the one Add closed", len(closed))
	}
	if closed := m.Expire(t0.Add(10 * time.Hour)); len(closed) != 0 {
		t.Errorf("a closed alert was handed out twice")
	}
	// A repeat of the expired incident opens a new alert.
	if _, created := mustAdd(t, m, torCandidate(t0.Add(10*time.Hour), 4)); !created {
		t.Error("repeat of an expired incident merged")
	}
}

func TestManagerTrackResolved(t *testing.T) {
	m := NewManager(ManagerOptions{Now: fixedNow})
	a, _ := mustAdd(t, m, torCandidate(t0, 1))
	a.Status = StatusResolved
	a.ResolvedReason = ReasonLegitimate
	m.Track(a)
	b, created := mustAdd(t, m, torCandidate(t0.Add(time.Hour), 2))
	if !created {
		t.Fatal("repeat of a resolved alert merged into it")
	}
	if b.PreviousID != a.ID {
		t.Errorf("PreviousID %q, want %q", b.PreviousID, a.ID)
	}
	// Open alerts reloaded from a store keep merging after a restart.
	m2 := NewManager(ManagerOptions{Now: fixedNow})
	m2.Track(b)
	c, created := mustAdd(t, m2, torCandidate(t0.Add(2*time.Hour), 3))
	if created || c.ID != b.ID || c.Count != 2 {
		t.Errorf("after Track: created %v id %s count %d, want merge into %s", created, c.ID, c.Count, b.ID)
	}
	m2.Track(nil) // ignored
}

func TestManagerLateCandidateForPastIncident(t *testing.T) {
	m := NewManager(ManagerOptions{AggregationWindow: time.Hour, Now: fixedNow})
	cur, _ := mustAdd(t, m, torCandidate(t0.Add(5*time.Hour), 1))
	old, created := mustAdd(t, m, torCandidate(t0, 2))
	if !created || old.ID == cur.ID {
		t.Fatal("a candidate hours before the open alert merged into it")
	}
	// The index still points at the current incident.
	next, created := mustAdd(t, m, torCandidate(t0.Add(5*time.Hour+time.Minute), 3))
	if created || next.ID != cur.ID {
		t.Errorf("repeat of the current incident: created %v id %s, want %s", created, next.ID, cur.ID)
	}
}

func TestFingerprintIsHexSHA256(t *testing.T) {
	c := torCandidate(t0, 1)
	fp := Fingerprint(&c)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(fp) {
		t.Errorf("fingerprint %q is not hex SHA-256", fp)
	}
	if c.FingerprintKeys[0] != sampleVault {
		t.Error("Fingerprint reordered the candidate's keys")
	}
}

func BenchmarkManagerAddMerge(b *testing.B) {
	m := NewManager(ManagerOptions{Now: fixedNow})
	c := torCandidate(t0, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Add(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkManagerAddCreate(b *testing.B) {
	m := NewManager(ManagerOptions{AggregationWindow: time.Minute, Now: fixedNow})
	c := torCandidate(t0, 1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		c.Time = t0.Add(time.Duration(i) * time.Hour)
		c.First, c.Last = c.Time, c.Time
		if _, _, err := m.Add(c); err != nil {
			b.Fatal(err)
		}
	}
	if m.Len() > 10 {
		b.Errorf("index grew to %d alerts: expiry does not bound memory", m.Len())
	}
}

// TestManagerConcurrent adds the same incident from several goroutines; run
// with -race. Every candidate must be counted exactly once.
func TestManagerConcurrent(t *testing.T) {
	m := NewManager(ManagerOptions{Now: fixedNow})
	const workers, each = 4, 50
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range each {
				c := torCandidate(t0.Add(time.Duration(w*each+i)*time.Second), i)
				if _, _, err := m.Add(c); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	a, _ := mustAdd(t, m, torCandidate(t0, 0))
	if a.Count != workers*each+1 {
		t.Errorf("count %d, want %d", a.Count, workers*each+1)
	}
}

// TestManagerLowerCasesTenantAndSubscription: upper-case GUIDs from the logs
// become the lower-case form tokens and the directory use, and both casings
// are one incident.
func TestManagerLowerCasesTenantAndSubscription(t *testing.T) {
	m := NewManager(ManagerOptions{AggregationWindow: time.Hour, Now: fixedNow})
	c := torCandidate(t0, 1)
	c.TenantID, c.SubscriptionID = "FFFFFFFF-EEEE-DDDD-CCCC-BBBBBBBBBBB0", "AAAA0A0A-BB1B-CC2C-DD3D-EEEEEE4E4E4E"
	a, created, err := m.Add(c)
	if err != nil || !created {
		t.Fatal(err)
	}
	if a.TenantID != "ffffffff-eeee-dddd-cccc-bbbbbbbbbbb0" || a.SubscriptionID != "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e" {
		t.Fatalf("tenant %q subscription %q, want lower case", a.TenantID, a.SubscriptionID)
	}
	c2 := torCandidate(t0.Add(time.Minute), 1)
	c2.TenantID, c2.SubscriptionID = strings.ToLower(c.TenantID), strings.ToLower(c.SubscriptionID)
	if _, created, err := m.Add(c2); err != nil || created {
		t.Fatalf("the lower-case repeat made a new alert (created %v, err %v)", created, err)
	}
}
