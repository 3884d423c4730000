package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/notify"
)

func TestConfigParse(t *testing.T) {
	doc := `
notify:
  baseURL: https://vigil.example.com
  allowTargets: [10.20.0.0/16]
  webhooks:
    - name: soc
      url: https://hooks.example.com/vigil
      events: [azure-fraud-event-detected]
      secret: s3cret
      minSeverity: medium
      tenants: [t1]
  smtp: {host: smtp.example.com, from: vigil@example.com, username: vigil, password: pw}
  recipients:
    - {address: soc@example.jp, language: ja, kinds: [realtime, daily], minSeverity: high}
  daily: {hour: 9, timeZone: Asia/Tokyo}
  export:
    file: {path: /var/lib/vigil/export.jsonl, maxBytes: 1048576, maxFiles: 3, types: [KV_TORAccess]}
`
	cfg := config.Default()
	if err := config.Parse([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	n := cfg.Notify
	if !n.Enabled || n.Webhooks[0].Filter.MinSeverity != alert.SeverityMedium || n.Webhooks[0].Filter.Tenants[0] != "t1" ||
		n.Recipients[0].Language != "ja" || n.Daily.Hour != 9 || n.SMTP.Port != 587 || n.Throttle.High != 6*time.Hour ||
		n.Export.File.MaxFiles != 3 || n.Export.File.Filter.Types[0] != "KV_TORAccess" {
		t.Fatalf("parsed %+v", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"notify: {baseURL: ftp://x}", "notify.baseURL"},
		{"notify: {allowTargets: [nope]}", "allowTargets[0]"},
		{"notify: {webhooks: [{name: a, url: 'https://x', events: [customer-created], secret: s}]}", "unknown event"},
		{"notify: {webhooks: [{name: a, url: 'https://x', events: [azure-fraud-event-detected]}]}", "secret"},
		{"notify: {recipients: [{address: a@b, kinds: [daily]}]}", "need notify.smtp.host"},
		{"notify: {smtp: {host: h, from: f}, recipients: [{address: nobody, kinds: [weekly]}]}", "unknown kind"},
		{"notify: {daily: {hour: 24}}", "hour"},
		{"notify: {daily: {timeZone: Mars/Olympus}}", "timeZone"},
		{"notify: {export: {kafka: {topic: x}}}", "brokers"},
		{"notify: {smtp: {host: h, from: f, tls: maybe}}", "notify.smtp.tls"},
	} {
		cfg := config.Default()
		err := config.Parse([]byte(tc.doc), &cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.doc, err, tc.want)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	f := notify.Filter{Tenants: []string{"t1"}, MinSeverity: alert.SeverityMedium}
	for _, tc := range []struct {
		tenant string
		sev    alert.Severity
		want   bool
	}{{"t1", alert.SeverityHigh, true}, {"t1", alert.SeverityLow, false}, {"t2", alert.SeverityHigh, false}} {
		if got := f.Match(tc.tenant, "s", "X", tc.sev); got != tc.want {
			t.Errorf("%s %s: %v", tc.tenant, tc.sev, got)
		}
	}
}
