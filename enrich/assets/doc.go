// Package assets attributes IP addresses to our resources over time: which
// of our resources (a NIC, public IP, VM ...) held an address at a time t.
//
// Defender's network-layer alerts fire only for an address that one of our
// resources held during the hour of the traffic (seed 004), and name that
// resource; traffic of other addresses is counted, not alerted.
// Index.HeldDuringHour implements that rule, Index.Ours applies it to a
// flow, and Index.At answers for one instant.
//
// The index is built from two sources:
//
//   - an inventory file (Load, LoadFile; vigil detect --assets FILE and the
//     configuration): CSV with the header
//     "ip,resource_id,subscription_id,valid_from,valid_to", RFC 3339 times,
//     an empty time leaving its end open. Errors carry file:line:column;
//   - the Activity Log (Observe): successful
//     Microsoft.Network/networkInterfaces/write and publicIPAddresses/write
//     operations, whose response body is the resource with its
//     properties.ipConfigurations[].properties.privateIPAddress or
//     properties.ipAddress (the REST representation, as in the
//     azure-rest-api-specs examples), start intervals, and the deletes and
//     later writes that no longer list an address end them.
//
// Intervals are half-open, [from, to). Where they overlap, the one with the
// latest start wins (of equal starts, the one added last); see Index.
//
// Each address's intervals are kept sorted by start in one shared,
// pointer-free array, with the running maximum of their ends, so a look-up
// is a map access, a binary search and a short backward scan, without
// allocating. The index may be read from many goroutines while it learns.
package assets
