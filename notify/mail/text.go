package mail

import (
	"strings"

	"github.com/vigil-security/vigil/alert"
)

// words are the mail's own texts in one language; alert texts come from
// the catalogue.
type words struct {
	SubjectOne, SubjectMany, SubjectDaily string // with {n}, {sev}, {name}, {sub}
	Intro, HeldBack, DailyIntro           string
	Severity, Type, Detected, Tenant      string
	Subscription, Resource, Status, Count string
	Description, Remediation, View        string
	Partners, Customers, Subscriptions    string
	ByType, BySeverity, OpenList, Total   string
	Footer                                string
	Severities                            map[alert.Severity]string
	Statuses                              map[alert.Status]string
}

var dictionary = map[string]*words{
	"en": {
		SubjectOne:   "[Vigil] {sev} severity alert: {name}",
		SubjectMany:  "[Vigil] {n} {sev} severity alerts in subscription {sub}",
		SubjectDaily: "[Vigil] Daily summary: {n} unresolved alerts",
		Intro:        "Vigil detected the following alerts in subscription {sub}.",
		HeldBack:     "{n} of them were held back by the mail throttle and are included in this mail.",
		DailyIntro:   "Unresolved alerts of the last {days} days, as of {date}.",
		Severity:     "Severity", Type: "Alert type", Detected: "Detected", Tenant: "Tenant",
		Subscription: "Subscription", Resource: "Resource", Status: "Status", Count: "Alerts",
		Description: "Description", Remediation: "Remediation steps", View: "View in Vigil",
		Partners: "Partners affected", Customers: "Customers affected", Subscriptions: "Subscriptions affected",
		ByType: "By alert type", BySeverity: "By severity", OpenList: "Open the list of unresolved alerts", Total: "Total",
		Footer:     "You receive this mail because your address is a Vigil notification recipient.",
		Severities: map[alert.Severity]string{alert.SeverityHigh: "High", alert.SeverityMedium: "Medium", alert.SeverityLow: "Low", alert.SeverityInformational: "Informational"},
		Statuses:   map[alert.Status]string{alert.StatusActive: "Active", alert.StatusInvestigating: "Investigating", alert.StatusResolved: "Resolved"},
	},
	"ja": {
		SubjectOne:   "[Vigil] 重大度「{sev}」のアラート: {name}",
		SubjectMany:  "[Vigil] サブスクリプション {sub} で重大度「{sev}」のアラート {n} 件",
		SubjectDaily: "[Vigil] 日次サマリー: 未解決のアラート {n} 件",
		Intro:        "サブスクリプション {sub} で次のアラートが検出されました。",
		HeldBack:     "このうち {n} 件は、メールの送信間隔の制限により保留されていたアラートです。",
		DailyIntro:   "過去 {days} 日間の未解決のアラート ({date} 時点)。",
		Severity:     "重大度", Type: "アラートの種類", Detected: "検出日時", Tenant: "テナント",
		Subscription: "サブスクリプション", Resource: "リソース", Status: "状態", Count: "アラート数",
		Description: "説明", Remediation: "修復手順", View: "Vigil で表示",
		Partners: "影響を受けたパートナー", Customers: "影響を受けた顧客", Subscriptions: "影響を受けたサブスクリプション",
		ByType: "アラートの種類別", BySeverity: "重大度別", OpenList: "未解決のアラートの一覧を開く", Total: "合計",
		Footer:     "このメールは、Vigil の通知の受信者として登録されたアドレスに送信されています。",
		Severities: map[alert.Severity]string{alert.SeverityHigh: "高", alert.SeverityMedium: "中", alert.SeverityLow: "低", alert.SeverityInformational: "情報"},
		Statuses:   map[alert.Status]string{alert.StatusActive: "アクティブ", alert.StatusInvestigating: "調査中", alert.StatusResolved: "解決済み"},
	},
	"nl": {
		SubjectOne:   "[Vigil] Waarschuwing met ernst {sev}: {name}",
		SubjectMany:  "[Vigil] {n} waarschuwingen met ernst {sev} in abonnement {sub}",
		SubjectDaily: "[Vigil] Dagelijks overzicht: {n} onopgeloste waarschuwingen",
		Intro:        "Vigil heeft de volgende waarschuwingen gedetecteerd in abonnement {sub}.",
		HeldBack:     "Daarvan werden er {n} door de e-maillimiet tegengehouden; ze staan in dit bericht.",
		DailyIntro:   "Onopgeloste waarschuwingen van de afgelopen {days} dagen, stand van {date}.",
		Severity:     "Ernst", Type: "Type waarschuwing", Detected: "Gedetecteerd", Tenant: "Tenant",
		Subscription: "Abonnement", Resource: "Resource", Status: "Status", Count: "Waarschuwingen",
		Description: "Beschrijving", Remediation: "Herstelstappen", View: "Bekijken in Vigil",
		Partners: "Getroffen partners", Customers: "Getroffen klanten", Subscriptions: "Getroffen abonnementen",
		ByType: "Per type waarschuwing", BySeverity: "Per ernst", OpenList: "Open de lijst met onopgeloste waarschuwingen", Total: "Totaal",
		Footer:     "U ontvangt dit bericht omdat uw adres is opgegeven als ontvanger van Vigil-meldingen.",
		Severities: map[alert.Severity]string{alert.SeverityHigh: "hoog", alert.SeverityMedium: "gemiddeld", alert.SeverityLow: "laag", alert.SeverityInformational: "informatief"},
		Statuses:   map[alert.Status]string{alert.StatusActive: "Actief", alert.StatusInvestigating: "In onderzoek", alert.StatusResolved: "Opgelost"},
	},
}

// wordsFor returns the texts of a language (English when unknown).
func wordsFor(lang string) *words {
	if w, ok := dictionary[lang]; ok {
		return w
	}
	return dictionary["en"]
}

// fill replaces {key} placeholders.
func fill(s string, kv ...string) string {
	return strings.NewReplacer(kv...).Replace(s)
}
