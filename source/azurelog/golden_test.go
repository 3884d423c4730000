package azurelog

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenOp is the reviewable JSON form of an event.Op in golden files.
type goldenOp struct {
	Kind              string   `json:"kind"`
	Time              string   `json:"time"`
	TenantID          string   `json:"tenantId,omitempty"`
	SubscriptionID    string   `json:"subscriptionId,omitempty"`
	ResourceGroup     string   `json:"resourceGroup,omitempty"`
	ResourceID        string   `json:"resourceId,omitempty"`
	ResourceType      string   `json:"resourceType,omitempty"`
	ResourceName      string   `json:"resourceName,omitempty"`
	Operation         string   `json:"operation"`
	Category          string   `json:"category,omitempty"`
	Result            string   `json:"result,omitempty"`
	ResultSignature   string   `json:"resultSignature,omitempty"`
	StatusCode        int      `json:"statusCode,omitempty"`
	DurationMs        int64    `json:"durationMs"`
	CallerObjectID    string   `json:"callerObjectId,omitempty"`
	CallerUPN         string   `json:"callerUpn,omitempty"`
	CallerAppID       string   `json:"callerAppId,omitempty"`
	CallerTenantID    string   `json:"callerTenantId,omitempty"`
	CallerName        string   `json:"callerName,omitempty"`
	CallerType        string   `json:"callerType"`
	CallerIP          string   `json:"callerIp,omitempty"`
	CallerIPText      string   `json:"callerIpText,omitempty"`
	ClientInfo        string   `json:"clientInfo,omitempty"`
	CorrelationID     string   `json:"correlationId,omitempty"`
	Target            string   `json:"target,omitempty"`
	RequestBody       string   `json:"requestBody,omitempty"`
	ResponseBody      string   `json:"responseBody,omitempty"`
	AddedAccessPolicy []string `json:"addedAccessPolicy,omitempty"`
	RawBytes          int      `json:"rawBytes"`
	File              string   `json:"file"`
	Line              int      `json:"line"`
	Index             int      `json:"index"`
}

func toGolden(op *event.Op) goldenOp {
	g := goldenOp{
		Kind: op.Kind.String(), Time: op.Time.Format(time.RFC3339Nano),
		TenantID: op.TenantID, SubscriptionID: op.SubscriptionID, ResourceGroup: op.ResourceGroup,
		ResourceID: op.ResourceID, ResourceType: op.ResourceType, ResourceName: op.ResourceName,
		Operation: op.Operation, Category: op.Category, Result: op.Result,
		ResultSignature: op.ResultSignature, StatusCode: op.StatusCode, DurationMs: op.DurationMs,
		CallerObjectID: op.Caller.ObjectID, CallerUPN: op.Caller.UPN, CallerAppID: op.Caller.AppID,
		CallerTenantID: op.Caller.TenantID, CallerName: op.Caller.Name, CallerType: op.Caller.Type.String(),
		CallerIPText: op.CallerIPText, ClientInfo: op.ClientInfo, CorrelationID: op.CorrelationID,
		Target: op.Target, RequestBody: op.RequestBody, ResponseBody: op.ResponseBody,
		RawBytes: len(op.Raw), File: op.Pos.File, Line: op.Pos.Line, Index: op.Pos.Index,
	}
	if op.CallerIP.IsValid() {
		g.CallerIP = op.CallerIP.String()
	}
	if len(op.AddedAccessPolicy) > 0 {
		g.AddedAccessPolicy = append([]string(nil), op.AddedAccessPolicy...)
	}
	return g
}

// goldenResult is what one input decodes to.
type goldenResult struct {
	Ops    []goldenOp `json:"ops"`
	Errors []string   `json:"errors,omitempty"`
	Stats  Stats      `json:"stats"`
	Err    string     `json:"err,omitempty"`
}

func decodeAll(t *testing.T, name string, data []byte) goldenResult {
	t.Helper()
	var res goldenResult
	r, err := NewReader(bytes.NewReader(data), name, Options{OnError: func(e *RecordError) {
		res.Errors = append(res.Errors, e.Error())
	}})
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	var op event.Op
	for {
		err := r.Next(&op)
		if err != nil {
			if err.Error() != "EOF" {
				res.Err = err.Error()
			}
			break
		}
		if !json.Valid(op.Raw) {
			t.Errorf("%s record %d: Raw is not JSON: %.80q", name, op.Pos.Index, op.Raw)
		}
		res.Ops = append(res.Ops, toGolden(&op))
	}
	res.Stats = r.Stats()
	return res
}

func checkGolden(t *testing.T, path string, got any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, b) {
		t.Errorf("%s differs from the output (run go test -update and review the diff):\n%s", path, b)
	}
}

// TestSamplesGolden decodes every real sample and compares with the golden
// files, then checks the fields that matter by hand so that a wrong golden
// file cannot pass unnoticed.
func TestSamplesGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/samples/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("samples: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res := decodeAll(t, filepath.Base(f), data)
			if len(res.Ops) != 1 || res.Err != "" || len(res.Errors) != 0 {
				t.Fatalf("want 1 record and no error, got %+v", res)
			}
			if res.Stats.Bytes != int64(len(data)) {
				t.Errorf("Bytes = %d, want %d", res.Stats.Bytes, len(data))
			}
			checkGolden(t, filepath.Join("testdata/golden", strings.TrimSuffix(filepath.Base(f), ".json")+".golden.json"), res)
		})
	}
}

func TestSampleFields(t *testing.T) {
	read := func(name string) goldenOp {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata/samples", name))
		if err != nil {
			t.Fatal(err)
		}
		res := decodeAll(t, name, data)
		if len(res.Ops) != 1 {
			t.Fatalf("%s: %d ops", name, len(res.Ops))
		}
		return res.Ops[0]
	}
	kv := read("keyvault-logging.md.auditevent-sample.json")
	want := goldenOp{
		Kind: "keyvault", Time: "2016-01-05T01:32:01.2691226Z",
		SubscriptionID: "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e", ResourceGroup: "CONTOSOGROUP",
		ResourceID:   "/SUBSCRIPTIONS/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/RESOURCEGROUPS/CONTOSOGROUP/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/CONTOSOKEYVAULT",
		ResourceType: "Microsoft.KeyVault/vaults", ResourceName: "CONTOSOKEYVAULT",
		Operation: "VaultGet", Category: "AuditEvent", Result: "Success", ResultSignature: "OK",
		StatusCode: 200, DurationMs: 78,
		CallerObjectID: "d9da5048-2737-4770-bd64-XXXXXXXXXXXX", CallerUPN: "live.com#username@outlook.com",
		CallerAppID: "00001111-aaaa-2222-bbbb-3333cccc4444", CallerType: "user",
		CallerIP: "104.40.82.76", CallerIPText: "104.40.82.76", ClientInfo: "azure-resource-manager/2.0",
		Target: "https://contosokeyvault.vault.azure.net/", RawBytes: kv.RawBytes,
		File: "keyvault-logging.md.auditevent-sample.json", Line: 4, Index: 0,
	}
	if kv.RawBytes < 1000 || !equalGolden(kv, want) {
		t.Errorf("Key Vault sample:\n got %+v\nwant %+v", kv, want)
	}

	eh := read("activity-log-schema.md.eventhub-storage-records-sample.json")
	if eh.Kind != "activity" || eh.Operation != "microsoft.support/supporttickets/write" ||
		eh.SubscriptionID != "s1" || eh.ResourceGroup != "MSSupportGroup" ||
		eh.ResourceType != "microsoft.support/supporttickets" || eh.ResourceName != "123456112305841" ||
		eh.DurationMs != 2826 || eh.CallerUPN != "admin@contoso.com" || eh.CallerType != "user" ||
		eh.CallerObjectID != "123abc45-8211-44e3-95xq-85137af64708" || eh.CallerName != "John Smith" ||
		eh.TenantID != "ffffffff-eeee-dddd-cccc-bbbbbbbbbbb0" || eh.CallerIP != "111.111.111.11" ||
		eh.StatusCode != 201 || eh.Result != "Success" || eh.ResultSignature != "Succeeded.Created" ||
		!strings.HasSuffix(eh.Target, "storageAccounts/       msftstorageaccount") || eh.Line != 3 {
		t.Errorf("Event Hubs sample: %+v", eh)
	}

	rest := read("activity-log-schema.md.administrative-sample.json")
	if rest.Kind != "activity" || rest.Time != "2018-01-29T20:42:31.3810679Z" ||
		rest.Operation != "microsoft.network/networksecuritygroups/write" ||
		rest.Category != "Administrative" || rest.Result != "Succeeded" ||
		rest.ResourceType != "Microsoft.Network/networkSecurityGroups" || rest.ResourceName != "myNSG" ||
		rest.ResourceGroup != "myResourceGroup" || rest.SubscriptionID != "<subscription id>" ||
		rest.CallerUPN != "rob@contoso.com" || rest.CallerObjectID != "f409edeb-4d29-44b5-9763-ee9348ad91bb" ||
		rest.CallerAppID != "00001111-aaaa-2222-bbbb-3333cccc4444" || rest.CallerName != "Rob Robertson" ||
		rest.CallerTenantID != "aaaabbbb-0000-cccc-1111-dddd2222eeee" || rest.CallerIP != "111.111.1.111" ||
		rest.StatusCode != 201 || rest.CorrelationID != "aaaa0000-bb11-2222-33cc-444444dddddd" ||
		!strings.HasSuffix(rest.Target, "networkSecurityGroups/myNSG") || rest.Line != 1 {
		t.Errorf("REST sample: %+v", rest)
	}
}

func equalGolden(a, b goldenOp) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
