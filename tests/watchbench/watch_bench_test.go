// Package watchbench measures watch fan-out: events delivered per second
// to 1, 1,000 and 10,000 watchers (all on one key, each on its own key, all
// on one prefix), Cairn and Debian's etcd 3.4 side by side, alternating.
//
// It is opt-in, and not a pass/fail test:
//
//	CAIRN_WATCH_BENCH=1 go test -count=1 -v -timeout 30m ./tests/watchbench/
//
// CAIRN_WATCH_BENCH_ROUNDS (default 1) repeats each case; the table shows
// medians. CAIRN_WATCH_BENCH_CASES limits the cases (e.g. "same-1000").
package watchbench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/tests/framework"
)

func TestMain(m *testing.M) { framework.RunMain(m) }

const (
	conns   = 8   // client connections; watchers are spread over them
	writers = 16  // concurrent putters
	value   = 256 // bytes per value
	// Each run aims at this many events delivered (puts x fan-out),
	// bounded below and above in puts.
	targetEvents = 1_000_000
	minPuts      = 200
	maxPuts      = 20_000
)

type benchCase struct {
	mode     string // same, distinct, prefix
	watchers int
}

func (c benchCase) String() string { return fmt.Sprintf("%s-%d", c.mode, c.watchers) }

// fanOut is how many events one put produces.
func (c benchCase) fanOut() int {
	if c.mode == "distinct" {
		return 1
	}
	return c.watchers
}

func (c benchCase) puts() int {
	return min(maxPuts, max(minPuts, targetEvents/c.fanOut()))
}

type result struct {
	eventsPerSec float64
	putsPerSec   float64
	createSec    float64
	cpuPerEvent  float64 // server CPU seconds per event delivered
}

func TestWatchBench(t *testing.T) {
	if os.Getenv("CAIRN_WATCH_BENCH") == "" {
		t.Skip("set CAIRN_WATCH_BENCH=1 to run the watch benchmark")
	}
	rounds := 1
	if s := os.Getenv("CAIRN_WATCH_BENCH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	servers := []struct{ name, bin string }{{"etcd", "/usr/bin/etcd"}, {"cairn", framework.BinaryPath(t)}}
	var cases []benchCase
	for _, mode := range []string{"same", "distinct", "prefix"} {
		for _, n := range []int{1, 1000, 10000} {
			c := benchCase{mode, n}
			if f := os.Getenv("CAIRN_WATCH_BENCH_CASES"); f != "" && !slices.Contains(strings.Split(f, ","), c.String()) {
				continue
			}
			cases = append(cases, c)
		}
	}
	res := map[string][]result{}
	for r := 0; r < rounds; r++ {
		for _, c := range cases {
			for _, s := range servers {
				got := runCase(t, s.bin, c)
				t.Logf("round %d %-14s %-5s: %10.0f events/s, server %.2f µs CPU/event (%d puts, %.0f puts/s; watchers created in %.1fs)",
					r+1, c, s.name, got.eventsPerSec, got.cpuPerEvent*1e6, c.puts(), got.putsPerSec, got.createSec)
				k := c.String() + "/" + s.name
				res[k] = append(res[k], got)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| case | watchers | etcd 3.4 events/s | Cairn events/s | Cairn/etcd | etcd µs CPU/event | Cairn µs CPU/event |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cases {
		e, ec := median(res[c.String()+"/etcd"])
		k, kc := median(res[c.String()+"/cairn"])
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.2fx | %.2f | %.2f |\n", c.mode, c.watchers, e, k, k/e, ec*1e6, kc*1e6)
	}
	t.Log(b.String())
}

// median returns the median events/s and the median CPU per event.
func median(rs []result) (float64, float64) {
	var xs, cs []float64
	for _, r := range rs {
		xs = append(xs, r.eventsPerSec)
		cs = append(cs, r.cpuPerEvent)
	}
	if len(xs) == 0 {
		return 0, 0
	}
	slices.Sort(xs)
	slices.Sort(cs)
	return xs[len(xs)/2], cs[len(cs)/2]
}

// runCase starts a fresh server, creates the watchers, runs the writers and
// measures from the first put until every event has been delivered.
func runCase(t *testing.T, bin string, c benchCase) result {
	t.Helper()
	m := framework.NewMember(t, framework.MemberConfig{Name: "bench"})
	if err := m.Launch(bin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Stop(t)
	pid := serverPID(t, m)

	clis := make([]*clientv3.Client, conns)
	for i := range clis {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.ClientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		clis[i] = cli
	}

	puts := c.puts()
	want := int64(puts * c.fanOut())
	var delivered atomic.Int64
	allDone := make(chan struct{})
	var doneOnce sync.Once
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()

	createStart := time.Now()
	var created sync.WaitGroup
	var readers sync.WaitGroup
	for i := 0; i < c.watchers; i++ {
		var wch clientv3.WatchChan
		cli := clis[i%conns]
		switch c.mode {
		case "same":
			wch = cli.Watch(wctx, "k", clientv3.WithCreatedNotify())
		case "distinct":
			wch = cli.Watch(wctx, fmt.Sprintf("d/%05d", i), clientv3.WithCreatedNotify())
		case "prefix":
			wch = cli.Watch(wctx, "p/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		}
		created.Add(1)
		readers.Add(1)
		go func() {
			defer readers.Done()
			first := true
			for wr := range wch {
				if first && wr.Created {
					first = false
					created.Done()
					continue
				}
				if n := delivered.Add(int64(len(wr.Events))); n >= want {
					doneOnce.Do(func() { close(allDone) })
				}
			}
		}()
	}
	created.Wait()
	createSec := time.Since(createStart).Seconds()

	val := strings.Repeat("v", value)
	var next atomic.Int64
	cpu0 := cpuSeconds(pid)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cli := clis[w%conns]
			for {
				j := next.Add(1) - 1
				if j >= int64(puts) {
					return
				}
				var key string
				switch c.mode {
				case "same":
					key = "k"
				case "distinct":
					key = fmt.Sprintf("d/%05d", j%int64(c.watchers))
				case "prefix":
					key = fmt.Sprintf("p/%03d", j%1000)
				}
				if _, err := cli.Put(ctx, key, val); err != nil {
					t.Errorf("put: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	putSec := time.Since(start).Seconds()
	select {
	case <-allDone:
	case <-time.After(5 * time.Minute):
		t.Fatalf("%s: %d of %d events delivered", c, delivered.Load(), want)
	}
	sec := time.Since(start).Seconds()
	cpu := cpuSeconds(pid) - cpu0
	wcancel()
	readers.Wait()
	return result{eventsPerSec: float64(want) / sec, putsPerSec: float64(puts) / putSec, createSec: createSec, cpuPerEvent: cpu / float64(want)}
}

// serverPID finds m's process, a child of this one, by its data dir.
func serverPID(t *testing.T, m *framework.Member) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(cmd, []byte("--data-dir="+m.DataDir+"\x00")) {
			return pid
		}
	}
	t.Fatalf("no process for %s", m.DataDir)
	return 0
}

// cpuSeconds is the user+system CPU time pid has used.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ
}
