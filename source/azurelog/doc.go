// Package azurelog reads Azure Activity Log events and Key Vault AuditEvent
// records into event.Op.
//
// # Shapes
//
// The shape is detected from the content, never from the file name, and may
// change within one input:
//
//   - the {"records":[...]} envelope that diagnostic settings write to Event
//     Hubs and storage (several envelopes may follow one another, e.g. one
//     per line), and the {"value":[...]} list that the Activity Log REST API
//     returns. The envelope key must be the object's first key, as Azure
//     writes it; an object whose first key is something else is a record;
//   - JSON lines, one record per line (storage append blobs, PT1H.json);
//   - a JSON array of records, a single object, or concatenated objects
//     (pretty-printed or not);
//   - any of these compressed with gzip, recognised by its magic bytes.
//
// Each record is either in the resource-log schema (time, operationName,
// resultType, identity.claims ...) or in the Activity Log REST shape
// (eventTimestamp, operationName.value, caller, claims, status.value,
// httpRequest.clientIpAddress, subscriptionId, resourceGroupName, ...). Keys
// are matched without regard to case.
//
// Records are streamed: the reader finds record boundaries itself and holds
// one record (at most Options.MaxRecordBytes) in memory at a time, however
// large the envelope or array around it. Each record is parsed in a single
// pass that validates it as strict JSON (RFC 8259), finds its end, and notes
// where the members the decoder needs are, descending only into the objects
// that hold them; nothing else is copied. When a member is repeated, the
// last one wins; repeated objects (two "properties") are both read. The
// fastjson-based decoder in the tests is the oracle it is checked against.
// Repeated strings (operation names, resource IDs, callers, user agents,
// addresses) come from small bounded caches, so that decoding a record
// allocates only what is new in it (typically the correlation ID).
//
// # Normalisation
//
// A record is a Key Vault event (event.KindKeyVault) when its category is
// AuditEvent, when its identity has "claim" (the Activity Log has "claims"),
// or when its resource is a vault and its operation name has no slash;
// otherwise it is an Activity Log event. Key Vault operation names are mapped
// to their documented casing (SecretGet), unknown ones kept as given;
// Activity Log operation names are lower-cased. SubscriptionID is lower-cased
// and, like ResourceGroup and ResourceType, taken from the resource ID when
// the record has no field for it. Times are converted to UTC; a time without
// a zone is taken as UTC.
//
// The caller's principal comes from the claims, short (oid, upn, appid, azp,
// tid, unique_name, name, ipaddr) or URI form. The UPN falls back to
// unique_name, then the e-mail claim, then the REST "caller", when they hold
// an '@'. The type is user when there is a UPN (or the RBAC evidence says
// User), app when the evidence says ServicePrincipal, the token type (idtyp)
// is app, or there is only an app ID. Op.TenantID is the record's tenantId,
// else the token's tenant.
//
// CallerIPText is callerIpAddress (or httpRequest.clientIpAddress) as
// recorded; only when the record has neither is the ipaddr claim used.
// CallerIP is set only when the text is one address: "<Redacted>", a CIDR,
// "" and an IPv6 address with a zone leave it zero. An address with a port
// ("1.2.3.4:5678") yields the address, since the port is only the client's
// source port. IPv4-mapped IPv6 addresses are unmapped.
//
// # Errors
//
// A malformed record (bad JSON, not an object, missing or invalid time) is
// counted in Stats.Skipped and passed to Options.OnError as a *RecordError
// with the file, line and index, and reading goes on: in a top-level stream
// (JSON lines) at the next line, in an envelope or array at the next element
// when the damage is inside one record's value. Input that is cut short, is
// not JSON from its first byte, or breaks the structure of an envelope or
// array ends the Reader with an error after every record before it has been
// delivered.
package azurelog
