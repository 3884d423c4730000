package network

import (
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/event"
)

// TestMergedAlertTellsTheEpisode: a botnet of 48 addresses fires ManyToOne
// at the 25th; the rest of the hour becomes the summary, which the alert
// manager merges into the first alert. The stored alert keeps every
// attacker, the first time of the episode, and the threshold and window
// that fired.
func TestMergedAlertTellsTheEpisode(t *testing.T) {
	var fs []event.Flow
	for i := range 48 {
		src := "203.0.113." + strconv.Itoa(i+1)
		fs = append(fs, attempts(t0.Add(time.Duration(i)*20*time.Second), 5*time.Second, 2, src, vmIP, 22)...)
	}
	sortFlows(fs)
	cs := run(t, testConfig(), NameInbound, fs)
	if len(cs) != 2 || cs[1].Details["summary"] != "true" {
		t.Fatalf("candidates %v", types(cs))
	}
	m := alert.NewManager(alert.ManagerOptions{Now: func() time.Time { return t0 }})
	var a *alert.Alert
	for i, c := range cs {
		got, created, err := m.Add(c)
		if err != nil {
			t.Fatal(err)
		}
		if created != (i == 0) {
			t.Fatalf("candidate %d: created %v", i, created)
		}
		a = got
	}
	d := a.Details
	if d["attackers"] != "48" || d["connections"] != "96" || a.Count != 96 {
		t.Errorf("attackers %s connections %s count %d, want 48, 96, 96", d["attackers"], d["connections"], a.Count)
	}
	if d["firstTime"] != "2026-11-02T08:00:00Z" || !a.FirstObserved.Equal(t0) {
		t.Errorf("first %s / %s, want the episode's first record at %s", d["firstTime"], a.FirstObserved, t0)
	}
	if d["threshold"] != "25" || d["window"] != "30m" {
		t.Errorf("threshold %q window %q, want those that fired", d["threshold"], d["window"])
	}
	ips := 0
	for _, e := range a.Entities {
		if e.Type == alert.EntityIP {
			ips++
		}
	}
	if ips < 10 {
		t.Errorf("%d attacker entities, want those of both candidates", ips)
	}
}
