package bench

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	in := `
{"server":"etcd","label":"put, 1 client","round":1,"requests":3000,"seconds":1,"server_cpu_s":0.3,"bench_cpu_s":0.2,"machine_cpu_s":0.6,"throughput":3000,"p50_ms":0.3,"p99_ms":0.7,"rss_kib":102400,"disk_kib":65536}
{"server":"cairn","label":"put, 1 client","round":1,"throughput":4000,"p50_ms":0.2,"p99_ms":0.5,"rss_kib":51200,"disk_kib":1024,"disk_apparent_kib":512}
{"server":"etcd","label":"put, 1 client","round":2,"requests":2000,"seconds":1,"server_cpu_s":0.3,"bench_cpu_s":0.2,"machine_cpu_s":0.6,"throughput":2000,"p50_ms":0.5,"p99_ms":0.9,"rss_kib":102400,"disk_kib":65536}
{"server":"cairn","label":"put, 1 client","round":2,"throughput":6000,"p50_ms":0.1,"p99_ms":0.3,"rss_kib":51200,"disk_kib":1024,"disk_apparent_kib":512,"errors":2}
{"server":"etcd","label":"range s","round":1,"throughput":9000,"p50_ms":1,"p99_ms":10,"rss_kib":204800,"disk_kib":65536}
`
	recs, err := ReadRecords(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteReport(&b, recs, "etcd"); err != nil {
		t.Fatal(err)
	}
	want := `Throughput and latency (medians; for p99 a ratio below 1 is better):

| workload | etcd req/s | cairn req/s | cairn/etcd req/s | etcd p50 ms | cairn p50 ms | etcd p99 ms | cairn p99 ms | cairn/etcd p99 ms | runs |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| put, 1 client (2 errors) | 2500 | 5000 | 2.00x | 0.40 | 0.15 | 0.80 | 0.40 | 0.50x | 2+2 |
| range s | 9000 | – | – | 1.00 | – | 10.00 | – | – | 1+0 |

Server resources (medians):

| workload | etcd RSS MiB | cairn RSS MiB | cairn/etcd RSS MiB | etcd data dir MiB | cairn data dir MiB | cairn/etcd data dir MiB | etcd file sizes MiB | cairn file sizes MiB | etcd CPU µs/req | cairn CPU µs/req | cairn/etcd CPU µs/req | etcd other CPUs | cairn other CPUs | runs |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| put, 1 client (2 errors) | 100 | 50 | 0.50x | 64.0 | 1.0 | 0.02x | 0.0 | 0.5 | 125 | – | – | 0.10 | – | 2+2 |
| range s | 200 | – | – | 64.0 | – | – | 0.0 | – | – | – | – | – | – | 1+0 |

RSS is the server's peak resident set (VmHWM) at the end of the run; data dir is its ` + "`du`" + ` after a clean stop, counting blocks preallocated past the end of files, and file sizes is its apparent size (` + "`du --apparent-size`" + `); CPU µs/req is the server's CPU time during the timed run per request; other CPUs is how many CPUs were busy on average with neither the server nor the load generator (other processes: a noise indicator).
`
	if got := b.String(); got != want {
		t.Fatalf("report:\n%s\nwant:\n%s", got, want)
	}

	// The baseline goes first even when another server appears first.
	b.Reset()
	if err := WriteReport(&b, recs[1:2], "etcd"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| workload | cairn req/s | cairn p50 ms |") {
		t.Fatalf("single-server report:\n%s", b.String())
	}
	if err := WriteReport(&b, nil, "etcd"); !errors.Is(err, ErrNoResults) {
		t.Fatalf("empty report: %v", err)
	}
	if _, err := ReadRecords(strings.NewReader("{not json")); err == nil {
		t.Fatal("ReadRecords accepted bad JSON")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{math.NaN(), 1, 3}, 2}, {[]float64{3, 1}, 2}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
}
