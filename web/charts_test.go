package web

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; run go test -run Charts -update ./web and look at the diff", name)
	}
}

func TestChartsGolden(t *testing.T) {
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	t0 := day.Add(8 * time.Hour)
	var times []time.Time
	for i := range 40 {
		times = append(times, t0.Add(time.Duration(i*i)*time.Second))
	}
	for _, tc := range []struct {
		name string
		svg  string
	}{
		{"stacked.svg", string(stackedDays(day, [][]int{{0, 2, 1}, {3, 0, 0}, {1, 1, 0}, {0, 0, 5}},
			[]string{"High", "Medium", "Low", "Info"}, "Alerts <by> severity"))},
		{"hbars.svg", string(hbars([]bar{{"Access from a TOR exit node to a key vault, a very long name indeed", 12, "/?type=KV_TORAccess&x=1"},
			{"Port scanning", 3, "/?type=PortScanning"}, {"Third", 1, "/"}}, 2, "Top types"))},
		{"histogram.svg", string(histogram(times, "Attempts over time", "attempts"))},
		{"histogram-one.svg", string(histogram(times[:1], "Attempts over time", "attempts"))},
		{"volume.svg", string(volume(2574, 62, 10, 87, [4]string{"this hour", "usual (median ± MAD)", "busiest hour before", ""}))},
	} {
		if !strings.HasPrefix(tc.svg, "<svg") || !strings.HasSuffix(tc.svg, "</svg>") {
			t.Errorf("%s: not one svg element", tc.name)
		}
		golden(t, tc.name, tc.svg)
	}
	if s := string(stackedDays(day, [][]int{{0}}, []string{"x"}, "empty")); !strings.Contains(s, `aria-label="empty: 0"`) {
		t.Errorf("empty chart: %s", s)
	}
	if string(histogram(nil, "x", "y")) != "" || string(volume(0, 0, 0, 0, [4]string{})) != "" {
		t.Error("a picture of nothing")
	}
}

func TestPictureChoice(t *testing.T) {
	c, err := uiStrings()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		a    alert.Alert
		want string
	}{
		{"brute force", alert.Alert{Type: "SSH_Incoming_BF_OneToOne", Evidence: []alert.Evidence{{Time: t0}, {Time: t0.Add(time.Minute)}}}, "picture.attempts"},
		{"brute force without evidence", alert.Alert{Type: "RDP_Incoming_BF_ManyToOne"}, ""},
		{"volume", alert.Alert{Type: "KV_OperationVolumeAnomaly", Details: map[string]string{"hourCount": "2,574", "expected": "62", "mad": "10", "peak": "87"}}, "picture.volume"},
		{"volume without a baseline", alert.Alert{Type: "KV_OperationVolumeAnomaly", Details: map[string]string{"hourCount": "2,574"}}, ""},
		{"tor", alert.Alert{Type: "KV_TORAccess"}, ""},
	} {
		svg, key := picture(&tc.a, c, "en")
		if key != tc.want || (key == "") != (svg == "") {
			t.Errorf("%s: %q (%d bytes), want %q", tc.name, key, len(svg), tc.want)
		}
	}
}

// TestTravelPicture: an impossible-travel alert is drawn as its two places
// joined, with the distance, time and speed in the reader's language; an
// alert without both places' coordinates gets no picture.
func TestTravelPicture(t *testing.T) {
	c, err := uiStrings()
	if err != nil {
		t.Fatal(err)
	}
	a := &alert.Alert{Type: "ARM.MCAS_ImpossibleTravelActivity", Details: map[string]string{
		"fromCity": "Amsterdam", "fromCountry": "NL", "fromTime": "2026-08-23T09:02:11Z", "fromLat": "52.3740", "fromLon": "4.8897",
		"toCity": "Singapore", "toCountry": "SG", "toTime": "2026-08-23T09:47:31Z", "toLat": "1.2897", "toLon": "103.8501",
		"distanceKm": "10430", "minutes": "45", "speedKmh": "13907", "maxSpeedKmh": "1000",
	}}
	for lang, want := range map[string]string{
		"en": "10430 km in 45 minutes: 13907 km/h (at most 1000 km/h is possible)",
		"ja": "45 分で 10430 km: 時速 13907 km",
		"nl": "10430 km in 45 minuten: 13907 km/u",
	} {
		pic, title := picture(a, c, lang)
		svg := string(pic)
		if title != "picture.travel" || strings.Count(svg, "<circle") != 2 || !strings.Contains(svg, want) ||
			!strings.Contains(svg, "Amsterdam, NL · 2026-08-23T09:02:11Z") || !strings.Contains(svg, "Singapore, SG") {
			t.Errorf("%s: %s %s", lang, title, svg)
		}
	}
	delete(a.Details, "toLon")
	if pic, title := picture(a, c, "en"); pic != "" || title != "" {
		t.Errorf("picture without coordinates: %s %s", title, pic)
	}
}
