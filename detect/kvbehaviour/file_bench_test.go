package kvbehaviour

import (
	"io"
	"os"
	"testing"
	"time"

	"github.com/vigil-security/vigil/detect"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/azurelog"
)

// BenchmarkFile runs both detectors in the engine (two workers, batches
// of 4096 as the pipeline sends) over the Key Vault records of the file
// VIGIL_KVB_FILE names (`vigil simulate --records 1000000` writes one);
// one op is one record. The records are decoded before the clock starts.
func BenchmarkFile(b *testing.B) {
	path := os.Getenv("VIGIL_KVB_FILE")
	if path == "" {
		b.Skip("VIGIL_KVB_FILE names no Key Vault log")
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rd, err := azurelog.NewReader(f, path, azurelog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ops := make([]event.Op, 0, 400_000)
	for len(ops) < 400_000 {
		ops = append(ops, event.Op{})
		if err := rd.Next(&ops[len(ops)-1]); err == io.EOF {
			ops = ops[:len(ops)-1]
			break
		} else if err != nil {
			b.Fatal(err)
		}
		ops[len(ops)-1].Raw = nil
	}
	span := ops[len(ops)-1].Time.Sub(ops[0].Time) + time.Hour
	e := detect.New(Detectors(DefaultConfig()), detect.Options{Workers: 2, Lateness: detect.DefaultLateness})
	defer e.Close()
	b.ReportAllocs()
	cpu := dt.ProcessCPU()
	round, i := 0, 0
	for b.Loop() {
		if i == len(ops) { // the next round: one span later
			round++
			i = 0
			for k := range ops {
				ops[k].Time = ops[k].Time.Add(span)
			}
		}
		if i%4096 == 0 {
			e.Process(ops[i:min(i+4096, len(ops))])
		}
		i++
	}
	b.ReportMetric(float64(dt.ProcessCPU()-cpu)/float64(b.N), "cpu-ns/op")
}
