// Package leasebench compares lease handling of Cairn and Debian's etcd 3.4
// side by side: grants per second, keep-alives per second, and how long N
// leases take to expire (with the worst latency a put sees meanwhile, which
// shows whether expiry stalls apply).
//
//	CAIRN_LEASE_BENCH=1 [CAIRN_LEASE_BENCH_N=100000] go test -v -timeout 60m ./tests/leasebench/
package leasebench

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairndb/cairn/tests/framework"
)

func TestMain(m *testing.M) { framework.RunMain(m) }

type result struct {
	grantsPerSec, keepAlivesPerSec float64
	expirySec                      float64 // from the first deadline until no lease is left
	expiryPerSec                   float64
	maxPutMs                       float64 // worst put latency during the expiry
}

func TestLeaseBench(t *testing.T) {
	if os.Getenv("CAIRN_LEASE_BENCH") == "" {
		t.Skip("set CAIRN_LEASE_BENCH=1 to run the lease benchmark")
	}
	n := 100000
	if s := os.Getenv("CAIRN_LEASE_BENCH_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	servers := []struct{ name, bin string }{{"etcd", "/usr/bin/etcd"}, {"cairn", framework.BinaryPath(t)}}
	res := map[string]result{}
	for _, s := range servers {
		r := runServer(t, s.bin, n)
		t.Logf("%-5s: %d leases: grant %.0f/s, keep-alive %.0f/s, all expired %.1fs after the first deadline (%.0f/s), worst put during expiry %.1f ms",
			s.name, n, r.grantsPerSec, r.keepAlivesPerSec, r.expirySec, r.expiryPerSec, r.maxPutMs)
		res[s.name] = r
	}
	e, c := res["etcd"], res["cairn"]
	t.Logf("\n| %d leases | etcd 3.4 | Cairn | Cairn/etcd |\n|---|---:|---:|---:|\n| grants/s | %.0f | %.0f | %.2fx |\n| keep-alives/s | %.0f | %.0f | %.2fx |\n| expiries/s | %.0f | %.0f | %.2fx |\n| worst put during expiry | %.1f ms | %.1f ms | |\n",
		n, e.grantsPerSec, c.grantsPerSec, c.grantsPerSec/e.grantsPerSec,
		e.keepAlivesPerSec, c.keepAlivesPerSec, c.keepAlivesPerSec/e.keepAlivesPerSec,
		e.expiryPerSec, c.expiryPerSec, c.expiryPerSec/e.expiryPerSec, e.maxPutMs, c.maxPutMs)
}

func runServer(t *testing.T, bin string, n int) result {
	t.Helper()
	m := framework.NewMember(t, framework.MemberConfig{Name: "bench"})
	if err := m.Launch(bin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Stop(t)
	cli := m.Client(t)
	lc := pb.NewLeaseClient(cli.ActiveConnection())
	var r result

	// Keep-alives: 1,000 long leases, 8 streams pipelining renewals for 5 s.
	var kaIDs []int64
	for i := 0; i < 1000; i++ {
		g, err := cli.Grant(ctx, 600)
		if err != nil {
			t.Fatal(err)
		}
		kaIDs = append(kaIDs, int64(g.ID))
	}
	var got atomic.Int64
	kctx, kcancel := context.WithTimeout(ctx, 5*time.Second)
	var wg sync.WaitGroup
	for s := 0; s < 8; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			st, err := lc.LeaseKeepAlive(kctx)
			if err != nil {
				return
			}
			go func() {
				for i := s; kctx.Err() == nil; i += 8 {
					if st.Send(&pb.LeaseKeepAliveRequest{ID: kaIDs[i%len(kaIDs)]}) != nil {
						return
					}
				}
			}()
			for {
				if _, err := st.Recv(); err != nil {
					return
				}
				got.Add(1)
			}
		}(s)
	}
	wg.Wait()
	kcancel()
	r.keepAlivesPerSec = float64(got.Load()) / 5

	// Grants: n leases with a TTL long enough to grant them all first.
	const ttl = 20
	start := time.Now()
	var next atomic.Int64
	errc := make(chan error, 64)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := lc.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: ttl}); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	granted := time.Since(start)
	r.grantsPerSec = float64(n) / granted.Seconds()

	// Expiry: from the first deadline until every lease is gone; a put
	// every 100 ms meanwhile measures how apply copes.
	firstDeadline := start.Add(ttl * time.Second)
	var maxPut time.Duration
	probe := time.NewTicker(100 * time.Millisecond)
	defer probe.Stop()
	for i := 0; ; i++ {
		<-probe.C
		p0 := time.Now()
		if _, err := cli.Put(ctx, "probe", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(p0); d > maxPut && time.Now().After(firstDeadline) {
			maxPut = d
		}
		if i%10 == 0 && time.Now().After(firstDeadline) {
			ls, err := cli.Leases(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ls.Leases) <= len(kaIDs) {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatal("timed out waiting for the leases to expire")
		}
	}
	r.expirySec = time.Since(firstDeadline).Seconds()
	if granted.Seconds() > ttl {
		// The first deadlines passed while granting: count from the end.
		r.expirySec = time.Since(start.Add(granted)).Seconds()
	}
	r.expiryPerSec = float64(n) / r.expirySec
	r.maxPutMs = float64(maxPut.Microseconds()) / 1000
	return r
}
