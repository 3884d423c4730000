package mail

import (
	"bytes"
	"embed"
	htmltemplate "html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/tenancy"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var funcs = map[string]any{"inc": func(i int) int { return i + 1 }}

var (
	textTemplates = texttemplate.Must(texttemplate.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.txt.tmpl"))
	htmlTemplates = htmltemplate.Must(htmltemplate.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html.tmpl"))
)

// Rendered is one mail's subject and bodies.
type Rendered struct {
	Lang, Subject, Text, HTML string
}

// alertView is an alert as a mail shows it.
type alertView struct {
	Name, Description, Type, Severity, Status, Detected string
	Tenant, Subscription, Resource, URL, Color          string
	Remediation                                         []string
}

// severityColor is the mark of a severity.
func severityColor(s alert.Severity) string {
	switch s {
	case alert.SeverityHigh:
		return "#c50f1f"
	case alert.SeverityMedium:
		return "#f7630c"
	case alert.SeverityLow:
		return "#ffb900"
	}
	return "#8a8886"
}

// alertURL is the alert in the API.
func alertURL(base, id string) string {
	return base + "/v1.0/security/partner/securityAlerts/" + url.PathEscape(id)
}

// listURL is the API's list of alerts filtered by an OData condition.
func listURL(base, filter string) string {
	return base + "/v1.0/security/partner/securityAlerts?" + url.Values{"$filter": {filter}}.Encode()
}

// names renders tenant and subscription IDs with their directory names.
type names struct{ ix *tenancy.Index }

func (n names) tenant(id string) string {
	if c, ok := n.ix.Customer(id); ok && c.Name != "" {
		return c.Name + " (" + id + ")"
	}
	return id
}

func (n names) subscription(tenantID, id string) string {
	if c, ok := n.ix.Customer(tenantID); ok {
		for _, s := range c.Subscriptions {
			if s.ID == id && s.Name != "" {
				return s.Name + " (" + id + ")"
			}
		}
	}
	return id
}

// RenderRealtime renders the mail of alerts of one subscription and
// severity; heldBack is how many of them the throttle held back.
func RenderRealtime(lang string, alerts []*alert.Alert, heldBack int, base string, loc *time.Location, dir *tenancy.Index) (Rendered, error) {
	w := wordsFor(lang)
	nm := names{dir}
	first := alerts[0]
	sev := w.Severities[first.Severity]
	sub := nm.subscription(first.TenantID, first.SubscriptionID)
	var views []alertView
	for _, a := range alerts {
		g := alert.Render(a, lang)
		views = append(views, alertView{
			Name: g.DisplayName, Description: g.Description, Type: a.Type, Severity: w.Severities[a.Severity],
			Status: w.Statuses[a.Status], Detected: a.Detected.In(loc).Format("2006-01-02 15:04:05 MST"),
			Tenant: nm.tenant(a.TenantID), Subscription: nm.subscription(a.TenantID, a.SubscriptionID),
			Resource: a.Resource, URL: alertURL(base, a.ID), Color: severityColor(a.Severity), Remediation: g.RemediationSteps,
		})
	}
	subject := fill(w.SubjectOne, "{sev}", sev, "{name}", views[0].Name)
	if len(alerts) > 1 {
		subject = fill(w.SubjectMany, "{n}", strconv.Itoa(len(alerts)), "{sev}", sev, "{sub}", sub)
	}
	data := map[string]any{
		"Lang": lang, "W": w, "Subject": subject, "Alerts": views,
		"Intro": fill(w.Intro, "{sub}", sub),
	}
	if heldBack > 0 {
		data["HeldBack"] = fill(w.HeldBack, "{n}", strconv.Itoa(heldBack))
	}
	return render(lang, subject, "realtime", data)
}

func render(lang, subject, name string, data map[string]any) (Rendered, error) {
	var t, h bytes.Buffer
	if err := textTemplates.ExecuteTemplate(&t, name+".txt.tmpl", data); err != nil {
		return Rendered{}, err
	}
	if err := htmlTemplates.ExecuteTemplate(&h, name+".html.tmpl", data); err != nil {
		return Rendered{}, err
	}
	return Rendered{Lang: lang, Subject: subject, Text: t.String(), HTML: h.String()}, nil
}

// Summary is the content of a daily summary: unresolved alerts of the
// look-back period.
type Summary struct {
	At                                 time.Time
	Days                               int
	Partners, Customers, Subscriptions int
	Total                              int
	ByType                             map[string]int
	BySeverity                         map[alert.Severity]int
}

// Summarise counts the alerts: partners (through the directory),
// customer tenants and subscriptions affected, by type and by severity.
func Summarise(alerts []*alert.Alert, dir *tenancy.Index, at time.Time, lookBack time.Duration) Summary {
	s := Summary{At: at, Days: int(lookBack / (24 * time.Hour)), ByType: map[string]int{}, BySeverity: map[alert.Severity]int{}}
	partners, tenants, subs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, a := range alerts {
		s.Total++
		s.ByType[a.Type]++
		s.BySeverity[a.Severity]++
		tenants[a.TenantID] = true
		if a.SubscriptionID != "" {
			subs[a.SubscriptionID] = true
		}
		for _, p := range dir.PartnersOf(a.TenantID) {
			partners[p] = true
		}
	}
	s.Partners, s.Customers, s.Subscriptions = len(partners), len(tenants), len(subs)
	return s
}

// row is one line of a summary table.
type row struct {
	Name, Key, URL, Color string
	N                     int
}

// RenderDaily renders the daily summary.
func RenderDaily(lang string, s Summary, base string, loc *time.Location) (Rendered, error) {
	w := wordsFor(lang)
	since := s.At.Add(-time.Duration(s.Days) * 24 * time.Hour).UTC().Format(time.RFC3339)
	open := "(status eq 'active' or status eq 'investigating') and detectedDateTime ge " + since
	var byType []row
	for t, n := range s.ByType {
		name := t
		if e, ok := alert.Lookup(t); ok {
			name = e.Text(lang).DisplayName
		}
		byType = append(byType, row{Name: name, Key: t, N: n, URL: listURL(base, open+" and alertType eq '"+strings.ReplaceAll(t, "'", "''")+"'")})
	}
	slices.SortFunc(byType, func(a, b row) int {
		if a.N != b.N {
			return b.N - a.N
		}
		return strings.Compare(a.Key, b.Key)
	})
	var bySev []row
	for _, sv := range []alert.Severity{alert.SeverityHigh, alert.SeverityMedium, alert.SeverityLow, alert.SeverityInformational} {
		if n := s.BySeverity[sv]; n > 0 {
			bySev = append(bySev, row{Name: w.Severities[sv], Key: string(sv), N: n, Color: severityColor(sv)})
		}
	}
	subject := fill(w.SubjectDaily, "{n}", strconv.Itoa(s.Total))
	data := map[string]any{
		"Lang": lang, "W": w, "Subject": subject,
		"Intro":    fill(w.DailyIntro, "{days}", strconv.Itoa(s.Days), "{date}", s.At.In(loc).Format("2006-01-02 15:04 MST")),
		"Partners": s.Partners, "Customers": s.Customers, "Subscriptions": s.Subscriptions, "Total": s.Total,
		"ByType": byType, "BySeverity": bySev, "ListURL": listURL(base, open),
	}
	return render(lang, subject, "daily", data)
}
