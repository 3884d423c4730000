package simulate

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// byPrincipal returns the records of a principal (by object ID) on a vault
// ("" for any).
func byPrincipal(recs []rec, oid, vault string) []rec {
	var out []rec
	for _, x := range recs {
		if x.oid == oid && (vault == "" || x.resource == vault) {
			out = append(out, x)
		}
	}
	return out
}

func between(recs []rec, from, to time.Time) []rec {
	var out []rec
	for _, x := range recs {
		if x.within(from, to) {
			out = append(out, x)
		}
	}
	return out
}

// hourly counts records per hour.
func hourly(recs []rec) map[time.Time]int {
	m := map[time.Time]int{}
	for _, x := range recs {
		m[x.t.Truncate(time.Hour)]++
	}
	return m
}

func maxOf(m map[time.Time]int) int {
	n := 0
	for _, v := range m {
		n = max(n, v)
	}
	return n
}

// TestEveryAlertTypeIsInjected checks the labels cover every Key Vault and
// Resource Manager alert type of the catalogue with an attack.
func TestEveryAlertTypeIsInjected(t *testing.T) {
	e, _ := smallOutput()
	fired := map[string]bool{}
	for _, l := range e.Labels() {
		if l.MustFire {
			fired[l.AlertType] = true
		}
	}
	for _, typ := range append(slices.Clone(attackTypes), behavioural...) {
		if !fired[typ] {
			t.Errorf("no attack labelled %s", typ)
		}
	}
}

// TestAttacksAreInTheRecords checks, for each attack label, that the
// records hold what the detection needs to see, at the labelled time, by the
// labelled entities, and that the baseline before it makes it an anomaly.
func TestAttacksAreInTheRecords(t *testing.T) {
	e, data := smallOutput()
	recs := readBack(t, data, "small.jsonl")
	in := intel(t)
	learningEnd := e.LearningEnd()
	for _, l := range e.Labels() {
		if l.Kind != LabelAttack {
			continue
		}
		t.Run(l.ID+"-"+l.AlertType, func(t *testing.T) {
			if l.From.Before(learningEnd) {
				t.Errorf("attack at %s, before the learning period ends (%s)", l.From, learningEnd)
			}
			mine := byPrincipal(recs, l.ObjectID, l.Resource)
			if strings.HasPrefix(l.AlertType, "ARM") || l.AlertType == "KV_AccountVolumeAnomaly" || slices.Contains(armTypes, l.AlertType) {
				mine = byPrincipal(recs, l.ObjectID, "")
			}
			now := between(mine, l.From, l.To)
			before := between(mine, e.Start(), l.From.Add(-time.Nanosecond))
			if len(now) == 0 {
				t.Fatalf("no record of %s on %q in [%s, %s]", l.ObjectID, l.Resource, l.From, l.To)
			}
			switch l.AlertType {
			case "KV_TORAccess", "KV_SuspiciousIPAccess":
				ok := false
				for _, x := range now {
					ok = ok || x.ip == l.IP && x.status == 200
				}
				if !ok {
					t.Errorf("no successful operation from %s", l.IP)
				}
				if l.AlertType == "KV_TORAccess" && (!in.tor[l.IP] || in.ipsum[l.IP] > 0) {
					t.Errorf("%s: Tor exit %v, ipsum score %d", l.IP, in.tor[l.IP], in.ipsum[l.IP])
				}
				if l.AlertType == "KV_SuspiciousIPAccess" && (in.tor[l.IP] || in.ipsum[l.IP] < 3) {
					t.Errorf("%s: Tor exit %v, ipsum score %d", l.IP, in.tor[l.IP], in.ipsum[l.IP])
				}
			case "KV_ListGetAnomaly":
				list := slices.IndexFunc(now, func(x rec) bool { return x.op == "SecretList" && x.status == 200 })
				if list < 0 {
					t.Fatal("no SecretList")
				}
				objs := map[string]bool{}
				for _, x := range now[list:] {
					if x.op == "SecretGet" && x.t.Sub(now[list].t) < time.Minute {
						objs[x.target[:strings.LastIndexByte(x.target, '/')]] = true
					}
				}
				if len(objs) <= 25 {
					t.Errorf("%d distinct secrets read within a minute of the list", len(objs))
				}
			case "KV_PutGetAnomaly":
				patch := slices.IndexFunc(recs, func(x rec) bool {
					return x.op == "VaultPatch" && x.resource == l.Resource && slices.Contains(x.added, l.ObjectID) && x.within(l.From, l.To)
				})
				if patch < 0 {
					t.Fatal("no VaultPatch granting the reader")
				}
				if !slices.ContainsFunc(now, func(x rec) bool {
					return x.op == "SecretGet" && x.status == 200 && x.t.Sub(recs[patch].t) < time.Hour
				}) {
					t.Error("no SecretGet by the grantee within the hour")
				}
			case "KV_UserAnomaly", "KV_AppAnomaly":
				if len(before) > 0 {
					t.Errorf("the principal used the vault %d times before", len(before))
				}
				if l.AlertType == "KV_AppAnomaly" && slices.ContainsFunc(recs, func(x rec) bool {
					return x.appid == l.AppID && x.resource == l.Resource && x.t.Before(l.From)
				}) {
					t.Error("the application used the vault before")
				}
			case "KV_UserAppAnomaly":
				pair := func(x rec) bool { return x.appid == l.AppID }
				if slices.ContainsFunc(before, pair) {
					t.Error("the user used the application on the vault before")
				}
				if !slices.ContainsFunc(now, pair) {
					t.Error("the user does not use the application on the vault")
				}
				learnt := between(recs, e.Start(), learningEnd)
				if !slices.ContainsFunc(learnt, func(x rec) bool { return x.oid == l.ObjectID && x.resource == l.Resource }) {
					t.Error("the user is not known to the vault in the learning period")
				}
				if !slices.ContainsFunc(learnt, func(x rec) bool { return x.appid == l.AppID && x.resource == l.Resource }) {
					t.Error("the application is not known to the vault in the learning period")
				}
			case "KV_OperationPatternAnomaly":
				for _, x := range before {
					if x.op != "SecretGet" {
						t.Fatalf("the application did %s before the attack", x.op)
					}
				}
				if len(before) < 50 {
					t.Errorf("only %d reads before the attack: no baseline", len(before))
				}
				ops := map[string]bool{}
				for _, x := range now {
					ops[x.op] = true
				}
				for _, op := range []string{"SecretList", "SecretBackup", "KeyDecrypt", "SecretPurge"} {
					if !ops[op] {
						t.Errorf("no %s", op)
					}
				}
			case "KV_OperationVolumeAnomaly":
				peak, base := maxOf(hourly(now)), maxOf(hourly(before))
				if peak < 10*base || peak < 1000 {
					t.Errorf("peak %d an hour against a baseline peak of %d", peak, base)
				}
			case "KV_AccountVolumeAnomaly":
				perDay := func(rs []rec) int {
					days := map[time.Time]map[string]bool{}
					for _, x := range rs {
						d := x.t.Truncate(24 * time.Hour)
						if days[d] == nil {
							days[d] = map[string]bool{}
						}
						days[d][x.resource] = true
					}
					n := 0
					for _, v := range days {
						n = max(n, len(v))
					}
					return n
				}
				if got, base := perDay(now), perDay(before); got < 2*base || got < 6 {
					t.Errorf("%d vaults in a day against a baseline of %d", got, base)
				}
			case "ARM_OperationFromSuspiciousProxyIP", "ARM_OperationFromSuspiciousIP":
				var hits int
				for _, x := range now {
					if x.kind == event.KindActivity && x.ip == l.IP && "/subscriptions/"+x.sub == l.Resource {
						hits++
					}
				}
				if hits == 0 {
					t.Errorf("no Activity Log record from %s in %s", l.IP, l.Resource)
				}
				tor := l.AlertType == "ARM_OperationFromSuspiciousProxyIP"
				if in.tor[l.IP] != tor || (!tor && in.ipsum[l.IP] < 3) {
					t.Errorf("%s: Tor exit %v, ipsum score %d", l.IP, in.tor[l.IP], in.ipsum[l.IP])
				}
			default:
				if !slices.Contains(armTypes, l.AlertType) && l.AlertType != "ARM_AnomalousResourceConsumption" &&
					l.AlertType != "ARM_SuspiciousComputeCreation" {
					t.Errorf("no check for %s", l.AlertType)
				}
				// The behaviour and fraud scenarios: the records are there
				// (above); evaluate/ holds the detections to them.
			}
		})
	}
}

// TestLookAlikesAreInTheRecords checks each benign look-alike happens as
// labelled and stays short of what the detection looks for.
func TestLookAlikesAreInTheRecords(t *testing.T) {
	e, data := smallOutput()
	recs := readBack(t, data, "small.jsonl")
	in := intel(t)
	seen := map[string]bool{}
	for _, l := range e.Labels() {
		if l.Kind != LabelBenign {
			continue
		}
		seen[l.ID] = true
		mine := between(byPrincipal(recs, l.ObjectID, l.Resource), l.From, l.To)
		before := between(byPrincipal(recs, l.ObjectID, ""), e.Start(), e.LearningEnd())
		switch l.ID {
		case "B01": // grant, then the grantee reads only after the hour
			if l.AlertType != "KV_PutGetAnomaly" {
				continue
			}
			patch := slices.IndexFunc(recs, func(x rec) bool {
				return x.op == "VaultPatch" && slices.Contains(x.added, l.ObjectID)
			})
			if patch < 0 {
				t.Fatal("B01: no VaultPatch granting the new user")
			}
			p := recs[patch]
			for _, x := range between(recs, p.t, p.t.Add(time.Hour)) {
				if x.kind == event.KindKeyVault && x.resource == l.Resource && (x.oid == l.ObjectID || x.oid == p.oid) && x.op != "VaultPatch" {
					t.Errorf("B01: %s by %s within the hour of the grant", x.op, x.oid)
				}
			}
			if len(mine) == 0 {
				t.Error("B01: the new user never reads")
			}
		case "B02", "B03":
			op := map[string]string{"B02": "SecretSet", "B03": "SecretBackup"}[l.ID]
			count := func(rs []rec) int {
				n := 0
				for _, x := range rs {
					if x.op == op {
						n++
					}
				}
				return n
			}
			if l.ID == "B03" {
				mine = between(byPrincipal(recs, l.ObjectID, ""), l.From, l.To)
			}
			if count(mine) < 8 || count(before) < 8 {
				t.Errorf("%s: %d %s in the window, %d in the learning period", l.ID, count(mine), op, count(before))
			}
		case "B04":
			objs := map[string]bool{}
			for _, x := range mine {
				objs[x.target[:strings.LastIndexByte(x.target, '/')]] = true
			}
			if len(mine) < 1000 || len(objs) > 3 {
				t.Errorf("B04: %d reads of %d objects in a day", len(mine), len(objs))
			}
		case "B05":
			vaults := map[string]bool{}
			for _, x := range between(byPrincipal(recs, l.ObjectID, ""), l.From, l.To) {
				vaults[x.resource] = true
			}
			n := 0
			for _, v := range e.Vaults() {
				if v.TenantID == l.TenantID && !v.Onboarded.After(l.From) {
					n++
				}
			}
			if len(vaults) < n {
				t.Errorf("B05: Resource Graph read %d of the tenant's %d vaults", len(vaults), n)
			}
		case "B06":
			v := e.Vaults()[len(e.Vaults())-1]
			for _, x := range recs {
				if x.kind == event.KindKeyVault && x.resource == v.ResourceID && x.t.Before(v.Onboarded) {
					t.Fatalf("B06: record on %s before it was created", v.Name)
				}
			}
			if len(mine) == 0 || mine[0].op != "VaultPut" {
				t.Error("B06: no VaultPut")
			}
		case "B07":
			if len(mine) == 0 {
				t.Error("B07: no records")
			}
			for _, x := range mine {
				if x.status != 403 {
					t.Fatalf("B07: status %d", x.status)
				}
			}
		case "B09":
			n := 0
			for _, x := range between(recs, l.From, l.To) {
				if x.ip == l.IP {
					n++
					if x.status != 401 || x.oid != "" {
						t.Errorf("B09: status %d by %q", x.status, x.oid)
					}
				}
			}
			if n == 0 || in.ipsum[l.IP] < 3 {
				t.Errorf("B09: %d records from %s (ipsum score %d)", n, l.IP, in.ipsum[l.IP])
			}
		case "B10":
			if len(mine) == 0 || mine[0].ip != l.IP || in.ipsum[l.IP] != 1 || in.tor[l.IP] {
				t.Errorf("B10: %d records from %s (ipsum %d)", len(mine), l.IP, in.ipsum[l.IP])
			}
		}
	}
	for _, id := range []string{"B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10"} {
		if !seen[id] {
			t.Errorf("no look-alike %s", id)
		}
	}
}

// TestOnlyLabelledAddressesAreOnTheLists: every record from an address of
// the intel lists belongs to a labelled scenario.
func TestOnlyLabelledAddressesAreOnTheLists(t *testing.T) {
	e, data := smallOutput()
	in := intel(t)
	labelled := map[string]bool{}
	for _, l := range e.Labels() {
		labelled[l.IP] = l.IP != ""
	}
	for _, x := range readBack(t, data, "small.jsonl") {
		if (in.tor[x.ip] || in.ipsum[x.ip] > 0) && !labelled[x.ip] {
			t.Fatalf("%s (%s by %s) is on an intel list but no label names it", x.ip, x.op, x.oid)
		}
	}
}

// TestLearningPeriodCoversTheBaseline: every principal, client app and
// operation seen on a vault after the learning period without a label was
// seen on it in the learning period (or the vault's first week), so the only
// new principals, pairs and operations after it are the labelled ones.
func TestLearningPeriodCoversTheBaseline(t *testing.T) {
	e, data := smallOutput()
	recs := readBack(t, data, "small.jsonl")
	learnt := map[string]bool{}
	vaultEnd := map[string]time.Time{}
	for _, v := range e.Vaults() {
		vaultEnd[v.ResourceID] = v.LearningEnd
	}
	explained := func(x rec) bool {
		for _, l := range e.Labels() {
			if l.Kind == LabelLearning {
				continue
			}
			if (l.ObjectID == x.oid || l.AppID == x.appid && l.AppID != "") &&
				(l.Resource == "" || l.Resource == x.resource) && !x.t.Before(l.From) {
				return true // the labelled principal, from the scenario on
			}
			if l.Resource == x.resource && x.within(l.From, l.To) {
				return true // part of a scenario on the vault (an attack's accomplice)
			}
		}
		return false
	}
	for _, x := range recs {
		if x.kind != event.KindKeyVault || x.oid == "" {
			continue
		}
		pair, op := x.resource+"|"+x.oid+"|"+x.appid, x.resource+"|"+x.oid+"|"+x.op
		if x.t.Before(vaultEnd[x.resource]) {
			learnt[pair], learnt[op] = true, true
			continue
		}
		if (!learnt[pair] || !learnt[op]) && !explained(x) {
			t.Fatalf("%s: %s by %s (app %s) on %s: principal, application or operation not seen on the vault in the learning period, and not labelled",
				x.t, x.op, x.oid, x.appid, x.resource)
		}
	}
}
