package ipfix

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/vigil-security/vigil/event"
)

// Header sizes.
const (
	v5HeaderLen    = 24
	v5RecordLen    = 48
	v5MaxRecords   = 30
	v9HeaderLen    = 20
	ipfixHeaderLen = 16
)

// decodeV5 decodes a NetFlow v5 datagram: a 24-byte header and count
// records of 48 bytes. Bytes after the records are ignored.
func (d *Decoder) decodeV5(addr netip.Addr, p []byte, nowNs int64, emit func(*event.Flow), st *Stats) error {
	if len(p) < v5HeaderLen {
		return fmt.Errorf("netflow v5 header: %d bytes, need %d: %w", len(p), v5HeaderLen, ErrTruncated)
	}
	count := int(binary.BigEndian.Uint16(p[2:]))
	if count == 0 || count > v5MaxRecords {
		return fmt.Errorf("netflow v5 header: record count %d, allowed 1 to %d: %w", count, v5MaxRecords, ErrMalformed)
	}
	if need := v5HeaderLen + v5RecordLen*count; len(p) < need {
		return fmt.Errorf("netflow v5: %d records need %d bytes, datagram has %d: %w", count, need, len(p), ErrTruncated)
	}
	st.Messages++
	h := header{
		version:   5,
		uptime:    binary.BigEndian.Uint32(p[4:]),
		hasUptime: true,
		exportNs:  int64(binary.BigEndian.Uint32(p[8:]))*1e9 + int64(binary.BigEndian.Uint32(p[12:])),
		domain:    uint32(p[20])<<8 | uint32(p[21]), // engine type, engine ID
		rate:      uint32(binary.BigEndian.Uint16(p[22:]) & 0x3fff),
	}
	s := d.session(addr, h.domain, 5, nowNs, st)
	if s == nil {
		return nil
	}
	return d.dataSet(s, v5Template, &h, p[v5HeaderLen:v5HeaderLen+v5RecordLen*count], emit, st)
}

// decodeV9 decodes a NetFlow v9 datagram (RFC 3954). The header's record
// count is not trusted (exporters get it wrong); flowset lengths are.
func (d *Decoder) decodeV9(addr netip.Addr, p []byte, nowNs int64, emit func(*event.Flow), st *Stats) error {
	if len(p) < v9HeaderLen {
		return fmt.Errorf("netflow v9 header: %d bytes, need %d: %w", len(p), v9HeaderLen, ErrTruncated)
	}
	st.Messages++
	h := header{
		version:   9,
		uptime:    binary.BigEndian.Uint32(p[4:]),
		hasUptime: true,
		exportNs:  int64(binary.BigEndian.Uint32(p[8:])) * 1e9,
		domain:    binary.BigEndian.Uint32(p[16:]),
	}
	s := d.session(addr, h.domain, 9, nowNs, st)
	if s == nil {
		return nil
	}
	if err := d.sets(s, &h, p, v9HeaderLen, nowNs, emit, st); err != nil {
		return fmt.Errorf("netflow v9 source ID %d: %w", h.domain, err)
	}
	return nil
}

// decodeIPFIX decodes the IPFIX messages of a datagram (RFC 7011).
func (d *Decoder) decodeIPFIX(addr netip.Addr, p []byte, nowNs int64, emit func(*event.Flow), st *Stats) error {
	var first error
	for off := 0; off < len(p); {
		rest := p[off:]
		if zero(rest) {
			break // padding after the last message
		}
		if len(rest) < ipfixHeaderLen {
			return errFirst(first, fmt.Errorf("ipfix message at offset %d: %d bytes, need %d: %w", off, len(rest), ipfixHeaderLen, ErrTruncated))
		}
		if v := binary.BigEndian.Uint16(rest); v != 10 {
			return errFirst(first, fmt.Errorf("ipfix message at offset %d: version %d: %w", off, v, ErrMalformed))
		}
		n := int(binary.BigEndian.Uint16(rest[2:]))
		if n < ipfixHeaderLen || n > len(rest) {
			return errFirst(first, fmt.Errorf("ipfix message at offset %d: length %d, %d bytes left: %w", off, n, len(rest), ErrTruncated))
		}
		st.Messages++
		h := header{
			version:  10,
			exportNs: int64(binary.BigEndian.Uint32(rest[4:])) * 1e9,
			domain:   binary.BigEndian.Uint32(rest[12:]),
		}
		if s := d.session(addr, h.domain, 10, nowNs, st); s != nil {
			if err := d.sets(s, &h, rest[:n], ipfixHeaderLen, nowNs, emit, st); err != nil && first == nil {
				first = fmt.Errorf("ipfix message at offset %d, domain %d: %w", off, h.domain, err)
			}
		}
		off += n
	}
	return first
}

func errFirst(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// sets walks the sets (flowsets) of one message from off. A broken set is
// reported and skipped; a broken set length ends the message.
func (d *Decoder) sets(s *session, h *header, msg []byte, off int, nowNs int64, emit func(*event.Flow), st *Stats) error {
	var first error
	for len(msg)-off >= 4 {
		id := binary.BigEndian.Uint16(msg[off:])
		n := int(binary.BigEndian.Uint16(msg[off+2:]))
		if n < 4 {
			if zero(msg[off:]) {
				return first // zero padding to the end of the datagram
			}
			return errFirst(first, fmt.Errorf("set at offset %d: length %d: %w", off, n, ErrMalformed))
		}
		if n > len(msg)-off {
			return errFirst(first, fmt.Errorf("set %d at offset %d: length %d, %d bytes left: %w", id, off, n, len(msg)-off, ErrTruncated))
		}
		body := msg[off+4 : off+n]
		var err error
		switch {
		case id >= 256:
			if t := d.lookup(s, id, nowNs, st); t != nil {
				err = d.dataSet(s, t, h, body, emit, st)
			} else {
				d.hold(s, id, h, body, nowNs, st)
			}
		case h.version == 9 && id == 0:
			err = d.templatesV9(s, body, nowNs, emit, st)
		case h.version == 9 && id == 1:
			err = d.optionsTemplatesV9(s, body, nowNs, emit, st)
		case h.version == 10 && (id == 2 || id == 3):
			err = d.templatesIPFIX(s, id, body, nowNs, emit, st)
		default:
			// Reserved set IDs are skipped (RFC 7011 section 3.3.2).
		}
		if err != nil && first == nil {
			first = fmt.Errorf("set %d at offset %d: %w", id, off, err)
		}
		off += n
	}
	return first
}

// templatesV9 reads a NetFlow v9 template flowset (ID 0).
func (d *Decoder) templatesV9(s *session, b []byte, nowNs int64, emit func(*event.Flow), st *Stats) error {
	for len(b) >= 4 {
		id, count := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if id == 0 && zero(b) {
			return nil // padding
		}
		if id < 256 {
			return fmt.Errorf("template ID %d: %w", id, ErrMalformed)
		}
		if count == 0 || count > maxTemplateFields {
			return fmt.Errorf("template %d: %d fields: %w", id, count, ErrMalformed)
		}
		specs, err := parseSpecsV9(b[4:], count, d.specs[:0])
		d.specs = specs
		if err != nil {
			return fmt.Errorf("template %d: %w", id, err)
		}
		end := 4 + 4*count
		if err := d.learn(s, id, b[2:end], specs, false, 0, nowNs, emit, st); err != nil {
			return err
		}
		b = b[end:]
	}
	return nil
}

// optionsTemplatesV9 reads a NetFlow v9 options template flowset (ID 1).
func (d *Decoder) optionsTemplatesV9(s *session, b []byte, nowNs int64, emit func(*event.Flow), st *Stats) error {
	for len(b) >= 6 {
		id := binary.BigEndian.Uint16(b)
		scopeLen, optLen := int(binary.BigEndian.Uint16(b[2:])), int(binary.BigEndian.Uint16(b[4:]))
		if id == 0 && zero(b) {
			return nil // padding
		}
		if id < 256 {
			return fmt.Errorf("options template ID %d: %w", id, ErrMalformed)
		}
		if scopeLen%4 != 0 || optLen%4 != 0 {
			return fmt.Errorf("options template %d: scope length %d, option length %d, not multiples of 4: %w", id, scopeLen, optLen, ErrMalformed)
		}
		count := (scopeLen + optLen) / 4
		if count == 0 || count > maxTemplateFields {
			return fmt.Errorf("options template %d: %d fields: %w", id, count, ErrMalformed)
		}
		specs, err := parseSpecsV9(b[6:], count, d.specs[:0])
		d.specs = specs
		if err != nil {
			return fmt.Errorf("options template %d: %w", id, err)
		}
		end := 6 + scopeLen + optLen
		if err := d.learn(s, id, b[2:end], specs, true, scopeLen/4, nowNs, emit, st); err != nil {
			return err
		}
		b = b[end:]
	}
	return nil
}

// templatesIPFIX reads an IPFIX template set (ID 2) or options template
// set (ID 3), with withdrawals (RFC 7011 sections 3.4 and 8.1).
func (d *Decoder) templatesIPFIX(s *session, setID uint16, b []byte, nowNs int64, emit func(*event.Flow), st *Stats) error {
	options := setID == 3
	for len(b) >= 4 {
		id, count := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if count == 0 {
			switch {
			case id == setID:
				d.withdraw(s, 0, true, options, st)
			case id >= 256:
				d.withdraw(s, id, false, options, st)
			case id == 0 && zero(b):
				return nil // padding
			default:
				return fmt.Errorf("withdrawal of template ID %d: %w", id, ErrMalformed)
			}
			b = b[4:]
			continue
		}
		if id < 256 {
			return fmt.Errorf("template ID %d: %w", id, ErrMalformed)
		}
		if count > maxTemplateFields {
			return fmt.Errorf("template %d: %d fields: %w", id, count, ErrMalformed)
		}
		hdr := 4
		if options {
			if len(b) < 6 {
				return fmt.Errorf("options template %d: %w", id, errShortTemplate)
			}
			if scope := int(binary.BigEndian.Uint16(b[4:])); scope == 0 || scope > count {
				return fmt.Errorf("options template %d: scope field count %d of %d: %w", id, scope, count, ErrMalformed)
			}
			hdr = 6
		}
		specs, n, err := parseSpecsIPFIX(b[hdr:], count, d.specs[:0])
		d.specs = specs
		if err != nil {
			return fmt.Errorf("template %d: %w", id, err)
		}
		if err := d.learn(s, id, b[2:hdr+n], specs, options, 0, nowNs, emit, st); err != nil {
			return err
		}
		b = b[hdr+n:]
	}
	return nil
}
