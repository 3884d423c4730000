package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sampleAlert is a KV_TORAccess alert made by the manager from three
// candidates built on the sample AuditEvent, then taken into investigation.
func sampleAlert(t testing.TB) *Alert {
	t.Helper()
	m := NewManager(ManagerOptions{Now: fixedNow})
	var a *Alert
	for i, d := range []time.Duration{0, 7 * time.Minute, 8*time.Minute + 11*time.Second} {
		c := torCandidate(t0.Add(d), i+1)
		if i == 2 {
			c.Evidence[0].Operation = "SecretList"
			c.Evidence[0].Target = "https://contosokeyvault.vault.azure.net/secrets"
		}
		a, _ = mustAdd(t, m, c)
	}
	a.Status = StatusInvestigating
	a.ActivityLogs = []ActivityLog{{
		StatusFrom: StatusActive, StatusTo: StatusInvestigating, UpdatedBy: "admin@contoso.com",
		UpdatedTime: time.Date(2016, 1, 5, 10, 15, 0, 0, time.FixedZone("CET", 3600)),
	}}
	return a
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRenderGolden(t *testing.T) {
	a := sampleAlert(t)
	for _, lang := range Languages {
		t.Run(lang, func(t *testing.T) {
			checkGolden(t, "render_"+lang+".golden.json", marshal(t, Render(a, lang)))
		})
	}
}

// graphProperties are the partnerSecurityAlert properties of Microsoft
// Graph (beta), as its resource page names them, less catalogOfferId which
// Vigil does not know and valueAddedResellerTenantId which is omitted when
// empty.
var graphProperties = []string{
	"activityLogs", "additionalDetails", "affectedResources", "alertType", "confidenceLevel",
	"customerTenantId", "description", "detectedDateTime", "displayName", "firstObservedDateTime",
	"id", "isTest", "lastObservedDateTime", "resolvedBy", "resolvedOnDateTime", "resolvedReason",
	"severity", "status", "subscriptionId",
}

func TestRenderGraphShape(t *testing.T) {
	a := sampleAlert(t)
	var got map[string]json.RawMessage
	if err := json.Unmarshal(marshal(t, Render(a, "en")), &got); err != nil {
		t.Fatal(err)
	}
	for _, p := range graphProperties {
		if _, ok := got[p]; !ok {
			t.Errorf("property %q missing", p)
		}
	}
	for _, p := range []string{"resolvedReason", "resolvedBy", "resolvedOnDateTime"} {
		if string(got[p]) != "null" {
			t.Errorf("%s = %s on an unresolved alert, want null", p, got[p])
		}
	}
	if _, ok := got["valueAddedResellerTenantId"]; ok {
		t.Error("valueAddedResellerTenantId present without a reseller")
	}
	for _, p := range []string{"detectedDateTime", "firstObservedDateTime", "lastObservedDateTime"} {
		var s string
		if err := json.Unmarshal(got[p], &s); err != nil {
			t.Fatal(err)
		}
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !strings.HasSuffix(s, "Z") {
			t.Errorf("%s = %q: want RFC 3339 UTC (%v)", p, s, err)
		}
		if p == "lastObservedDateTime" && !ts.Equal(t0.Add(8*time.Minute+11*time.Second)) {
			t.Errorf("lastObservedDateTime %v", ts)
		}
	}
	var logs []map[string]string
	if err := json.Unmarshal(got["activityLogs"], &logs); err != nil {
		t.Fatal(err)
	}
	if len(logs) != 1 || logs[0]["updatedDateTime"] != "2016-01-05T09:15:00Z" || logs[0]["statusTo"] != "investigating" {
		t.Errorf("activityLogs = %v: want one, in UTC", logs)
	}
	var res []AffectedResource
	if err := json.Unmarshal(got["affectedResources"], &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].ResourceID != sampleVault || res[0].ResourceType != "MICROSOFT.KEYVAULT/VAULTS" {
		t.Errorf("affectedResources = %+v: want the vault once (resource and entity are the same)", res)
	}
}

func TestRenderResolved(t *testing.T) {
	a := sampleAlert(t)
	a.Status = StatusResolved
	a.ResolvedReason = ReasonFraud
	a.ResolvedBy = "admin@contoso.com"
	a.ResolvedOn = time.Date(2016, 1, 6, 8, 0, 0, 0, time.FixedZone("JST", 9*3600))
	a.SuppressedBy = "rule-1"
	a.PreviousID = "00000000-0000-8000-8000-000000000000"
	a.Details[DetailValueAddedReseller] = "11112222-3333-4444-5555-666677778888"
	a.Details[DetailIsTest] = "true"
	g := Render(a, "ja")
	if g.ResolvedReason == nil || *g.ResolvedReason != "fraud" || g.ResolvedBy == nil || *g.ResolvedBy != "admin@contoso.com" {
		t.Errorf("resolvedReason %v resolvedBy %v", g.ResolvedReason, g.ResolvedBy)
	}
	if g.ResolvedOnDateTime == nil || *g.ResolvedOnDateTime != "2016-01-05T23:00:00Z" {
		t.Errorf("resolvedOnDateTime %v, want 2016-01-05T23:00:00Z", g.ResolvedOnDateTime)
	}
	if g.ValueAddedResellerTenantID != "11112222-3333-4444-5555-666677778888" || !g.IsTest {
		t.Errorf("reseller %q isTest %v", g.ValueAddedResellerTenantID, g.IsTest)
	}
	if g.SuppressedBy != "rule-1" || g.PreviousAlertID != a.PreviousID || g.Status != "resolved" {
		t.Errorf("suppressedBy %q previousAlertId %q status %q", g.SuppressedBy, g.PreviousAlertID, g.Status)
	}
}

func TestRenderDegradesGracefully(t *testing.T) {
	tests := []struct {
		name     string
		alert    *Alert
		wantName string
		wantDesc string
	}{
		{"nil", nil, "", ""},
		{"unknown type", &Alert{Type: "SOME_FutureType", Count: 1}, "SOME_FutureType", ""},
		{"missing details", &Alert{Type: "KV_TORAccess", Details: map[string]string{"vault": "v1"}},
			"Access from a TOR exit node to a key vault", "Key vault v1 was accessed ? time(s) between ? and ? by ? from ?, a known TOR exit node."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := Render(tt.alert, "en")
			if g.DisplayName != tt.wantName {
				t.Errorf("displayName %q, want %q", g.DisplayName, tt.wantName)
			}
			if !strings.HasPrefix(g.Description, tt.wantDesc) {
				t.Errorf("description %q, want prefix %q", g.Description, tt.wantDesc)
			}
			if tt.alert != nil {
				b := marshal(t, g)
				if bytes.Contains(b, []byte(": null,\n  \"affectedResources")) || bytes.Contains(b, []byte(`"tactics": null`)) {
					t.Errorf("lists must render as [] not null:\n%s", b)
				}
			}
		})
	}
}

func TestResourceType(t *testing.T) {
	tests := []struct{ id, want string }{
		{sampleVault, "MICROSOFT.KEYVAULT/VAULTS"},
		{"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg/securityRules/r1", "Microsoft.Network/networkSecurityGroups/securityRules"},
		{"/subscriptions/s1/resourceGroups/MSSupportGroup/providers/microsoft.support/supporttickets/123456112305841", "microsoft.support/supporttickets"},
		{"/subscriptions/bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f", "Microsoft.Resources/subscriptions"},
		{"/subscriptions/s1/resourceGroups/rg-001", "Microsoft.Resources/resourceGroups"},
		{"/providers/Microsoft.Management/managementGroups/mg1", "Microsoft.Management/managementGroups"},
		{"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/providers/Microsoft.Insights/diagnosticSettings/d", "Microsoft.Insights/diagnosticSettings"},
		{"", ""},
		{"not-a-resource-id", ""},
		{"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.KeyVault", ""},
	}
	for _, tt := range tests {
		if got := ResourceType(tt.id); got != tt.want {
			t.Errorf("ResourceType(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

func TestRenderTableGolden(t *testing.T) {
	a := sampleAlert(t)
	m := NewManager(ManagerOptions{Now: fixedNow})
	arm, _ := mustAdd(t, m, Candidate{
		Type: "ARM_OperationFromSuspiciousProxyIP", Time: t0.Add(time.Hour), TenantID: "aaaabbbb-0000-cccc-1111-dddd2222eeee",
		SubscriptionID: "bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f",
		Resource:       "/subscriptions/bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f/resourceGroups/myResourceGroup/providers/Microsoft.Network/networkSecurityGroups/myNSG",
		Details: map[string]string{
			"caller": "rob@contoso.com", "callerIp": torIP, "subscription": "bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f",
			"operations": "Microsoft.Network/networkSecurityGroups/write",
		},
		Count:           2,
		FingerprintKeys: []string{"rob@contoso.com", torIP},
	})
	for _, lang := range Languages {
		t.Run(lang, func(t *testing.T) {
			var b bytes.Buffer
			if err := RenderTable(&b, []GraphAlert{Render(a, lang), Render(arm, lang), Render(&Alert{Type: "X\tY", Count: 1}, lang)}); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if len(lines) != 4 {
				t.Fatalf("%d lines, want header + 3:\n%s", len(lines), b.String())
			}
			col := strings.Index(lines[0], "SEVERITY")
			for _, l := range lines[1:] {
				if !strings.HasPrefix(l[col:], "medium") && !strings.HasPrefix(l[col:], "-") {
					t.Errorf("severity column not aligned at %d in %q", col, l)
				}
			}
			checkGolden(t, "table_"+lang+".golden.txt", b.Bytes())
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRenderTableWriteError(t *testing.T) {
	err := RenderTable(failWriter{}, []GraphAlert{Render(sampleAlert(t), "en")})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v, want the writer's error", err)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven chars", 10, "eleven ch…"},
		{"キー コンテナー contosokeyvault", 8, "キー コンテナ…"},
		{"a b c d e f", 4, "a b…"},
	}
	for _, tt := range tests {
		if got := truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	a := sampleAlert(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = Render(a, "nl")
	}
}
