package fraud

import (
	"strings"

	"github.com/valyala/fastjson"
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

// parsers parse bodies without allocating a tree each time.
var parsers fastjson.ParserPool

// field returns the member name of v (an object), matching the name
// exactly and then without regard to case (the Activity Log writes both
// "properties" and "Properties"), or nil.
func field(v *fastjson.Value, name string) *fastjson.Value {
	if v == nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	if f := v.Get(name); f != nil {
		return f
	}
	var found *fastjson.Value
	o, _ := v.Object()
	o.Visit(func(k []byte, x *fastjson.Value) {
		if found == nil && strings.EqualFold(string(k), name) {
			found = x
		}
	})
	return found
}

// path follows names from v.
func path(v *fastjson.Value, names ...string) *fastjson.Value {
	for _, n := range names {
		v = field(v, n)
	}
	return v
}

func str(v *fastjson.Value) string {
	if v == nil || v.Type() != fastjson.TypeString {
		return ""
	}
	b, _ := v.StringBytes()
	return string(b)
}

// integer returns v as an int, or -1 when it is not a whole number in range.
func integer(v *fastjson.Value) int {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return -1
	}
	f, err := v.Float64()
	if err != nil || f < 0 || f > 1e6 || f != float64(int(f)) {
		return -1
	}
	return int(f)
}

// ParseDeployment reads the body of a compute write of the given service.
// ok is false when the body does not say what was deployed.
func ParseDeployment(svc Service, body string) (Deployment, bool) {
	if body == "" || body[0] != '{' {
		return Deployment{}, false
	}
	p := parsers.Get()
	defer parsers.Put(p)
	b, err := p.Parse(body)
	if err != nil {
		return Deployment{}, false
	}
	d := Deployment{Region: strings.ToLower(strings.ReplaceAll(str(field(b, "location")), " ", ""))}
	sized := func(name string, units int) bool {
		s, ok := ParseSize(name)
		if !ok || units < 0 {
			return false
		}
		d.Units, d.Cores, d.GPU, d.Size = units, float64(s.Cores), s.GPU, name
		return true
	}
	props := field(b, "properties")
	switch svc {
	case ServiceVM:
		if capacity := path(b, "sku", "capacity"); capacity != nil { // a scale set
			return d, sized(str(path(b, "sku", "name")), integer(capacity))
		}
		return d, sized(str(path(props, "hardwareProfile", "vmSize")), 1)
	case ServiceML:
		nodes := 1 // a compute instance, a single VM
		if strings.EqualFold(str(field(props, "computeType")), "AmlCompute") {
			nodes = integer(path(props, "properties", "scaleSettings", "maxNodeCount"))
		}
		return d, sized(str(path(props, "properties", "vmSize")), nodes)
	case ServiceBatch:
		fs := path(props, "scaleSettings", "fixedScale")
		dedicated, low := max(integer(field(fs, "targetDedicatedNodes")), 0), max(integer(field(fs, "targetLowPriorityNodes")), 0)
		nodes := dedicated + low
		if nodes == 0 {
			nodes = 1 // autoscale: at least one node is what is known
		}
		return d, sized(str(field(props, "vmSize")), nodes)
	case ServiceACI:
		containers := field(props, "containers")
		if containers == nil || containers.Type() != fastjson.TypeArray {
			return d, false
		}
		list, _ := containers.Array()
		var cpu float64
		for _, c := range list {
			req := path(c, "properties", "resources", "requests")
			v := field(req, "cpu")
			if v == nil || v.Type() != fastjson.TypeNumber {
				return d, false
			}
			f, err := v.Float64()
			if err != nil || f < 0 || f > 1e6 {
				return d, false
			}
			cpu += f
			if integer(path(req, "gpu", "count")) > 0 {
				d.GPU = true
			}
		}
		d.Units, d.Cores = 1, cpu
		return d, cpu > 0
	}
	return d, false
}
