package azurelog

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// decodeOne reads a single-record input and fails unless it yields one op.
func decodeOne(t *testing.T, rec []byte) event.Op {
	t.Helper()
	res := readAll(t, rec, Options{})
	if res.err != nil || len(res.errs) != 0 || len(res.ops) != 1 {
		t.Fatalf("%d ops, errs %v, err %v for %s", len(res.ops), res.errs, res.err, rec)
	}
	return res.ops[0]
}

const (
	uriOID  = "http://schemas.microsoft.com/identity/claims/objectidentifier"
	uriUPN  = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	uriTID  = "http://schemas.microsoft.com/identity/claims/tenantid"
	uriName = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
)

func TestFields(t *testing.T) {
	kv, act, rest := kvBase(t), activityBase(t), restBase(t)
	setClaim := func(m map[string]any, c map[string]any) { sub(m, "identity")["claim"] = c }
	tests := []struct {
		name  string
		base  map[string]any
		mod   func(m map[string]any)
		check func(t *testing.T, op *event.Op)
	}{
		{"kv upper-case operation", kv, func(m map[string]any) { m["operationName"] = "SECRETGET" },
			func(t *testing.T, op *event.Op) { eq(t, op.Operation, "SecretGet") }},
		{"kv lower-case operation", kv, func(m map[string]any) { m["operationName"] = "keyrotationpolicyset" },
			func(t *testing.T, op *event.Op) { eq(t, op.Operation, "KeyRotationPolicySet") }},
		{"kv unknown operation kept", kv, func(m map[string]any) { m["operationName"] = "SecretFrobnicate" },
			func(t *testing.T, op *event.Op) { eq(t, op.Operation, "SecretFrobnicate") }},
		{"activity upper-case operation", act, func(m map[string]any) {
			m["operationName"] = "MICROSOFT.EVENTHUB/NAMESPACES/AUTHORIZATIONRULES/LISTKEYS/ACTION"
			m["resourceId"] = "/SUBSCRIPTIONS/8A4DE8B5-095C-47D0-A96F-A75130C61D53/RESOURCEGROUPS/SA-HEMA/PROVIDERS/MICROSOFT.EVENTHUB/NAMESPACES/AZURELSEVENTS/AUTHORIZATIONRULES/ROOTMANAGESHAREDACCESSKEY"
		}, func(t *testing.T, op *event.Op) {
			eq(t, op.Operation, "microsoft.eventhub/namespaces/authorizationrules/listkeys/action")
			eq(t, op.SubscriptionID, "8a4de8b5-095c-47d0-a96f-a75130c61d53")
			eq(t, op.ResourceGroup, "SA-HEMA")
			eq(t, op.ResourceType, "MICROSOFT.EVENTHUB/NAMESPACES/AUTHORIZATIONRULES")
			eq(t, op.ResourceName, "ROOTMANAGESHAREDACCESSKEY")
		}},
		{"durationMs string", kv, func(m map[string]any) { m["durationMs"] = "78" },
			func(t *testing.T, op *event.Op) { eqv(t, op.DurationMs, int64(78)) }},
		{"durationMs number", kv, func(m map[string]any) { m["durationMs"] = 2826 },
			func(t *testing.T, op *event.Op) { eqv(t, op.DurationMs, int64(2826)) }},
		{"durationMs fractional", kv, func(m map[string]any) { m["durationMs"] = 12.5 },
			func(t *testing.T, op *event.Op) { eqv(t, op.DurationMs, int64(12)) }},
		{"durationMs not a number", kv, func(m map[string]any) { m["durationMs"] = "n/a" },
			func(t *testing.T, op *event.Op) { eqv(t, op.DurationMs, int64(0)) }},
		{"short claims", kv, func(m map[string]any) {
			setClaim(m, map[string]any{"oid": "d4ba3e84-0444-4841-aaf7-000000000001", "appid": "3686488a-04fc-4d8a-b967-000000000002",
				"scp": "user_impersonation", "appidacr": "0", "xms_az_nwperimid": []any{}, "upn": "john.doe@dummy.onmicrosoft.com",
				"ipaddr": "192.0.2.1", "unique_name": "john.doe@dummy.onmicrosoft.com", "amr": "pwd", "tid": "d91d59da-80cd-4224-baef-10f72c103fc1"})
		}, func(t *testing.T, op *event.Op) {
			eqv(t, op.Caller, event.Principal{ObjectID: "d4ba3e84-0444-4841-aaf7-000000000001", UPN: "john.doe@dummy.onmicrosoft.com",
				AppID: "3686488a-04fc-4d8a-b967-000000000002", TenantID: "d91d59da-80cd-4224-baef-10f72c103fc1", Type: event.PrincipalUser})
			eq(t, op.TenantID, "d91d59da-80cd-4224-baef-10f72c103fc1")
			eq(t, op.CallerIPText, "104.40.82.76") // callerIpAddress wins over the ipaddr claim
		}},
		{"URI claims", kv, func(m map[string]any) {
			setClaim(m, map[string]any{uriOID: "oid-1", uriUPN: "user@contoso.com", uriTID: "tid-1", uriName: "user@contoso.com", "appid": "app-1"})
		}, func(t *testing.T, op *event.Op) {
			eqv(t, op.Caller, event.Principal{ObjectID: "oid-1", UPN: "user@contoso.com", AppID: "app-1", TenantID: "tid-1", Type: event.PrincipalUser})
		}},
		{"app only", kv, func(m map[string]any) {
			setClaim(m, map[string]any{uriOID: "oid-2", "appid": "app-2"})
		}, func(t *testing.T, op *event.Op) {
			eqv(t, op.Caller, event.Principal{ObjectID: "oid-2", AppID: "app-2", Type: event.PrincipalApp})
		}},
		{"azp when no appid", kv, func(m map[string]any) { setClaim(m, map[string]any{"oid": "o", "azp": "app-3"}) },
			func(t *testing.T, op *event.Op) {
				eq(t, op.Caller.AppID, "app-3")
				eqv(t, op.Caller.Type, event.PrincipalApp)
			}},
		{"unique_name as UPN", kv, func(m map[string]any) {
			setClaim(m, map[string]any{"oid": "o", "unique_name": "live.com#guest@outlook.com"})
		},
			func(t *testing.T, op *event.Op) {
				eq(t, op.Caller.UPN, "live.com#guest@outlook.com")
				eqv(t, op.Caller.Type, event.PrincipalUser)
			}},
		{"idtyp app", kv, func(m map[string]any) { setClaim(m, map[string]any{"oid": "o", "idtyp": "app"}) },
			func(t *testing.T, op *event.Op) { eqv(t, op.Caller.Type, event.PrincipalApp) }},
		{"no identity", kv, func(m map[string]any) { delete(m, "identity") },
			func(t *testing.T, op *event.Op) {
				eqv(t, op.Caller, event.Principal{})
				eqv(t, op.Kind, event.KindKeyVault)
			}},
		{"evidence ServicePrincipal without UPN", act, func(m map[string]any) {
			c := sub(m, "identity", "claims")
			delete(c, uriUPN)
			delete(c, uriName)
			delete(c, "name")
		}, func(t *testing.T, op *event.Op) { eqv(t, op.Caller.Type, event.PrincipalApp) }},
		{"evidence ServicePrincipal, no app ID", act, func(m map[string]any) {
			sub(m, "identity")["claims"] = map[string]any{uriOID: "oid-4"}
		}, func(t *testing.T, op *event.Op) {
			eqv(t, op.Caller.Type, event.PrincipalApp)
			eq(t, op.Target, "/subscriptions/bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f/resourceGroups/rg-001/providers/Microsoft.Storage/storageAccounts/       msftstorageaccount")
		}},
		{"request body string", act, func(m map[string]any) {
			sub(m, "properties")["requestbody"] = `{"properties":{"roleDefinitionId":"/x"}}`
			sub(m, "properties")["responseBody"] = `{"id":"/y"}`
		}, func(t *testing.T, op *event.Op) {
			eq(t, op.RequestBody, `{"properties":{"roleDefinitionId":"/x"}}`)
			eq(t, op.ResponseBody, `{"id":"/y"}`)
		}},
		{"request body object", act, func(m map[string]any) {
			sub(m, "properties")["RequestBody"] = map[string]any{"testData": map[string]any{"myTest": 123}}
			sub(m, "properties")["responsebody"] = []any{1, "a"}
		}, func(t *testing.T, op *event.Op) {
			eq(t, op.RequestBody, `{"testData":{"myTest":123}}`)
			eq(t, op.ResponseBody, `[1,"a"]`)
		}},
		{"status code name", act, func(m map[string]any) { sub(m, "properties")["statusCode"] = "Forbidden" },
			func(t *testing.T, op *event.Op) { eqv(t, op.StatusCode, 403); eqv(t, op.Failed(), true) }},
		{"kv http status", kv, func(m map[string]any) { sub(m, "properties")["httpStatusCode"] = 403 },
			func(t *testing.T, op *event.Op) { eqv(t, op.StatusCode, 403) }},
		{"added access policy", kv, func(m map[string]any) {
			m["operationName"] = "VaultPatch"
			sub(m, "properties")["addedAccessPolicy"] = map[string]any{"TenantId": "t", "ObjectId": "9f2c0e1a-0000-4000-8000-000000000001",
				"Permissions": map[string]any{"keys": []any{}, "secrets": []any{"get", "list"}, "certificates": []any{}}}
			sub(m, "properties")["removedAccessPolicy"] = map[string]any{"ObjectId": "removed"}
		}, func(t *testing.T, op *event.Op) {
			eqv(t, op.AddedAccessPolicy, []string{"9f2c0e1a-0000-4000-8000-000000000001"})
		}},
		{"added access policies array", kv, func(m map[string]any) {
			sub(m, "properties")["addedAccessPolicy"] = []any{map[string]any{"objectId": "a"}, map[string]any{"ObjectId": "b"}, "junk"}
		}, func(t *testing.T, op *event.Op) { eqv(t, op.AddedAccessPolicy, []string{"a", "b"}) }},
		{"time with offset", kv, func(m map[string]any) { m["time"] = "2016-01-05T03:32:01.2691226+02:00" },
			func(t *testing.T, op *event.Op) {
				eqv(t, op.Time, time.Date(2016, 1, 5, 1, 32, 1, 269122600, time.UTC))
			}},
		{"time without fraction or zone", kv, func(m map[string]any) { m["time"] = "2007-01-09T09:41:00" },
			func(t *testing.T, op *event.Op) { eqv(t, op.Time, time.Date(2007, 1, 9, 9, 41, 0, 0, time.UTC)) }},
		{"time with 9 digits", kv, func(m map[string]any) { m["time"] = "2007-01-09T09:41:00.535404056Z" },
			func(t *testing.T, op *event.Op) { eqv(t, op.Time.Nanosecond(), 535404056) }},
		{"kv by identity.claim only", kv, func(m map[string]any) { delete(m, "category"); m["resourceId"] = "/subscriptions/x" },
			func(t *testing.T, op *event.Op) { eqv(t, op.Kind, event.KindKeyVault) }},
		{"kv by vault resource and operation", kv, func(m map[string]any) {
			delete(m, "category")
			delete(m, "identity")
		}, func(t *testing.T, op *event.Op) { eqv(t, op.Kind, event.KindKeyVault) }},
		{"activity on a vault", act, func(m map[string]any) {
			m["operationName"] = "MICROSOFT.KEYVAULT/VAULTS/WRITE"
			m["resourceId"] = "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1"
			m["category"] = "Administrative"
		}, func(t *testing.T, op *event.Op) {
			eqv(t, op.Kind, event.KindActivity)
			eq(t, op.Operation, "microsoft.keyvault/vaults/write")
			eq(t, op.ResourceType, "MICROSOFT.KEYVAULT/VAULTS")
		}},
		{"managed HSM", kv, func(m map[string]any) {
			m["resourceId"] = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/HSM1"
		}, func(t *testing.T, op *event.Op) {
			eq(t, op.ResourceType, "Microsoft.KeyVault/managedHSMs")
			eq(t, op.ResourceName, "HSM1")
		}},
		{"REST caller as UPN", rest, func(m map[string]any) {
			c := sub(m, "claims")
			delete(c, uriUPN)
			delete(c, uriName)
		}, func(t *testing.T, op *event.Op) { eq(t, op.Caller.UPN, "rob@contoso.com") }},
		{"REST httpRequest address", rest, func(m map[string]any) {
			m["httpRequest"] = map[string]any{"clientRequestId": "x", "clientIpAddress": "203.0.113.9", "method": "PUT"}
		}, func(t *testing.T, op *event.Op) { eq(t, op.CallerIPText, "203.0.113.9") }},
		{"REST authorization array", rest, func(m map[string]any) {
			m["authorization"] = []any{map[string]any{"action": "a", "scope": "/subscriptions/z"}}
		}, func(t *testing.T, op *event.Op) { eq(t, op.Target, "/subscriptions/z") }},
		{"keys in other casing", kv, func(m map[string]any) {
			m["OperationName"] = m["operationName"]
			delete(m, "operationName")
			m["CallerIPAddress"] = "198.51.100.7"
			delete(m, "callerIpAddress")
		}, func(t *testing.T, op *event.Op) {
			eq(t, op.Operation, "VaultGet")
			eq(t, op.CallerIPText, "198.51.100.7")
		}},
		{"claim values that are not strings", kv, func(m map[string]any) {
			setClaim(m, map[string]any{"oid": 5, "upn": nil, "appid": []any{"x"}})
		}, func(t *testing.T, op *event.Op) { eqv(t, op.Caller, event.Principal{}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := decodeOne(t, variant(t, tc.base, tc.mod))
			tc.check(t, &op)
		})
	}
}

func TestCallerIP(t *testing.T) {
	tests := []struct {
		text string
		want string // "" = zero Addr
	}{
		{"104.40.82.76", "104.40.82.76"},
		{"<Redacted>", ""},
		{"10.0.0.0/24", ""},
		{"127.0.0.0/8", ""},
		{"", ""},
		{"fe80::1%eth0", ""},
		{"2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"1.2.3.4:5678", "1.2.3.4"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"1.2.3.4 ", ""},
		{"not an address", ""},
	}
	for _, tc := range tests {
		op := decodeOne(t, variant(t, kvBase(t), func(m map[string]any) { m["callerIpAddress"] = tc.text }))
		if op.CallerIPText != tc.text {
			t.Errorf("%q: CallerIPText %q", tc.text, op.CallerIPText)
		}
		var want netip.Addr
		if tc.want != "" {
			want = netip.MustParseAddr(tc.want)
		}
		if op.CallerIP != want {
			t.Errorf("%q: CallerIP %v, want %v", tc.text, op.CallerIP, want)
		}
	}

	// No callerIpAddress at all: the ipaddr claim is used.
	op := decodeOne(t, variant(t, kvBase(t), func(m map[string]any) {
		delete(m, "callerIpAddress")
		sub(m, "identity", "claim")["ipaddr"] = "192.0.2.1"
	}))
	if op.CallerIP != netip.MustParseAddr("192.0.2.1") || op.CallerIPText != "192.0.2.1" {
		t.Errorf("ipaddr fallback: %v %q", op.CallerIP, op.CallerIPText)
	}
}

func eq(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func eqv(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
