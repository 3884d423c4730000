// Package network holds the network-layer detections of Defender for Cloud
// ("Alerts for Azure network layer") and Partner Center's crypto-mining
// alert, over sampled or unsampled flow records (event.Flow):
//
//   - SSH_/RDP_Incoming_BF_OneToOne: many connection attempts from one
//     outside address to one of ours;
//   - SSH_/RDP_Incoming_BF_ManyToOne: failed attempts from many outside
//     addresses to one of ours (a botnet);
//   - SSH_/RDP_Outgoing_BF_OneToOne: many attempts from one of ours to one
//     outside address;
//   - SSH_/RDP_Outgoing_BF_OneToMany: one of ours with failed attempts to
//     many outside addresses;
//   - PortScanning: one of ours whose connection attempts fail on many
//     distinct targets (hosts and ports);
//   - Network_CommunicationWithC2: one of ours contacting an address listed
//     as command and control (a connection it opens, failed SYNs included;
//     not the replies of its listening ports), named with the list (feed)
//     that lists it;
//   - Network_TrafficFromUnrecommendedIP (informational): listed addresses
//     (ipsum score >= 3 by default) whose inbound traffic one of ours
//     answered, one alert per resource and day, off above a volume
//     (UnrecommendedIP);
//   - CryptoMining: one of ours connecting to a mining pool (a connection
//     it opens; listed, in the configuration, or a sustained connection to
//     a stratum port).
//
// Each default and its source is documented on Config's fields.
//
// # Ours, and the hour of the traffic
//
// An alert fires only for an address that one of our resources held at the
// time of the flow (seed 004: "only for a machine that held the IP address
// during the hour of the suspicious traffic"), and names that resource. The
// Attributor answers it. Incoming means the destination is ours, outgoing
// the source. Flows where neither side is ours are counted (Stats) and
// ignored; flows whose remote side is ours too (east-west) or in
// TrustedNetworks are skipped. When another resource takes an address over,
// the address's state starts again for the new owner.
//
// # Attempts, sessions and sampling
//
// A record toward an SSH or RDP port is an attempt or a session (Attempt
// has the bounds): a SYN without ACK or a bare reset is a failed attempt;
// a whole connection within Attempt's bounds (20 packets, 5000 bytes, 12 s)
// is an attempt (a password tried and refused); one within the wider
// Attempt.Repeated bounds (40 packets, 8000 bytes, 25 s) is an attempt when
// it repeats the shape of the same peer's previous such connection (packets
// and bytes within 20%), as a tool trying password after password does
// (the real tool of Zeek's sshguess.pcap: 22-26 packets a connection), and
// the first of them counts then too; a larger one is a session, which is
// not counted (an answered login) but, after attempts from the same
// address, raises an incoming OneToOne candidate to high (a login that may
// have worked).
//
// Under 1-in-N packet sampling a record holds the few sampled packets of
// one connection, so decisions rest on sampled connections (see Sampling):
// a connection whose sampled packets are too many for a failed login is a
// session; the attempts of a pair (OneToOne) and the peers with attempts and
// no session (ManyToOne, OneToMany, PortScanning) are estimated with the
// bias-corrected Chao1 estimator over their sampled packets, scaled by the
// one-sided lower confidence bound of the count seen (Byar's
// approximation; SamplingConfidence); a decision needs at least
// Sampling.MinRecords distinct connections or peers seen; and windows
// stretch to N x 18 s (up to 1 h), since a 5-minute window holds too few
// records at 1-in-100 (beyond 30 minutes a threshold keeps its rate: 60
// attempts in an hour). Two sampled records at 1-in-100 prove nothing; ten
// sampled connections of one peer in 30 minutes, nearly all of one packet,
// estimate about 30.
//
// Windows slide in six buckets. A threshold is raised to what the address
// usually sees (Baseline): per address of ours, service and direction, the
// hourly attempts and distinct peers per hour of the week, once the hour has
// three weeks of history. A bastion host that always receives many
// connections so fires only when a window is far above its usual hour.
//
// # Partitions
//
// Three detectors, each keyed by a 64-bit hash of our address, so routing a
// flow allocates nothing: network-inbound (TCP flows to an SSH or RDP port,
// keyed by destination), network-outbound (every flow, keyed by source: it
// counts the traffic for Stats, and runs the outgoing brute force and port
// scanning) and network-intel (flows whose destination intelligence lists
// as C2, mining pool or unrecommended, or in Pools, or on a stratum port,
// keyed by source; the destination is looked up once per flow with Intel).
// A flow costs one attribution per detector that takes it, one more for the
// remote side when it reaches a detection, and, in network-outbound, one
// for the destination of a flow whose source is not ours (to count it as
// incoming or nobody's).
//
// # Candidates
//
// A trigger emits a candidate at once, then the same resource and peer (for
// ManyToOne, OneToMany, PortScanning and CryptoMining: the same resource)
// raises no new trigger for Mute (1h); what happens meanwhile becomes one
// summary candidate (detail summary "true") when Mute ends. The manager
// merges both by fingerprint: type, resource ID, our address and, for
// OneToOne and C2, the remote address. A summary tells the whole episode,
// so the merged alert keeps it: every peer since the window that fired,
// that window's first time, and the threshold and window that fired.
//
// Every candidate has Resource (the resource that held our address),
// SubscriptionID, First, Last, Time (= Last), Count (connections, sampling
// scaled; flows for C2 and CryptoMining), an azure-resource and a host
// entity for our side (role "victim" for incoming, "compromised" otherwise;
// the host carries our address), an ip entity per remote address (up to 100;
// role "attacker", "victim" or "related") with country, ASN and the
// intelligence sources naming it, and evidence: one row per flow record,
// operation "TCP 203.0.113.5:51234 -> 10.0.0.4:22 3 pkts [S]", the remote
// address as caller IP, our side as target, the classification and
// sampling as result ("no answer", "refused", "short exchange", "repeated
// exchange", "sampled connection, sampled 1-in-100"), the exporter as
// source; the country and network of the remote end come from the flows'
// enrichment (enrich.EnrichFlow). TenantID is left to the caller (the
// Attributor names no tenant).
//
// # Details
//
// Every candidate sets (empty when not known):
//
//	resource      resource ID holding our address
//	host          its name (the ID's last segment)
//	subscription  its subscription ID
//	ourIp         our address
//	addresses     remote addresses, ", "-separated (up to 5)
//	country       their countries, as the flows' geo gives them
//	intelSource   intelligence naming them, "source (category, date)", "; "-separated
//	firstTime     first record, RFC 3339 UTC
//	lastTime      last record
//	sampling      "1-in-N" when the records were sampled
//	summary       "true" on a summary candidate (absent otherwise)
//
// Brute force (all eight) adds service ("SSH", "RDP"), port, victimIp and
// attackerIp (ours and the remote one, by direction; for ManyToOne the
// attackers and for OneToMany the victims, ", "-separated), connections
// (attempts, sampling scaled), window, threshold (the threshold crossed,
// baseline included; "" in summaries) and expected (the usual hourly count
// of the baseline, "" without one). OneToOne adds flows and sessions;
// ManyToOne adds attackers and OneToMany victims (distinct, estimated under
// sampling). PortScanning adds port (the most common destination port),
// protocol (its service name: "SMB", "TCP/8080"), targets, hosts, ports,
// attackerIp, window, threshold and expected. Network_CommunicationWithC2
// adds victimIp (ours), remoteIp, port, protocol and flows.
// Network_TrafficFromUnrecommendedIP adds victimIp (ours), sources (up to 5
// addresses with their flows, "198.51.100.7 [42], ..."), port (ours,
// answered), protocol, flows, window and windowStart. CryptoMining adds
// Partner Center's VM_IP and MiningPool_IP (JSON arrays of addresses, as
// Partner Center's additionalDetails hold them) and ConnectionCount, which
// the description templates use too, port, window, and trigger ("pool list", or
// "stratum port" with severity medium instead of the catalogue's high).
package network
