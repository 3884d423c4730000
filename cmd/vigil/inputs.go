package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vigil-security/vigil/pipeline"
	"github.com/vigil-security/vigil/source/flowlog"
)

// inputKind is what an input holds, told from its first bytes, never from
// its name.
type inputKind int

const (
	kindAzureLog inputKind = iota // Activity Log / Key Vault JSON
	kindFlowLog                   // NSG / VNet flow log JSON
	kindCapture                   // pcap or pcapng of NetFlow / IPFIX exports
	kindDatagram                  // one raw NetFlow v5 / v9 / IPFIX datagram
)

// sniffLen is how much of an input is looked at to tell its kind.
const sniffLen = 4096

// sniff tells an input's kind from its first bytes (decompressed when
// gzip).
func sniff(prefix []byte) inputKind {
	if len(prefix) >= 2 && prefix[0] == 0x1f && prefix[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(prefix))
		if err != nil {
			return kindAzureLog // the reader reports the damage
		}
		inner := make([]byte, sniffLen)
		n, _ := io.ReadFull(zr, inner)
		return sniffPlain(inner[:n])
	}
	return sniffPlain(prefix)
}

func sniffPlain(p []byte) inputKind {
	if len(p) >= 4 {
		switch m := uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]); m {
		case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a:
			return kindCapture
		}
	}
	if len(p) >= 4 && p[0] == 0 {
		switch p[1] {
		case 5, 9, 10: // NetFlow v5, v9, IPFIX version field
			return kindDatagram
		}
	}
	if flowlog.Sniff(p) {
		return kindFlowLog
	}
	return kindAzureLog
}

// readInputs runs every named input through p, each by its kind. Raw
// datagram files next to each other are one exporter session, in order.
func readInputs(ctx context.Context, p *pipeline.Pipeline, names []string, stdin io.Reader) error {
	var session []string
	flushSession := func() error {
		if len(session) == 0 {
			return nil
		}
		_, err := p.ReadDatagrams(session)
		session = nil
		return err
	}
	for _, name := range names {
		kind, r, closeFn, err := openInput(name, stdin)
		if err != nil {
			return err
		}
		if kind != kindDatagram {
			if err := flushSession(); err != nil {
				closeFn()
				return err
			}
		}
		switch kind {
		case kindDatagram:
			session = append(session, name)
		case kindCapture:
			_, err = p.ReadDatagrams([]string{name})
		case kindFlowLog:
			err = p.ReadFlowLog(ctx, r, name)
		default:
			err = p.ReadAzure(ctx, r, name)
			if errors.Is(err, gzip.ErrHeader) {
				err = fmt.Errorf("%s: not a gzip file: %w", name, err)
			}
		}
		closeFn()
		if err != nil {
			return err
		}
	}
	return flushSession()
}

// openInput opens a named input ("-" is standard input) and tells its kind.
func openInput(name string, stdin io.Reader) (inputKind, io.Reader, func(), error) {
	var src io.Reader = stdin
	closeFn := func() {}
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return 0, nil, nil, err
		}
		src, closeFn = f, func() { f.Close() }
	}
	br := bufio.NewReaderSize(src, sniffLen)
	prefix, _ := br.Peek(sniffLen)
	kind := sniff(prefix)
	if name == "-" && (kind == kindCapture || kind == kindDatagram) {
		closeFn()
		return 0, nil, nil, usageError{errors.New("flow captures are read from files, not standard input")}
	}
	return kind, br, closeFn, nil
}
