package simulate

import (
	"strconv"
)

// deployer is the release pipeline of a subscription's tenant.
func (b *builder) deployer(sub int) (*actor, bool) {
	e := b.e
	for i := range e.actors {
		a := &e.actors[i]
		if a.kind == actDeploy && e.principals[a.who].tenant == e.subs[sub].tenant {
			return a, true
		}
	}
	return nil, false
}

// homeRegion is where a subscription's workloads run.
func (b *builder) homeRegion(sub int) string {
	if b.e.subs[sub].tenant%2 == 1 {
		return "japaneast"
	}
	return "westeurope"
}

// createVMs has a writes n VMs of size in region from t, minutes apart.
func (b *builder) createVMs(a *actor, sub int, t int64, n int, prefix, size, region string, gap int64) int64 {
	p := &b.e.principals[a.who]
	for i := range n {
		name := prefix + strconv.Itoa(i+1)
		res := b.armResourceNew(sub, "/resourceGroups/rg-"+region+"/providers/Microsoft.Compute/virtualMachines/"+name)
		b.armWith(t, armVMWrite, res, a.who, p.ip, 3000+b.r.IntN(9000), b.body(vmBody(name, size, region)), 0)
		t += gap + secs(b.r, 0, 30)
	}
	return t
}

// routineCompute is every subscription's release pipeline creating two
// Standard_D4s_v3 VMs in its home region each weekday, and three
// look-alikes: a quarterly scale-up, a new region launch and a data
// scientist's compute instance.
func (b *builder) routineCompute() error {
	e := b.e
	for sub := range e.subs {
		a, ok := b.deployer(sub)
		if !ok {
			continue
		}
		for d := int64(0); d < int64(e.opts.Days); d++ {
			if weekend(weekdayOf(floorDiv(e.start, ticksPerDay) + d)) {
				continue
			}
			b.createVMs(a, sub, d*ticksPerDay+10*ticksPerHour+secs(b.r, 0, 1800), 2, "app-"+strconv.FormatInt(d, 10)+"-",
				"Standard_D4s_v3", b.homeRegion(sub), 20*ticksPerMinute)
		}
	}
	l0 := int64(e.opts.LearningDays)
	type lookAlike struct {
		sub        int
		day        int64
		n          int
		size, note string
		region     string
	}
	for i, la := range []lookAlike{
		{0, l0 + 4, 6, "Standard_D8s_v3", "quarterly scale-up: 6 Standard_D8s_v3 (48 vCPUs, six times a usual day)", ""},
		{1 % len(e.subs), l0 + 6, 4, "Standard_D4s_v3", "new region launch: 4 Standard_D4s_v3 in northeurope", "northeurope"},
	} {
		a, ok := b.deployer(la.sub)
		if !ok || (la.day+1)*ticksPerDay > int64(e.hours)*ticksPerHour {
			continue
		}
		region := la.region
		if region == "" {
			region = b.homeRegion(la.sub)
		}
		t := la.day*ticksPerDay + 14*ticksPerHour
		i0 := len(e.scripted)
		b.createVMs(a, la.sub, t, la.n, "scale-"+strconv.Itoa(i)+"-", la.size, region, 5*ticksPerMinute)
		for _, typ := range []string{"VM_AnomalousDeployment", "ARM_AnomalousResourceConsumption", "ARM_SuspiciousComputeCreation"} {
			l := Label{ID: "B2" + strconv.Itoa(i), Kind: LabelBenign, AlertType: typ, Note: la.note}
			b.finishARM(l, i0, la.sub, a.who, "", la.note)
		}
	}
	if a, ok := b.deployer(2 % len(e.subs)); ok && (l0+6)*ticksPerDay <= int64(e.hours)*ticksPerHour {
		sub := 2 % len(e.subs)
		t := (l0+5)*ticksPerDay + 9*ticksPerHour
		i0 := len(e.scripted)
		b.mlCompute(a, sub, t, "ci-dev", "ComputeInstance", "STANDARD_DS3_V2", 1)
		l := Label{ID: "B22", Kind: LabelBenign, AlertType: "AzureMachineLearning_AnomalousDeployment"}
		b.finishARM(l, i0, sub, a.who, "", "a data scientist's compute instance (one STANDARD_DS3_V2)")
	}
	return nil
}

func (b *builder) mlCompute(a *actor, sub int, t int64, name, kind, size string, nodes int) {
	p := &b.e.principals[a.who]
	res := b.armResourceNew(sub, "/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws-ml/computes/"+name)
	props := map[string]any{"vmSize": size}
	if kind == "AmlCompute" {
		props["scaleSettings"] = map[string]any{"maxNodeCount": nodes, "minNodeCount": 0}
	}
	b.armWith(t, armMLComputeWrite, res, a.who, p.ip, 4000, b.body(map[string]any{"name": name, "location": b.homeRegion(sub),
		"properties": map[string]any{"computeType": kind, "properties": props, "provisioningState": "Creating"}}), 0)
}

// fraudLabel labels the compromised pipeline's deployment for typ (and the
// alert types the same activity rightly raises).
func (b *builder) fraudLabel(l Label, i0, sub, who int, note string, also ...string) {
	l.Also = also
	b.finishARM(l, i0, sub, who, "", note)
	b.extendLabel(b.e.dayEnd(b.e.scripted[len(b.e.scripted)-1].t) + ticksPerHour) // the day's summary
}

// A24: a compromised pipeline creates 16 GPU VMs in three regions new to
// the subscription within 40 minutes.
func (b *builder) gpuFleet(l Label, t int64) error {
	e := b.e
	sub := 2 % len(e.subs)
	a, ok := b.deployer(sub)
	if !ok {
		return errNoVictim
	}
	i0 := len(e.scripted)
	for i, region := range []string{"brazilsouth", "japaneast", "australiaeast", "brazilsouth"} {
		t = b.createVMs(a, sub, t, 4, "miner-"+strconv.Itoa(i)+"-", "Standard_NC24s_v3", region, 2*ticksPerMinute)
	}
	note := "the release pipeline's credentials create 16 Standard_NC24s_v3 (GPU) VMs in brazilsouth, japaneast and australiaeast in 40 minutes"
	for _, typ := range []string{"VM_AnomalousDeployment", "ARM_AnomalousResourceConsumption", "ARM_SuspiciousComputeCreation"} {
		ll := l
		ll.AlertType = typ
		b.fraudLabel(ll, i0, sub, a.who, note)
	}
	return nil
}

// A25: a 6-node GPU Machine Learning cluster where the subscription never
// used Machine Learning.
func (b *builder) mlCluster(l Label, t int64) error {
	sub := 3 % len(b.e.subs)
	a, ok := b.deployer(sub)
	if !ok {
		return errNoVictim
	}
	i0 := len(b.e.scripted)
	b.mlCompute(a, sub, t, "gpu-cluster", "AmlCompute", "STANDARD_NC24", 6)
	b.fraudLabel(l, i0, sub, a.who, "a 6-node STANDARD_NC24 (GPU) Machine Learning cluster in a subscription that never used Machine Learning")
	return nil
}

// A26: a Batch pool of 40 16-core nodes.
func (b *builder) batchPool(l Label, t int64) error {
	sub := 0
	a, ok := b.deployer(sub)
	if !ok {
		return errNoVictim
	}
	p := &b.e.principals[a.who]
	i0 := len(b.e.scripted)
	res := b.armResourceNew(sub, "/resourceGroups/rg-batch/providers/Microsoft.Batch/batchAccounts/render/pools/p1")
	b.armWith(t, armBatchPoolWrite, res, a.who, p.ip, 5000, b.body(map[string]any{"name": "p1", "type": "Microsoft.Batch/batchAccounts/pools",
		"properties": map[string]any{"vmSize": "STANDARD_D16S_V3",
			"scaleSettings": map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": 40, "targetLowPriorityNodes": 0}}}}), 0)
	b.fraudLabel(l, i0, sub, a.who, "a Batch pool of 40 STANDARD_D16S_V3 nodes (640 vCPUs) where Batch was never used")
	return nil
}

// A27: eight 4-vCPU container groups in ten minutes.
func (b *builder) containers(l Label, t int64) error {
	sub := 1 % len(b.e.subs)
	a, ok := b.deployer(sub)
	if !ok {
		return errNoVictim
	}
	p := &b.e.principals[a.who]
	i0 := len(b.e.scripted)
	for i := range 8 {
		name := "xmr-" + strconv.Itoa(i+1)
		res := b.armResourceNew(sub, "/resourceGroups/rg-aci/providers/Microsoft.ContainerInstance/containerGroups/"+name)
		b.armWith(t, armContainerGroupWrite, res, a.who, p.ip, 3000, b.body(map[string]any{"name": name, "location": b.homeRegion(sub),
			"properties": map[string]any{"osType": "Linux", "containers": []any{map[string]any{"name": name,
				"properties": map[string]any{"image": "docker.io/library/alpine:3.20",
					"resources": map[string]any{"requests": map[string]any{"cpu": 4, "memoryInGB": 8}}}}}}}), 0)
		t += secs(b.r, 40, 90)
	}
	b.fraudLabel(l, i0, sub, a.who, "eight 4-vCPU container groups (32 vCPUs) where Container Instances were never used")
	return nil
}

// locationLookAlikes: an administrator working through the organisation's
// VPN (egress in the US), one on a mobile network, and one flying from the
// Tokyo office to the Amsterdam office for a weekend.
func (b *builder) locationLookAlikes() error {
	e := b.e
	l0 := int64(e.opts.LearningDays)
	geo := []string{"ARM.MCAS_ActivityFromInfrequentCountry", "ARM.MCAS_ImpossibleTravelActivity"}
	label := func(id string, a *actor, i0 int, note string) {
		if len(e.scripted) == i0 {
			return // the estate is too short for it
		}
		sub := e.armRes[a.res[0]].sub
		for _, typ := range geo {
			b.finishARM(Label{ID: id, Kind: LabelBenign, AlertType: typ}, i0, sub, a.who, "", note)
		}
	}
	nl := func(a *actor) bool {
		p := &e.principals[a.who]
		return a.kind == actAdmin && b.userIsAdmin[a.who] && p.office >= 0 && e.offices[p.office].tz == 1
	}
	if a, err := b.findActor(nl); err == nil {
		vpn := b.ip(vpnRange + ".7")
		i0 := len(e.scripted)
		for d := l0 + 1; d < min(l0+5, int64(e.opts.Days)); d++ {
			b.armAt(d*ticksPerDay+15*ticksPerHour+secs(b.r, 0, 1800), armNSGWrite, e.subResource(e.armRes[a.res[0]].sub, resNSG), a.who, vpn, 1500)
		}
		label("B23", a, i0, e.principals[a.who].upn+" works through the organisation's VPN, whose egress is in Ashburn (US)")
	}
	if a, err := b.findActor(nl); err == nil {
		mobile := b.ip(mobileRange + ".90")
		i0 := len(e.scripted)
		for d := l0 + 1; d < min(l0+6, int64(e.opts.Days)); d++ {
			b.armAt(d*ticksPerDay+13*ticksPerHour+secs(b.r, 0, 3600), armVMRestart, e.subResource(e.armRes[a.res[0]].sub, resVM), a.who, mobile, 9000)
		}
		label("B24", a, i0, e.principals[a.who].upn+" restarts a VM from a phone: the carrier's address is placed at the Netherlands' centre, 500 km accuracy")
	}
	jp := func(a *actor) bool {
		p := &e.principals[a.who]
		return a.kind == actAdmin && b.userIsAdmin[a.who] && p.office >= 0 && e.offices[p.office].tz == 9
	}
	if a, err := b.findActor(jp); err == nil {
		p := &e.principals[a.who]
		t := &e.tenants[p.tenant]
		nlOffice := -1
		for _, oi := range t.offices {
			if e.offices[oi].tz == 1 {
				nlOffice = oi
			}
		}
		if nlOffice >= 0 {
			ip := uint16(e.offices[nlOffice].ips[0])
			i0 := len(e.scripted)
			for d := l0; d < int64(e.opts.Days); d++ {
				if wd := weekdayOf(floorDiv(e.start, ticksPerDay) + d); wd == 6 || wd == 0 { // the weekend
					b.armAt(d*ticksPerDay+14*ticksPerHour+secs(b.r, 0, 3600), armNSGWrite, e.subResource(e.armRes[a.res[0]].sub, resNSG), a.who, ip, 1500)
				}
			}
			label("B25", a, i0, p.upn+" of the Tokyo office works from the Amsterdam office at weekends (flights in between)")
		}
	}
	return nil
}
