package web

import (
	"errors"
	"fmt"
	"html/template"
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

// detailData is the alert page's data.
type detailData struct {
	A         alert.GraphAlert
	Status    string
	Resolved  bool
	Tenant    string
	Sub       string
	Detected  time.Time
	First     time.Time
	Last      time.Time
	Entities  []entityView
	Evidence  []alert.Evidence
	Timeline  []timelineItem
	Steps     []stepView
	CanTick   bool
	Picture   template.HTML
	PicTitle  string        // i18n key
	PicNote   *timelineItem // what the picture is drawn from
	RuleConds []ruleCond
	Reasons   []alert.ResolvedReason
	Expiries  []int
	Partner   bool
}

// entityView is one entity with links that filter the list by its values.
type entityView struct {
	Type, Role string
	Values     []link // address, UPN, object ID, app ID, name, resource
	Place      []link // country, ASN
	Intel      []link
}

// link is a value and the list filtered by it.
type link struct{ Label, Value, URL string }

// entityURL is the list of every alert with an entity value equal to
// value.
func entityURL(value string) string {
	return "/?" + url.Values{"status": {"all"}, "q": {`"` + value + `"`}}.Encode()
}

// newEntityView shows an entity with its links.
func newEntityView(e alert.Entity) entityView {
	v := entityView{Type: e.Type, Role: e.Role}
	add := func(dst *[]link, label, value, search string) {
		if value != "" {
			*dst = append(*dst, link{Label: label, Value: value, URL: entityURL(search)})
		}
	}
	add(&v.Values, "entity.address", e.Address, e.Address)
	add(&v.Values, "entity.upn", e.UPN, e.UPN)
	add(&v.Values, "entity.objectId", e.ObjectID, e.ObjectID)
	add(&v.Values, "entity.appId", e.AppID, e.AppID)
	add(&v.Values, "entity.name", e.Name, e.Name)
	add(&v.Values, "entity.resource", e.ResourceID, e.ResourceID)
	if e.Country != "" {
		label := e.Country
		if e.City != "" {
			label = e.City + ", " + e.Country
		}
		v.Place = append(v.Place, link{Label: "entity.country", Value: label, URL: entityURL("country:" + e.Country)})
	}
	if e.ASN != 0 {
		asn := "AS" + strconv.FormatUint(uint64(e.ASN), 10)
		if e.ASOrg != "" {
			asn += " " + e.ASOrg
		}
		v.Place = append(v.Place, link{Label: "entity.asn", Value: asn, URL: entityURL("asn:" + strconv.FormatUint(uint64(e.ASN), 10))})
	}
	for _, in := range e.Intel {
		source, _, _ := strings.Cut(in, " (")
		// The source's name, unquoted: every alert that source names.
		v.Intel = append(v.Intel, link{Label: "entity.intel", Value: in,
			URL: "/?" + url.Values{"status": {"all"}, "q": {source}}.Encode()})
	}
	return v
}

// timelineItem is one moment of the alert's story.
type timelineItem struct {
	At   time.Time
	Text string // i18n key
	Args []any
}

// stepView is one step of the playbook checklist.
type stepView struct {
	N    int
	Text string
	Done bool
	By   string
	At   time.Time
}

// ruleCond is a condition a suppression rule made from the alert may use.
type ruleCond struct {
	N            int
	Field, Value string
}

// ruleConds lists the conditions the alert's entities offer, each once.
func ruleConds(a *alert.Alert) []ruleCond {
	var out []ruleCond
	add := func(field, value string) {
		if value == "" {
			return
		}
		for _, c := range out {
			if c.Field == field && strings.EqualFold(c.Value, value) {
				return
			}
		}
		out = append(out, ruleCond{N: len(out), Field: field, Value: value})
	}
	for _, e := range a.Entities {
		pre := "entities." + e.Type + "."
		add(pre+"address", e.Address)
		add(pre+"upn", e.UPN)
		add(pre+"objectid", e.ObjectID)
		add(pre+"appid", e.AppID)
		add(pre+"name", e.Name)
		add(pre+"resourceid", e.ResourceID)
	}
	add("resourceId", a.Resource)
	add("subscriptionId", a.SubscriptionID)
	return out
}

// expiryDays are the rule lifetimes the form offers (0: never).
var expiryDays = []int{0, 7, 30, 90, 365}

// alertFor returns the alert with the ID when the principal may see it.
func (h *handler) alertFor(r *http.Request, p *principal) (*alert.Alert, error) {
	a, err := h.st.GetAlert(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if !p.owns(a.TenantID) {
		return nil, store.ErrNotFound
	}
	return a, nil
}

// failed answers a store error: not found, or an internal error.
func (h *handler) failed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		h.errorPage(w, r, http.StatusNotFound, "error.notFound")
		return
	}
	h.serverError(w, r, err)
}

func (h *handler) alertPage(w http.ResponseWriter, r *http.Request) {
	p := user(r)
	a, err := h.alertFor(r, p)
	if err != nil {
		h.failed(w, r, err)
		return
	}
	lang := pickLanguage(r, h.lang)
	d := detailData{
		A: alert.Render(a, lang), Status: string(a.Status), Resolved: a.Status == alert.StatusResolved,
		Tenant: h.names.tenant(a.TenantID), Sub: h.names.sub(a.SubscriptionID),
		Detected: a.Detected, First: a.FirstObserved, Last: a.LastObserved, Evidence: a.Evidence,
		RuleConds: ruleConds(a), Reasons: reasons, Expiries: expiryDays, Partner: p.partner(),
		CanTick: p.tok.Write && h.dash != nil,
	}
	for _, e := range a.Entities {
		d.Entities = append(d.Entities, newEntityView(e))
	}
	d.Timeline = timeline(a)
	var ticks []store.PlaybookTick
	if h.dash != nil {
		if ticks, err = h.dash.PlaybookTicks(r.Context(), a.ID); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	for i, s := range d.A.RemediationSteps {
		sv := stepView{N: i, Text: s}
		for _, t := range ticks {
			if t.Step == i {
				sv.Done, sv.By, sv.At = t.Done, t.By, t.At
			}
		}
		d.Steps = append(d.Steps, sv)
	}
	d.Picture, d.PicTitle = picture(a, h.pages.cat, lang)
	if d.PicTitle == "picture.attempts" {
		d.PicNote = &timelineItem{Text: "picture.attemptsNote", Args: []any{len(a.Evidence), a.Count}}
	}
	h.render(w, r, http.StatusOK, "alert", pageData{Title: "alert.title", Nav: "alerts", Page: d})
}

// maxTimelineEvidence bounds the evidence records the timeline shows; the
// evidence table shows them all.
const maxTimelineEvidence = 10

// timeline tells the alert's story in time order: first activity,
// detection, evidence, status changes, last activity.
func timeline(a *alert.Alert) []timelineItem {
	var out []timelineItem
	if !a.FirstObserved.IsZero() {
		out = append(out, timelineItem{At: a.FirstObserved, Text: "timeline.first"})
	}
	out = append(out, timelineItem{At: a.Detected, Text: "timeline.detected", Args: []any{a.Type}})
	for i, e := range a.Evidence {
		if i == maxTimelineEvidence {
			out = append(out, timelineItem{At: e.Time, Text: "timeline.more", Args: []any{len(a.Evidence) - i}})
			break
		}
		out = append(out, timelineItem{At: e.Time, Text: "timeline.evidence", Args: []any{e.Operation, firstOf(e.Caller, e.CallerIP, "—"), firstOf(e.Result, "—")}})
	}
	if !a.LastObserved.IsZero() && !a.LastObserved.Equal(a.FirstObserved) {
		out = append(out, timelineItem{At: a.LastObserved, Text: "timeline.last", Args: []any{a.Count}})
	}
	for _, l := range a.ActivityLogs {
		out = append(out, timelineItem{At: l.UpdatedTime, Text: "timeline.status", Args: []any{"status." + string(l.StatusFrom), "status." + string(l.StatusTo), l.UpdatedBy}})
	}
	slices.SortStableFunc(out, func(x, y timelineItem) int { return x.At.Compare(y.At) })
	return out
}

// changeStatus investigates or resolves one alert.
func (h *handler) changeStatus(w http.ResponseWriter, r *http.Request) {
	p := user(r)
	if !p.tok.Write {
		h.errorPage(w, r, http.StatusForbidden, "error.readOnly")
		return
	}
	to, reason := alert.Status(r.PostForm.Get("status")), alert.ResolvedReason(r.PostForm.Get("reason"))
	switch {
	case to == alert.StatusInvestigating && reason == alert.ReasonNone:
	case to == alert.StatusResolved && slices.Contains(reasons, reason):
	default:
		h.errorPage(w, r, http.StatusBadRequest, "error.badForm")
		return
	}
	id := r.PathValue("id")
	_, err := h.setStatus(r, p, id, to, reason)
	switch {
	case errors.Is(err, store.ErrInvalidTransition):
		h.errorPage(w, r, http.StatusConflict, "error.transition")
		return
	case err != nil:
		h.failed(w, r, err)
		return
	}
	redirectDone(w, r, "/alerts/"+url.PathEscape(id), "flash.status", 1)
}

// savePlaybook stores the checklist's ticks that changed.
func (h *handler) savePlaybook(w http.ResponseWriter, r *http.Request) {
	p := user(r)
	if !p.tok.Write {
		h.errorPage(w, r, http.StatusForbidden, "error.readOnly")
		return
	}
	if h.dash == nil {
		h.errorPage(w, r, http.StatusNotImplemented, "error.noDashboardStore")
		return
	}
	a, err := h.alertFor(r, p)
	if err != nil {
		h.failed(w, r, err)
		return
	}
	e, ok := alert.Lookup(a.Type)
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest, "error.badForm")
		return
	}
	steps := len(e.Text(alert.DefaultLanguage).Remediation)
	want := map[int]bool{}
	for _, s := range r.PostForm["done"] {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n >= steps {
			h.errorPage(w, r, http.StatusBadRequest, "error.badForm")
			return
		}
		want[n] = true
	}
	ticks, err := h.dash.PlaybookTicks(r.Context(), a.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	have := map[int]bool{}
	for _, t := range ticks {
		have[t.Step] = t.Done
	}
	now, n := h.now(), 0
	for i := range steps {
		if want[i] == have[i] {
			continue
		}
		if err := h.dash.SetPlaybookTick(r.Context(), store.PlaybookTick{AlertID: a.ID, Step: i, Done: want[i], By: p.tok.Name, At: now}); err != nil {
			h.failed(w, r, err)
			return
		}
		n++
	}
	redirectDone(w, r, "/alerts/"+url.PathEscape(a.ID)+"#playbook", "flash.playbook", n)
}

// ruleFromAlert creates a suppression rule from the alert's entities and,
// when asked, resolves the alert with the rule's resolution.
func (h *handler) ruleFromAlert(w http.ResponseWriter, r *http.Request) {
	p := user(r)
	if !p.tok.Write {
		h.errorPage(w, r, http.StatusForbidden, "error.readOnly")
		return
	}
	a, err := h.alertFor(r, p)
	if err != nil {
		h.failed(w, r, err)
		return
	}
	f := r.PostForm
	rule, err := h.ruleFromForm(a, p, f)
	if err != nil {
		h.render(w, r, http.StatusBadRequest, "error", pageData{Title: "error.title",
			Page: errorData{Code: http.StatusBadRequest, Message: "error.rule", Detail: err.Error()}})
		return
	}
	now := h.now()
	stored, err := h.st.CreateRule(r.Context(), rule, p.actor(now))
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.refreshRules(r)
	if f.Get("resolve") == "on" && a.Status != alert.StatusResolved {
		if _, err := h.setStatus(r, p, a.ID, alert.StatusResolved, stored.Resolution()); err != nil && !errors.Is(err, store.ErrInvalidTransition) {
			h.serverError(w, r, err)
			return
		}
	}
	redirectDone(w, r, "/rules#rule-"+url.PathEscape(stored.ID), "flash.ruleCreated", 1)
}

// ruleFromForm builds the rule the form asks for, checked as the API checks
// one.
func (h *handler) ruleFromForm(a *alert.Alert, p *principal, f url.Values) (rule silence.Rule, err error) {
	rule = silence.Rule{Enabled: true, PartnerID: p.tok.PartnerID, AlertType: "*",
		Reason: strings.TrimSpace(f.Get("reason")), Comment: strings.TrimSpace(f.Get("comment"))}
	if f.Get("typeOnly") == "on" {
		rule.AlertType = a.Type
	}
	if !p.partner() || f.Get("tenantOnly") == "on" {
		rule.TenantID = a.TenantID
	}
	if res := alert.ResolvedReason(f.Get("resolution")); slices.Contains(reasons, res) {
		rule.ResolvedReason = res
	} else {
		return rule, fmt.Errorf("resolution must be legitimate, fraud or ignore")
	}
	if d, err := strconv.Atoi(f.Get("expires")); err == nil && d > 0 && slices.Contains(expiryDays, d) {
		rule.Expires = h.now().AddDate(0, 0, d)
	}
	conds := ruleConds(a)
	for _, s := range f["cond"] {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n >= len(conds) {
			return rule, fmt.Errorf("unknown condition %q", s)
		}
		c := conds[n]
		merged := false
		for i := range rule.Conditions {
			if rule.Conditions[i].Field == c.Field {
				rule.Conditions[i].In = append(rule.Conditions[i].In, c.Value)
				merged = true
			}
		}
		if !merged {
			rule.Conditions = append(rule.Conditions, silence.Condition{Field: c.Field, In: []string{c.Value}})
		}
	}
	if err := rule.Validate(); err != nil {
		return rule, err
	}
	return rule, nil
}
