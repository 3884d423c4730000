package baseline_test

import (
	"fmt"
	"time"

	"github.com/vigil-security/vigil/baseline"
)

// A vault's principals: nothing is new during the first week.
func ExampleSeenSet() {
	monday := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	principals := baseline.NewSeenSet(baseline.SeenConfig{}) // 7 days learning, 30 days look-back
	fmt.Println(principals.Observe("app-billing", monday))
	fmt.Println(principals.Observe("alice@contoso.com", monday.Add(24*time.Hour)))
	fmt.Println(principals.Observe("mallory@contoso.com", monday.Add(8*24*time.Hour)))
	fmt.Println(principals.Observe("app-billing", monday.Add(8*24*time.Hour)))
	// On the watermark, a detection forgets what has gone quiet.
	fmt.Println(principals.Expire(monday.Add(40*24*time.Hour)), principals.Len())
	// Output:
	// false
	// false
	// true
	// false
	// 3 0
}

// Four Mondays of about 100 reads at 10:00; the fifth has 1,000.
func ExampleRate() {
	volume := baseline.NewRate(baseline.RateConfig{})
	monday10 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	for week, n := range []float64{96, 104, 99, 101} {
		volume.Observe(monday10.Add(time.Duration(week)*7*24*time.Hour), n)
	}
	fifth := monday10.Add(4 * 7 * 24 * time.Hour)
	volume.Advance(fifth, nil)
	s := volume.Score(fifth, 1000)
	fmt.Printf("expected %.0f, spread %.0f, Z %.0f, enough %v\n", s.Expected, s.Spread, s.Z, s.Enough)
	// Output: expected 100, spread 10, Z 90, enough true
}

// The vaults one principal touched in a day.
func ExampleDistinct() {
	var vaults baseline.Distinct
	for i := range 300 {
		vaults.Add(fmt.Sprintf("kv-%d", i%120))
	}
	fmt.Println(vaults.Count(), vaults.Exact())
	// Output: 120 false
}
