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
	}{
		{"put", func(c *Config) { c.Total = 500 }, nil},
		{"range", func(c *Config) { c.Total = 500 }, nil},
		{"range", func(c *Config) { c.Total, c.Consistency = 500, Serializable }, nil},
		{"txn-cas", func(c *Config) { c.Total, c.Clients, c.SeqKeys = 500, 1, true },
			func(t *testing.T, r Result) {
				// One client knows every key's revision: every swap succeeds.
				if r.Counters["cas_succeeded"] != 500 || r.Counters["cas_failed"] != 0 {
					t.Errorf("counters %v, want 500 swaps", r.Counters)
				}
			}},
		{"txn-cas", func(c *Config) { c.Total, c.Preload = 50, false },
			func(t *testing.T, r Result) {
				if got := r.Counters["cas_succeeded"] + r.Counters["cas_failed"]; got != 50 {
					t.Errorf("counters %v, want 50 in all", r.Counters)
				}
			}},
		{"delete", func(c *Config) { c.Total, c.SeqKeys = 400, true },
			func(t *testing.T, r Result) {
				// The first pass over the key space deletes every key once.
				if r.Counters["deleted"] != 200 {
					t.Errorf("deleted %d keys, want 200", r.Counters["deleted"])
				}
			}},
		{"put", func(c *Config) { c.Total, c.Duration, c.Rate = 0, 300*time.Millisecond, 200 }, nil},
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
			if res.Errors != 0 || (cfg.Total > 0 && res.Requests != cfg.Total) || res.Requests == 0 {
				t.Fatalf("requests %d errors %d %v, want %d", res.Requests, res.Errors, res.ErrorKinds, cfg.Total)
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
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
