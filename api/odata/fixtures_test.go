package odata

// alertSchema is partnerSecurityAlert as Graph documents it (property
// names, types and enumeration members from the beta resource page), plus
// Vigil's count; the columns are this test's choice.
func alertSchema() *Schema {
	return &Schema{
		Props: map[string]Prop{
			"id":                    {Column: "id", Type: String},
			"displayName":           {Column: "display_name", Type: String, StringFuncs: true},
			"description":           {Column: "description", Type: String, StringFuncs: true},
			"alertType":             {Column: "alert_type", Type: String, StringFuncs: true},
			"status":                {Column: "status", Type: String, Enum: []string{"active", "resolved", "investigating", "unknownFutureValue"}},
			"severity":              {Column: "severity", Type: String, Enum: []string{"informational", "high", "medium", "low", "unknownFutureValue"}},
			"confidenceLevel":       {Column: "confidence", Type: String, Enum: []string{"low", "medium", "high", "unknownFutureValue"}, Nullable: true},
			"customerTenantId":      {Column: "tenant_id", Type: GUID},
			"subscriptionId":        {Column: "subscription_id", Type: GUID, Nullable: true},
			"detectedDateTime":      {Column: "detected_at", Type: DateTime},
			"firstObservedDateTime": {Column: "first_observed", Type: DateTime},
			"lastObservedDateTime":  {Column: "last_observed", Type: DateTime},
			"resolvedReason":        {Column: "resolved_reason", Type: String, Enum: []string{"legitimate", "ignore", "fraud", "unknownFutureValue"}, Nullable: true},
			"resolvedBy":            {Column: "resolved_by", Type: String, Nullable: true, StringFuncs: true},
			"resolvedOnDateTime":    {Column: "resolved_on", Type: DateTime, Nullable: true},
			"isTest":                {Column: "is_test", Type: Bool, Nullable: true},
			"count":                 {Column: "event_count", Type: Int},
			"activityLogs":          {Type: String},
			"affectedResources":     {Type: String},
			"additionalDetails":     {Type: String},
		},
	}
}

// alertSchemaNanos stores DateTimeOffsets as Unix nanoseconds, as the
// SQLite tests' table does.
func alertSchemaNanos() *Schema {
	s := alertSchema()
	s.DateTimeArg = nanos
	return s
}

// docsSchema has the user, group, device and message properties that the
// examples on Graph's "Use the $filter query parameter" page use, so those
// examples can be run verbatim.
func docsSchema() *Schema {
	return &Schema{
		Props: map[string]Prop{
			"id":                     {Column: "id", Type: String},
			"displayName":            {Column: "display_name", Type: String, StringFuncs: true},
			"givenName":              {Column: "given_name", Type: String, StringFuncs: true, Nullable: true},
			"surname":                {Column: "surname", Type: String, StringFuncs: true, Nullable: true},
			"mail":                   {Column: "mail", Type: String, StringFuncs: true, Nullable: true},
			"userPrincipalName":      {Column: "upn", Type: String, StringFuncs: true},
			"userType":               {Column: "user_type", Type: String, Enum: []string{"Member", "Guest"}},
			"companyName":            {Column: "company_name", Type: String, Nullable: true},
			"department":             {Column: "department", Type: String, Nullable: true},
			"isAssignableToRole":     {Column: "assignable", Type: Bool},
			"isRead":                 {Column: "is_read", Type: Bool},
			"receivedDateTime":       {Column: "received_at", Type: DateTime},
			"registrationDateTime":   {Column: "registered_at", Type: DateTime},
			"appOwnerOrganizationId": {Column: "owner_org", Type: GUID},
			"scenarios":              {Column: "scenarios", Type: String},
			"imAddresses":            {Type: String},
			"assignedLicenses":       {Type: String},
			"assignedPlans":          {Type: String},
			"groupTypes":             {Type: String},
			"businessPhones":         {Type: String},
		},
	}
}
