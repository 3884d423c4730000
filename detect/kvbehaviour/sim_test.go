// This file evaluates the detections on a simulated estate written by
// `vigil simulate` (Key Vault records and labels): every labelled attack
// must be found and no benign look-alike or learning period may raise an
// alert; the unlabelled alerts are listed. It reads gigabytes, so it runs
// only when VIGIL_KVB_ESTATE names the records and VIGIL_KVB_LABELS the
// labels:
//
//	vigil simulate --days 21 --seed 1 -o estate.jsonl --labels labels.jsonl --activity /dev/null
//	VIGIL_KVB_ESTATE=estate.jsonl VIGIL_KVB_LABELS=labels.jsonl go test -run TestSimulatedEstate -v ./detect/kvbehaviour
//
// VIGIL_KVB_VERBOSE=1 also lists every alert with its description.
package kvbehaviour

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/azurelog"
)

// simLabel is a label as `vigil simulate --labels` writes it (package
// simulate's Label).
type simLabel struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	AlertType string    `json:"alertType"`
	MustFire  bool      `json:"mustFire"`
	Also      []string  `json:"also"`
	Resource  string    `json:"resource"`
	ObjectID  string    `json:"objectId"`
	UPN       string    `json:"upn"`
	AppID     string    `json:"appId"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Note      string    `json:"note"`
}

func TestSimulatedEstate(t *testing.T) {
	records, labels := os.Getenv("VIGIL_KVB_ESTATE"), os.Getenv("VIGIL_KVB_LABELS")
	if records == "" || labels == "" {
		t.Skip("VIGIL_KVB_ESTATE and VIGIL_KVB_LABELS name no simulated estate")
	}
	evaluateEstate(t, records, labels)
}

func readLabels(t *testing.T, path string) []simLabel {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []simLabel
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l simLabel
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, l)
	}
	return out
}

func evaluateEstate(t *testing.T, path, labelPath string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := azurelog.NewReader(f, "estate.jsonl", azurelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := detect.New(Detectors(DefaultConfig()), detect.Options{Workers: 2, Lateness: detect.DefaultLateness})
	defer eng.Close()
	mgr := alert.NewManager(alert.ManagerOptions{AggregationWindow: 24 * time.Hour, EvidenceCap: 50})
	alerts := map[string]*alert.Alert{}
	add := func(cs []alert.Candidate) {
		for _, c := range cs {
			a, _, err := mgr.Add(c)
			if err != nil {
				t.Fatalf("manager: %v", err)
			}
			alerts[a.ID] = a
		}
	}
	batch := make([]event.Op, 4096)
	n, records := 0, 0
	start := time.Now()
	for {
		err := rd.Next(&batch[n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		batch[n].Raw = nil
		records++
		if n++; n == len(batch) {
			add(eng.Process(batch))
			n = 0
		}
	}
	add(eng.Process(batch[:n]))
	add(eng.Flush())
	t.Logf("%d records in %s, %d alerts", records, time.Since(start).Round(time.Millisecond), len(alerts))

	labels := readLabels(t, labelPath)
	mine := func(typ string) bool { return strings.HasPrefix(typ, "KV_") && slices.Contains(behaviouralTypes, typ) }
	matches := func(l *simLabel, a *alert.Alert) bool {
		if a.Type != l.AlertType && !slices.Contains(l.Also, a.Type) {
			return false
		}
		if a.LastObserved.Before(l.From) || a.FirstObserved.After(l.To) {
			return false
		}
		if l.Resource != "" && a.Resource != l.Resource && !hasEntity(a, func(e alert.Entity) bool { return e.ResourceID == l.Resource }) {
			return false
		}
		for _, want := range []struct{ v, field string }{{l.ObjectID, "oid"}, {l.UPN, "upn"}, {l.AppID, "app"}} {
			if want.v == "" {
				continue
			}
			if !hasEntity(a, func(e alert.Entity) bool {
				switch want.field {
				case "oid":
					return strings.EqualFold(e.ObjectID, want.v)
				case "upn":
					return strings.EqualFold(e.UPN, want.v)
				}
				return strings.EqualFold(e.AppID, want.v)
			}) {
				return false
			}
		}
		return true
	}
	explained := map[string]bool{}
	for i := range labels {
		l := &labels[i]
		if !mine(l.AlertType) {
			continue
		}
		var hit []*alert.Alert
		for _, a := range alerts {
			if a.Type == l.AlertType && matches(l, a) {
				hit = append(hit, a)
			}
			if matches(l, a) && l.Kind == "attack" {
				explained[a.ID] = true
			}
		}
		switch {
		case l.Kind == "attack" && l.MustFire && len(hit) == 0:
			t.Errorf("missed %s %s: %s (%s .. %s)", l.ID, l.AlertType, l.Note, l.From.Format(time.RFC3339), l.To.Format(time.RFC3339))
		case l.Kind == "attack":
			t.Logf("found %s %s: %s", l.ID, l.AlertType, describeAlert(hit[0]))
		case len(hit) > 0:
			t.Errorf("false positive on %s %s %s: %s; %d alert(s), first: %s", l.Kind, l.ID, l.AlertType, l.Note, len(hit), describeAlert(hit[0]))
			for _, a := range hit {
				explained[a.ID] = true
			}
		}
	}
	var other []*alert.Alert
	for id, a := range alerts {
		if !explained[id] {
			other = append(other, a)
		}
	}
	slices.SortFunc(other, func(a, b *alert.Alert) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), a.FirstObserved.Compare(b.FirstObserved))
	})
	byType := map[string]int{}
	for _, a := range other {
		byType[a.Type]++
		t.Logf("unlabelled: %s", describeAlert(a))
	}
	t.Logf("unlabelled alerts by type: %v", byType)
	all := map[string]int{}
	for _, a := range alerts {
		all[a.Type]++
		if os.Getenv("VIGIL_KVB_VERBOSE") != "" {
			t.Logf("alert: %s", describeAlert(a))
		}
	}
	t.Logf("all alerts by type: %v", all)
}

var behaviouralTypes = []string{TypeUserAnomaly, TypeAppAnomaly, TypeUserAppAnomaly, TypeOperationPatternAnomaly,
	TypeOperationVolumeAnomaly, TypeAccountVolumeAnomaly}

func hasEntity(a *alert.Alert, f func(alert.Entity) bool) bool {
	return slices.ContainsFunc(a.Entities, f)
}

func describeAlert(a *alert.Alert) string {
	e, _ := alert.Lookup(a.Type)
	desc, err := e.Describe("en", a.Details)
	if err != nil {
		desc = err.Error()
	}
	return fmt.Sprintf("%s %s..%s count %d sev %s: %s", a.Type, a.FirstObserved.Format(time.RFC3339), a.LastObserved.Format(time.RFC3339), a.Count, a.Severity, desc)
}
