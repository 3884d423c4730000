package web

import (
	"cmp"
	"html/template"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/store"
)

// seesRule reports whether the principal may see and change the rule: a
// rule of one of its tenants, or its partner's partner-wide rule (as the
// API decides).
func (p *principal) seesRule(r *silence.Rule) bool {
	if r.TenantID != "" {
		return p.owns(r.TenantID)
	}
	return p.partner() && r.PartnerID == p.tok.PartnerID
}

// ruleView is one suppression rule as the rules page shows it.
type ruleView struct {
	ID, AlertType, TypeName, Reason, Comment, Resolution, State string
	Scope                                                       string
	Conditions                                                  []string
	Expires, Created, Updated                                   time.Time
	CreatedBy, UpdatedBy                                        string
	Enabled                                                     bool
}

// rulesData is the rules page's data.
type rulesData struct{ Rules []ruleView }

func (h *handler) rulesPage(w http.ResponseWriter, r *http.Request) {
	p := user(r)
	rules, err := h.st.ListRules(r.Context(), p.scope())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	lang := pickLanguage(r, h.lang)
	now := h.now()
	var d rulesData
	for i := range rules {
		rl := &rules[i]
		if !p.seesRule(rl) {
			continue
		}
		v := ruleView{ID: rl.ID, AlertType: rl.AlertType, TypeName: rl.AlertType, Reason: rl.Reason, Comment: rl.Comment,
			Resolution: string(rl.Resolution()), State: rl.State(now), Expires: rl.Expires, Created: rl.Created,
			Updated: rl.Updated, CreatedBy: rl.CreatedBy, UpdatedBy: rl.UpdatedBy, Enabled: rl.Enabled}
		if e, ok := alert.Lookup(rl.AlertType); ok {
			v.TypeName = e.Text(lang).DisplayName
		}
		if rl.TenantID != "" {
			v.Scope = h.names.tenant(rl.TenantID)
		}
		for _, c := range rl.Conditions {
			if c.Contains != "" {
				v.Conditions = append(v.Conditions, c.Field+" ∋ "+c.Contains)
			} else {
				v.Conditions = append(v.Conditions, c.Field+" = "+strings.Join(c.In, " | "))
			}
		}
		d.Rules = append(d.Rules, v)
	}
	slices.SortStableFunc(d.Rules, func(a, b ruleView) int { return b.Created.Compare(a.Created) })
	h.render(w, r, http.StatusOK, "rules", pageData{Title: "rules.title", Nav: "rules", Page: d})
}

// ruleFor returns the rule with the path's ID when the principal may see
// it.
func (h *handler) ruleFor(r *http.Request, p *principal) (*silence.Rule, error) {
	rl, err := h.st.GetRule(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if !p.seesRule(&rl) {
		return nil, store.ErrRuleNotFound
	}
	return &rl, nil
}

// refreshRules reloads the silencer after a rule change.
func (h *handler) refreshRules(r *http.Request) {
	if h.sil == nil {
		return
	}
	if err := h.sil.Refresh(r.Context()); err != nil {
		h.log.ErrorContext(r.Context(), "web: cannot refresh suppression rules", slog.Any("error", err))
	}
}

// ruleState enables or disables a rule.
func (h *handler) ruleState(w http.ResponseWriter, r *http.Request) {
	p := user(r)
	if !p.tok.Write {
		h.errorPage(w, r, http.StatusForbidden, "error.readOnly")
		return
	}
	rl, err := h.ruleFor(r, p)
	if err != nil {
		h.failed(w, r, err)
		return
	}
	rl.Enabled = r.PostForm.Get("enabled") == "true"
	if _, err := h.st.UpdateRule(r.Context(), *rl, p.actor(h.now())); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.refreshRules(r)
	redirectDone(w, r, "/rules", "flash.ruleUpdated", 1)
}

// deleteRule deletes a rule.
func (h *handler) deleteRule(w http.ResponseWriter, r *http.Request) {
	p := user(r)
	if !p.tok.Write {
		h.errorPage(w, r, http.StatusForbidden, "error.readOnly")
		return
	}
	rl, err := h.ruleFor(r, p)
	if err != nil {
		h.failed(w, r, err)
		return
	}
	if err := h.st.DeleteRule(r.Context(), rl.ID, p.actor(h.now())); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.refreshRules(r)
	redirectDone(w, r, "/rules", "flash.ruleDeleted", 1)
}

// activityPageSize is the records per page of the activity log.
const activityPageSize = 100

// activityView is one activity record as shown.
type activityView struct {
	store.Activity
	Customer string
	AlertURL string
	Details  []string
	// Long is set when the change is too long to show whole; Short is its
	// start.
	Long  bool
	Short string
}

// maxChange is the longest change shown whole, in runes.
const maxChange = 80

// activityData is the activity page's data.
type activityData struct {
	From, To, Op string
	Ops          []string
	Rows         []activityView
	Prev, Next   string
}

func (h *handler) activityPage(w http.ResponseWriter, r *http.Request) {
	p := user(r)
	v := r.URL.Query()
	d := activityData{Ops: store.OperationTypes()}
	q := store.ActivityQuery{Scope: p.scope(), Limit: activityPageSize + 1}
	if t, err := time.Parse(time.DateOnly, v.Get("from")); err == nil {
		q.From, d.From = t, v.Get("from")
	}
	if t, err := time.Parse(time.DateOnly, v.Get("to")); err == nil {
		q.To, d.To = t.AddDate(0, 0, 1), v.Get("to")
	}
	if op := v.Get("op"); slices.Contains(d.Ops, op) {
		q.OperationTypes, d.Op = []string{op}, op
	}
	page := 1
	if n, err := strconv.Atoi(v.Get("page")); err == nil && n > 1 && n <= 100_000 {
		page = n
	}
	q.Offset = (page - 1) * activityPageSize
	acts, err := h.st.ListActivity(r.Context(), q)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	pageURL := func(n int) string {
		u := url.Values{}
		for k, val := range map[string]string{"from": d.From, "to": d.To, "op": d.Op} {
			if val != "" {
				u.Set(k, val)
			}
		}
		if n > 1 {
			u.Set("page", strconv.Itoa(n))
		}
		return "/activity?" + u.Encode()
	}
	if len(acts) > activityPageSize {
		acts = acts[:activityPageSize]
		d.Next = pageURL(page + 1)
	}
	if page > 1 {
		d.Prev = pageURL(page - 1)
	}
	for _, a := range acts {
		av := activityView{Activity: a}
		if a.TenantID != "" {
			av.Customer = h.names.tenant(a.TenantID)
		}
		change := []rune(a.NewValue)
		if a.OldValue != "" {
			change = []rune(a.OldValue + " → " + a.NewValue)
		}
		if len(change) > maxChange {
			av.Long, av.Short = true, string(change[:maxChange-20])+"…"
		}
		if a.ResourceType == store.ResourceAlert {
			av.AlertURL = "/alerts/" + url.PathEscape(a.ResourceID)
		}
		for _, k := range slices.Sorted(maps.Keys(a.Details)) {
			av.Details = append(av.Details, k+": "+a.Details[k])
		}
		d.Rows = append(d.Rows, av)
	}
	h.render(w, r, http.StatusOK, "activity", pageData{Title: "activity.title", Nav: "activity", Page: d})
}

// summaryDays is the daily summary's window, as Partner Center's: the
// unresolved alerts of the last 60 days.
const summaryDays = 60

// typeRow is one alert type's unresolved alerts by severity.
type typeRow struct {
	Type, Name string
	BySev      []int // in the order of severities
	Total      int
	URL        string
}

// summaryData is the summary page's data.
type summaryData struct {
	From, To                          time.Time
	Alerts, Partners, Customers, Subs int
	Types                             []typeRow
	Severities                        []alert.Severity
	OverTime, TopTypes, TopSubs       template.HTML
	Unavailable                       bool
}

func (h *handler) summaryPage(w http.ResponseWriter, r *http.Request) {
	p := user(r)
	lang := pickLanguage(r, h.lang)
	now := h.now().UTC()
	d := summaryData{To: now, From: now.AddDate(0, 0, -summaryDays), Severities: severities, Unavailable: h.dash == nil}
	if h.dash == nil {
		h.render(w, r, http.StatusOK, "summary", pageData{Title: "summary.title", Nav: "summary", Page: d})
		return
	}
	groups, err := h.dash.AlertGroups(r.Context(), store.ListQuery{TenantIDs: p.tenants, DetectedFrom: d.From})
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	customers, subs, partners := map[string]bool{}, map[string]bool{}, map[string]bool{}
	byType := map[string]*typeRow{}
	bySub := map[string]int{}
	days := summaryDays + 1
	start := d.From.Truncate(24 * time.Hour)
	perDay := map[alert.Severity][]int{}
	for _, s := range severities {
		perDay[s] = make([]int, days)
	}
	for _, g := range groups {
		if i := int(g.Day.Sub(start) / (24 * time.Hour)); i >= 0 && i < days && perDay[g.Severity] != nil {
			perDay[g.Severity][i] += g.Count
		}
		if g.Status == alert.StatusResolved {
			continue
		}
		d.Alerts += g.Count
		if g.TenantID != "" {
			customers[g.TenantID] = true
			for _, pid := range h.dir.PartnersOf(g.TenantID) {
				if !p.partner() || pid == p.tok.PartnerID {
					partners[pid] = true
				}
			}
		}
		if g.SubscriptionID != "" {
			subs[g.SubscriptionID] = true
			bySub[g.SubscriptionID] += g.Count
		}
		tr := byType[g.Type]
		if tr == nil {
			tr = &typeRow{Type: g.Type, Name: g.Type, BySev: make([]int, len(severities)),
				URL: "/?" + url.Values{"type": {g.Type}, "from": {d.From.Format(time.DateOnly)}}.Encode()}
			if e, ok := alert.Lookup(g.Type); ok {
				tr.Name = e.Text(lang).DisplayName
			}
			byType[g.Type] = tr
		}
		tr.Total += g.Count
		if i := slices.Index(severities, g.Severity); i >= 0 {
			tr.BySev[i] += g.Count
		}
	}
	d.Customers, d.Subs, d.Partners = len(customers), len(subs), len(partners)
	for _, tr := range byType {
		d.Types = append(d.Types, *tr)
	}
	slices.SortFunc(d.Types, func(a, b typeRow) int { return cmp.Or(b.Total-a.Total, strings.Compare(a.Type, b.Type)) })
	tr := func(key string, args ...any) string { return h.pages.cat.translate(lang, key, args...) }
	var sevNames []string
	for _, s := range severities {
		sevNames = append(sevNames, tr("severity."+string(s)))
	}
	var series [][]int
	for _, s := range severities {
		series = append(series, perDay[s])
	}
	d.OverTime = stackedDays(start, series, sevNames, tr("summary.overTime"))
	var typeBars, subBars []bar
	for _, t := range d.Types {
		typeBars = append(typeBars, bar{Label: t.Name, N: t.Total, URL: t.URL})
	}
	for s, n := range bySub {
		subBars = append(subBars, bar{Label: h.names.sub(s), N: n,
			URL: "/?" + url.Values{"sub": {s}, "from": {d.From.Format(time.DateOnly)}}.Encode()})
	}
	slices.SortFunc(subBars, func(a, b bar) int { return cmp.Or(b.N-a.N, strings.Compare(a.Label, b.Label)) })
	d.TopTypes = hbars(typeBars, 8, tr("summary.topTypes"))
	d.TopSubs = hbars(subBars, 8, tr("summary.topSubs"))
	h.render(w, r, http.StatusOK, "summary", pageData{Title: "summary.title", Nav: "summary", Page: d})
}
