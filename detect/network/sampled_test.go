package network

import (
	"slices"
	"strconv"
	"testing"
	"time"

	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

func TestMaxAttemptPackets(t *testing.T) {
	tests := []struct {
		maxPackets uint64
		rate       uint32
		want       uint32
	}{
		{20, 1, 20},    // unsampled: the bound itself
		{20, 10, 6},    // Poisson(2): P(X > 6) = 0.45% < 1% <= P(X > 5) = 1.7%
		{20, 100, 2},   // Poisson(0.2): P(X > 2) = 0.11%, P(X > 1) = 1.8%
		{40, 100, 2},   // Poisson(0.4): P(X > 2) = 0.79%, P(X > 1) = 6.2%
		{20, 1000, 1},  // Poisson(0.02): P(X > 1) = 0.02%
		{40, 10000, 1}, // never below one packet
	}
	for _, tc := range tests {
		if got := maxAttemptPackets(tc.maxPackets, tc.rate); got != tc.want {
			t.Errorf("maxAttemptPackets(%d, %d) = %d, want %d", tc.maxPackets, tc.rate, got, tc.want)
		}
	}
}

func TestSamplingWindow(t *testing.T) {
	s := DefaultConfig().Sampling
	tests := []struct {
		w    time.Duration
		rate uint32
		want time.Duration
	}{
		{5 * time.Minute, 1, 5 * time.Minute},
		{5 * time.Minute, 10, 5 * time.Minute}, // 10 x 18 s = 3 m: the configured window is longer
		{5 * time.Minute, 100, 30 * time.Minute},
		{30 * time.Minute, 100, 30 * time.Minute},
		{5 * time.Minute, 1000, time.Hour}, // 5 h, bounded by MaxWindow
		{2 * time.Hour, 1000, 2 * time.Hour},
	}
	for _, tc := range tests {
		if got := s.window(tc.w, tc.rate); got != tc.want {
			t.Errorf("window(%s, %d) = %s, want %s", tc.w, tc.rate, got, tc.want)
		}
	}
}

func TestSamplingStretch(t *testing.T) {
	s := DefaultConfig().Sampling
	tests := []struct {
		th   Threshold
		rate uint32
		win  time.Duration
		min  float64
	}{
		{Threshold{5 * time.Minute, 25}, 1, 5 * time.Minute, 25},
		{Threshold{5 * time.Minute, 25}, 100, 30 * time.Minute, 25}, // stretched up to ScaleAfter: the count holds
		{Threshold{30 * time.Minute, 30}, 100, 30 * time.Minute, 30},
		{Threshold{5 * time.Minute, 25}, 1000, time.Hour, 50}, // beyond 30m: the same rate
		{Threshold{30 * time.Minute, 30}, 1000, time.Hour, 60},
		{Threshold{2 * time.Hour, 30}, 1000, 2 * time.Hour, 30},
	}
	for _, tc := range tests {
		if win, min := s.stretch(tc.th, tc.rate); win != tc.win || min != tc.min {
			t.Errorf("stretch(%v, %d) = %s, %v, want %s, %v", tc.th, tc.rate, win, min, tc.win, tc.min)
		}
	}
}

func TestSampledEstimate(t *testing.T) {
	// below MinRecords nothing is decided, however large Chao1 would be
	if got := sampledEstimate(4, 4, 0, 100, 1.645, 5); got != 0 {
		t.Errorf("4 records: %v, want 0", got)
	}
	// ten singletons at 1-in-100: Chao1 55, times lower(10)/10 = 0.542
	if got := sampledEstimate(10, 10, 0, 100, 1.645, 5); got < 29 || got > 30.5 {
		t.Errorf("10 singletons: %v, want about 29.8", got)
	}
	// the point estimate without a confidence bound
	if got := sampledEstimate(10, 10, 0, 100, 0, 5); got != 55 {
		t.Errorf("point estimate: %v, want 55", got)
	}
	// every connection seen twice or more: Chao1 adds nothing
	if got := sampledEstimate(10, 0, 10, 100, 0, 5); got != 10 {
		t.Errorf("no singletons: %v, want 10", got)
	}
}

// sampledPackets returns n sampled records of k packets, each of its own
// connection (source port), from src to dst:port, every gap.
func sampledPackets(start time.Time, gap time.Duration, n, k int, src, dst string, port int, flags uint8) []event.Flow {
	out := make([]event.Flow, n)
	for i := range out {
		out[i] = dt.TCP(start.Add(time.Duration(i)*gap), ep(src, 40000+i), ep(dst, port), flags,
			dt.Size(uint64(k), uint64(k)*120), dt.Sampled(100))
	}
	return out
}

func TestBruteForceSampled(t *testing.T) {
	botnet := func(n int, gap time.Duration) []event.Flow {
		var fs []event.Flow
		for i := range n {
			src := "203.0.113." + strconv.Itoa(i+1)
			fs = append(fs, sampledPackets(t0.Add(time.Duration(i)*gap), time.Second, 1, 1, src, vmIP, 22, dt.ACK|dt.PSH)...)
		}
		return fs
	}
	tests := []struct {
		name  string
		flows []event.Flow
		want  []string
		check func(t *testing.T, f []event.Flow, c []string, last time.Time, details map[string]string)
	}{
		{
			name:  "one peer, one sampled packet on each of ten connections in 8 minutes",
			flows: sampledPackets(t0, 50*time.Second, 10, 1, attacker, vmIP, 22, dt.ACK|dt.PSH),
			want:  []string{TypeSSHIncomingOneToOne},
			check: func(t *testing.T, f []event.Flow, _ []string, last time.Time, d map[string]string) {
				// ten singletons estimate 29.8 >= 25; nine estimate 23.5
				if !last.Equal(f[9].End) || d["flows"] != "10" || d["connections"] != "30" || d["window"] != "30m" ||
					d["threshold"] != "25" || d["sampling"] != "1-in-100" {
					t.Errorf("last %s details %v", last, d)
				}
			},
		},
		{
			name:  "the same ten spread over three hours: no window holds enough",
			flows: sampledPackets(t0, 20*time.Minute, 10, 1, attacker, vmIP, 22, dt.ACK|dt.PSH),
		},
		{
			name: "a session: twenty records of one connection, however many SYNs",
			flows: func() []event.Flow {
				fs := sampledPackets(t0, 30*time.Second, 20, 1, attacker, vmIP, 22, dt.SYN)
				for i := range fs {
					fs[i].SrcPort = 50001
				}
				return fs
			}(),
		},
		{
			name:  "botnet: one sampled packet from each of 40 addresses in 20 minutes",
			flows: botnet(40, 30*time.Second),
			want:  []string{TypeSSHIncomingManyToOne, TypeSSHIncomingManyToOne + "+"},
			check: func(t *testing.T, f []event.Flow, _ []string, last time.Time, d map[string]string) {
				if !last.Equal(f[9].End) || d["attackers"] != "30" || d["window"] != "30m" || d["victimIp"] != vmIP {
					t.Errorf("last %s details %v", last, d)
				}
			},
		},
		{
			name: "botnet of sessions: peers whose connection is a session do not count",
			flows: func() []event.Flow {
				fs := botnet(40, 30*time.Second)
				for i := range fs {
					fs[i].Packets = 5 // more than a failed login shows at 1-in-100
				}
				return fs
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, testConfig(), NameInbound, tc.flows)
			typs := types(got)
			if !slices.Equal(typs, tc.want) {
				t.Fatalf("got %v, want %v", typs, tc.want)
			}
			if tc.check != nil {
				tc.check(t, tc.flows, typs, got[0].Last, got[0].Details)
			}
		})
	}
}
