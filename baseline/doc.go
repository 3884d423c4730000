// Package baseline holds the primitives Vigil's behavioural detections share:
// what a scope has seen (SeenSet, and CompactSeenSet for very many keys),
// how much usually happens in an hour of the week (Rate), and how many
// distinct things were touched (Distinct).
//
// All of them run on event time: every method takes the time of the event
// or the watermark, never the wall clock, so a week of logs replayed from
// files learns what the live week would have. None has goroutines or locks:
// a detector shard owns its baselines (see package detect). Each keeps its
// memory bounded, states the bound in its documentation and has a test
// measuring it; each serialises with MarshalBinary (a version byte and a type
// tag first; equal states give equal bytes) and, for detector states encoded
// with encoding/json, MarshalJSON (the same bytes as a base64 string). The
// unmarshallers refuse damaged or hostile input with an error, never panic,
// and allocate no more than the input's size justifies (fuzzed). A restored
// baseline carries the configuration it was saved with; call SetConfig to
// apply the current one.
//
// # Seen sets
//
// Observe(key, t) reports a key new when the scope does not hold it and the
// scope is past its learning period (DefaultLearning, 7 days, from Defender
// for Cloud Apps' documented initial learning period). Keys not seen for the
// look-back (DefaultLookBack, 30 days, the shortest of Sentinel UEBA's
// documented "first time" baselines) are dropped by Expire and are new when
// they return. A full set evicts its least recently seen sixteenth.
//
// # Rate baselines: why EWMA
//
// Rate learns hourly counts per hour of the week. Two methods are
// implemented: a seasonal EWMA (per slot, an exponentially weighted mean and
// variance of the weekly counts, the count clipped to 3 spreads before it is
// learnt) and the median and MAD of the last weeks per slot. Both share a
// floor under the spread: the Poisson deviation, and a scope-wide relative
// dispersion learnt from all 168 hours of the week, without which both flag
// 1 to 9% of normal hours while a slot has only a few weeks. They were
// measured (TestRateMethodsMeasured) on generated series with an office-hours
// rhythm, a nightly batch job, quiet weekends, holidays, 25% day-to-day and
// 20% hour-to-hour log-normal noise on top of Poisson noise, 1% growth a
// week, and 5x and 10x spikes in 2% of the hours; 8 series of 20 weeks per
// scale, scored from week 4 on, an hour flagged when Z >= 4:
//
//	series         method           FPR@Z>=4  5x@Z>=4  10x@Z>=4  5x@FPR=0.1%  slots
//	vault ~20/h    EWMA a=0.2        0.25%     61%      90%       53%         1344 B
//	               EWMA, no clip     0.08%     33%      81%       35%         1344 B
//	               median/MAD 6 wk   0.43%     61%      89%       47%         4032 B
//	ARM ~300/h     EWMA a=0.2        0.14%     89%      99.5%     86%         1344 B
//	               median/MAD 6 wk   0.17%     86%      99.5%     82%         4032 B
//	flows ~5000/h  EWMA a=0.2        0.12%     89%      98%       89%         1344 B
//	               median/MAD 6 wk   0.13%     89%      98%       88%         4032 B
//
// The EWMA has the lower false positive rate at the same threshold, catches
// at least as many spikes at the same false positive rate, and keeps a third
// of the memory (two values a slot against six): a median of six weekly
// values is a noisy estimator, its MAD noisier still. Clipping is what makes
// the EWMA robust (without it a spike inflates the variance and hides the
// next). Alpha 0.1 and 0.3 score within a point of 0.2; 0.2 is kept because
// it follows a lasting change in about three weeks. EWMA is the default;
// MedianMAD stays for comparison (it costs nothing when unused). Z >= 4
// alone still flags one or two hours in a thousand: a detection adds its
// own floor (a minimum count, a ratio to Expected).
//
// # Distinct counters
//
// Distinct counts exactly up to ExactLimit items, then with a HyperLogLog
// sketch of DefaultPrecision (github.com/axiomhq/hyperloglog).
//
// # Memory, measured on Go 1.26/amd64
//
//	SeenSet          50-80 B a key plus the key (100 B for a GUID key)
//	CompactSeenSet   8.8-10.4 B a key; 100M (principal, vault) pairs in 0.92 GiB
//	Rate             1,560 B (EWMA), 4,250 B (MedianMAD, 6 weeks)
//	Distinct         <= 512 B exact, <= 4.2 KB as a sketch (precision 12)
package baseline
