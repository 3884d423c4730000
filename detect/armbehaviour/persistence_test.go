package armbehaviour

import (
	"slices"
	"testing"
	"time"

	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

var roleAssignment = "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleAssignments/6b3c1c2e-4c8f-4e8a-9a63-5d2f0e7b1a44"

// via makes p call through client application app (the token's appid).
func via(p event.Principal, app string) event.Principal { p.AppID = app; return p }

func TestUnusedAccount(t *testing.T) {
	svc := event.Principal{ObjectID: "5b1e3c7a-2d4f-4a8b-9c6d-7e8f9a0b1c2d", UPN: "svc-legacy@contoso.com", AppID: AppAzureCLI,
		TenantID: tenantID, Type: event.PrincipalUser}
	history := routine(svc, office, officeGeo, 0, 5, 2)
	back := func(days int, op string, opts ...dt.Option) event.Op {
		return act(at(days, 0), roleAssignment, op, svc, brazil, brazilGeo, opts...)
	}
	tests := []persistCase{
		{"silent 75 days, then a role assignment", cat(history, []event.Op{back(80, "Microsoft.Authorization/roleAssignments/write")}), 1},
		{"and a runbook within the day", cat(history, []event.Op{
			back(80, "Microsoft.Authorization/roleAssignments/write"),
			act(at(80, 2*time.Hour), rg+"/providers/Microsoft.Automation/automationAccounts/ops/runbooks/backdoor",
				"Microsoft.Automation/automationAccounts/runbooks/write", svc, brazil, brazilGeo),
		}), 2},
		{"back after 30 days", cat(history, []event.Op{back(35, "Microsoft.Authorization/roleAssignments/write")}), 0},
		{"back with ordinary work", cat(history, []event.Op{back(80, "Microsoft.Resources/deployments/write")}), 0},
		{"the persistence write two days after the return", cat(history, []event.Op{
			back(80, "Microsoft.Resources/deployments/write"), back(82, "Microsoft.Authorization/roleAssignments/write")}), 0},
		{"a refused write", cat(history, []event.Op{back(80, "Microsoft.Authorization/roleAssignments/write", dt.Result("Failed"), dt.Status(403))}), 0},
		{"never seen before is new, not unused", []event.Op{back(80, "Microsoft.Authorization/roleAssignments/write")}, 0},
	}
	for _, tc := range variants(tests) {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, DefaultConfig(), NamePrincipal, slices.Clone(tc.ops))
			if len(got) != tc.want {
				t.Fatalf("candidates %v, want %d", types(got), tc.want)
			}
			for _, c := range got {
				if c.Type != TypeUnusedAccount {
					t.Errorf("type %s", c.Type)
				}
				dt.WantDetails(t, c, map[string]string{"caller": "svc-legacy@contoso.com", "idleDays": "75", "threshold": "60",
					"lastActivity": "2026-08-07T09:17:00Z", "callerIp": brazil, "subscription": sub})
			}
			if len(got) == 2 && !slices.Equal(got[0].FingerprintKeys, got[1].FingerprintKeys) {
				t.Errorf("one return, two fingerprints: %v %v", got[0].FingerprintKeys, got[1].FingerprintKeys)
			}
		})
	}
}

func TestUnusedPowerShell(t *testing.T) {
	cli := routine(rob, office, officeGeo, 0, 10, 3) // 30 operations through the Azure CLI
	ps := via(rob, AppAzurePowerShell)
	runbook := func(days int, p event.Principal) event.Op {
		return act(at(days, 3*time.Hour), rg+"/providers/Microsoft.Automation/automationAccounts/ops/runbooks/backdoor",
			"Microsoft.Automation/automationAccounts/runbooks/write", p, office, officeGeo)
	}
	psHistory := routine(ps, office, officeGeo, 0, 10, 3)
	tests := []persistCase{
		{"a CLI user writes a runbook through PowerShell", cat(cli, []event.Op{runbook(12, ps)}), 1},
		{"through the CLI, as always", cat(cli, []event.Op{runbook(12, rob)}), 0},
		{"a PowerShell user", cat(psHistory, []event.Op{runbook(12, ps)}), 0},
		{"PowerShell without persistence", cat(cli, routine(ps, office, officeGeo, 12, 1, 3)), 0},
		{"too little history", cat(routine(rob, office, officeGeo, 0, 10, 1), []event.Op{runbook(12, ps)}), 0},
		{"PowerShell in the learning week", cat(routine(rob, office, officeGeo, 0, 3, 10), []event.Op{runbook(3, ps)}), 0},
		{"the persistence write a day after the first PowerShell use", cat(cli, routine(ps, office, officeGeo, 12, 1, 1), []event.Op{runbook(14, ps)}), 0},
	}
	for _, tc := range variants(tests) {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, DefaultConfig(), NamePrincipal, slices.Clone(tc.ops))
			if len(got) != tc.want {
				t.Fatalf("candidates %v, want %d", types(got), tc.want)
			}
			for _, c := range got {
				if c.Type != TypeUnusedPowerShell {
					t.Errorf("type %s", c.Type)
				}
				dt.WantDetails(t, c, map[string]string{"caller": "rob@contoso.com", "clientApp": AppAzurePowerShell,
					"historyCount": "30", "operations": "microsoft.automation/automationaccounts/runbooks/write"})
			}
		})
	}
}

// persistCase is one case of the persistence tests.
type persistCase struct {
	name string
	ops  []event.Op
	want int
}

// variants runs each case twice: with located addresses (the travel
// detection reads them, so every operation waits for the watermark) and
// without (ordinary operations take the shard's unbuffered path).
func variants(tests []persistCase) []persistCase {
	var out []persistCase
	for _, tc := range tests {
		plain := slices.Clone(tc.ops)
		for i := range plain {
			plain[i].Geo = event.Geo{}
		}
		out = append(out, tc, persistCase{tc.name + " (no location)", plain, tc.want})
	}
	return out
}
