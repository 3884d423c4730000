package ipfix

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-security/vigil/event"
)

// guard bounds waits so that a broken listener fails instead of hanging;
// no assertion depends on timing.
const guard = 20 * time.Second

func send(t *testing.T, to net.Addr, datagrams ...[]byte) {
	t.Helper()
	conn, err := net.Dial("udp", to.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, d := range datagrams {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
	}
}

// TestListener sends real datagrams to a listener on 127.0.0.1.
func TestListener(t *testing.T) {
	l, err := Listen(ListenerOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	flows := make(chan event.Flow, 100)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- l.Run(ctx, func(f *event.Flow) { flows <- *f }) }()

	send(t, l.Addr(), testdata(t, "ipfix_test_mikrotik_tpl.dat"), testdata(t, "ipfix_test_mikrotik_data258.dat"),
		testdata(t, "netflow5.dat"), []byte("not a flow export"))
	var got []event.Flow
	timeout := time.After(guard)
	for len(got) < 30 {
		select {
		case f := <-flows:
			got = append(got, f)
		case <-timeout:
			t.Fatalf("%d flows after %v", len(got), guard)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, f := range got {
		if f.Exporter.String() != "127.0.0.1" {
			t.Fatalf("Exporter = %v", f.Exporter)
		}
	}
	if got[0].Source != event.FlowIPFIX || got[29].Source != event.FlowNetFlow5 {
		t.Errorf("sources %v, %v", got[0].Source, got[29].Source)
	}
	st := l.Stats()
	if st.Received != 4 || st.Decoder.Datagrams != 4 || st.Decoder.Flows != 30 || st.Decoder.Malformed != 1 || st.QueueDrops != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Exporters != 2 || st.Templates != 2 {
		t.Errorf("Exporters %d Templates %d, want 2 and 2", st.Exporters, st.Templates)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(l)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, lp := range m.GetLabel() {
				name += "/" + lp.GetValue()
			}
			values[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"vigil_flow_datagrams_total": 4, "vigil_flow_records_total": 30, "vigil_flow_drops_total/malformed": 1,
		"vigil_flow_drops_total/queue_full": 0, "vigil_flow_exporters": 2, "vigil_flow_templates": 2,
	} {
		if got, ok := values[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
}

// TestListenerFlood: while the decoder is stuck, the reader keeps reading
// and drops what does not fit the queue, counting it.
func TestListenerFlood(t *testing.T) {
	l, err := Listen(ListenerOptions{Addr: "127.0.0.1:0", Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	blocked := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- l.Run(context.Background(), func(*event.Flow) {
			select {
			case blocked <- struct{}{}:
			default:
			}
			<-release
		})
	}()
	const n = 40
	v5 := testdata(t, "netflow5.dat")
	send(t, l.Addr(), v5)
	select {
	case <-blocked: // the decoder is now stuck in emit
	case <-time.After(guard):
		t.Fatal("no flow")
	}
	for range n {
		send(t, l.Addr(), v5)
	}
	deadline := time.Now().Add(guard)
	for l.Stats().Received < n+1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := l.Stats()
	if st.Received != n+1 {
		t.Fatalf("received %d of %d: the reader stalled", st.Received, n+1)
	}
	if st.QueueDrops < n-2 {
		t.Errorf("QueueDrops = %d, want at least %d", st.QueueDrops, n-2)
	}
	close(release)
	l.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st = l.Stats()
	if st.Decoder.Datagrams+st.QueueDrops != st.Received {
		t.Errorf("decoded %d + dropped %d != received %d", st.Decoder.Datagrams, st.QueueDrops, st.Received)
	}
}

// TestListenBadAddress: a clear error.
func TestListenBadAddress(t *testing.T) {
	if _, err := Listen(ListenerOptions{Addr: "127.0.0.1:99999"}); err == nil || !strings.Contains(err.Error(), "flow listener") {
		t.Errorf("err = %v", err)
	}
}
