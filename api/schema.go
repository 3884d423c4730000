package api

import (
	"net/url"
	"strings"

	"github.com/vigil-security/vigil/api/odata"
	"github.com/vigil-security/vigil/store"
)

// Enumeration members, as Graph documents them (unknownFutureValue is
// Graph's evolvable-enum sentinel; filters accept it and match nothing).
var (
	statusEnum   = []string{"active", "resolved", "investigating", "unknownFutureValue"}
	severityEnum = []string{"informational", "high", "medium", "low", "unknownFutureValue"}
	reasonEnum   = []string{"legitimate", "ignore", "fraud", "unknownFutureValue"}
)

// alertSchema maps partnerSecurityAlert's property names to the store's
// alert columns. Properties without a column are rendered from the
// catalogue or kept in JSON only: they may be $selected, not filtered or
// sorted.
var alertSchema = &odata.Schema{
	Props: map[string]odata.Prop{
		"id":                    {Column: "id", Type: odata.String},
		"alertType":             {Column: "type", Type: odata.String, StringFuncs: true},
		"status":                {Column: "status", Type: odata.String, Enum: statusEnum},
		"severity":              {Column: "severity", Type: odata.String, Enum: severityEnum},
		"customerTenantId":      {Column: "tenant_id", Type: odata.GUID},
		"subscriptionId":        {Column: "subscription_id", Type: odata.GUID},
		"detectedDateTime":      {Column: "detected_at", Type: odata.DateTime},
		"firstObservedDateTime": {Column: "first_observed_at", Type: odata.DateTime, Nullable: true},
		"lastObservedDateTime":  {Column: "last_observed_at", Type: odata.DateTime, Nullable: true},
		"resolvedReason":        {Column: "resolved_reason", Type: odata.String, Enum: reasonEnum},
		"resolvedBy":            {Column: "resolved_by", Type: odata.String, StringFuncs: true},
		"resolvedOnDateTime":    {Column: "resolved_on", Type: odata.DateTime, Nullable: true},
		"count":                 {Column: "event_count", Type: odata.Int},
		"suppressedBy":          {Column: "suppressed_by", Type: odata.String},
		"previousAlertId":       {Column: "previous_id", Type: odata.String},

		"displayName":                {Type: odata.String},
		"description":                {Type: odata.String},
		"confidenceLevel":            {Type: odata.String},
		"valueAddedResellerTenantId": {Type: odata.String},
		"catalogOfferId":             {Type: odata.String},
		"isTest":                     {Type: odata.Bool},
		"activityLogs":               {Type: odata.String},
		"affectedResources":          {Type: odata.String},
		"additionalDetails":          {Type: odata.String},
		"entities":                   {Type: odata.String},
		"tactics":                    {Type: odata.String},
		"techniques":                 {Type: odata.String},
		"remediationSteps":           {Type: odata.String},
		"evidence":                   {Type: odata.String},
	},
}

// sortColumns maps properties whose sort order differs from their column's
// text order to the column that gives it.
var sortColumns = map[string]string{"severity": "severity_rank"}

// activitySchema maps the activity record's properties (after Partner
// Center's auditRecord) to the store's system_activity columns.
var activitySchema = &odata.Schema{
	Props: map[string]odata.Prop{
		"id":                {Column: "id", Type: odata.Int},
		"operationDate":     {Column: "at", Type: odata.DateTime},
		"operationType":     {Column: "operation_type", Type: odata.String, StringFuncs: true},
		"partnerId":         {Column: "partner_id", Type: odata.String},
		"customerId":        {Column: "tenant_id", Type: odata.GUID},
		"userPrincipalName": {Column: "actor", Type: odata.String, StringFuncs: true},
		"resourceType":      {Column: "resource_type", Type: odata.String},
		"resourceId":        {Column: "resource_id", Type: odata.String},
		"operationStatus":   {Type: odata.String},
		"resourceOldValue":  {Type: odata.String},
		"resourceNewValue":  {Type: odata.String},
		"customizedData":    {Type: odata.String},
	},
}

// compiled is an OData query as the store takes it.
type compiled struct {
	q       *odata.Query
	filter  odata.Expr    // q.Filter over the store's column names
	orderBy []store.Order // nil: the store's default order
}

// compileQuery parses the request's OData options against s and turns
// them into the store's terms: the checked filter with each property
// renamed to its column (the store compiles it to its own SQL), and the
// sort keys.
func compileQuery(s *odata.Schema, v url.Values) (*compiled, error) {
	q, err := odata.ParseQuery(s, v)
	if err != nil {
		return nil, err
	}
	c := &compiled{q: q}
	if q.Filter != nil {
		c.filter = odata.MapProps(q.Filter, func(p string) string { return s.Props[p].Column })
	}
	if hasOption(v, "orderby") {
		for _, o := range q.OrderBy {
			col := s.Props[o.Prop].Column
			if sc, ok := sortColumns[o.Prop]; ok && s == alertSchema {
				col = sc
			}
			c.orderBy = append(c.orderBy, store.Order{Column: col, Desc: o.Desc})
		}
	}
	return c, nil
}

// hasOption reports whether the query names the OData option (with or
// without "$", any case).
func hasOption(v url.Values, name string) bool {
	for k := range v {
		if strings.EqualFold(strings.TrimPrefix(k, "$"), name) {
			return true
		}
	}
	return false
}
