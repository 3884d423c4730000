package event

import (
	"net/netip"
	"time"
)

// FlowSource tells where a Flow came from.
type FlowSource uint8

const (
	// FlowUnknown is the zero FlowSource.
	FlowUnknown FlowSource = iota
	// FlowNetFlow5 is a NetFlow v5 record.
	FlowNetFlow5
	// FlowNetFlow9 is a NetFlow v9 record.
	FlowNetFlow9
	// FlowIPFIX is an IPFIX (RFC 7011) record.
	FlowIPFIX
	// FlowNSG is an Azure NSG flow log tuple (versions 1 and 2).
	FlowNSG
	// FlowVNet is an Azure VNet flow log tuple (version 4).
	FlowVNet
)

// String returns the source's name as used in JSON, config and metrics.
func (s FlowSource) String() string {
	switch s {
	case FlowNetFlow5:
		return "netflow5"
	case FlowNetFlow9:
		return "netflow9"
	case FlowIPFIX:
		return "ipfix"
	case FlowNSG:
		return "nsg"
	case FlowVNet:
		return "vnet"
	default:
		return "unknown"
	}
}

// Direction is a flow's direction relative to the observation point.
type Direction uint8

const (
	// DirectionUnknown means the record did not say.
	DirectionUnknown Direction = iota
	// DirectionIngress is traffic entering the interface / resource.
	DirectionIngress
	// DirectionEgress is traffic leaving it.
	DirectionEgress
)

// String returns "in", "out" or "unknown".
func (d Direction) String() string {
	switch d {
	case DirectionIngress:
		return "in"
	case DirectionEgress:
		return "out"
	default:
		return "unknown"
	}
}

// Flow is one network flow record, normalised. It holds no pointers but the
// exporter's strings, so decoding fills a Flow in place without allocating.
type Flow struct {
	Source FlowSource
	// Start and End bound the flow (flowStart/End, first/last switched); both
	// are set, End >= Start.
	Start, End time.Time

	SrcAddr, DstAddr netip.Addr
	SrcPort, DstPort uint16
	Protocol         uint8 // IANA protocol number: 6 TCP, 17 UDP, 1 ICMP
	// TCPFlags is the OR of the TCP flags seen (0 when not exported).
	TCPFlags uint8

	// Packets and Bytes are as exported (not yet multiplied by sampling).
	Packets, Bytes uint64
	// SamplingRate is 1-in-N packet sampling (1 when unsampled or unknown).
	SamplingRate uint32

	Direction Direction
	// Exporter is the device that sent the record (UDP source address, or
	// the flow log's resource), and ObservationDomain its domain / source ID.
	Exporter          netip.Addr
	ObservationDomain uint32
	// Decision is an NSG/VNet flow log's verdict: 'A' allowed / 'D' denied
	// (0 when not from a flow log).
	Decision byte
	// State is a flow log tuple's flow state: 'B' begin (a new connection),
	// 'C' continuing, 'E' end, 'D' denied (VNet); 0 when not from a flow log.
	// Count connections by B (and D) tuples: C and E carry the counts since
	// the tuple before.
	State byte
	// Rule is the NSG rule name or the exporter's reference, if any.
	Rule string
	// Resource is the flow log's resource (NSG or VNet ID), or "".
	Resource string

	// Geo and Intel of the remote address, filled once by enrichment.
	Geo   Geo
	Intel Intel
}

// ScaledPackets returns Packets multiplied by the sampling rate.
func (f *Flow) ScaledPackets() uint64 { return f.Packets * uint64(max(f.SamplingRate, 1)) }

// ScaledBytes returns Bytes multiplied by the sampling rate.
func (f *Flow) ScaledBytes() uint64 { return f.Bytes * uint64(max(f.SamplingRate, 1)) }
