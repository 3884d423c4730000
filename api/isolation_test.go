package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
)

// isolationFilters try every way a filter could reach past the token's
// scope; the scope is applied outside the filter, so none may.
func isolationFilters() []string {
	fs := []string{
		"",
		"true",
		"customerTenantId eq " + tenantB,
		"customerTenantId eq '" + tenantB + "'",
		"customerTenantId ne " + tenantA,
		"not (customerTenantId eq " + tenantA + ")",
		"customerTenantId in (" + tenantA + ", " + tenantB + ", " + tenantC + ")",
		"customerTenantId eq null",
		"customerTenantId ne null",
		"status eq 'active' or customerTenantId eq " + tenantB,
		"(status eq 'active') or (true)",
		"id eq 'b00' or id eq 'c00'",
		"id in ('b00', 'b01', 'c00', 'a00')",
		"not (id eq 'a00')",
		"subscriptionId eq null or subscriptionId ne null",
		"resolvedReason eq null",
		"startswith(alertType, 'KV') or endswith(alertType, 'IP')",
		"contains(resolvedBy, '%') or resolvedBy eq null",
		"count ge 0 and detectedDateTime lt 2100-01-01T00:00:00Z",
		"detectedDateTime gt 2000-01-01 or lastObservedDateTime eq null",
		"not (firstObservedDateTime lt 2000-01-01T00:00:00Z)",
		"severity in ('high', 'medium', 'low', 'informational')",
		"previousAlertId eq null and suppressedBy eq null",
		"resolvedOnDateTime eq null or resolvedOnDateTime ne null",
		"not (not (status ne 'unknownFutureValue'))",
	}
	// Each filterable property under ne, null and not.
	for _, p := range []string{"alertType", "resolvedBy", "suppressedBy", "previousAlertId", "id"} {
		fs = append(fs, p+" ne 'x'", "not ("+p+" eq 'x')", p+" eq null or "+p+" ne null")
	}
	return fs
}

func sortedIDs(r resp) []string {
	ids := r.ids()
	sort.Strings(ids)
	return ids
}

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	e.seed()
	visible := map[string]func(id, tenant string) bool{
		"aRO":       func(_, tenant string) bool { return tenant == tenantA },
		"bRW":       func(_, tenant string) bool { return tenant == tenantB },
		"partnerRO": func(_, tenant string) bool { return tenant == tenantA || tenant == tenantB },
		"qRW":       func(_, tenant string) bool { return tenant == tenantC },
	}
	for role, sees := range visible {
		for _, f := range isolationFilters() {
			t.Run(role+"/"+f, func(t *testing.T) {
				q := url.Values{"$count": {"true"}, "$top": {"1000"}}
				if f != "" {
					q.Set("$filter", f)
				}
				r := e.do("GET", "/security/partner/securityAlerts?"+q.Encode(), role, nil).want(t, http.StatusOK)
				for _, v := range r.values() {
					if tnt := v["customerTenantId"].(string); !sees(v["id"].(string), tnt) {
						t.Errorf("%s saw alert %s of tenant %s", role, v["id"], tnt)
					}
				}
				if all := map[string]int{"aRO": 6, "bRW": 4, "partnerRO": 10, "qRW": 3}[role]; (f == "" || f == "true") && len(r.values()) != all {
					t.Errorf("%s sees %d alerts, want all %d of its scope", role, len(r.values()), all)
				}
				if n, _ := r.body["@odata.count"].(float64); int(n) != len(r.values()) {
					t.Errorf("@odata.count %v for %d alerts", r.body["@odata.count"], len(r.values()))
				}
			})
		}
	}

	// Get and patch of another tenant's alert: not found, and unchanged.
	for _, tc := range []struct{ role, id string }{{"aRW", "b00"}, {"aRW", "c00"}, {"bRW", "a00"}, {"bRW", docsAlertID}, {"partnerRW", "c01"}, {"qRW", "a01"}} {
		for _, prefix := range []string{"", "/v1.0", "/beta"} {
			path := prefix + "/security/partner/securityAlerts/" + tc.id
			if r := e.do("GET", path, tc.role, nil); r.status != http.StatusNotFound || r.errCode() != "itemNotFound" {
				t.Errorf("%s GET %s: %d %s", tc.role, path, r.status, r.raw)
			}
			if r := e.do("PATCH", path, tc.role, map[string]string{"status": "resolved", "resolvedReason": "ignore"}); r.status != http.StatusNotFound {
				t.Errorf("%s PATCH %s: %d %s", tc.role, path, r.status, r.raw)
			}
		}
	}
	if r := e.do("GET", "/security/partner/securityAlerts/b00", "bRW", nil).want(t, http.StatusOK); r.body["status"] != "active" {
		t.Errorf("b00 changed by another tenant's patch: %v", r.body["status"])
	}
	// Resolving stale alerts stays within the scope too.
	e.do("POST", "/security/partner/securityAlerts/resolveStale", "aRW", map[string]int{"olderThanDays": 1}).want(t, http.StatusOK)
	for _, id := range []string{"b01", "c01"} {
		r := e.do("GET", "/security/partner/securityAlerts/"+id, map[string]string{"b01": "bRW", "c01": "qRW"}[id], nil)
		if r.body["status"] != "active" {
			t.Errorf("%s resolved by another tenant's resolveStale", id)
		}
	}
	// And the activity log: A's resolveStale shows to A and its partner, not to B or Q.
	for role, want := range map[string]bool{"aRO": true, "partnerRO": true, "bRW": false, "qRW": false} {
		r := e.do("GET", "/security/partner/activityLogs?operationType=Security+Alert+Status+Updated", role, nil).want(t, http.StatusOK)
		if got := len(r.values()) > 0; got != want {
			t.Errorf("%s sees A's status records: %v, want %v", role, got, want)
		}
		for _, v := range r.values() {
			if c := v["customerId"]; c != tenantA {
				t.Errorf("%s: record of %v", role, c)
			}
		}
	}
}

// TestPartnerScopeFollowsDirectory: a partner sees exactly its customers'
// alerts, and a partner without customers sees none.
func TestPartnerScopeFollowsDirectory(t *testing.T) {
	e := newEnv(t)
	e.seed()
	r := e.do("GET", "/security/partner/securityAlerts?$top=100", "partnerRO", nil).want(t, http.StatusOK)
	var want []string
	for _, p := range []string{"a", "b"} {
		for j := range map[string]int{"a": 5, "b": 4}[p] {
			want = append(want, fmt.Sprintf("%s%02d", p, j))
		}
	}
	want = append(want, docsAlertID)
	sort.Strings(want)
	if got := sortedIDs(r); !slices.Equal(got, want) {
		t.Errorf("partner P sees %v, want %v", got, want)
	}

	lonely := newEnv(t, func(o *apiOptions) { o.Directory = nil })
	lonely.seed()
	r = lonely.do("GET", "/security/partner/securityAlerts?$count=true", "partnerRO", nil).want(t, http.StatusOK)
	if len(r.values()) != 0 || r.body["@odata.count"] != 0.0 {
		t.Errorf("a partner without customers sees %s", r.raw)
	}
	if strings.Contains(string(r.raw), tenantA) {
		t.Error("tenant A leaked")
	}
}
