// Package alert is Vigil's alert model, its catalogue of alert types and the
// manager that turns detector candidates into alerts.
//
// # Model
//
// A detector emits a [Candidate]: a finding with a type, an event-time range,
// entities, evidence and details. The [Manager] fingerprints it (type,
// tenant, subscription and the candidate's key entities, see [Fingerprint])
// and either merges it into the open [Alert] with that fingerprint, when the
// repeat falls inside the aggregation window, or opens a new alert whose id
// ([AlertID]) is derived from the fingerprint and first observed time, so the
// same input always yields the same ids. All windows are on event time.
//
// # Catalogue
//
// The catalogue ([Lookup], [All], [Catalogue]) has one [Entry] per alert
// type, keyed by Defender's alert type id (KV_TORAccess, ...): severity,
// confidence, MITRE ATT&CK tactics (as Defender names them) and techniques,
// and, in every language of [Languages] (en, ja, nl), a display name, a
// description template and the remediation steps of the type's response
// playbook. Entries are data: YAML files under catalogue/ embedded in the
// binary (catalogue/README.md gives the schema); adding an alert type means
// adding an entry there. The ja and nl playbooks come from Microsoft's
// Japanese and Dutch response pages (the project's seeds), en is their
// translation.
//
// A description template is a text/template over the alert's Details. Each
// entry declares the detail keys it requires and those it uses when present;
// [Entry.Describe] refuses missing required keys, and loading a catalogue
// fails when a template names a key its entry does not declare. The Manager
// maintains three keys on every alert ([DetailCount], [DetailFirst],
// [DetailLast]); detectors fill the others. Shared key names:
//
//	vault          key vault name
//	caller         who acted: UPN, else "app <appId>", else object ID
//	objectId       caller's Azure AD object ID
//	appId          caller's application (client) ID
//	ip             caller IP address
//	country        ISO 3166-1 alpha-2 country of ip
//	intel          threat-intelligence match, "source (category, yyyy-mm-dd)"
//	subscription   subscription ID
//	operations     operation names, comma separated
//
// # Rendering
//
// [Render] shows an alert in a reader's language in the shape of Microsoft
// Graph's partnerSecurityAlert plus Vigil's own properties ([GraphAlert]);
// [RenderTable] prints alerts for people.
package alert
