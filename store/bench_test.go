package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api/odata"
	"github.com/vigil-security/vigil/store"
)

// BenchmarkSaveAlerts saves batches of 1,000 alerts with 10 evidence each in
// one transaction, as `vigil detect --db` does: new alerts ("insert") and the
// same alerts again with one more event each ("repeat").
func BenchmarkSaveAlerts(b *testing.B) {
	const batchSize, evidence = 1000, 10
	ctx := context.Background()
	batch := func(prefix string, n int) []*alert.Alert {
		out := make([]*alert.Alert, batchSize)
		for i := range out {
			out[i] = sample(fmt.Sprintf("%s-%d-%04d", prefix, n, i), evidence)
		}
		return out
	}
	b.Run("insert", func(b *testing.B) {
		s := openFile(b, filepath.Join(b.TempDir(), "bench.db"))
		defer s.Close()
		b.ReportAllocs()
		n := 0
		var cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			alerts := batch("ins", n)
			n++
			c := cpuTime()
			b.StartTimer()
			if err := s.SaveAlerts(ctx, alerts); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu += cpuTime() - c
			b.StartTimer()
		}
		reportRate(b, n*batchSize, cpu)
	})
	// With two notification targets, each new alert also writes two
	// outbox entries in its transaction.
	b.Run("insert-2-targets", func(b *testing.B) {
		s := openFile(b, filepath.Join(b.TempDir(), "bench.db"))
		defer s.Close()
		for _, id := range []string{"webhook:a", "mail:b"} {
			if err := s.PutTarget(ctx, store.Target{ID: id, Kind: "webhook", Source: "config"}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			b.StopTimer()
			alerts := batch("ins", n)
			n++
			b.StartTimer()
			if err := s.SaveAlerts(ctx, alerts); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, n*batchSize, 0)
	})
	b.Run("repeat", func(b *testing.B) {
		s := openFile(b, filepath.Join(b.TempDir(), "bench.db"))
		defer s.Close()
		alerts := batch("rep", 0)
		if err := s.SaveAlerts(ctx, alerts); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		n := 0
		c := cpuTime()
		for b.Loop() {
			for _, a := range alerts {
				a.Count++
				a.LastObserved = a.LastObserved.Add(time.Second)
			}
			if err := s.SaveAlerts(ctx, alerts); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportRate(b, n*batchSize, cpuTime()-c)
	})
}

// reportRate reports alerts per second of wall time and of CPU time.
func reportRate(b *testing.B, alerts int, cpu time.Duration) {
	b.ReportMetric(float64(alerts)/b.Elapsed().Seconds(), "alerts/s")
	if cpu > 0 {
		b.ReportMetric(float64(alerts)/cpu.Seconds(), "alerts/cpu-s")
	}
}

// BenchmarkListAlerts queries 100,000 alerts over 50 tenants: one page of
// one tenant's open alerts of one type, the count behind it, and one alert
// by ID.
func BenchmarkListAlerts(b *testing.B) {
	const total, tenants = 100_000, 50
	ctx := context.Background()
	s := openFile(b, filepath.Join(b.TempDir(), "bench.db"))
	defer s.Close()
	types := []string{"KV_TORAccess", "SSH_Incoming_BF_ManyToOne", "ARM_MicroBurst.AzDomainInfo", "CryptoMining"}
	statuses := []alert.Status{alert.StatusActive, alert.StatusInvestigating, alert.StatusResolved}
	for start := 0; start < total; start += 5000 {
		batch := make([]*alert.Alert, 0, 5000)
		for i := start; i < start+5000; i++ {
			a := sample(fmt.Sprintf("a%06d", i), 2)
			a.TenantID = fmt.Sprintf("tenant-%02d", i%tenants)
			a.Type = types[i%len(types)]
			a.Status = statuses[i%7%3]
			if a.Status == alert.StatusResolved {
				a.ResolvedReason = alert.ReasonLegitimate
			}
			a.Detected = t0.Add(time.Duration(i) * time.Minute)
			batch = append(batch, a)
		}
		if err := s.SaveAlerts(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	q := store.ListQuery{
		TenantIDs: []string{"tenant-07"},
		Statuses:  []alert.Status{alert.StatusActive, alert.StatusInvestigating},
		Types:     []string{"SSH_Incoming_BF_ManyToOne"},
		Limit:     50,
	}
	b.Run("page", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			list, err := s.ListAlerts(ctx, q)
			if err != nil || len(list) != 50 {
				b.Fatalf("%d alerts, %v", len(list), err)
			}
		}
	})
	b.Run("page-where", func(b *testing.B) {
		q := store.ListQuery{Filter: odata.AllOf(odata.Cmp("tenant_id", odata.Eq, odata.StringValue("tenant-31")),
			odata.Cmp("detected_at", odata.Ge, odata.TimeValue(t0.Add(30*24*time.Hour))),
			odata.Cmp("severity_rank", odata.Ge, odata.IntValue(2))), Limit: 50}
		b.ReportAllocs()
		for b.Loop() {
			list, err := s.ListAlerts(ctx, q)
			if err != nil || len(list) != 50 {
				b.Fatalf("%d alerts, %v", len(list), err)
			}
		}
	})
	b.Run("count", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if n, err := s.CountAlerts(ctx, q); err != nil || n == 0 {
				b.Fatalf("%d, %v", n, err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.GetAlert(ctx, fmt.Sprintf("a%06d", i%total)); err != nil {
				b.Fatal(err)
			}
			i += 7919
		}
	})
}
