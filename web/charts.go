package web

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-security/vigil/alert"
)

// The pictures are SVG written here, on the server: no script draws them,
// so they show with JavaScript off and print as they look. Each has
// role="img" and an aria-label that says what it shows in words, and
// every bar a <title> with its numbers.

// severityColours are the fills of the severities, in the order of
// severities; each has at least 3:1 contrast on white.
var severityColours = []string{"#b42318", "#b54708", "#175cd3", "#475467"}

// esc escapes text for SVG.
func esc(s string) string { return template.HTMLEscapeString(s) }

// svgOpen starts an SVG of the size, labelled for assistive technology.
func svgOpen(b *strings.Builder, w, h int, label string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		w, h, w, h, esc(label))
}

// stackedDays draws one bar a day, stacked by series (severities), with a
// legend; start is the first day.
func stackedDays(start time.Time, series [][]int, names []string, title string) template.HTML {
	const w, h, left, right, top, bottom = 1100, 230, 44, 10, 30, 28
	days := 0
	if len(series) > 0 {
		days = len(series[0])
	}
	totals := make([]int, days)
	maxN, sum := 1, 0
	for _, s := range series {
		for i, n := range s {
			totals[i] += n
			sum += n
		}
	}
	for _, n := range totals {
		maxN = max(maxN, n)
	}
	var b strings.Builder
	svgOpen(&b, w, h, fmt.Sprintf("%s: %d", title, sum))
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	// Legend.
	x := float64(left)
	for i, n := range names {
		fmt.Fprintf(&b, `<rect x="%.0f" y="6" width="12" height="12" fill="%s"/><text x="%.0f" y="16" class="legend">%s</text>`,
			x, severityColours[i%len(severityColours)], x+16, esc(n))
		x += 24 + float64(utf8.RuneCountInString(n))*8
	}
	// Axis and grid.
	for _, frac := range []float64{0, 0.5, 1} {
		y := float64(top) + ph*(1-frac)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/><text x="%d" y="%.1f" class="axis" text-anchor="end">%d</text>`,
			left, w-right, y, y, left-6, y+4, int(float64(maxN)*frac+0.5))
	}
	if days == 0 {
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	bw := pw / float64(days)
	for i := range days {
		y := float64(top) + ph
		day := start.AddDate(0, 0, i)
		for si, s := range series {
			if s[i] == 0 {
				continue
			}
			bh := ph * float64(s[i]) / float64(maxN)
			y -= bh
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`,
				float64(left)+float64(i)*bw+1, y, max(bw-2, 1), bh, severityColours[si%len(severityColours)],
				day.Format(time.DateOnly), esc(names[si]), s[i])
		}
		if i%10 == 0 || i == days-1 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>`,
				float64(left)+(float64(i)+0.5)*bw, h-8, day.Format("01-02"))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// bar is one bar of a horizontal bar chart, linking to the alerts it counts.
type bar struct {
	Label string
	N     int
	URL   string
}

// maxLabel bounds a bar label, in runes.
const maxLabel = 44

// hbars draws the first n bars as horizontal bars with their labels and
// counts, each a link.
func hbars(bars []bar, n int, title string) template.HTML {
	const w, rowH, labelW, right = 640, 28, 300, 50
	bars = bars[:min(n, len(bars))]
	h := max(len(bars), 1)*rowH + 8
	maxN := 1
	for _, br := range bars {
		maxN = max(maxN, br.N)
	}
	var b strings.Builder
	svgOpen(&b, w, h, title)
	for i, br := range bars {
		y := 4 + i*rowH
		label := br.Label
		if utf8.RuneCountInString(label) > maxLabel {
			label = string([]rune(label)[:maxLabel-1]) + "…"
		}
		bw := float64(w-labelW-right) * float64(br.N) / float64(maxN)
		fmt.Fprintf(&b, `<a href="%s"><title>%s: %d</title><text x="%d" y="%d" class="label" text-anchor="end">%s</text>`+
			`<rect x="%d" y="%d" width="%.1f" height="%d" class="bar"/><text x="%.1f" y="%d" class="count">%s</text></a>`,
			esc(br.URL), esc(br.Label), br.N, labelW-8, y+18, esc(label), labelW, y+4, max(bw, 1), rowH-8,
			float64(labelW)+bw+6, y+18, formatInt(br.N))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// histogramBins is the most bars of a histogram.
const histogramBins = 30

// histogram draws how many of times fall in each of up to histogramBins
// equal spans between the first and the last.
func histogram(times []time.Time, title, unit string) template.HTML {
	const w, h, left, right, top, bottom = 720, 200, 44, 10, 10, 28
	if len(times) == 0 {
		return ""
	}
	first, last := times[0], times[0]
	for _, t := range times {
		if t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	span := last.Sub(first)
	bins := histogramBins
	if span <= 0 {
		bins = 1
	}
	counts := make([]int, bins)
	for _, t := range times {
		i := 0
		if span > 0 {
			i = min(int(float64(t.Sub(first))/float64(span)*float64(bins)), bins-1)
		}
		counts[i]++
	}
	maxN := 1
	for _, n := range counts {
		maxN = max(maxN, n)
	}
	var b strings.Builder
	svgOpen(&b, w, h, fmt.Sprintf("%s: %d %s, %s – %s", title, len(times), unit,
		first.UTC().Format(timeLayout), last.UTC().Format(timeLayout)))
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	for _, frac := range []float64{0, 0.5, 1} {
		y := float64(top) + ph*(1-frac)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/><text x="%d" y="%.1f" class="axis" text-anchor="end">%d</text>`,
			left, w-right, y, y, left-6, y+4, int(float64(maxN)*frac+0.5))
	}
	bw := pw / float64(bins)
	step := span / time.Duration(bins)
	for i, n := range counts {
		if n == 0 {
			continue
		}
		bh := ph * float64(n) / float64(maxN)
		from := first.Add(time.Duration(i) * step)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar"><title>%s: %d</title></rect>`,
			float64(left)+float64(i)*bw+1, float64(top)+ph-bh, max(bw-2, 1), bh, from.UTC().Format("15:04:05"), n)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis">%s</text><text x="%d" y="%d" class="axis" text-anchor="end">%s</text>`,
		left, h-8, first.UTC().Format(timeLayout), w-right, h-8, last.UTC().Format(timeLayout))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// volume draws an hour's operations against the usual band (median ± MAD)
// and the busiest hour seen before.
func volume(hour, median, mad, peak float64, labels [4]string) template.HTML {
	const w, h, left, right, top, bottom = 720, 220, 44, 260, 12, 16
	top0 := max(hour, peak, median+mad) * 1.1
	if top0 <= 0 {
		return ""
	}
	ph, pw := float64(h-top-bottom), float64(w-left-right)
	y := func(v float64) float64 { return float64(top) + ph*(1-v/top0) }
	var b strings.Builder
	svgOpen(&b, w, h, fmt.Sprintf("%s %.0f; %s %.0f ± %.0f; %s %.0f", labels[0], hour, labels[1], median, mad, labels[2], peak))
	lo, hi := max(median-mad, 0), median+mad
	fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%.1f" height="%.1f" class="band"><title>%s: %.0f – %.0f</title></rect>`,
		left, y(hi), pw, max(y(lo)-y(hi), 1), esc(labels[1]), lo, hi)
	fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" class="median"/>`, left, float64(left)+pw, y(median), y(median))
	fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" class="peak"/>`, left, float64(left)+pw, y(peak), y(peak))
	bx := float64(left) + pw/2 - 40
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="80" height="%.1f" class="spike"><title>%s: %.0f</title></rect>`,
		bx, y(hour), float64(top)+ph-y(hour), esc(labels[0]), hour)
	lx := float64(left) + pw + 10
	for i, item := range []struct {
		v     float64
		class string
	}{{hour, "spike"}, {median, "median"}, {peak, "peak"}} {
		text := fmt.Sprintf("%s: %.0f", labels[i], item.v)
		if i == 1 {
			text = fmt.Sprintf("%s: %.0f ± %.0f", labels[1], median, mad)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="legend %s-text">%s</text>`, lx, y(item.v)+4, item.class, esc(text))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" class="grid"/>`, left, float64(left)+pw, y(0), y(0))
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="axis" text-anchor="end">0</text><text x="%d" y="%.1f" class="axis" text-anchor="end">%.0f</text>`,
		left-6, y(0)+4, left-6, y(hour)+4, hour)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// number reads a detail's number, which may carry thousands separators.
func number(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), 64)
	return f, err == nil
}

// picture returns the picture that tells the alert's story best, with the
// i18n key of its heading: attempts over time for brute force, the hour
// against its baseline for a volume anomaly, the two places and the speed
// between them for impossible travel; nothing for the others.
func picture(a *alert.Alert, c catalogue, lang string) (template.HTML, string) {
	tr := func(key string) string { return c.translate(lang, key) }
	if strings.Contains(a.Type, "_BF_") && len(a.Evidence) > 0 {
		times := make([]time.Time, 0, len(a.Evidence))
		for _, e := range a.Evidence {
			times = append(times, e.Time)
		}
		return histogram(times, tr("picture.attempts"), tr("picture.attemptsUnit")), "picture.attempts"
	}
	if pic := travelPicture(a, tr, c, lang); pic != "" {
		return pic, "picture.travel"
	}
	hour, ok1 := number(a.Details["hourCount"])
	median, ok2 := number(a.Details["expected"])
	mad, ok3 := number(a.Details["mad"])
	peak, ok4 := number(a.Details["peak"])
	if ok1 && ok2 && ok3 && ok4 {
		return volume(hour, median, mad, peak, [4]string{tr("picture.thisHour"), tr("picture.usual"), tr("picture.peak"), ""}), "picture.volume"
	}
	return "", ""
}

// travelPicture draws an impossible-travel alert's two places on a
// latitude-longitude frame, joined, with the distance, time and speed;
// nothing when the alert does not carry both places' coordinates.
func travelPicture(a *alert.Alert, tr func(string) string, c catalogue, lang string) template.HTML {
	d := a.Details
	fromLat, ok1 := number(d["fromLat"])
	fromLon, ok2 := number(d["fromLon"])
	toLat, ok3 := number(d["toLat"])
	toLon, ok4 := number(d["toLon"])
	if !ok1 || !ok2 || !ok3 || !ok4 || math.Abs(fromLat) > 90 || math.Abs(toLat) > 90 ||
		math.Abs(fromLon) > 180 || math.Abs(toLon) > 180 {
		return ""
	}
	place := func(city, country, at string) string {
		name := country
		if city != "" {
			name = city + ", " + country
		}
		return name + " · " + at
	}
	from := place(d["fromCity"], d["fromCountry"], d["fromTime"])
	to := place(d["toCity"], d["toCountry"], d["toTime"])
	speed := c.translate(lang, "picture.travelSpeed", d["distanceKm"], d["minutes"], d["speedKmh"], d["maxSpeedKmh"])
	return travel(fromLat, fromLon, toLat, toLon, from, to, speed)
}

// travel draws two places (degrees) on an equirectangular frame with a
// graticule every 30°, joined by a line, each labelled, and a caption.
func travel(fromLat, fromLon, toLat, toLon float64, from, to, caption string) template.HTML {
	const w, h, pad, bottom = 720, 360, 10, 30
	pw, ph := float64(w-2*pad), float64(h-2*pad-bottom)
	x := func(lon float64) float64 { return float64(pad) + (lon+180)/360*pw }
	y := func(lat float64) float64 { return float64(pad) + (90-lat)/180*ph }
	var b strings.Builder
	svgOpen(&b, w, h, from+" → "+to+"; "+caption)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" class="band"/>`, pad, pad, pw, ph)
	for lon := -150.0; lon < 180; lon += 30 {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" class="grid"/>`, x(lon), x(lon), pad, float64(pad)+ph)
	}
	for lat := -60.0; lat <= 60; lat += 30 {
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" class="grid"/>`, pad, float64(pad)+pw, y(lat), y(lat))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="peak"/>`, x(fromLon), y(fromLat), x(toLon), y(toLat))
	for _, p := range []struct {
		lat, lon float64
		label    string
		class    string
	}{{fromLat, fromLon, from, "median"}, {toLat, toLon, to, "spike"}} {
		anchor := "start"
		dx := 8.0
		if x(p.lon) > float64(w)/2 {
			anchor, dx = "end", -8
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="5" class="%s"><title>%s</title></circle>`, x(p.lon), y(p.lat), p.class, esc(p.label))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="legend" text-anchor="%s">%s</text>`, x(p.lon)+dx, y(p.lat)-8, anchor, esc(p.label))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis">%s</text>`, pad, h-10, esc(caption))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
