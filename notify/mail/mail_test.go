package mail

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/notify/dispatch"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	partnerP = "4b1b6a9e-1f6f-4b0a-9d55-2b2f0c1a7e01"
	partnerQ = "9e3c2b1a-5d4f-4e6a-8b7c-1a2b3c4d5e6f"
	tenantA  = "1889e718-414b-4bad-8bbe-c1135bd39a41"
	tenantB  = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	subA     = "5f6e6521-6e5f-4b0b-80aa-bd44fad7a398"
	subB     = "9c2a8d3e-1f4b-4e6a-8c5d-0b7e3f2a1d90"
)

func directory() *tenancy.Directory {
	return &tenancy.Directory{
		Partners: []tenancy.Partner{
			{ID: partnerP, Name: "Contoso CSP", Customers: []string{tenantA, tenantB}},
			{ID: partnerQ, Name: "Northwind CSP", Customers: []string{tenantB}},
		},
		Customers: []tenancy.Customer{
			{TenantID: tenantA, Name: "Fabrikam", Subscriptions: []tenancy.Subscription{{ID: subA, Name: "production"}}},
		},
	}
}

// clock is a time the test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// rig is a store, an SMTP server, a mail notifier and a dispatcher on a
// clock the test moves.
type rig struct {
	st   *store.SQLite
	smtp *smtpServer
	clk  *clock
	d    *dispatch.Dispatcher
	n    *Notifier
}

func newRig(t *testing.T, recipients ...notify.Recipient) *rig {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv := newSMTPServer(t)
	cfg := notify.DefaultConfig()
	cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.From = "127.0.0.1", srv.port(), "vigil@example.com"
	cfg.SMTP.Username, cfg.SMTP.Password = smtpUser, smtpPass
	cfg.Daily = notify.Daily{Hour: 8, TimeZone: "Asia/Tokyo", LookBack: 60 * 24 * time.Hour}
	n, err := New(Options{SMTP: cfg.SMTP, Store: st, Directory: directory(), BaseURL: "https://vigil.example.com",
		Throttle: cfg.Throttle, Daily: cfg.Daily, TLSConfig: &tls.Config{RootCAs: srv.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recipients {
		tg, err := Target(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutTarget(context.Background(), tg); err != nil {
			t.Fatal(err)
		}
	}
	// The outbox stamps entries with the wall clock; the test's clock
	// starts a minute ahead of it, so what the test writes is due.
	clk := &clock{now: time.Now().Add(time.Minute)}
	d, err := dispatch.New(dispatch.Options{Outbox: st, Notifiers: []notify.Notifier{n}, Now: clk.Now, MaxAttempts: 5})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{st: st, smtp: srv, clk: clk, d: d, n: n}
}

func (r *rig) step(t *testing.T) {
	t.Helper()
	for {
		n, err := r.d.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// mk is a Key Vault Tor alert with the catalogue's example details.
func mk(id, typ, tenant, sub string, sev alert.Severity, at time.Time) *alert.Alert {
	e, _ := alert.Lookup(typ)
	return &alert.Alert{ID: id, Type: typ, Fingerprint: "fp-" + id, Severity: sev, Status: alert.StatusActive,
		TenantID: tenant, SubscriptionID: sub, Resource: "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-" + id,
		Detected: at, FirstObserved: at, LastObserved: at, Count: 1, Details: e.Example}
}

func (r *rig) save(t *testing.T, as ...*alert.Alert) {
	t.Helper()
	if err := r.st.SaveAlerts(context.Background(), as); err != nil {
		t.Fatal(err)
	}
}

// TestRealtimeThrottleGathers: the first alert of a subscription and
// severity is mailed at once; those within the next 6 hours (high) are held
// back and gathered into one mail when the interval ends; another severity
// has its own interval.
func TestRealtimeThrottleGathers(t *testing.T) {
	r := newRig(t, notify.Recipient{Address: "soc@example.jp", Language: "ja", Kinds: []string{notify.KindRealtime}})
	at := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	r.save(t, mk("a1", "KV_TORAccess", tenantA, subA, alert.SeverityHigh, at))
	r.step(t)
	got := r.smtp.mails()
	if len(got) != 1 {
		t.Fatalf("%d mails after the first alert", len(got))
	}
	m := got[0]
	if m.Lang != "ja" || !m.TLS || m.To != "soc@example.jp" || m.From != "vigil@example.com" ||
		!strings.HasPrefix(m.Subject, "[Vigil] 重大度「高」のアラート: ") || !strings.Contains(m.Text, "修復手順") ||
		!strings.Contains(m.HTML, `<html lang="ja">`) || !strings.Contains(m.Text, "https://vigil.example.com/v1.0/security/partner/securityAlerts/a1") ||
		!strings.Contains(m.Text, "Fabrikam ("+tenantA+")") || !strings.Contains(m.Text, "production ("+subA+")") {
		t.Fatalf("first mail: %+v", m)
	}
	ja, _ := alert.Lookup("KV_TORAccess")
	if !strings.Contains(m.Subject, ja.Text("ja").DisplayName) {
		t.Errorf("subject %q lacks the Japanese display name", m.Subject)
	}

	r.clk.Add(time.Hour)
	r.save(t, mk("a2", "KV_TORAccess", tenantA, subA, alert.SeverityHigh, at.Add(time.Hour)),
		mk("a3", "KV_SuspiciousIPAccess", tenantA, subA, alert.SeverityHigh, at.Add(time.Hour)),
		mk("m1", "KV_TORAccess", tenantA, subA, alert.SeverityMedium, at.Add(time.Hour)))
	r.step(t)
	if got := r.smtp.mails(); len(got) != 2 || !strings.Contains(got[1].Subject, "「中」") {
		t.Fatalf("after an hour: %d mails (want the medium one only)", len(got))
	}
	r.clk.Add(2 * time.Hour)
	r.save(t, mk("a4", "KV_TORAccess", tenantA, subA, alert.SeverityHigh, at.Add(3*time.Hour)))
	r.step(t)
	if got := r.smtp.mails(); len(got) != 2 {
		t.Fatalf("within the interval: %d mails", len(got))
	}
	c, _ := r.st.OutboxCounts(context.Background())
	if c[store.OutboxPending] != 3 {
		t.Fatalf("held back: %v, want 3 pending", c)
	}
	r.clk.Add(3*time.Hour + time.Second) // 6 h after the first mail
	r.step(t)
	got = r.smtp.mails()
	if len(got) != 3 {
		t.Fatalf("after the interval: %d mails, want 3", len(got))
	}
	m = got[2]
	if !strings.Contains(m.Subject, "アラート 3 件") || !strings.Contains(m.Text, "このうち 3 件は") {
		t.Errorf("gathered mail: subject %q\n%s", m.Subject, m.Text)
	}
	for _, id := range []string{"a2", "a3", "a4"} {
		if !strings.Contains(m.Text, "/securityAlerts/"+id) {
			t.Errorf("gathered mail lacks %s", id)
		}
	}
	if c, _ := r.st.OutboxCounts(context.Background()); c[store.OutboxPending] != 0 || c[store.OutboxDone] != 5 {
		t.Errorf("outbox %v", c)
	}
}

// TestHeldBackNeverHeldTwice: when the alerts held back come due in more
// than one batch, the later batches are mailed too, not held for another
// interval.
func TestHeldBackNeverHeldTwice(t *testing.T) {
	r := newRig(t, notify.Recipient{Address: "soc@example.com", Kinds: []string{notify.KindRealtime}})
	d, err := dispatch.New(dispatch.Options{Outbox: r.st, Notifiers: []notify.Notifier{r.n}, Now: r.clk.Now, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	at := time.Now()
	r.save(t, mk("h0", "KV_TORAccess", tenantA, subA, alert.SeverityHigh, at))
	r.step(t)
	r.clk.Add(time.Hour)
	r.save(t, mk("h1", "KV_TORAccess", tenantA, subA, alert.SeverityHigh, at), mk("h2", "KV_TORAccess", tenantA, subA, alert.SeverityHigh, at),
		mk("h3", "KV_TORAccess", tenantA, subA, alert.SeverityHigh, at))
	r.step(t)
	if n := len(r.smtp.mails()); n != 1 {
		t.Fatalf("%d mails within the interval", n)
	}
	r.clk.Add(5*time.Hour + time.Second)
	r.step(t)
	got := r.smtp.mails()
	if len(got) != 3 || !strings.Contains(got[1].Subject, "2 High") || !strings.Contains(got[2].Subject, "High severity alert") {
		var subj []string
		for _, m := range got {
			subj = append(subj, m.Subject)
		}
		t.Fatalf("after the interval, batches of 2: %q", subj)
	}
	if c, _ := r.st.OutboxCounts(context.Background()); c[store.OutboxPending] != 0 {
		t.Errorf("outbox %v", c)
	}
}

// TestRecipientPreferences: filters, kinds and events decide who gets what.
func TestRecipientPreferences(t *testing.T) {
	r := newRig(t,
		notify.Recipient{Address: "high@example.com", Kinds: []string{notify.KindRealtime}, Filter: notify.Filter{MinSeverity: alert.SeverityHigh}},
		notify.Recipient{Address: "b@example.nl", Language: "nl", Kinds: []string{notify.KindRealtime}, Filter: notify.Filter{Tenants: []string{tenantB}}},
		notify.Recipient{Address: "daily@example.com", Kinds: []string{notify.KindDaily}},
	)
	at := time.Now()
	suppressed := mk("x3", "KV_TORAccess", tenantB, subB, alert.SeverityHigh, at)
	suppressed.Status, suppressed.ResolvedReason, suppressed.SuppressedBy = alert.StatusResolved, alert.ReasonLegitimate, "rule-1"
	r.save(t, mk("x1", "KV_TORAccess", tenantA, subA, alert.SeverityMedium, at), mk("x2", "KV_TORAccess", tenantB, subB, alert.SeverityHigh, at), suppressed)
	if _, err := r.st.UpdateStatus(context.Background(), "x2", alert.StatusInvestigating, "", "analyst", at); err != nil {
		t.Fatal(err)
	}
	r.step(t)
	got := map[string][]received{}
	for _, m := range r.smtp.mails() {
		got[m.To] = append(got[m.To], m)
	}
	if len(got["high@example.com"]) != 1 || !strings.Contains(got["high@example.com"][0].Text, "/x2") || strings.Contains(got["high@example.com"][0].Text, "/x3") {
		t.Errorf("high@: %+v", got["high@example.com"])
	}
	if len(got["b@example.nl"]) != 1 || got["b@example.nl"][0].Lang != "nl" || !strings.Contains(got["b@example.nl"][0].Subject, "Waarschuwing met ernst hoog") {
		t.Errorf("b@: %+v", got["b@example.nl"])
	}
	if len(got["daily@example.com"]) != 0 {
		t.Errorf("daily-only recipient got real-time mail")
	}
	skipped, _ := r.st.ListOutbox(context.Background(), store.OutboxQuery{TargetIDs: []string{"mail:b@example.nl"}})
	var why []string
	for _, e := range skipped {
		why = append(why, e.AlertID+" "+e.Result)
	}
	want := "[x1 skipped: outside the recipient's filter x2 mailed 1 alerts x3 skipped: suppressed x2 skipped: only new alerts and raised severities are mailed]"
	if fmt.Sprint(why) != want {
		t.Errorf("b@ entries %v\nwant %s", why, want)
	}
}

// TestSMTPFailureRetried: a server answering 451 gets the mail on a later
// attempt; nothing is lost.
func TestSMTPFailureRetried(t *testing.T) {
	r := newRig(t, notify.Recipient{Address: "soc@example.com", Kinds: []string{notify.KindRealtime}})
	r.smtp.mu.Lock()
	r.smtp.fail = true
	r.smtp.mu.Unlock()
	r.save(t, mk("f1", "KV_TORAccess", tenantA, subA, alert.SeverityHigh, time.Now()))
	r.step(t)
	if len(r.smtp.mails()) != 0 {
		t.Fatal("mail accepted while failing")
	}
	e, _ := r.st.ListOutbox(context.Background(), store.OutboxQuery{})
	if e[0].State != store.OutboxPending || !strings.Contains(e[0].LastError, "451") {
		t.Fatalf("entry %+v", e[0])
	}
	r.smtp.mu.Lock()
	r.smtp.fail = false
	r.smtp.mu.Unlock()
	r.clk.Add(time.Minute)
	r.step(t)
	if got := r.smtp.mails(); len(got) != 1 || got[0].MessageID != "<"+e[0].Key+"@vigil>" {
		t.Fatalf("after retry: %+v", got)
	}
}

// TestDailySummary: at the configured hour in the configured zone, each
// daily recipient gets one summary in its language; a second run the same
// day enqueues nothing; resolved and old alerts are not counted.
func TestDailySummary(t *testing.T) {
	r := newRig(t,
		notify.Recipient{Address: "en@example.com", Language: "en", Kinds: []string{notify.KindDaily}},
		notify.Recipient{Address: "ja@example.jp", Language: "ja", Kinds: []string{notify.KindDaily, notify.KindRealtime}, Filter: notify.Filter{MinSeverity: alert.SeverityHigh}},
		notify.Recipient{Address: "nl@example.nl", Language: "nl", Kinds: []string{notify.KindDaily}},
		notify.Recipient{Address: "rt@example.com", Kinds: []string{notify.KindRealtime}},
	)
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	r.clk.now = time.Date(2026, 11, 20, 7, 59, 0, 0, tokyo)
	now := r.clk.Now()
	r.save(t,
		mk("d1", "KV_TORAccess", tenantA, subA, alert.SeverityHigh, now.Add(-24*time.Hour)),
		mk("d2", "KV_TORAccess", tenantB, subB, alert.SeverityHigh, now.Add(-10*24*time.Hour)),
		mk("d3", "KV_SuspiciousIPAccess", tenantB, subB, alert.SeverityMedium, now.Add(-2*time.Hour)),
		mk("d4", "KV_TORAccess", tenantA, subA, alert.SeverityHigh, now.Add(-61*24*time.Hour)), // too old
		mk("d5", "KV_TORAccess", tenantA, subA, alert.SeverityLow, now.Add(-time.Hour)),
	)
	if _, err := r.st.UpdateStatus(context.Background(), "d5", alert.StatusResolved, alert.ReasonFraud, "analyst", now); err != nil {
		t.Fatal(err)
	}
	// Real-time entries of these alerts are not what this test is about.
	if err := r.st.DeleteTarget(context.Background(), "mail:rt@example.com", now); err != nil {
		t.Fatal(err)
	}
	ja, _ := r.st.ListOutbox(context.Background(), store.OutboxQuery{TargetIDs: []string{"mail:ja@example.jp"}})
	var fs []store.Finish
	claimed, _ := r.st.ClaimOutbox(context.Background(), store.Claim{Owner: "t", Now: time.Now(), Lease: time.Hour, Limit: 100})
	for _, e := range claimed {
		fs = append(fs, store.Finish{ID: e.ID, Attempts: e.Attempts, State: store.OutboxDone, At: now})
	}
	if _, err := r.st.FinishOutbox(context.Background(), "t", fs); err != nil || len(ja) == 0 {
		t.Fatal(err)
	}

	s := &Scheduler{Outbox: r.st, Daily: r.n.o.Daily}
	if n, err := s.Due(context.Background(), now); err != nil || n != 0 {
		t.Fatalf("before the hour: %d, %v", n, err)
	}
	r.clk.Add(time.Minute)
	if n, err := s.Due(context.Background(), r.clk.Now()); err != nil || n != 3 {
		t.Fatalf("at the hour: %d, %v", n, err)
	}
	if n, err := s.Due(context.Background(), r.clk.Now().Add(5*time.Hour)); err != nil || n != 0 {
		t.Fatalf("again that day: %d, %v", n, err)
	}
	r.step(t)
	byLang := map[string]received{}
	for _, m := range r.smtp.mails() {
		byLang[m.Lang] = m
	}
	if len(r.smtp.mails()) != 3 {
		t.Fatalf("%d summaries", len(r.smtp.mails()))
	}
	en := byLang["en"]
	for _, want := range []string{"Partners affected: 2", "Customers affected: 2", "Subscriptions affected: 2", "Total: 3",
		"2  Access from a TOR exit node to a key vault (KV_TORAccess)", "as of 2026-11-20 08:00 JST"} {
		if !strings.Contains(en.Text, want) {
			t.Errorf("en summary lacks %q:\n%s", want, en.Text)
		}
	}
	if en.Subject != "[Vigil] Daily summary: 3 unresolved alerts" {
		t.Errorf("en subject %q", en.Subject)
	}
	if m := byLang["ja"]; m.Subject != "[Vigil] 日次サマリー: 未解決のアラート 2 件" || !strings.Contains(m.Text, "影響を受けた顧客: 2") {
		t.Errorf("ja summary (high only): %q\n%s", m.Subject, m.Text)
	}
	if m := byLang["nl"]; m.Subject != "[Vigil] Dagelijks overzicht: 3 onopgeloste waarschuwingen" || !strings.Contains(m.HTML, `<html lang="nl">`) {
		t.Errorf("nl summary: %q", m.Subject)
	}
	for lang, m := range byLang {
		golden(t, "daily."+lang+".txt", m.Text)
		golden(t, "daily."+lang+".html", m.HTML)
	}
}

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	got = strings.ReplaceAll(got, "\r\n", "\n") // as sent over SMTP
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

// TestRenderRealtimeGolden renders a gathered real-time mail in each
// language against golden files (the HTML ones are what the README's
// screenshots show).
func TestRenderRealtimeGolden(t *testing.T) {
	at := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	alerts := []*alert.Alert{
		mk("g1", "KV_TORAccess", tenantA, subA, alert.SeverityHigh, at),
		mk("g2", "KV_SuspiciousIPAccess", tenantA, subA, alert.SeverityHigh, at.Add(time.Hour)),
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	for _, lang := range []string{"en", "ja", "nl"} {
		r, err := RenderRealtime(lang, alerts, 1, "https://vigil.example.com", tokyo, tenancy.NewIndex(directory()))
		if err != nil {
			t.Fatal(err)
		}
		if r.Lang != lang || !strings.Contains(r.Subject, "2") {
			t.Errorf("%s: %+v", lang, r.Subject)
		}
		golden(t, "realtime."+lang+".txt", r.Text)
		golden(t, "realtime."+lang+".html", r.HTML)
	}
}
