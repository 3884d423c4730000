package kvbehaviour

import (
	"strings"
	"testing"
	"time"

	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// burst is n operations of p on v spread over the hour from at.
func burst(at time.Time, v dt.Vault, p event.Principal, addr string, n int, opts ...dt.Option) []event.Op {
	ops := make([]event.Op, n)
	for i := range ops {
		ops[i] = kv(at.Add(time.Duration(i)*time.Hour/time.Duration(n)), v, "SecretGet", p, addr, azureGeo, opts...)
	}
	return ops
}

func TestOperationVolume(t *testing.T) {
	// weekly is a job reading vaultB for two hours every Sunday night (the
	// estate starts on a Monday: its first run is in the learning period).
	weekly := app("weekly-report")
	var weeklyOps []event.Op
	for _, d := range []int{6, 13, 20} {
		weeklyOps = append(weeklyOps, burst(day(d, 1, 0), vaultB, weekly, "20.61.14.20", 1500)...)
		weeklyOps = append(weeklyOps, burst(day(d, 2, 0), vaultB, weekly, "20.61.14.20", 1500)...)
	}
	base := withOps(estate(21), weeklyOps...)
	tests := []struct {
		name  string
		extra []event.Op
		want  int // volume candidates
	}{
		{"a service reads 2,000 secrets in an hour at night", burst(day(16, 3, 0), vaultA, svcA, "20.61.14.7", 2000), 1},
		{"the same in the learning period", burst(day(4, 3, 0), vaultA, svcA, "20.61.14.7", 2000), 0},
		{"below the least count: 95 more reads at night", burst(day(16, 3, 0), vaultC, webApp, "20.61.14.9", 95), 0},
		{"the weekly job, as big as before", nil, 0},
		{"the weekly job, four times bigger", burst(day(20, 3, 0), vaultB, weekly, "20.61.14.20", 6000), 1},
		{"the web application at twice its daily peak, in office hours", burst(day(16, 11, 0), vaultC, webApp, "20.61.14.9", 60), 0},
	}
	d := detector(t, DefaultConfig(), NameVault)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, d, withOps(base, tc.extra...))
			if len(got) != tc.want || len(ofType(got, TypeOperationVolumeAnomaly)) != tc.want {
				t.Fatalf("%d candidates, want %d volume anomalies:%s", len(got), tc.want, summary(got))
			}
		})
	}
}

func TestOperationVolumeCandidate(t *testing.T) {
	ops := withOps(estate(21), burst(day(16, 3, 0), vaultA, svcA, "20.61.14.7", 2000, dt.Status(200))...)
	got := run(t, detector(t, DefaultConfig(), NameVault), ops)
	if len(got) != 1 {
		t.Fatalf("%d candidates:%s", len(got), summary(got))
	}
	c := got[0]
	if c.Count < 2000 || c.Count > 2040 || len(c.Evidence) != volumeEvidence || c.Severity != "" {
		t.Errorf("count %d evidence %d severity %q", c.Count, len(c.Evidence), c.Severity)
	}
	if !c.First.Equal(day(16, 3, 0)) || c.Last.After(day(16, 4, 0)) {
		t.Errorf("time range %s .. %s", c.First, c.Last)
	}
	if strings.Join(c.FingerprintKeys, " ") != vaultA.ResourceID()+" "+svcA.ObjectID {
		t.Errorf("fingerprint %v", c.FingerprintKeys)
	}
	// svcA reads vaultA about 12 times an hour; the nightly job adds 3 at
	// 02:00 only, so 03:00's median is svcA's.
	dt.WantDetails(t, c, map[string]string{
		"vault": "SALARY", "window": "1h", "hourStart": "2026-11-18T03:00:00Z", "historyDays": "16",
		"learnedSince": "2026-11-02T00:00:00Z", "operations": "SecretGet",
	})
	for _, k := range []string{"expected", "mad", "peak", "callerPeak"} {
		if c.Details[k] == "" || c.Details[k] == "0" {
			t.Errorf("detail %s = %q", k, c.Details[k])
		}
	}
	if !strings.HasPrefix(c.Details["baseline"], "median "+c.Details["expected"]+"/h at 03:00 UTC, MAD "+c.Details["mad"]+" over 16 days") {
		t.Errorf("baseline %q", c.Details["baseline"])
	}
}

func TestBaselineOf(t *testing.T) {
	d := newVaultDetector(clamp(DefaultConfig()))
	vs := d.newVolume()
	n := int64(len(vs.Counts))
	start := hourOf(t0)
	vs.First = start
	// Ten days: 10 an hour, 40 at 09:00, one day 100 at 09:00.
	for h := start; h < start+10*24; h++ {
		c := uint32(10)
		if (h-start)%24 == 9 {
			c = 40
		}
		vs.Counts[h%n] = c
	}
	vs.Counts[(start+3*24+9)%n] = 100
	b := vs.baselineOf(start + 10*24 + 9)
	if b.samples != 10 || b.median != 40 || b.mad != 0 || b.peak != 100 {
		t.Errorf("baseline %+v, want 10 samples, median 40, MAD 0, peak 100", b)
	}
	if u := b.upper(); u < 40+3*6.3 || u > 40+3*6.4 {
		t.Errorf("upper %.2f, want the Poisson floor 40 + 3 sqrt(40)", u)
	}
	if b := vs.baselineOf(start + 10*24 + 4); b.median != 10 || b.samples != 10 {
		t.Errorf("04:00 baseline %+v", b)
	}
}
