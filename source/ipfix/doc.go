// Package ipfix is Vigil's flow collector: it decodes IPFIX (RFC 7011),
// NetFlow v9 (RFC 3954) and NetFlow v5 export datagrams into event.Flow
// records, from a UDP socket (Listener) or from captures (pcap or pcapng
// files, or raw datagram files: FileReader, ReadFiles).
//
// # Decoding
//
// The protocol is told from each datagram's version field, never from the
// port. A Decoder keeps templates per session: exporter address, then the
// observation domain (IPFIX) or source ID (v9), and the version. A template
// is compiled once into a plan: the offsets of the fields Vigil reads and
// what each does to the Flow. A record is then decoded by running the plan
// over its bytes, filling one reused Flow: no allocation per record. A
// template resent unchanged (exporters refresh them every few seconds) is
// recognised by its bytes and only has its age reset. Templates with
// variable-length fields are walked field by field, with the same steps.
//
// IPFIX: several messages per datagram; template and options template sets,
// withdrawals (one template, or all of a set's kind) and expiry after
// Options.TemplateTimeout; variable-length fields (1- or 3-byte lengths);
// reduced-size integers; enterprise-specific fields (reverse fields of
// biflows included) are skipped by their length. NetFlow v9: template and
// options template flowsets (scope fields skipped), the header's record
// count is not trusted (many exporters get it wrong). Padding after sets,
// and zero-filled space after the last set, is ignored.
//
// A data set whose template has not arrived is held (Options.MaxPendingSets
// per session, MaxPendingBytes in all, for PendingTimeout) and decoded when
// the template comes; otherwise it is counted in Stats.DroppedSets. The
// sessions (MaxExporters), the templates per session (MaxTemplates) and
// their memory (MaxTemplateMemory) are capped; what the caps refuse is
// counted. Malformed input gives a wrapped error (ErrTruncated,
// ErrMalformed, ErrVersion), never a panic; the records before the damage
// are delivered.
//
// # Fields
//
// Addresses: sourceIPv4Address (8) / destinationIPv4Address (12), else the
// IPv6 ones (27, 28); when a template has both (Procera), IPv6 is used
// when the IPv4 address is 0.0.0.0. Ports 7 and 11, protocol 4, TCP flags
// 6 (low byte), flowDirection 61 (0 in, 1 out). Bytes: octetDeltaCount (1),
// else octetTotalCount (85), else initiatorOctets + responderOctets (231,
// 232; Cisco ASA). Packets likewise: 2, else 86, else 298 + 299. When an
// element occurs twice, the first occurrence counts. NetFlow v5 records
// are decoded by a built-in plan of the same kind. ObservationDomain is the
// IPFIX domain, the v9 source ID, or the v5 engine type << 8 | engine ID.
//
// # Times
//
// Start comes from the first of flowStartMilliseconds, -Seconds,
// -Microseconds, -Nanoseconds, flowStartSysUpTime / FIRST_SWITCHED and
// flowStartDeltaMicroseconds in the template; End likewise from the end
// elements. Micro- and nanosecond times are NTP timestamps (RFC 7011
// section 6.1.10), microseconds truncated to the microsecond. SysUpTime
// values (v5, v9) are turned into times with the header's sysUpTime and
// export time, modulo 2^32 ms; in IPFIX they need the exporter's
// systemInitTimeMilliseconds (160) from an options record, and without it
// the flow is taken to end at the export time, keeping its duration.
// Then: a missing End is the observation time (322 to 325; Cisco ASA),
// else Start + flowDuration (161, 162), else the export time; a missing
// Start is End - flowDuration, else End; an End before Start is set to
// Start.
//
// # Sampling
//
// Flow.SamplingRate (counts stay as exported; Flow.ScaledBytes multiplies)
// is, in order: the record's own samplingInterval (34), samplerRandomInterval
// (50), samplingPacketInterval/Space (305/306: (interval+space)/interval) or
// samplingSize/Population (309/310); the rate an options record gave for
// the record's samplerId / selectorId (48, 302); the last rate options
// records gave the session by any of those elements; the v5 header's
// sampling interval; Options.Sampling for the exporter, or
// Options.DefaultSampling; else 1.
package ipfix
