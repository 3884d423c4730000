package kvbehaviour

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// sequence is one operation of p on v every two minutes from at.
func sequence(at time.Time, v dt.Vault, p event.Principal, addr string, geo event.Geo, names ...string) []event.Op {
	ops := make([]event.Op, len(names))
	for i, n := range names {
		ops[i] = kv(at.Add(time.Duration(i)*2*time.Minute), v, n, p, addr, geo)
	}
	return ops
}

func TestOperationPattern(t *testing.T) {
	newcomer := app("late-service")
	base := withOps(estate(14), sequence(day(8, 0, 0), vaultC, newcomer, "20.61.14.30", azureGeo,
		"SecretGet", "SecretGet", "SecretGet")...)
	tests := []struct {
		name  string
		extra []event.Op
		want  int // pattern candidates
		ops   string
	}{
		{"a service that only reads lists, backs up, decrypts and purges",
			sequence(day(10, 16, 0), vaultA, svcA, "20.61.14.7", azureGeo, "SecretList", "SecretBackup", "SecretBackup", "KeyDecrypt", "SecretPurge"),
			2, "KeyDecrypt, SecretBackup, SecretList, SecretPurge"},
		{"one new sensitive operation", sequence(day(10, 16, 0), vaultB, svcB, "20.61.14.8", azureGeo, "SecretBackup"), 1, "SecretBackup"},
		{"two new ordinary operations", sequence(day(10, 16, 0), vaultB, svcB, "20.61.14.8", azureGeo, "SecretSet", "KeySign"), 1, "KeySign, SecretSet"},
		{"one new ordinary operation", sequence(day(10, 16, 0), vaultB, svcB, "20.61.14.8", azureGeo, "SecretSet"), 0, ""},
		{"two new ordinary operations more than the window apart", append(
			sequence(day(10, 16, 0), vaultB, svcB, "20.61.14.8", azureGeo, "SecretSet"),
			sequence(day(10, 18, 0), vaultB, svcB, "20.61.14.8", azureGeo, "KeySign")...), 0, ""},
		{"usual operations in unusual number", sequence(day(10, 16, 0), vaultA, alice, "145.53.212.10", officeGeo,
			"SecretList", "SecretList", "SecretGet", "SecretGet", "SecretGet"), 0, ""},
		{"in the learning period", sequence(day(5, 16, 0), vaultA, svcA, "20.61.14.7", azureGeo, "SecretList", "SecretPurge"), 0, ""},
		{"a principal in its own first week", sequence(day(10, 16, 0), vaultC, newcomer, "20.61.14.30", azureGeo, "SecretList", "SecretPurge"), 0, ""},
	}
	d := detector(t, DefaultConfig(), NameTenant)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, d, withOps(base, tc.extra...))
			if len(got) != tc.want || len(ofType(got, TypeOperationPatternAnomaly)) != tc.want {
				t.Fatalf("%d candidates, want %d pattern anomalies:%s", len(got), tc.want, summary(got))
			}
			if tc.want == 0 {
				return
			}
			if last := got[len(got)-1]; last.Details["operations"] != tc.ops {
				t.Errorf("operations %q, want %q", last.Details["operations"], tc.ops)
			}
		})
	}
}

func TestOperationPatternCandidate(t *testing.T) {
	extra := sequence(day(10, 16, 0), vaultA, svcA, "20.61.14.7", azureGeo, "SecretList", "SecretBackup", "SecretBackup", "KeyDecrypt")
	extra[3].StatusCode, extra[3].Result = 403, "Failure"
	got := run(t, detector(t, DefaultConfig(), NameTenant), withOps(estate(14), extra...))
	if len(got) != 2 {
		t.Fatalf("%d candidates, want the first and the window's summary:%s", len(got), summary(got))
	}
	first, rest := got[0], got[1]
	if first.Count != 1 || rest.Count != 3 || first.Severity != "" || rest.Severity != alert.SeverityHigh {
		t.Errorf("counts %d, %d severities %q, %q", first.Count, rest.Count, first.Severity, rest.Severity)
	}
	for _, c := range got {
		if c.Resource != vaultA.ResourceID() || strings.Join(c.FingerprintKeys, " ") != vaultA.ResourceID()+" "+svcA.ObjectID {
			t.Errorf("resource %s fingerprint %v", c.Resource, c.FingerprintKeys)
		}
	}
	if !strings.HasPrefix(first.Details["usualOperations"], "SecretGet (") || strings.Contains(first.Details["usualOperations"], "), ") {
		t.Errorf("usualOperations %q, want SecretGet only", first.Details["usualOperations"])
	}
	dt.WantDetails(t, first, map[string]string{"operations": "SecretList", "caller": "app " + svcA.AppID, "window": "1h",
		"learnedSince": first.Details["learnedSince"]})
	dt.WantDetails(t, rest, map[string]string{"operations": "KeyDecrypt, SecretBackup, SecretList", "denied": "1",
		"raisedBy": "1 refused (403) attempt(s)"})
	if rest.Details["historyCount"] != first.Details["historyCount"] || rest.Details["historyCount"] == "" {
		t.Errorf("history %q %q", first.Details["historyCount"], rest.Details["historyCount"])
	}
}
