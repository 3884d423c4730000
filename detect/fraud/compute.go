package fraud

import (
	"errors"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// Service is a compute service whose deployments are counted.
type Service uint8

// Services, in the order of a day's counters.
const (
	ServiceVM    Service = iota // virtual machines and scale sets
	ServiceML                   // Azure Machine Learning compute
	ServiceBatch                // Azure Batch pools
	ServiceACI                  // Azure Container Instances
	numServices
)

// operations are the Activity Log writes that deploy compute.
var operations = map[string]Service{
	"microsoft.compute/virtualmachines/write":                     ServiceVM,
	"microsoft.compute/virtualmachinescalesets/write":             ServiceVM,
	"microsoft.machinelearningservices/workspaces/computes/write": ServiceML,
	"microsoft.batch/batchaccounts/pools/write":                   ServiceBatch,
	"microsoft.containerinstance/containergroups/write":           ServiceACI,
}

var serviceNames = [numServices]string{"virtual machines", "Azure Machine Learning compute", "Azure Batch pools", "Azure Container Instances"}

// Bounds of one subscription's state.
const (
	maxRegions    = 64
	maxDayRegions = 16
	maxSizes      = 4096
	maxListed     = 8
)

// compute is the fraud detector keyed by subscription.
type compute struct {
	cfg Config
}

func newCompute(cfg Config) *compute {
	cfg.MaxEvidence = max(cfg.MaxEvidence, 1)
	cfg.HistoryDays = min(max(cfg.HistoryDays, 2), maxHistoryDays)
	return &compute{cfg: cfg}
}

func (d *compute) enabled() bool {
	c := &d.cfg
	return c.VM.Enabled || c.MachineLearning.Enabled || c.Batch.Enabled || c.ContainerInstances.Enabled || c.SuspiciousCompute.Enabled
}

func (d *compute) Name() string                    { return NameCompute }
func (d *compute) Consumes(k event.Kind) bool      { return k == event.KindActivity }
func (d *compute) NewShard() detect.Shard          { return azops.NewShard[sState](d) }
func (d *compute) Pending(s *sState) *azops.Buffer { return &s.Pending }

// PartitionKey takes the final, successful record of a compute write that
// carries a body (what was deployed cannot be weighed without one).
func (d *compute) PartitionKey(op *event.Op) (string, bool) {
	if op.RequestBody == "" && op.ResponseBody == "" {
		return "", false
	}
	if _, ok := operations[op.Operation]; !ok || op.Failed() || !(strings.EqualFold(op.Result, "Success") || strings.EqualFold(op.Result, "Succeeded")) {
		return "", false
	}
	sub := op.SubscriptionID
	if sub == "" {
		sub = azops.SubscriptionOf(op.ResourceID)
	}
	return sub, sub != ""
}

// sState is one subscription's compute history.
type sState struct {
	Pending azops.Buffer `json:"pending"`
	First   time.Time    `json:"first"`
	Last    time.Time    `json:"last"`
	// Regions are the regions the subscription deployed compute in.
	Regions []string `json:"regions,omitempty"`
	// Days are the daily totals, oldest first, today last.
	Days []*dayStat `json:"days,omitempty"`
	// Sizes is what each resource deployed last (to count a scale-out, and
	// not an update that changes nothing).
	Sizes map[string]size `json:"sizes,omitempty"`
	Burst *burst          `json:"burst,omitempty"`
}

type size struct {
	Units float64 `json:"u"`
	Cores float64 `json:"c"`
	Day   int64   `json:"d"`
}

// dayStat is one day's deployments per service.
type dayStat struct {
	Day int64                `json:"day"`
	Svc [numServices]*svcDay `json:"svc"`
}

type svcDay struct {
	Units      float64  `json:"units,omitempty"`
	Cores      float64  `json:"cores,omitempty"`
	Score      float64  `json:"score,omitempty"`
	GPUUnits   float64  `json:"gpu,omitempty"`
	Sizes      []string `json:"sizes,omitempty"`
	Regions    []string `json:"regions,omitempty"`
	NewRegions []string `json:"newRegions,omitempty"`
	// Acc holds the evidence of each of the service's alert types (i:
	// alertTypes[svc][i]): the day's records until the alert is raised, then
	// those for its summary.
	Acc [2]azops.Acc `json:"acc"`
	// Emitted records the alert types raised today (bit i: alertTypes[i]).
	Emitted uint8 `json:"emitted,omitempty"`
}

// burst is an open window of expensive deployments.
type burst struct {
	Start   time.Time `json:"start"`
	Units   float64   `json:"units"`
	Regions []string  `json:"regions,omitempty"`
	Sizes   []string  `json:"sizes,omitempty"`
	Acc     azops.Acc `json:"acc"`
	Emitted bool      `json:"emitted,omitempty"`
}

func (d *compute) Check(s *sState) error {
	if len(s.Regions) > maxRegions || len(s.Days) > maxHistoryDays+1 || len(s.Sizes) > maxSizes {
		return errors.New("state out of bounds")
	}
	for _, ds := range s.Days {
		if ds == nil {
			return errors.New("empty day")
		}
		for _, sv := range ds.Svc {
			if sv == nil {
				continue
			}
			if len(sv.Regions) > maxDayRegions || len(sv.NewRegions) > maxDayRegions || len(sv.Sizes) > maxListed {
				return errors.New("bad day")
			}
			for i := range sv.Acc {
				if err := sv.Acc[i].Check(); err != nil {
					return err
				}
			}
		}
	}
	if b := s.Burst; b != nil {
		if len(b.Regions) > maxDayRegions || len(b.Sizes) > maxListed {
			return errors.New("bad burst")
		}
		return b.Acc.Check()
	}
	return nil
}

func dayOf(t time.Time) int64 {
	s := t.Unix()
	dd := s / 86400
	if s%86400 < 0 {
		dd--
	}
	return dd
}

func (d *compute) Release(key string, s *sState, r *azops.Rec, emit detect.Emitter) {
	svc := operations[r.Operation]
	dep, ok := ParseDeployment(svc, r.Body)
	if !ok {
		return // what was deployed is unknown: nothing to weigh
	}
	if s.First.IsZero() || r.Time.Before(s.First) {
		s.First = r.Time
	}
	if r.Time.After(s.Last) {
		s.Last = r.Time
	}
	today := dayOf(r.Time)
	d.roll(key, s, today, emit)
	// Count what this write adds: a new resource all of it, a scale-out
	// the difference, an update of the same size nothing.
	res := strings.ToLower(r.ResourceID)
	prev := s.Sizes[res]
	if r.StatusCode == 201 {
		prev = size{}
	}
	units, cores := float64(dep.Units), float64(dep.Units)*dep.Cores
	addUnits, addCores := max(0, units-prev.Units), max(0, cores-prev.Cores)
	d.remember(s, res, size{Units: units, Cores: cores, Day: today})
	if addUnits == 0 && addCores == 0 {
		return
	}
	// A region is new on its first day after the learning period (and
	// weighs more all that day); then it is known.
	newRegion := dep.Region != "" && !slices.Contains(s.Regions, dep.Region)
	if newRegion && r.Time.Before(s.First.Add(d.cfg.Learning)) {
		addList(&s.Regions, dep.Region, maxRegions)
		newRegion = false
	}
	w := 1.0
	if dep.GPU {
		w *= d.cfg.GPUWeight
	}
	expensive := dep.GPU || dep.Cores >= float64(d.cfg.HighCoreMin)
	if dep.Cores >= float64(d.cfg.HighCoreMin) {
		w *= d.cfg.HighCoreWeight
	}
	day := s.Days[len(s.Days)-1]
	sv := day.Svc[svc]
	if sv == nil {
		sv = &svcDay{}
		day.Svc[svc] = sv
	}
	if newRegion {
		w *= d.cfg.NewRegionWeight
		addList(&sv.NewRegions, dep.Region, maxDayRegions)
	}
	sv.Units += addUnits
	sv.Cores += addCores
	sv.Score += addCores * w
	if dep.GPU {
		sv.GPUUnits += addUnits
	}
	addList(&sv.Regions, dep.Region, maxDayRegions)
	addList(&sv.Sizes, dep.Size, maxListed)
	for i := range alertTypes[svc] {
		sv.Acc[i].Add(r, d.cfg.MaxEvidence)
	}
	d.judge(key, s, svc, r.Time, emit)
	if d.cfg.SuspiciousCompute.Enabled && expensive {
		d.burst(key, s, r, dep, addUnits, emit)
	}
}

func addList(list *[]string, v string, limit int) {
	if v != "" && len(*list) < limit && !slices.Contains(*list, v) {
		*list = append(*list, v)
	}
}

// remember keeps a resource's size. When the table is full, the sizes last
// written before the history are forgotten, and if that frees too little,
// a quarter of the rest (in map order): amortised O(1) per write.
func (d *compute) remember(s *sState, res string, z size) {
	if s.Sizes == nil {
		s.Sizes = map[string]size{}
	}
	if _, ok := s.Sizes[res]; !ok && len(s.Sizes) >= maxSizes {
		for k, v := range s.Sizes {
			if v.Day < z.Day-int64(d.cfg.HistoryDays) {
				delete(s.Sizes, k)
			}
		}
		for k := range s.Sizes {
			if len(s.Sizes) < maxSizes*3/4 {
				break
			}
			delete(s.Sizes, k)
		}
	}
	s.Sizes[res] = z
}

// roll makes today the last day, closing the days before it (their
// summaries leave) and dropping those beyond the history.
func (d *compute) roll(key string, s *sState, today int64, emit detect.Emitter) {
	if n := len(s.Days); n > 0 && s.Days[n-1].Day >= today {
		return
	}
	if n := len(s.Days); n > 0 {
		d.closeDay(key, s, s.Days[n-1], emit)
	}
	s.Days = append(s.Days, &dayStat{Day: today})
	cut := 0
	for cut < len(s.Days) && s.Days[cut].Day < today-int64(d.cfg.HistoryDays) {
		cut++
	}
	s.Days = slices.Delete(s.Days, 0, cut)
	// New regions of closed days are known now.
	for _, ds := range s.Days[:len(s.Days)-1] {
		for _, sv := range ds.Svc {
			if sv != nil {
				for _, rg := range sv.NewRegions {
					addList(&s.Regions, rg, maxRegions)
				}
			}
		}
	}
}

// closeDay emits the summaries of the day's alerts and drops its evidence.
func (d *compute) closeDay(key string, s *sState, ds *dayStat, emit detect.Emitter) {
	for k, sv := range ds.Svc {
		if sv == nil {
			continue
		}
		for i, typ := range alertTypes[k] {
			if sv.Emitted&(1<<i) != 0 && sv.Acc[i].Count > 0 {
				emit.Emit(d.candidate(key, s, Service(k), i, typ, ds, sv))
			}
		}
		sv.Acc = [2]azops.Acc{}
	}
}

// alertTypes are the trend alerts of each service.
var alertTypes = [numServices][]string{
	ServiceVM:    {TypeVMDeployment, TypeResourceConsumed},
	ServiceML:    {TypeMLDeployment},
	ServiceBatch: {TypeBatchDeployment},
	ServiceACI:   {TypeContainerDeployed},
}

// history is the service's daily units and scores before today.
func (s *sState) history(svc Service) (units, scores []float64) {
	for _, ds := range s.Days[:len(s.Days)-1] {
		if sv := ds.Svc[svc]; sv != nil {
			units, scores = append(units, sv.Units), append(scores, sv.Score)
		}
	}
	return units, scores
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// judge raises the service's trend alerts when today crosses them.
func (d *compute) judge(key string, s *sState, svc Service, now time.Time, emit detect.Emitter) {
	if now.Before(s.First.Add(d.cfg.Learning)) {
		return
	}
	ds := s.Days[len(s.Days)-1]
	sv := ds.Svc[svc]
	units, scores := s.history(svc)
	for i, typ := range alertTypes[svc] {
		if sv.Emitted&(1<<i) != 0 {
			continue
		}
		var fire bool
		switch typ {
		case TypeVMDeployment:
			fire = d.cfg.VM.Enabled && sv.Units >= float64(d.cfg.VM.MinVMs) && sv.Units >= d.cfg.VM.Ratio*max(maxOf(units), 1)
		case TypeResourceConsumed:
			fire = d.cfg.VM.Enabled && sv.Score >= d.cfg.VM.MinScore && sv.Score >= d.cfg.VM.Ratio*max(maxOf(scores), 1)
		default:
			c := d.service(svc)
			fire = c.Enabled && sv.Score >= c.MinCores && (len(scores) == 0 || sv.Score >= c.Ratio*max(maxOf(scores), 1))
		}
		if fire {
			emit.Emit(d.candidate(key, s, svc, i, typ, ds, sv))
			sv.Emitted |= 1 << i
			sv.Acc[i].Reset() // what follows today is the day's summary
		}
	}
}

func (d *compute) service(svc Service) ServiceAnomaly {
	switch svc {
	case ServiceML:
		return d.cfg.MachineLearning
	case ServiceBatch:
		return d.cfg.Batch
	default:
		return d.cfg.ContainerInstances
	}
}

// median of v padded with zeros to n days.
func median(v []float64, n int) float64 {
	all := make([]float64, max(n, len(v)))
	copy(all, v)
	sort.Float64s(all)
	m := len(all) / 2
	if len(all)%2 == 1 {
		return all[m]
	}
	return (all[m-1] + all[m]) / 2
}

func num(f float64) string {
	if f == math.Trunc(f) {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}

// candidate describes the day so far against the history.
func (d *compute) candidate(key string, s *sState, svc Service, i int, typ string, ds *dayStat, sv *svcDay) alert.Candidate {
	acc := &sv.Acc[i]
	c := acc.Candidate(typ, "related")
	r := &acc.Recs[0]
	c.Resource = "/subscriptions/" + key
	c.SubscriptionID = key
	c.Entities = append(c.Entities, alert.Entity{Type: alert.EntityAzureResource, Role: "compromised", ResourceID: c.Resource})
	for i := range acc.Recs {
		if id := acc.Recs[i].ResourceID; i < 5 && id != "" {
			c.Entities = append(c.Entities, alert.Entity{Type: alert.EntityAzureResource, Role: "related", ResourceID: id})
		}
	}
	day := time.Unix(ds.Day*86400, 0).UTC()
	c.FingerprintKeys = []string{key, day.Format(time.DateOnly), typ}
	units, scores := s.history(svc)
	det := c.Details
	det["subscription"] = key
	det["objectId"], det["appId"] = r.Caller.ObjectID, r.Caller.AppID
	det["service"] = serviceNames[svc]
	det["day"] = day.Format(time.DateOnly)
	det["units"] = num(sv.Units)
	det["vcpus"] = num(sv.Cores)
	det["gpuUnits"] = num(sv.GPUUnits)
	det["score"] = num(math.Round(sv.Score))
	det["sizes"] = strings.Join(sv.Sizes, ", ")
	det["regions"] = strings.Join(sv.Regions, ", ")
	det["newRegions"] = strings.Join(sv.NewRegions, ", ")
	det["historyDays"] = strconv.Itoa(d.cfg.HistoryDays)
	det["activeDays"] = strconv.Itoa(len(scores))
	det["usualUnits"] = num(maxOf(units))
	det["usualScore"] = num(math.Round(maxOf(scores)))
	det["medianScore"] = num(math.Round(median(scores, d.cfg.HistoryDays)))
	switch typ {
	case TypeVMDeployment:
		det["ratio"] = num(d.cfg.VM.Ratio)
	case TypeResourceConsumed:
		det["ratio"] = num(d.cfg.VM.Ratio)
	default:
		det["ratio"] = num(d.service(svc).Ratio)
	}
	return c
}

// burst adds an expensive deployment to the open window and raises
// ARM_SuspiciousComputeCreation when it spans enough units and regions.
func (d *compute) burst(key string, s *sState, r *azops.Rec, dep Deployment, units float64, emit detect.Emitter) {
	sc := &d.cfg.SuspiciousCompute
	if b := s.Burst; b != nil && !r.Time.Before(b.Start.Add(sc.Window)) {
		d.closeBurst(key, s, emit)
	}
	if s.Burst == nil {
		s.Burst = &burst{Start: r.Time}
	}
	b := s.Burst
	b.Units += units
	addList(&b.Regions, dep.Region, maxDayRegions)
	addList(&b.Sizes, dep.Size, maxListed)
	b.Acc.Add(r, d.cfg.MaxEvidence)
	if !b.Emitted && b.Units >= float64(sc.MinExpensive) && len(b.Regions) >= sc.MinRegions {
		emit.Emit(d.burstCandidate(key, b))
		b.Emitted = true
		b.Acc.Reset()
	}
}

func (d *compute) closeBurst(key string, s *sState, emit detect.Emitter) {
	if b := s.Burst; b != nil && b.Emitted && b.Acc.Count > 0 {
		emit.Emit(d.burstCandidate(key, b))
	}
	s.Burst = nil
}

func (d *compute) burstCandidate(key string, b *burst) alert.Candidate {
	c := b.Acc.Candidate(TypeSuspiciousCompute, "related")
	r := &b.Acc.Recs[0]
	c.Resource = "/subscriptions/" + key
	c.SubscriptionID = key
	c.Entities = append(c.Entities, alert.Entity{Type: alert.EntityAzureResource, Role: "compromised", ResourceID: c.Resource})
	c.FingerprintKeys = []string{key, azops.FormatTime(b.Start)}
	det := c.Details
	det["subscription"] = key
	det["objectId"], det["appId"] = r.Caller.ObjectID, r.Caller.AppID
	det["units"] = num(b.Units)
	det["regions"] = strings.Join(b.Regions, ", ")
	det["regionCount"] = strconv.Itoa(len(b.Regions))
	det["sizes"] = strings.Join(b.Sizes, ", ")
	det["window"] = azops.FormatDuration(d.cfg.SuspiciousCompute.Window)
	det["burstStart"] = azops.FormatTime(b.Start)
	return c
}

func (d *compute) Tick(key string, s *sState, watermark time.Time, emit detect.Emitter) bool {
	if b := s.Burst; b != nil && !watermark.Before(b.Start.Add(d.cfg.SuspiciousCompute.Window)) {
		d.closeBurst(key, s, emit)
	}
	if n := len(s.Days); n > 0 && dayOf(watermark) > s.Days[n-1].Day {
		if ds := s.Days[n-1]; ds.Svc != ([numServices]*svcDay{}) {
			d.closeDay(key, s, ds, emit)
		}
	}
	return s.Burst == nil && watermark.Sub(s.Last) > time.Duration(d.cfg.HistoryDays+1)*24*time.Hour
}
