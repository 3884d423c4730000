package fraud

import (
	"encoding/json"
	"strings"
)

// Size is what an Azure VM size name says: vCPUs and whether it carries
// GPUs. Names follow "Tier_Family#[-#][features][_accelerator][_version]"
// (Microsoft Learn, "Azure virtual machine sizes naming conventions"):
// Standard_NC24ads_A100_v4 is family NC with 24 vCPUs; the N families (NC,
// ND, NG, NV) carry GPUs. A constrained-core size (Standard_E64-16s_v5)
// counts the vCPUs it is priced for (the first number).
type Size struct {
	Cores int
	GPU   bool
}

// ParseSize reads a VM size name, in any case ("STANDARD_NC6" as Azure
// Machine Learning writes it, "standard_d2s_v3" as Batch does). ok is false
// when the name is not of that form.
func ParseSize(name string) (Size, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	tier, rest, found := strings.Cut(n, "_")
	if !found || (tier != "standard" && tier != "basic") || rest == "" {
		return Size{}, false
	}
	i := 0
	for i < len(rest) && 'a' <= rest[i] && rest[i] <= 'z' {
		i++
	}
	family := rest[:i]
	j := i
	cores := 0
	for j < len(rest) && '0' <= rest[j] && rest[j] <= '9' && cores < 1_000_000 {
		cores = cores*10 + int(rest[j]-'0')
		j++
	}
	if family == "" || j == i {
		return Size{}, false
	}
	return Size{Cores: max(cores, 1), GPU: family[0] == 'n'}, true
}

// Deployment is what one compute write asks for: units (VMs, nodes,
// container groups), vCPUs per unit, GPUs, and the region.
type Deployment struct {
	Units  int
	Cores  float64 // per unit
	GPU    bool
	Region string // lower-cased, "" when the body does not say
	Size   string // the VM size, "" for containers
}

// The request or response bodies of the compute writes (Microsoft's REST
// references: Virtual Machines / Virtual Machine Scale Sets - Create Or
// Update, Machine Learning Compute - Create Or Update, Batch Pool - Create,
// Container Groups - Create Or Update). encoding/json matches keys without
// regard to case.
type computeBody struct {
	Location string `json:"location"`
	SKU      struct {
		Name     string `json:"name"`
		Capacity *int   `json:"capacity"`
	} `json:"sku"`
	Properties struct {
		HardwareProfile struct {
			VMSize string `json:"vmSize"`
		} `json:"hardwareProfile"`
		// Batch pool.
		VMSize        string `json:"vmSize"`
		ScaleSettings struct {
			FixedScale struct {
				TargetDedicatedNodes   int `json:"targetDedicatedNodes"`
				TargetLowPriorityNodes int `json:"targetLowPriorityNodes"`
			} `json:"fixedScale"`
		} `json:"scaleSettings"`
		// Machine Learning compute.
		ComputeType string `json:"computeType"`
		Properties  struct {
			VMSize        string `json:"vmSize"`
			ScaleSettings struct {
				MaxNodeCount int `json:"maxNodeCount"`
			} `json:"scaleSettings"`
		} `json:"properties"`
		// Container group.
		Containers []struct {
			Properties struct {
				Resources struct {
					Requests struct {
						CPU float64 `json:"cpu"`
						GPU struct {
							Count int `json:"count"`
						} `json:"gpu"`
					} `json:"requests"`
				} `json:"resources"`
			} `json:"properties"`
		} `json:"containers"`
	} `json:"properties"`
}

// ParseDeployment reads the body of a compute write of the given service.
// ok is false when the body does not say what was deployed.
func ParseDeployment(svc Service, body string) (Deployment, bool) {
	if body == "" || body[0] != '{' {
		return Deployment{}, false
	}
	var b computeBody
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		return Deployment{}, false
	}
	d := Deployment{Region: strings.ToLower(strings.ReplaceAll(b.Location, " ", ""))}
	sized := func(name string, units int) bool {
		s, ok := ParseSize(name)
		if !ok || units < 0 {
			return false
		}
		d.Units, d.Cores, d.GPU, d.Size = units, float64(s.Cores), s.GPU, name
		return true
	}
	p := &b.Properties
	switch svc {
	case ServiceVM:
		if b.SKU.Capacity != nil { // a scale set
			return d, sized(b.SKU.Name, *b.SKU.Capacity)
		}
		return d, sized(p.HardwareProfile.VMSize, 1)
	case ServiceML:
		nodes := p.Properties.ScaleSettings.MaxNodeCount
		if !strings.EqualFold(p.ComputeType, "AmlCompute") {
			nodes = 1 // a compute instance, a single VM
		}
		return d, sized(p.Properties.VMSize, nodes)
	case ServiceBatch:
		fs := &p.ScaleSettings.FixedScale
		nodes := fs.TargetDedicatedNodes + fs.TargetLowPriorityNodes
		if nodes == 0 {
			nodes = 1 // autoscale: at least one node is what is known
		}
		return d, sized(p.VMSize, nodes)
	case ServiceACI:
		if len(p.Containers) == 0 {
			return d, false
		}
		var cpu float64
		for _, c := range p.Containers {
			r := &c.Properties.Resources.Requests
			if r.CPU < 0 || r.CPU > 1e6 {
				return d, false
			}
			cpu += r.CPU
			if r.GPU.Count > 0 {
				d.GPU = true
			}
		}
		d.Units, d.Cores = 1, cpu
		return d, cpu > 0
	}
	return d, false
}
