// Package flowlog reads Azure Network Watcher flow logs, NSG flow logs
// (versions 1 and 2) and virtual network (VNet) flow logs (version 4), and
// delivers each flow tuple as an event.Flow.
//
// # Formats
//
// The field lists are those of the Azure documentation
// (articles/network-watcher/nsg-flow-logs-overview.md and
// vnet-flow-logs-overview.md):
//
//   - NSG: records[].properties.flows[] (one per rule: rule) .flows[] (mac)
//     .flowTuples[], each tuple
//     "time,srcIP,dstIP,srcPort,dstPort,protocol,direction,decision" with
//     protocol T or U, direction I or O, decision A or D (version 1), and
//     in version 2 also "flowState,packets s→d,bytes s→d,packets d→s,bytes
//     d→s" with state B, C or E and the counts empty in B tuples. The
//     version is taken from the tuple's field count (8 or 13). Flow.Resource
//     is the record's resourceId (the network security group).
//   - VNet: records[].flowRecords.flows[] (one per ACL: aclID)
//     .flowGroups[] (rule) .flowTuples[], each tuple
//     "time,srcIP,dstIP,srcPort,dstPort,protocol number,direction,flowState,
//     encryption,packets s→d,bytes s→d,packets d→s,bytes d→s" with state
//     B, C, E or D (denied) and encryption X, NX, NX_... There is no
//     decision field: Flow.Decision is 'D' for state D, else 'A'.
//     Flow.Resource is targetResourceID (the VNet, subnet or NIC the flow
//     log is on), else flowLogResourceID; the MAC is the record's
//     macAddress.
//
// Timestamps are UNIX seconds, or milliseconds (VNet flow logs write
// milliseconds, the documentation's examples show both): a value of 1e11
// or more is taken as milliseconds. Flow.Start and Flow.End are both the
// tuple's time. Member names are matched without regard to case (the
// documentation writes both resourceid and resourceId).
//
// Reader.Detail gives what event.Flow has no field for: version, flow
// state, encryption, MAC address, ACL ID, and the counts per direction.
//
// # Counting without double counting
//
// The documentation says of C and E tuples that their "byte and packet
// counts are aggregate counts from the time of the previous flow's tuple
// record": each tuple carries only the traffic since the tuple before it
// of the same flow, and B tuples carry none. Every tuple is therefore
// delivered as it is, with Flow.Packets and Flow.Bytes the sum of both
// directions of that tuple alone; summing them over all tuples (B, C and E)
// gives the documented totals (the example conversation B, C, E sums to
// 9,125 packets), and nothing is merged, held back or dropped. A consumer
// that counts connections rather than traffic counts the tuples whose
// Detail().State is B (or D in VNet flow logs, where a denied flow has no
// B); an NSG version 1 tuple, which has no state, is one observation per
// minute of a flow.
//
// # Shapes and streaming
//
// The input is the {"records":[...]} envelope that Network Watcher writes
// to storage (PT1H.json) and diagnostic settings send to Event Hubs —
// several envelopes may follow one another, e.g. one per line — or a JSON
// array of records or envelopes, JSON lines of records, or a single
// record; any of these gzip-compressed, recognised by its magic bytes. The
// envelope key must be the object's first key, as Azure writes it. Inside
// an envelope's records every element is a record: a nested envelope there
// is a malformed record.
//
// The Reader finds record boundaries itself and holds one record (at most
// Options.MaxRecordBytes) in memory at a time, however large the envelope
// around it; tuples are parsed by hand from the record's JSON strings and
// repeated strings (rule names, resource IDs, MACs) are interned, so
// reading a tuple allocates nothing once the buffers have grown.
//
// # Errors
//
// A record whose structure is not the documented one (not an object,
// neither properties.flows nor flowRecords.flows, an array level that is
// something else, bad JSON, too large) is skipped whole, before any of its
// tuples is delivered; a tuple that does not parse is skipped alone, and
// its neighbours are read. Both are counted in Stats and passed to
// Options.OnError as a *RecordError with the file, line, record index,
// tuple index and path. Input that is cut short, is not JSON from its
// first byte, or breaks the structure of an envelope or array ends the
// Reader with an error after every tuple before it has been delivered.
//
// Sniff tells a flow log from the Activity Log and Key Vault logs by
// content, so that a file can be routed to the right reader.
package flowlog
