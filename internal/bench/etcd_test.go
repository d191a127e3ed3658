package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestAgainstServer runs every workload against a real server binary:
// CAIRN_BENCH_SERVER=/usr/bin/etcd (or bin/cairn) go test ./internal/bench/
// Skipped when the variable is not set.
func TestAgainstServer(t *testing.T) {
	bin := os.Getenv("CAIRN_BENCH_SERVER")
	if bin == "" {
		t.Skip("CAIRN_BENCH_SERVER not set")
	}
	endpoint := startServer(t, bin)

	base := Default()
	base.Endpoints = []string{endpoint}
	base.KeySpace = 200
	base.Clients, base.Conns = 4, 2
	for _, tc := range []struct {
		workload string
		edit     func(*Config)
		check    func(*testing.T, Result)
		want     int64 // successful requests; 0 means Config.Total
	}{
		{"put", func(c *Config) { c.Total = 500 }, nil, 0},
		{"range", func(c *Config) { c.Total = 500 }, nil, 0},
		{"range", func(c *Config) { c.Total, c.Consistency = 500, Serializable }, nil, 0},
		{"txn-cas", func(c *Config) { c.Total, c.Clients, c.SeqKeys = 500, 1, true },
			func(t *testing.T, r Result) {
				// One client knows every key's revision: every swap succeeds.
				if r.Counters["cas_succeeded"] != 500 || r.Counters["cas_failed"] != 0 {
					t.Errorf("counters %v, want 500 swaps", r.Counters)
				}
			}, 0},
		{"txn-cas", func(c *Config) { c.Total, c.Preload = 50, false },
			func(t *testing.T, r Result) {
				if got := r.Counters["cas_succeeded"] + r.Counters["cas_failed"]; got != 50 {
					t.Errorf("counters %v, want 50 in all", r.Counters)
				}
			}, 0},
		{"delete", func(c *Config) { c.Total, c.SeqKeys = 400, true },
			func(t *testing.T, r Result) {
				// The first pass over the key space deletes every key once.
				if r.Counters["deleted"] != 200 {
					t.Errorf("deleted %d keys, want 200", r.Counters["deleted"])
				}
			}, 0},
		{"put", func(c *Config) { c.Total, c.Duration, c.Rate = 0, 300*time.Millisecond, 200 }, nil, 0},
		{"lease-keepalive", func(c *Config) { c.Total = 300 }, nil, 0},
		// 50 puts to 20 watchers of one key: 1000 events.
		{"watch", func(c *Config) { c.Total, c.Watchers = 50, 20 }, checkPuts(50), 1000},
		// 40 puts over 200 keys under the prefix of 10 watchers: 400 events.
		{"watch", func(c *Config) { c.Total, c.Watchers, c.WatchPrefix = 40, 10, true }, checkPuts(40), 400},
		// Paced by --rate for a duration.
		{"watch", func(c *Config) { c.Total, c.Duration, c.Rate, c.Watchers = 0, 300*time.Millisecond, 100, 5 }, nil, 0},
	} {
		t.Run(tc.workload, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := Run(ctx, cfg, Workloads[tc.workload](), Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == 0 {
				want = cfg.Total
			}
			if res.Errors != 0 || (want > 0 && res.Requests != want) || res.Requests == 0 {
				t.Fatalf("requests %d errors %d %v, want %d", res.Requests, res.Errors, res.ErrorKinds, want)
			}
			if res.Latency.Count != res.Requests || res.Latency.P50 <= 0 {
				t.Fatalf("latency %+v for %d requests", res.Latency, res.Requests)
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
	t.Run("first-read", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := FirstRead(ctx, []string{endpoint}, "00000000", 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	})
}

// checkPuts checks the watch workload's count of acknowledged puts.
func checkPuts(n int64) func(*testing.T, Result) {
	return func(t *testing.T, r Result) {
		if r.Counters["puts"] != n || r.Counters["events_foreign"] != 0 {
			t.Errorf("counters %v, want %d puts and no foreign events", r.Counters, n)
		}
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer starts a one-member cluster of bin with etcd's flags and
// returns its client URL once it answers.
func startServer(t *testing.T, bin string) string {
	dir := t.TempDir()
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin,
		"--name", "bench",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "bench="+peer, "--initial-cluster-state", "new",
		"--log-level", "error")
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	})
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(20 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Get(ctx, "health")
		cancel()
		if err == nil {
			return client
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			t.Fatalf("%s did not answer: %v\n%s", bin, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
