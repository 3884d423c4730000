package alert

import (
	"fmt"
	"io"
	"maps"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// AffectedResource is Graph's affectedResource: a resource an alert concerns.
type AffectedResource struct {
	ResourceID   string `json:"resourceId"`
	ResourceType string `json:"resourceType"`
}

// GraphAlert is an alert as the API shows it: Microsoft Graph's
// partnerSecurityAlert (same property names and casing, times in RFC 3339
// UTC), followed by Vigil's own properties.
type GraphAlert struct {
	ID                         string  `json:"id"`
	DisplayName                string  `json:"displayName"`
	Description                string  `json:"description"`
	AlertType                  string  `json:"alertType"`
	Status                     string  `json:"status"`
	Severity                   string  `json:"severity"`
	ConfidenceLevel            string  `json:"confidenceLevel"`
	CustomerTenantID           string  `json:"customerTenantId"`
	SubscriptionID             string  `json:"subscriptionId"`
	ValueAddedResellerTenantID string  `json:"valueAddedResellerTenantId,omitempty"`
	DetectedDateTime           string  `json:"detectedDateTime"`
	FirstObservedDateTime      string  `json:"firstObservedDateTime"`
	LastObservedDateTime       string  `json:"lastObservedDateTime"`
	ResolvedReason             *string `json:"resolvedReason"`
	ResolvedBy                 *string `json:"resolvedBy"`
	ResolvedOnDateTime         *string `json:"resolvedOnDateTime"`
	// ActivityLogs are the status changes, oldest first.
	ActivityLogs      []ActivityLog      `json:"activityLogs"`
	AffectedResources []AffectedResource `json:"affectedResources"`
	AdditionalDetails map[string]string  `json:"additionalDetails"`
	// IsTest is Graph's flag for test alerts (e.g. from `vigil simulate`).
	IsTest bool `json:"isTest"`

	// Vigil's properties.
	Entities         []Entity   `json:"entities"`
	Tactics          []string   `json:"tactics"`
	Techniques       []string   `json:"techniques"`
	RemediationSteps []string   `json:"remediationSteps"`
	Evidence         []Evidence `json:"evidence"`
	Count            int        `json:"count"`
	SuppressedBy     string     `json:"suppressedBy,omitempty"`
	PreviousAlertID  string     `json:"previousAlertId,omitempty"`
}

// DetailValueAddedReseller is the Details key that holds the value-added
// reseller tenant of an alert, when there is one.
const DetailValueAddedReseller = "valueAddedResellerTenantId"

// DetailIsTest is the Details key that marks a test alert ("true").
const DetailIsTest = "isTest"

// Render shows an alert in lang (en, ja, nl; anything else is en), taking
// its texts from the built-in catalogue. A type the catalogue does not know
// is shown with its id as display name and no description.
func Render(a *Alert, lang string) GraphAlert {
	return RenderWith(Default(), a, lang)
}

// RenderWith is Render with a given catalogue.
func RenderWith(cat *Catalogue, a *Alert, lang string) GraphAlert {
	if a == nil {
		return GraphAlert{}
	}
	g := GraphAlert{
		ID:                         a.ID,
		DisplayName:                a.Type,
		AlertType:                  a.Type,
		Status:                     string(a.Status),
		Severity:                   string(a.Severity),
		ConfidenceLevel:            "unknownFutureValue",
		CustomerTenantID:           a.TenantID,
		SubscriptionID:             a.SubscriptionID,
		ValueAddedResellerTenantID: a.Details[DetailValueAddedReseller],
		DetectedDateTime:           formatTime(a.Detected),
		FirstObservedDateTime:      formatTime(a.FirstObserved),
		LastObservedDateTime:       formatTime(a.LastObserved),
		ActivityLogs:               make([]ActivityLog, 0, len(a.ActivityLogs)),
		AffectedResources:          affectedResources(a),
		AdditionalDetails:          maps.Clone(a.Details),
		IsTest:                     a.Details[DetailIsTest] == "true",
		Entities:                   make([]Entity, 0, len(a.Entities)),
		Evidence:                   make([]Evidence, 0, len(a.Evidence)),
		Count:                      a.Count,
		SuppressedBy:               a.SuppressedBy,
		PreviousAlertID:            a.PreviousID,
	}
	if g.AdditionalDetails == nil {
		g.AdditionalDetails = map[string]string{}
	}
	if a.ResolvedReason != ReasonNone {
		g.ResolvedReason = ptr(string(a.ResolvedReason))
	}
	if a.ResolvedBy != "" {
		g.ResolvedBy = ptr(a.ResolvedBy)
	}
	if !a.ResolvedOn.IsZero() {
		g.ResolvedOnDateTime = ptr(formatTime(a.ResolvedOn))
	}
	for _, l := range a.ActivityLogs {
		l.UpdatedTime = l.UpdatedTime.UTC()
		g.ActivityLogs = append(g.ActivityLogs, l)
	}
	for _, e := range a.Entities {
		g.Entities = append(g.Entities, cloneEntity(e))
	}
	for _, e := range a.Evidence {
		e.Time = e.Time.UTC()
		g.Evidence = append(g.Evidence, e)
	}
	if e, ok := cat.lookup(a.Type); ok {
		t := e.Text(lang)
		g.DisplayName = t.DisplayName
		g.RemediationSteps = t.Remediation
		g.Tactics = append([]string{}, e.Tactics...)
		g.Techniques = append([]string{}, e.Techniques...)
		g.ConfidenceLevel = e.Confidence
		g.Description = lenientDescription(e, lang, a.Details)
	}
	if g.Tactics == nil {
		g.Tactics = []string{}
	}
	if g.Techniques == nil {
		g.Techniques = []string{}
	}
	if g.RemediationSteps == nil {
		g.RemediationSteps = []string{}
	}
	return g
}

// lenientDescription renders the description even when details are
// missing (an alert written by an older version, say): a missing required
// value shows as "?", and a template error falls back to the display name.
func lenientDescription(e *Entry, lang string, details map[string]string) string {
	s, err := e.describe(lang, details, "?")
	if err != nil {
		return e.Text(lang).DisplayName
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// formatTime formats t as RFC 3339 in UTC, or "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// affectedResources lists the alert's resource and every resource entity,
// each once, with the resource type taken from the resource ID.
func affectedResources(a *Alert) []AffectedResource {
	out := []AffectedResource{}
	add := func(id string) {
		if id == "" {
			return
		}
		for _, r := range out {
			if strings.EqualFold(r.ResourceID, id) {
				return
			}
		}
		out = append(out, AffectedResource{ResourceID: id, ResourceType: ResourceType(id)})
	}
	add(a.Resource)
	for _, e := range a.Entities {
		add(e.ResourceID)
	}
	return out
}

// ResourceType returns the Azure resource type of a resource ID, e.g.
// "Microsoft.KeyVault/vaults" for a vault, "Microsoft.Network/
// networkSecurityGroups/securityRules" for a child resource,
// "Microsoft.Resources/subscriptions" and "Microsoft.Resources/resourceGroups"
// for those scopes, and "" for anything else.
func ResourceType(id string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	// The last "providers" segment starts the provider namespace.
	p := -1
	for i, s := range parts {
		if strings.EqualFold(s, "providers") {
			p = i
		}
	}
	if p >= 0 && p+2 < len(parts) {
		typ := parts[p+1] + "/" + parts[p+2]
		for i := p + 4; i < len(parts); i += 2 {
			typ += "/" + parts[i]
		}
		return typ
	}
	switch {
	case len(parts) == 2 && strings.EqualFold(parts[0], "subscriptions"):
		return "Microsoft.Resources/subscriptions"
	case len(parts) == 4 && strings.EqualFold(parts[0], "subscriptions") && strings.EqualFold(parts[2], "resourceGroups"):
		return "Microsoft.Resources/resourceGroups"
	}
	return ""
}

// tableDescriptionRunes bounds the description column of RenderTable.
const tableDescriptionRunes = 80

// RenderTable writes alerts as a table for people: detected time, severity,
// type, resource, count and the start of the description, with aligned
// columns.
func RenderTable(w io.Writer, alerts []GraphAlert) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSEVERITY\tTYPE\tRESOURCE\tCOUNT\tDESCRIPTION")
	for i := range alerts {
		g := &alerts[i]
		resource := "-"
		if len(g.AffectedResources) > 0 {
			resource = shortResource(g.AffectedResources[0].ResourceID)
		} else if g.SubscriptionID != "" {
			resource = g.SubscriptionID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n",
			cell(tableTime(g.DetectedDateTime)), cell(g.Severity), cell(g.AlertType),
			cell(resource), g.Count, truncate(cell(g.Description), tableDescriptionRunes))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("alert: render table: %w", err)
	}
	return nil
}

// tableTime shortens an RFC 3339 time to "2006-01-02 15:04:05" (UTC).
func tableTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(time.DateTime)
}

// shortResource returns the last segment of a resource ID.
func shortResource(id string) string {
	id = strings.TrimRight(id, "/")
	if i := strings.LastIndexByte(id, '/'); i >= 0 && i+1 < len(id) {
		return id[i+1:]
	}
	return id
}

// cell makes s safe for one tabwriter cell: no tabs, no line breaks, not empty.
func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r', '\v', '\f':
			return ' '
		}
		return r
	}, s)
	if s == "" {
		return "-"
	}
	return s
}

// truncate shortens s to at most n runes, ending with "…" when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, k := 0, 0
	for j := range s {
		if k == n-1 {
			i = j
			break
		}
		k++
	}
	return strings.TrimRight(s[:i], " ") + "…"
}
