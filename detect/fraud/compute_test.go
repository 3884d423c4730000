package fraud

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/azurelog"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

var (
	t0       = time.Date(2026, 8, 3, 9, 0, 0, 0, time.UTC) // a Monday
	sub      = "a921d5d4-bdb7-43c3-aa01-88c6ae24992f"
	rg       = "/subscriptions/" + sub + "/resourceGroups/prod/providers/"
	pipeline = event.Principal{ObjectID: "d9da5048-2737-4770-bd64-0d1f6a2b3c4e", AppID: "7a1c3e5f-0b2d-4f6a-8c9e-1d3f5a7b9c0e",
		TenantID: "aaaabbbb-0000-cccc-1111-dddd2222eeee", Type: event.PrincipalApp}
)

func at(days int, h time.Duration) time.Time { return t0.Add(time.Duration(days)*24*time.Hour + h) }

// write is a succeeded compute write whose response body is body.
func write(t time.Time, resource, operation, body string, status int) event.Op {
	op := dt.Activity(t, resource, operation, dt.Caller(pipeline), dt.From("203.0.113.90", event.Geo{}),
		dt.Correlation(fmt.Sprintf("c-%d", t.UnixNano())))
	op.Result = "Success"
	op.StatusCode = status
	op.ResponseBody = body
	return op
}

func vm(t time.Time, name, size, region string) event.Op {
	return write(t, rg+"Microsoft.Compute/virtualMachines/"+name, "microsoft.compute/virtualmachines/write",
		`{"location":"`+region+`","properties":{"hardwareProfile":{"vmSize":"`+size+`"}}}`, 201)
}

func vmss(t time.Time, name, size, region string, capacity int) event.Op {
	return write(t, rg+"Microsoft.Compute/virtualMachineScaleSets/"+name, "microsoft.compute/virtualmachinescalesets/write",
		fmt.Sprintf(`{"location":%q,"sku":{"name":%q,"tier":"Standard","capacity":%d}}`, region, size, capacity), 200)
}

func mlCompute(t time.Time, name, size string, nodes int) event.Op {
	return write(t, rg+"Microsoft.MachineLearningServices/workspaces/ws/computes/"+name, "microsoft.machinelearningservices/workspaces/computes/write",
		fmt.Sprintf(`{"location":"westeurope","properties":{"computeType":"AmlCompute","properties":{"vmSize":%q,"scaleSettings":{"maxNodeCount":%d,"minNodeCount":0}}}}`, size, nodes), 201)
}

func batchPool(t time.Time, name, size string, nodes int) event.Op {
	return write(t, rg+"Microsoft.Batch/batchAccounts/jobs/pools/"+name, "microsoft.batch/batchaccounts/pools/write",
		fmt.Sprintf(`{"properties":{"vmSize":%q,"scaleSettings":{"fixedScale":{"targetDedicatedNodes":%d}}}}`, size, nodes), 201)
}

func containers(t time.Time, name string, cpu float64) event.Op {
	return write(t, rg+"Microsoft.ContainerInstance/containerGroups/"+name, "microsoft.containerinstance/containergroups/write",
		fmt.Sprintf(`{"location":"westeurope","properties":{"containers":[{"name":"c","properties":{"image":"x","resources":{"requests":{"cpu":%g,"memoryInGB":4}}}}],"osType":"Linux"}}`, cpu), 201)
}

// usual is two Standard_D4s_v3 VMs created every weekday in westeurope
// for three weeks (8 vCPUs a day).
func usual() []event.Op {
	var ops []event.Op
	for d := range 21 {
		if d%7 >= 5 {
			continue
		}
		for i := range 2 {
			ops = append(ops, vm(at(d, time.Duration(i)*time.Hour), fmt.Sprintf("app-%d-%d", d, i), "Standard_D4s_v3", "westeurope"))
		}
	}
	return ops
}

// gpuFleet is n Standard_NC24s_v3 VMs spread over regions within 40 minutes.
func gpuFleet(t time.Time, n int, regions ...string) []event.Op {
	var ops []event.Op
	for i := range n {
		ops = append(ops, vm(t.Add(time.Duration(i)*40*time.Minute/time.Duration(n)), fmt.Sprintf("gpu-%d", i), "Standard_NC24s_v3", regions[i%len(regions)]))
	}
	return ops
}

func cat(parts ...[]event.Op) []event.Op {
	var out []event.Op
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func run(t *testing.T, cfg Config, ops []event.Op) []alert.Candidate {
	t.Helper()
	slices.SortStableFunc(ops, func(a, b event.Op) int { return a.Time.Compare(b.Time) })
	dt.Number("activity.json", ops)
	d := Detectors(cfg)[0]
	got := dt.Run(d, 5*time.Minute, ops)
	for _, c := range got {
		dt.CheckCandidate(t, c, cfg.MaxEvidence)
		e, ok := alert.Lookup(c.Type)
		if !ok {
			t.Fatalf("%s is not in the catalogue", c.Type)
		}
		m := map[string]string{"count": fmt.Sprint(c.Count), "first": c.First.Format(time.RFC3339), "last": c.Last.Format(time.RFC3339)}
		for k, v := range c.Details {
			m[k] = v
		}
		for _, lang := range alert.Languages {
			if _, err := e.Describe(lang, m); err != nil {
				t.Error(err)
			}
		}
	}
	again, err := dt.RunReload(Detectors(cfg)[0], 5*time.Minute, ops, len(ops)/2)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(got) {
		t.Errorf("after a reload halfway: %d candidates, want %d", len(again), len(got))
	}
	return got
}

func types(cs []alert.Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Type)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

var _ detect.Detector = (*compute)(nil)

func TestCompute(t *testing.T) {
	var quarterly, launch, updates []event.Op
	for i := range 6 {
		quarterly = append(quarterly, vm(at(22, time.Duration(i)*10*time.Minute), fmt.Sprintf("q-%d", i), "Standard_D4s_v3", "westeurope"))
	}
	for i := range 4 {
		launch = append(launch, vm(at(22, time.Duration(i)*10*time.Minute), fmt.Sprintf("l-%d", i), "Standard_D4s_v3", "japaneast"))
	}
	for i := range 30 { // the same VMs written again (tags, extensions): nothing deployed
		o := vm(at(22, time.Duration(i)*time.Minute), "app-1-0", "Standard_D4s_v3", "westeurope")
		o.StatusCode = 200
		updates = append(updates, o)
	}
	var aci []event.Op
	for i := range 6 {
		aci = append(aci, containers(at(22, time.Duration(i)*time.Minute), fmt.Sprintf("miner-%d", i), 4))
	}
	tests := []struct {
		name string
		ops  []event.Op
		want []string
	}{
		{"a GPU fleet in three new regions", cat(usual(), gpuFleet(at(22, 2*time.Hour), 20, "brazilsouth", "japaneast", "australiaeast")),
			[]string{TypeResourceConsumed, TypeSuspiciousCompute, TypeVMDeployment}},
		{"the same fleet in one known region", cat(usual(), gpuFleet(at(22, 2*time.Hour), 20, "westeurope")),
			[]string{TypeResourceConsumed, TypeVMDeployment}},
		{"a quarterly scale-up: three times a busy day", cat(usual(), quarterly), nil},
		{"a new region launch", cat(usual(), launch), nil},
		{"VMs updated, not created", cat(usual(), updates), nil},
		{"a scale set scaled out from 2 to 60 GPU instances", cat(usual(), []event.Op{
			vmss(at(10, 0), "render", "Standard_NC6", "westeurope", 2), vmss(at(22, 0), "render", "Standard_NC6", "westeurope", 60)}),
			[]string{TypeResourceConsumed, TypeVMDeployment}},
		{"the scale set written again at the same size", cat(usual(), []event.Op{
			vmss(at(10, 0), "render", "Standard_NC6", "westeurope", 2), vmss(at(22, 0), "render", "Standard_NC6", "westeurope", 2)}), nil},
		{"in the learning week: only the burst", gpuFleet(at(1, 0), 20, "brazilsouth", "japaneast", "australiaeast"), []string{TypeSuspiciousCompute}},
		{"first Machine Learning cluster: 4 GPU nodes", cat(usual(), []event.Op{mlCompute(at(22, 0), "gpu-cluster", "STANDARD_NC6", 4)}), []string{TypeMLDeployment}},
		{"a data scientist's compute instance", cat(usual(), []event.Op{mlCompute(at(22, 0), "dev", "STANDARD_DS3_V2", 1)}), nil},
		{"the usual Machine Learning cluster", cat(usual(), []event.Op{mlCompute(at(3, 0), "c1", "STANDARD_NC6", 4), mlCompute(at(22, 0), "c2", "STANDARD_NC6", 4)}), nil},
		{"a Batch pool of 40 16-core nodes", cat(usual(), []event.Op{batchPool(at(22, 0), "p", "standard_d16s_v3", 40)}), []string{TypeBatchDeployment}},
		{"a small Batch pool", cat(usual(), []event.Op{batchPool(at(22, 0), "p", "standard_d2s_v3", 4)}), nil},
		{"24 vCPUs of containers", cat(usual(), aci), []string{TypeContainerDeployed}},
		{"six GPU VMs in one region, no history", gpuFleet(at(1, 0), 6, "westeurope"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, DefaultConfig(), slices.Clone(tc.ops))
			if g := types(got); !slices.Equal(g, tc.want) {
				t.Fatalf("candidates %v, want %v", g, tc.want)
			}
		})
	}
}

func TestComputeCandidate(t *testing.T) {
	got := run(t, DefaultConfig(), cat(usual(), gpuFleet(at(22, 2*time.Hour), 20, "brazilsouth", "japaneast", "australiaeast")))
	var rc []alert.Candidate
	for _, c := range got {
		if c.Type == TypeResourceConsumed {
			rc = append(rc, c)
		}
	}
	if len(rc) != 2 {
		t.Fatalf("%d ARM_AnomalousResourceConsumption candidates, want the crossing and the day's summary", len(rc))
	}
	// The first NC24s_v3 (24 vCPUs, GPU x3) in a new region (x2): 144 >= 4 x 8.
	dt.WantDetails(t, rc[0], map[string]string{"units": "1", "vcpus": "24", "score": "144", "gpuUnits": "1", "usualScore": "8",
		"usualUnits": "2", "medianScore": "4", "activeDays": "15", "historyDays": "30", "regions": "brazilsouth",
		"newRegions": "brazilsouth", "sizes": "Standard_NC24s_v3", "subscription": sub, "day": "2026-08-25", "ratio": "4",
		"service": "virtual machines"})
	dt.WantDetails(t, rc[1], map[string]string{"units": "20", "vcpus": "480", "score": "2880",
		"regions": "brazilsouth, japaneast, australiaeast"})
	if rc[1].Count != 19 || !slices.Equal(rc[0].FingerprintKeys, rc[1].FingerprintKeys) {
		t.Errorf("summary count %d, fingerprints %v %v", rc[1].Count, rc[0].FingerprintKeys, rc[1].FingerprintKeys)
	}
}

func TestComputeFromRecords(t *testing.T) {
	f, err := os.Open("testdata/vm-create.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := azurelog.NewReader(f, "vm-create.json", azurelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ops []event.Op
	for {
		var op event.Op
		if err := rd.Next(&op); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	if len(ops) != 2 || ops[1].StatusCode != 201 {
		t.Fatalf("decoded %+v", ops)
	}
	cfg := DefaultConfig()
	cfg.Learning = 0
	cfg.VM.MinVMs, cfg.VM.MinScore, cfg.VM.Ratio = 1, 1, 1
	got := run(t, cfg, ops)
	if g := types(got); !slices.Equal(g, []string{TypeResourceConsumed, TypeVMDeployment}) {
		t.Fatalf("candidates %v", g)
	}
	// One VM: the Start record is not counted, the Succeeded one is.
	dt.WantDetails(t, got[0], map[string]string{"units": "1", "vcpus": "24", "sizes": "Standard_NC24s_v3", "regions": "brazilsouth",
		"caller": "app 7a1c3e5f-0b2d-4f6a-8c9e-1d3f5a7b9c0e"})
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		name string
		want Size
		ok   bool
	}{
		{"Standard_D4s_v3", Size{4, false}, true},
		{"Standard_NC24ads_A100_v4", Size{24, true}, true},
		{"STANDARD_NC6", Size{6, true}, true},
		{"standard_d16s_v3", Size{16, false}, true},
		{"Standard_E64-16s_v5", Size{64, false}, true},
		{"Standard_M416ms_v2", Size{416, false}, true},
		{"Standard_ND96asr_v4", Size{96, true}, true},
		{"Basic_A0", Size{1, false}, true},
		{"Standard_B1ls", Size{1, false}, true},
		{"D4s_v3", Size{}, false},
		{"Standard_", Size{}, false},
		{"Standard_DS", Size{}, false},
		{"", Size{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseSize(tt.name)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParseDeployment: any body is a deployment or a refusal, never a panic.
func FuzzParseDeployment(f *testing.F) {
	f.Add(uint8(0), `{"location":"westeurope","properties":{"hardwareProfile":{"vmSize":"Standard_D4s_v3"}}}`)
	f.Add(uint8(0), `{"sku":{"name":"Standard_NC6","capacity":3}}`)
	f.Add(uint8(1), `{"properties":{"computeType":"AmlCompute","properties":{"vmSize":"STANDARD_NC6","scaleSettings":{"maxNodeCount":4}}}}`)
	f.Add(uint8(2), `{"properties":{"vmSize":"standard_d2s_v3","scaleSettings":{"fixedScale":{"targetDedicatedNodes":2}}}}`)
	f.Add(uint8(3), `{"properties":{"containers":[{"properties":{"resources":{"requests":{"cpu":1.5,"gpu":{"count":1}}}}}]}}`)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, svc uint8, body string) {
		d, ok := ParseDeployment(Service(svc%uint8(numServices)), body)
		if ok && (d.Units < 0 || d.Cores <= 0 || strings.ContainsAny(d.Region, " ")) {
			t.Fatalf("ParseDeployment = %+v", d)
		}
	})
}
