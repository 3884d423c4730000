package evaluate

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/simulate"
)

var t0 = time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)

const vault = "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1"

func mkAlert(typ string, at time.Duration, oid, ip string) *alert.Alert {
	a := &alert.Alert{Type: typ, Resource: vault, FirstObserved: t0.Add(at), LastObserved: t0.Add(at + time.Minute)}
	if oid != "" {
		a.Entities = append(a.Entities, alert.Entity{Type: alert.EntityAccount, ObjectID: oid})
	}
	if ip != "" {
		a.Entities = append(a.Entities, alert.Entity{Type: alert.EntityIP, Address: ip})
	}
	return a
}

func TestScore(t *testing.T) {
	labels := []simulate.Label{
		{ID: "A1", Kind: simulate.LabelAttack, MustFire: true, AlertType: "KV_TORAccess", Resource: strings.ToLower(vault),
			ObjectID: "o1", IP: "185.220.101.1", From: t0, To: t0.Add(time.Hour), Also: []string{"KV_SuspiciousIPAccess"}},
		{ID: "A2", Kind: simulate.LabelAttack, MustFire: true, AlertType: "KV_ListGetAnomaly", ObjectID: "o2", From: t0.Add(5 * time.Hour), To: t0.Add(6 * time.Hour)},
		{ID: "B1", Kind: simulate.LabelBenign, AlertType: "KV_ListGetAnomaly", ObjectID: "o3", From: t0, To: t0.Add(24 * time.Hour)},
	}
	alerts := []*alert.Alert{
		mkAlert("KV_TORAccess", 10*time.Minute, "o1", "185.220.101.1"),          // finds A1
		mkAlert("KV_SuspiciousIPAccess", 10*time.Minute, "o1", "185.220.101.1"), // explained by A1's Also
		mkAlert("KV_ListGetAnomaly", 2*time.Hour, "o3", ""),                     // the benign look-alike fired
		mkAlert("KV_TORAccess", 3*time.Hour, "o1", "185.220.101.1"),             // outside A1's time: unexplained
	}
	rep := Score(alerts, labels, 500)
	want := map[string]Row{
		"KV_TORAccess":      {Type: "KV_TORAccess", Attacks: 1, Found: 1, FalsePositives: 1, FPPer1000VaultDays: 2},
		"KV_ListGetAnomaly": {Type: "KV_ListGetAnomaly", Attacks: 1, Missed: 1, FalsePositives: 1, BenignFired: 1, FPPer1000VaultDays: 2},
	}
	if len(rep.Rows) != len(want) {
		t.Fatalf("rows %+v", rep.Rows)
	}
	for _, r := range rep.Rows {
		if r != want[r.Type] {
			t.Errorf("%s: %+v, want %+v", r.Type, r, want[r.Type])
		}
	}
	if len(rep.MissedLabels) != 1 || rep.MissedLabels[0].ID != "A2" || len(rep.Unexplained) != 2 {
		t.Errorf("missed %v, unexplained %d", rep.MissedLabels, len(rep.Unexplained))
	}
	if rep.Passed(1) {
		t.Error("a run with a miss passed")
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil || !strings.Contains(buf.String(), "missed: A2 KV_ListGetAnomaly") {
		t.Errorf("table: %v\n%s", err, buf.String())
	}
}

func TestScorePassesWhenEverythingIsFound(t *testing.T) {
	labels := []simulate.Label{{ID: "A1", Kind: simulate.LabelAttack, MustFire: true, AlertType: "KV_TORAccess", ObjectID: "o1"}}
	rep := Score([]*alert.Alert{mkAlert("KV_TORAccess", 0, "o1", "")}, labels, 100)
	if !rep.Passed(1) || rep.Rows[0].Found != 1 {
		t.Fatalf("%+v", rep)
	}
}
