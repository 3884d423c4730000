package fraud

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/vigil-security/vigil/detect"
)

// Alert types (Partner Center's and Defender's names).
const (
	TypeVMDeployment       = "VM_AnomalousDeployment"
	TypeResourceConsumed   = "ARM_AnomalousResourceConsumption"
	TypeMLDeployment       = "AzureMachineLearning_AnomalousDeployment"
	TypeBatchDeployment    = "AzureBatch_AnomalousDeployment"
	TypeContainerDeployed  = "AzureContainerInstances_AnomalousDeployment"
	TypeSuspiciousCompute  = "ARM_SuspiciousComputeCreation"
	NameCompute            = "fraud-compute"
	defaultHistoryDays     = 30
	maxHistoryDays         = 90
	maxRatio               = 1000
	maxWeight              = 100
	maxBurstWindow         = 24 * time.Hour
	maxMinimum             = 1_000_000
	defaultLearningDays    = 7
	defaultMaxEvidence     = 20
	defaultGPUWeight       = 3
	defaultHighCoreWeight  = 1.5
	defaultNewRegionWeight = 2
)

// VMAnomaly configures VM_AnomalousDeployment (VMs deployed in a day) and
// ARM_AnomalousResourceConsumption (weighted vCPUs deployed in a day), both
// against the subscription's own daily history.
type VMAnomaly struct {
	// Enabled turns both on. Default true.
	Enabled bool `yaml:"enabled"`
	// MinVMs and MinScore are the least VMs (scale-set instances count) and
	// weighted vCPUs in a day that can be anomalous. Defaults 10 and 96.
	MinVMs   int     `yaml:"minVMs"`
	MinScore float64 `yaml:"minScore"`
	// Ratio is how far above the busiest day of the history a day must be.
	// Default 4: a quarterly scale-up doubles or triples a busy day, a
	// stolen subscription mining on GPUs multiplies it by tens.
	Ratio float64 `yaml:"ratio"`
}

// ServiceAnomaly configures the anomalous-deployment detection of one
// compute service (Machine Learning, Batch, Container Instances): weighted
// vCPUs deployed in a day of at least MinCores where the subscription had
// not used the service in the history, or Ratio times its busiest day.
type ServiceAnomaly struct {
	Enabled  bool    `yaml:"enabled"`
	MinCores float64 `yaml:"minCores"`
	Ratio    float64 `yaml:"ratio"`
}

// SuspiciousCompute configures ARM_SuspiciousComputeCreation: within
// Window, at least MinExpensive expensive units (GPU, or HighCoreMin vCPUs
// or more each) deployed in at least MinRegions regions. No history is
// needed: a stolen subscription is often new.
type SuspiciousCompute struct {
	Enabled      bool          `yaml:"enabled"`
	Window       time.Duration `yaml:"window"`
	MinExpensive int           `yaml:"minExpensive"`
	MinRegions   int           `yaml:"minRegions"`
}

// Config holds the settings of the compute fraud detections. Partner Center
// publishes no thresholds (seed 003 names the alerts: anomalous compute
// usage, Azure Machine Learning usage); every default here is this
// project's, chosen so that the simulated estate's quarterly scale-ups and
// new region launches stay quiet while a hijacked subscription's GPU fleet
// does not.
type Config struct {
	// MaxEvidence is the most records one candidate carries. Default 20.
	MaxEvidence int `yaml:"maxEvidence"`
	// Learning is how long after a subscription's first compute write it is
	// only learnt. Default 7 days.
	Learning time.Duration `yaml:"learning"`
	// HistoryDays is the trend compared with. Default 30 (issue 12: "its
	// 30-day trend").
	HistoryDays int `yaml:"historyDays"`
	// GPUWeight, HighCoreWeight and NewRegionWeight multiply the vCPUs of
	// GPU sizes, of sizes with at least HighCoreMin vCPUs, and of
	// deployments in a region the subscription had not used. Defaults 3,
	// 1.5 (32 vCPUs) and 2.
	GPUWeight       float64 `yaml:"gpuWeight"`
	HighCoreMin     int     `yaml:"highCoreMin"`
	HighCoreWeight  float64 `yaml:"highCoreWeight"`
	NewRegionWeight float64 `yaml:"newRegionWeight"`

	VM                 VMAnomaly         `yaml:"vm"`
	MachineLearning    ServiceAnomaly    `yaml:"machineLearning"`
	Batch              ServiceAnomaly    `yaml:"batch"`
	ContainerInstances ServiceAnomaly    `yaml:"containerInstances"`
	SuspiciousCompute  SuspiciousCompute `yaml:"suspiciousCompute"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		MaxEvidence:        defaultMaxEvidence,
		Learning:           defaultLearningDays * 24 * time.Hour,
		HistoryDays:        defaultHistoryDays,
		GPUWeight:          defaultGPUWeight,
		HighCoreMin:        32,
		HighCoreWeight:     defaultHighCoreWeight,
		NewRegionWeight:    defaultNewRegionWeight,
		VM:                 VMAnomaly{Enabled: true, MinVMs: 10, MinScore: 96, Ratio: 4},
		MachineLearning:    ServiceAnomaly{Enabled: true, MinCores: 24, Ratio: 4},
		Batch:              ServiceAnomaly{Enabled: true, MinCores: 64, Ratio: 4},
		ContainerInstances: ServiceAnomaly{Enabled: true, MinCores: 16, Ratio: 4},
		SuspiciousCompute:  SuspiciousCompute{Enabled: true, Window: time.Hour, MinExpensive: 6, MinRegions: 3},
	}
}

// Validate checks values the types alone cannot.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	num := func(name string, v, least, most float64) {
		if !(v >= least && v <= most) || math.IsNaN(v) {
			bad("%s must be between %g and %g, got %g", name, least, most, v)
		}
	}
	if c.MaxEvidence < 1 {
		bad("maxEvidence must be >= 1, got %d", c.MaxEvidence)
	}
	if c.Learning < 0 || c.Learning > 90*24*time.Hour {
		bad("learning must be between 0 and 2160h, got %s", c.Learning)
	}
	if c.HistoryDays < 2 || c.HistoryDays > maxHistoryDays {
		bad("historyDays must be between 2 and %d, got %d", maxHistoryDays, c.HistoryDays)
	}
	num("gpuWeight", c.GPUWeight, 1, maxWeight)
	num("highCoreWeight", c.HighCoreWeight, 1, maxWeight)
	num("newRegionWeight", c.NewRegionWeight, 1, maxWeight)
	if c.HighCoreMin < 1 {
		bad("highCoreMin must be >= 1, got %d", c.HighCoreMin)
	}
	if c.VM.MinVMs < 1 {
		bad("vm.minVMs must be >= 1, got %d", c.VM.MinVMs)
	}
	num("vm.minScore", c.VM.MinScore, 1, maxMinimum)
	num("vm.ratio", c.VM.Ratio, 1, maxRatio)
	for _, s := range []struct {
		name string
		v    *ServiceAnomaly
	}{{"machineLearning", &c.MachineLearning}, {"batch", &c.Batch}, {"containerInstances", &c.ContainerInstances}} {
		num(s.name+".minCores", s.v.MinCores, 1, maxMinimum)
		num(s.name+".ratio", s.v.Ratio, 1, maxRatio)
	}
	sc := &c.SuspiciousCompute
	if sc.Window <= 0 || sc.Window > maxBurstWindow {
		bad("suspiciousCompute.window must be > 0 and at most %s, got %s", maxBurstWindow, sc.Window)
	}
	if sc.MinExpensive < 1 || sc.MinRegions < 1 {
		bad("suspiciousCompute.minExpensive and minRegions must be >= 1, got %d and %d", sc.MinExpensive, sc.MinRegions)
	}
	return errors.Join(errs...)
}

// Detectors returns the compute fraud detector when any detection is on.
func Detectors(cfg Config) []detect.Detector {
	d := newCompute(cfg)
	if !d.enabled() {
		return nil
	}
	return []detect.Detector{d}
}
