// Package evaluate measures detection efficacy: it runs Vigil's detections
// over a simulated estate (package simulate) and scores the alerts against
// the estate's labels, per alert type: attacks found (true positives),
// attacks missed, and alerts no attack explains (false positives), with the
// false-positive rate per 1,000 vault-days of benign activity.
package evaluate

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/simulate"
)

// Row is the score of one alert type.
type Row struct {
	Type string `json:"alertType"`
	// Attacks is how many injected attacks of this type the labels name.
	Attacks int `json:"attacks"`
	// Found counts the attacks at least one alert of this type matched.
	Found int `json:"truePositives"`
	// Missed counts the attacks no alert matched.
	Missed int `json:"misses"`
	// FalsePositives are alerts of this type that no attack explains.
	FalsePositives int `json:"falsePositives"`
	// BenignFired counts the benign look-alikes of this type that an alert
	// matched (they are among the false positives too).
	BenignFired int `json:"benignFired"`
	// FPPer1000VaultDays is FalsePositives per 1,000 vault-days.
	FPPer1000VaultDays float64 `json:"fpPer1000VaultDays"`
}

// Report is the score of a whole run.
type Report struct {
	Rows      []Row   `json:"rows"`
	VaultDays float64 `json:"vaultDays"`
	Alerts    int     `json:"alerts"`
	// MissedLabels are the attacks no alert matched, for a person to read.
	MissedLabels []simulate.Label `json:"missed,omitempty"`
	// Unexplained are the false positives, for a person to read.
	Unexplained []*alert.Alert `json:"-"`
}

// Score matches alerts to labels. An alert matches a label when its type is
// the label's (or one of the label's Also types), their time ranges overlap
// and every entity the label names is among the alert's (see
// simulate.Label). vaultDays is the benign activity the false-positive rate
// is taken over.
func Score(alerts []*alert.Alert, labels []simulate.Label, vaultDays float64) Report {
	rows := map[string]*Row{}
	row := func(t string) *Row {
		if rows[t] == nil {
			rows[t] = &Row{Type: t}
		}
		return rows[t]
	}
	rep := Report{VaultDays: vaultDays, Alerts: len(alerts)}
	found := make([]bool, len(labels))
	for i := range labels {
		if labels[i].Kind == simulate.LabelAttack && labels[i].MustFire {
			row(labels[i].AlertType).Attacks++
		}
	}
	for _, a := range alerts {
		explained := false
		benign := false
		for i := range labels {
			l := &labels[i]
			if !matches(a, l) {
				continue
			}
			switch {
			case l.Kind == simulate.LabelAttack && l.MustFire && l.AlertType == a.Type:
				found[i], explained = true, true
			case l.Kind == simulate.LabelAttack && slices.Contains(l.Also, a.Type):
				explained = true
			case l.Kind == simulate.LabelBenign && l.AlertType == a.Type:
				benign = true
			}
		}
		if !explained {
			r := row(a.Type)
			r.FalsePositives++
			if benign {
				r.BenignFired++
			}
			rep.Unexplained = append(rep.Unexplained, a)
		}
	}
	for i := range labels {
		l := &labels[i]
		if l.Kind != simulate.LabelAttack || !l.MustFire {
			continue
		}
		if found[i] {
			row(l.AlertType).Found++
		} else {
			row(l.AlertType).Missed++
			rep.MissedLabels = append(rep.MissedLabels, *l)
		}
	}
	for _, r := range rows {
		if vaultDays > 0 {
			r.FPPer1000VaultDays = float64(r.FalsePositives) * 1000 / vaultDays
		}
		rep.Rows = append(rep.Rows, *r)
	}
	slices.SortFunc(rep.Rows, func(a, b Row) int { return cmp.Compare(a.Type, b.Type) })
	return rep
}

// matches reports whether alert a is about what label l names: its type (or
// an Also type), an overlapping time range and every entity l gives.
func matches(a *alert.Alert, l *simulate.Label) bool {
	if l.AlertType != a.Type && !slices.Contains(l.Also, a.Type) {
		return false
	}
	if !l.From.IsZero() && a.LastObserved.Before(l.From) {
		return false
	}
	if !l.To.IsZero() && a.FirstObserved.After(l.To) {
		return false
	}
	if l.Resource != "" && !strings.EqualFold(l.Resource, a.Resource) && !hasResource(a, l.Resource) {
		return false
	}
	if l.ObjectID != "" && !hasAccount(a, func(e alert.Entity) bool { return strings.EqualFold(e.ObjectID, l.ObjectID) }) {
		return false
	}
	if l.UPN != "" && !hasAccount(a, func(e alert.Entity) bool { return strings.EqualFold(e.UPN, l.UPN) }) {
		return false
	}
	if l.AppID != "" && !hasAccount(a, func(e alert.Entity) bool { return strings.EqualFold(e.AppID, l.AppID) }) {
		return false
	}
	if l.IP != "" && !slices.ContainsFunc(a.Entities, func(e alert.Entity) bool { return e.Type == alert.EntityIP && e.Address == l.IP }) {
		return false
	}
	return true
}

func hasAccount(a *alert.Alert, ok func(alert.Entity) bool) bool {
	return slices.ContainsFunc(a.Entities, func(e alert.Entity) bool { return e.Type == alert.EntityAccount && ok(e) })
}

func hasResource(a *alert.Alert, id string) bool {
	return slices.ContainsFunc(a.Entities, func(e alert.Entity) bool { return strings.EqualFold(e.ResourceID, id) })
}

// Passed reports whether the run meets the efficacy target: every attack
// found and at most maxFP false positives per 1,000 vault-days per type.
func (r *Report) Passed(maxFP float64) bool {
	for _, row := range r.Rows {
		if row.Missed > 0 || row.FPPer1000VaultDays > maxFP {
			return false
		}
	}
	return true
}

// WriteTable writes the report as an aligned table, then the misses and the
// false positives, for a person.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ALERT TYPE\tATTACKS\tFOUND\tMISSED\tFALSE POS.\tBENIGN FIRED\tFP / 1000 RESOURCE-DAYS\n")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.2f\n", row.Type, row.Attacks, row.Found, row.Missed,
			row.FalsePositives, row.BenignFired, row.FPPer1000VaultDays)
	}
	fmt.Fprintf(tw, "(%d alerts over %.0f resource-days of benign activity)\n", r.Alerts, r.VaultDays)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range r.MissedLabels {
		fmt.Fprintf(w, "missed: %s %s %s..%s: %s\n", l.ID, l.AlertType, l.From.Format(time.RFC3339), l.To.Format(time.RFC3339), l.Note)
	}
	for _, a := range r.Unexplained {
		fmt.Fprintf(w, "false positive: %s %s %s..%s %v\n", a.Type, a.Resource, a.FirstObserved.Format(time.RFC3339),
			a.LastObserved.Format(time.RFC3339), a.Details["caller"])
	}
	return nil
}
