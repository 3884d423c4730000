package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// countCap bounds the alerts the severity counts read: past it a count
// shows as "10,000+", so the list stays fast over millions of alerts.
const countCap = 10000

// Page sizes of the alert list.
var pageSizes = []int{25, 50, 100}

const defaultPageSize = 50

// Choices of the list's filters, as the form sends them.
var (
	statusChoices = []string{"open", "active", "investigating", "resolved", "all"}
	rangeChoices  = []string{"", "24h", "7d", "30d", "90d"}
	sortChoices   = []string{"newest", "oldest", "severity", "lastSeen", "count"}
	severities    = []alert.Severity{alert.SeverityHigh, alert.SeverityMedium, alert.SeverityLow, alert.SeverityInformational}
	reasons       = []alert.ResolvedReason{alert.ReasonLegitimate, alert.ReasonFraud, alert.ReasonIgnore}
)

// filter is the alert list's query string, checked.
type filter struct {
	Status, Severity, Type, Tenant, Sub, From, To, Range, Q, Sort string
	Page, Size                                                    int
}

// parseFilter reads the list's query string; values it does not know fall
// back to the defaults.
func parseFilter(v url.Values) filter {
	pick := func(key string, choices []string) string {
		if s := v.Get(key); slices.Contains(choices, s) {
			return s
		}
		return choices[0]
	}
	f := filter{
		Status: pick("status", statusChoices), Range: pick("range", rangeChoices), Sort: pick("sort", sortChoices),
		Type: strings.TrimSpace(v.Get("type")), Tenant: tenancy.NormalizeID(v.Get("tenant")),
		Sub: tenancy.NormalizeID(v.Get("sub")), Q: strings.TrimSpace(v.Get("q")), Size: defaultPageSize, Page: 1,
	}
	if s := alert.Severity(v.Get("severity")); s.Rank() >= 0 {
		f.Severity = string(s)
	}
	for _, d := range []struct {
		key string
		dst *string
	}{{"from", &f.From}, {"to", &f.To}} {
		if _, err := time.Parse(time.DateOnly, v.Get(d.key)); err == nil {
			*d.dst = v.Get(d.key)
		}
	}
	if n, err := strconv.Atoi(v.Get("size")); err == nil && slices.Contains(pageSizes, n) {
		f.Size = n
	}
	if n, err := strconv.Atoi(v.Get("page")); err == nil && n > 1 && n <= 1_000_000 {
		f.Page = n
	}
	if len(f.Q) > 200 {
		f.Q = strings.ToValidUTF8(f.Q[:200], "")
	}
	return f
}

// values is the filter as a query string, without its defaults.
func (f filter) values() url.Values {
	v := url.Values{}
	set := func(k, val, def string) {
		if val != def {
			v.Set(k, val)
		}
	}
	set("status", f.Status, "open")
	set("severity", f.Severity, "")
	set("type", f.Type, "")
	set("tenant", f.Tenant, "")
	set("sub", f.Sub, "")
	set("from", f.From, "")
	set("to", f.To, "")
	set("range", f.Range, "")
	set("q", f.Q, "")
	set("sort", f.Sort, "newest")
	if f.Size != defaultPageSize {
		v.Set("size", strconv.Itoa(f.Size))
	}
	if f.Page > 1 {
		v.Set("page", strconv.Itoa(f.Page))
	}
	return v
}

// url is the list's URL for the filter.
func (f filter) url() string {
	if q := f.values().Encode(); q != "" {
		return "/?" + q
	}
	return "/"
}

// query turns the filter into a store query for the principal. Tenants
// outside the principal's scope select nothing.
func (h *handler) query(f filter, p *principal) store.ListQuery {
	q := store.ListQuery{TenantIDs: p.tenants}
	if f.Tenant != "" {
		q.TenantIDs = []string{}
		if p.owns(f.Tenant) {
			q.TenantIDs = []string{f.Tenant}
		}
	}
	if f.Sub != "" {
		q.SubscriptionIDs = []string{f.Sub}
	}
	switch f.Status {
	case "open":
		q.Statuses = []alert.Status{alert.StatusActive, alert.StatusInvestigating}
	case "all":
	default:
		q.Statuses = []alert.Status{alert.Status(f.Status)}
	}
	if f.Severity != "" {
		q.Severities = []alert.Severity{alert.Severity(f.Severity)}
	}
	if f.Type != "" {
		q.Types = []string{f.Type}
	}
	now := h.now()
	switch f.Range {
	case "24h":
		q.DetectedFrom = now.Add(-24 * time.Hour)
	case "7d":
		q.DetectedFrom = now.AddDate(0, 0, -7)
	case "30d":
		q.DetectedFrom = now.AddDate(0, 0, -30)
	case "90d":
		q.DetectedFrom = now.AddDate(0, 0, -90)
	}
	if t, err := time.Parse(time.DateOnly, f.From); err == nil {
		q.DetectedFrom = t
	}
	if t, err := time.Parse(time.DateOnly, f.To); err == nil {
		q.DetectedTo = t.AddDate(0, 0, 1)
	}
	q.EntityText = f.Q
	switch f.Sort {
	case "oldest":
		q.OrderBy = []store.Order{{Column: "detected_at"}}
	case "severity":
		q.OrderBy = []store.Order{{Column: "severity_rank", Desc: true}, {Column: "detected_at", Desc: true}}
	case "lastSeen":
		q.OrderBy = []store.Order{{Column: "last_observed_at", Desc: true}}
	case "count":
		q.OrderBy = []store.Order{{Column: "event_count", Desc: true}, {Column: "detected_at", Desc: true}}
	default:
		q.OrderBy = []store.Order{{Column: "detected_at", Desc: true}}
	}
	return q
}

// alertRow is one line of the list.
type alertRow struct {
	ID, Name, Type, Severity, Status, Reason string
	Tenant, TenantID, Sub, SubID, Resource   string
	Entity                                   string
	Detected, LastSeen                       time.Time
	Count                                    int
}

// sevCount is one severity's count on the list, with the link that
// filters by it.
type sevCount struct {
	Severity string
	N        int
	Capped   bool
	URL      string
	Current  bool
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// listData is the alert list's data.
type listData struct {
	F          filter
	Rows       []alertRow
	Counts     []sevCount
	Total      int
	Capped     bool
	From, To   int // rows shown, 1-based
	Prev, Next string
	Back       string // this page, for the bulk form
	Types      []option
	Tenants    []option
	Statuses   []string
	Ranges     []string
	Sorts      []string
	Sizes      []int
	Severities []alert.Severity
	Reasons    []alert.ResolvedReason
}

func (h *handler) alertsPage(w http.ResponseWriter, r *http.Request) {
	p := user(r)
	ctx := r.Context()
	lang := pickLanguage(r, h.lang)
	f := parseFilter(r.URL.Query())
	q := h.query(f, p)

	// Counts by severity, of the filter without its severity.
	cq := q
	cq.Severities, cq.OrderBy = nil, nil
	counts, err := h.countBySeverity(r, cq)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d := listData{F: f, Statuses: statusChoices, Ranges: rangeChoices, Sorts: sortChoices, Sizes: pageSizes,
		Severities: severities, Reasons: reasons, Back: f.url()}
	sum := 0
	for _, n := range counts {
		sum += n
	}
	capped := sum >= countCap
	for _, s := range severities {
		g := f
		g.Page, g.Severity = 1, string(s)
		if f.Severity == string(s) {
			g.Severity = ""
		}
		d.Counts = append(d.Counts, sevCount{Severity: string(s), N: counts[s], Capped: capped, URL: g.url(), Current: f.Severity == string(s)})
	}
	d.Total, d.Capped = sum, capped
	if f.Severity != "" {
		d.Total = counts[alert.Severity(f.Severity)]
	}

	q.Limit, q.Offset = f.Size+1, (f.Page-1)*f.Size
	alerts, err := h.st.ListAlerts(ctx, q)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	more := len(alerts) > f.Size
	if more {
		alerts = alerts[:f.Size]
	}
	for _, a := range alerts {
		d.Rows = append(d.Rows, h.row(a, lang))
	}
	if len(alerts) > 0 {
		d.From, d.To = q.Offset+1, q.Offset+len(alerts)
	}
	if f.Page > 1 {
		g := f
		g.Page--
		d.Prev = g.url()
	}
	if more {
		g := f
		g.Page++
		d.Next = g.url()
	}
	for _, e := range alert.All() {
		d.Types = append(d.Types, option{Value: e.ID, Label: e.Text(lang).DisplayName + " (" + e.ID + ")", Selected: e.ID == f.Type})
	}
	if p.partner() {
		for _, t := range p.tenants {
			d.Tenants = append(d.Tenants, option{Value: t, Label: h.names.tenant(t), Selected: t == f.Tenant})
		}
		slices.SortFunc(d.Tenants, func(a, b option) int { return strings.Compare(a.Label, b.Label) })
	}
	h.render(w, r, http.StatusOK, "alerts", pageData{Title: "alerts.title", Nav: "alerts", Page: d})
}

// countBySeverity counts q's alerts by severity, up to countCap.
func (h *handler) countBySeverity(r *http.Request, q store.ListQuery) (map[alert.Severity]int, error) {
	if h.dash != nil {
		return h.dash.CountBySeverity(r.Context(), q, countCap)
	}
	out := map[alert.Severity]int{}
	for _, s := range severities {
		sq := q
		sq.Severities = []alert.Severity{s}
		n, err := h.st.CountAlerts(r.Context(), sq)
		if err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, nil
}

// row shows an alert as one line of the list.
func (h *handler) row(a *alert.Alert, lang string) alertRow {
	row := alertRow{
		ID: a.ID, Name: a.Type, Type: a.Type, Severity: string(a.Severity), Status: string(a.Status),
		Reason: string(a.ResolvedReason), TenantID: a.TenantID, Tenant: h.names.tenant(a.TenantID),
		SubID: a.SubscriptionID, Sub: h.names.sub(a.SubscriptionID), Resource: a.Resource,
		Detected: a.Detected, LastSeen: a.LastObserved, Count: a.Count, Entity: keyEntity(a),
	}
	if e, ok := alert.Lookup(a.Type); ok {
		row.Name = e.Text(lang).DisplayName
	}
	return row
}

// keyEntity names the entity people look for first: the attacker's
// address, else an address, else an account.
func keyEntity(a *alert.Alert) string {
	var ip, account string
	for _, e := range a.Entities {
		switch {
		case e.Address != "" && e.Role == "attacker":
			return e.Address
		case e.Address != "" && ip == "":
			ip = e.Address
		case e.Type == alert.EntityAccount && account == "":
			account = firstOf(e.UPN, e.AppID, e.ObjectID, e.Name)
		}
	}
	return firstOf(ip, account)
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// bulkActions map the bulk form's actions to a status and a reason.
var bulkActions = map[string]struct {
	to     alert.Status
	reason alert.ResolvedReason
}{
	"investigate": {alert.StatusInvestigating, alert.ReasonNone},
	"legitimate":  {alert.StatusResolved, alert.ReasonLegitimate},
	"fraud":       {alert.StatusResolved, alert.ReasonFraud},
	"ignore":      {alert.StatusResolved, alert.ReasonIgnore},
}

// bulk changes the status of the selected alerts.
func (h *handler) bulk(w http.ResponseWriter, r *http.Request) {
	p := user(r)
	if !p.tok.Write {
		h.errorPage(w, r, http.StatusForbidden, "error.readOnly")
		return
	}
	act, ok := bulkActions[r.PostForm.Get("action")]
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest, "error.badForm")
		return
	}
	ids := r.PostForm["id"]
	if len(ids) > 500 {
		h.errorPage(w, r, http.StatusBadRequest, "error.badForm")
		return
	}
	n := 0
	for _, id := range ids {
		changed, err := h.setStatus(r, p, id, act.to, act.reason)
		if err != nil && !errors.Is(err, store.ErrInvalidTransition) && !errors.Is(err, store.ErrNotFound) {
			h.serverError(w, r, err)
			return
		}
		if changed {
			n++
		}
	}
	redirectDone(w, r, r.PostForm.Get("back"), "flash.bulk", n)
}

// setStatus moves one alert of the principal's tenants to a status,
// reporting whether it changed (an alert already there is left alone).
func (h *handler) setStatus(r *http.Request, p *principal, id string, to alert.Status, reason alert.ResolvedReason) (bool, error) {
	cur, err := h.st.GetAlert(r.Context(), id)
	if err != nil {
		return false, err
	}
	if !p.owns(cur.TenantID) {
		return false, store.ErrNotFound
	}
	if cur.Status == to && cur.ResolvedReason == reason {
		return false, nil
	}
	a, err := h.st.ChangeStatus(r.Context(), store.StatusChange{ID: id, To: to, Reason: reason, By: p.actor(h.now()), TenantIDs: p.tenants})
	if err != nil {
		return false, err
	}
	h.changed(a)
	return true, nil
}
