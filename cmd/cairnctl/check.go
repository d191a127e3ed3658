package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/internal/ctl"
)

func (a *app) checkCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check <subcommand>",
		Short: "commands for checking properties of the etcd cluster",
	}
	cmd.AddCommand(a.checkPerfCommand(), a.checkDatascaleCommand())
	return cmd
}

// loadAliases maps --load values to the workload names.
var loadAliases = map[string]string{
	"s": "s", "small": "s",
	"m": "m", "medium": "m",
	"l": "l", "large": "l",
	"xl": "xl", "xLarge": "xl",
}

// perfLoads are check perf's workloads: writes per second and clients.
var perfLoads = map[string]struct{ limit, clients int }{
	"s":  {150, 50},
	"m":  {1000, 200},
	"l":  {8000, 500},
	"xl": {15000, 1000},
}

// datascaleLoads are check datascale's workloads: keys and clients.
var datascaleLoads = map[string]struct{ limit, clients int }{
	"s":  {10000, 50},
	"m":  {100000, 200},
	"l":  {1000000, 500},
	"xl": {3000000, 1000},
}

type checkOptions struct {
	load, prefix            string
	autoCompact, autoDefrag bool
	duration                time.Duration
}

func (o *checkOptions) addFlags(cmd *cobra.Command, prefix string) {
	cmd.Flags().StringVar(&o.load, "load", "s", "The workload model (s, m, l or xl)")
	cmd.Flags().StringVar(&o.prefix, "prefix", prefix, "The prefix for the check's keys")
	cmd.Flags().BoolVar(&o.autoCompact, "auto-compact", false, "Compact storage with last revision after test is finished.")
	cmd.Flags().BoolVar(&o.autoDefrag, "auto-defrag", false, "Defragment storage after test is finished.")
}

// clients opens n clients on the global endpoints.
func (a *app) clients(n int) ([]*conn, error) {
	eps, err := a.endpoints()
	if err != nil {
		return nil, err
	}
	acc, err := a.globalAccess(true)
	if err != nil {
		return nil, err
	}
	out := make([]*conn, n)
	for i := range out {
		if out[i], err = a.dial(eps, acc); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// emptyPrefix refuses to run a check over keys that already exist.
func (a *app) emptyPrefix(c *conn, prefix string) error {
	ctx, cancel := a.commandCtx(c.ctx)
	defer cancel()
	resp, err := c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithLimit(1))
	if err != nil {
		return ctl.Exit(ctl.ExitError, c.explain(err))
	}
	if len(resp.Kvs) > 0 {
		return ctl.Exitf(ctl.ExitInvalidInput, "prefix %q has keys. Delete with 'cairnctl del --prefix %s' first", prefix, prefix)
	}
	return nil
}

// cleanup deletes the check's keys, then compacts and defragments if asked.
func (a *app) cleanup(c *conn, o *checkOptions) error {
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	dresp, err := c.Delete(ctx, o.prefix, clientv3.WithPrefix())
	if err != nil {
		fmt.Fprintf(a.out, "FAIL: Cleanup failed during key deletion: ERROR(%v)\n", c.explain(err))
		return nil
	}
	if o.autoCompact {
		if _, err := c.Compact(ctx, dresp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
			return ctl.Exit(ctl.ExitError, c.explain(err))
		}
		fmt.Fprintf(a.out, "Compacted with revision %d\n", dresp.Header.Revision)
	}
	if o.autoDefrag {
		for _, ep := range c.Endpoints() {
			if _, err := c.Defragment(ctx, ep); err != nil {
				return ctl.Exit(ctl.ExitError, c.explain(err))
			}
			fmt.Fprintf(a.out, "Defragmented %q\n", ep)
		}
	}
	return nil
}

// randomKey is the prefix and 256 bytes starting with a random varint.
func randomKey(prefix string, size int) string {
	k := make([]byte, size)
	binary.PutVarint(k, rand.Int64N(math.MaxInt64))
	return prefix + string(k)
}

func (a *app) checkPerfCommand() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "perf [options]",
		Short: "Check the performance of the etcd cluster",
		Long: `Writes at the rate of the --load workload for a minute (--duration) and
checks that the cluster kept up: throughput at least 90% of the rate, no
request slower than 500ms, a standard deviation under 100ms.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			load, ok := loadAliases[o.load]
			if !ok {
				return ctl.Exitf(ctl.ExitBadFeature, "unknown load option %v", o.load)
			}
			cfg := perfLoads[load]
			cs, err := a.clients(cfg.clients)
			if err != nil {
				return err
			}
			if err := a.emptyPrefix(cs[0], o.prefix); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cs[0].ctx, o.duration)
			defer cancel()
			ctx, sigc, stop := untilSignal(ctx)
			defer stop()

			bar := ctl.NewProgress(a.errOut, a.stderrIsTerminal(), "check perf", int64(o.duration/time.Second), false)
			go func() {
				t := time.NewTicker(time.Second)
				defer t.Stop()
				for i := int64(1); ; i++ {
					select {
					case <-t.C:
						bar.Set(i)
					case <-ctx.Done():
						return
					}
				}
			}()
			var lat ctl.Latencies
			pace := ctl.NewPacer(cfg.limit)
			value := string(make([]byte, 1024))
			var wg sync.WaitGroup
			for _, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for pace.Wait(ctx) {
						st := time.Now()
						_, err := c.Put(context.WithoutCancel(ctx), randomKey(o.prefix, 256), value)
						lat.Add(st, time.Now(), err)
					}
				}()
			}
			wg.Wait()
			bar.Done(true)
			interrupted := false
			select {
			case <-sigc:
				interrupted = true
			default:
			}
			if err := a.cleanup(cs[0], &o); err != nil {
				return err
			}
			if cerr := cs[0].explain(context.Cause(cs[0].ctx)); cerr != nil && cerr != context.Canceled {
				return cerr
			}
			if interrupted {
				return ctl.Exitf(ctl.ExitInterrupted, "check perf interrupted")
			}
			return a.perfVerdict(&lat, cfg.limit)
		},
	}
	o.addFlags(cmd, "/etcdctl-check-perf/")
	cmd.Flags().DurationVar(&o.duration, "duration", time.Minute, "How long to write (cairnctl only; etcdctl always runs a minute)")
	return cmd
}

func (a *app) perfVerdict(lat *ctl.Latencies, limit int) error {
	ok := true
	if errs := lat.Errors(); len(errs) != 0 {
		fmt.Fprintln(a.out, "FAIL: too many errors")
		for _, e := range errs {
			fmt.Fprintf(a.out, "FAIL: ERROR(%v) -> %d\n", e.Err, e.Count)
		}
		ok = false
	}
	rps, slowest, stddev := lat.Stats()
	if rps/float64(limit) <= 0.9 {
		fmt.Fprintf(a.out, "FAIL: Throughput too low: %d writes/s\n", int(rps)+1)
		ok = false
	} else {
		fmt.Fprintf(a.out, "PASS: Throughput is %d writes/s\n", int(rps)+1)
	}
	if slowest > 0.5 {
		fmt.Fprintf(a.out, "Slowest request took too long: %fs\n", slowest)
		ok = false
	} else {
		fmt.Fprintf(a.out, "PASS: Slowest request took %fs\n", slowest)
	}
	if stddev > 0.1 {
		fmt.Fprintf(a.out, "Stddev too high: %fs\n", stddev)
		ok = false
	} else {
		fmt.Fprintf(a.out, "PASS: Stddev is %fs\n", stddev)
	}
	if ok {
		fmt.Fprintln(a.out, "PASS")
		return nil
	}
	fmt.Fprintln(a.out, "FAIL")
	return ctl.ExitSilently(ctl.ExitError)
}

func (a *app) checkDatascaleCommand() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "datascale [options]",
		Short: "Check the memory usage of holding data for different workloads on a given server endpoint.",
		Long: "If no endpoint is provided, localhost will be used. If multiple endpoints are provided, first endpoint will be used.\n" +
			"The memory used is read from the server's /metrics (process_resident_memory_bytes) before and after the writes.",
		RunE: func(cmd *cobra.Command, args []string) error {
			load, ok := loadAliases[o.load]
			if !ok {
				return ctl.Exitf(ctl.ExitBadFeature, "unknown load option %v", o.load)
			}
			cfg := datascaleLoads[load]
			cs, err := a.clients(cfg.clients)
			if err != nil {
				return err
			}
			if err := a.emptyPrefix(cs[0], o.prefix); err != nil {
				return err
			}
			eps, _ := a.endpoints()
			tlsCfg, _ := a.tlsConfig()
			before := memoryMetric(eps[0], tlsCfg)
			if before == 0 {
				fmt.Fprintln(a.out, "FAIL: Could not read process_resident_memory_bytes before the put operations.")
				return ctl.ExitSilently(ctl.ExitError)
			}
			fmt.Fprintf(a.out, "Start data scale check for work load [%v key-value pairs, %v bytes per key-value, %v concurrent clients].\n",
				cfg.limit, 1024, cfg.clients)
			bar := ctl.NewProgress(a.errOut, a.stderrIsTerminal(), "check datascale", int64(cfg.limit), false)
			ctx, _, stop := untilSignal(cs[0].ctx)
			defer stop()
			reqs := make(chan string, 1024)
			go func() {
				defer close(reqs)
				for i := 0; i < cfg.limit; i++ {
					select {
					case reqs <- randomKey(o.prefix, 512):
					case <-ctx.Done():
						return
					}
				}
			}()
			var lat ctl.Latencies
			value := string(make([]byte, 512))
			var wg sync.WaitGroup
			for _, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range reqs {
						st := time.Now()
						_, err := c.Put(ctx, k, value)
						lat.Add(st, time.Now(), err)
						bar.Add(1)
					}
				}()
			}
			wg.Wait()
			bar.Done(true)
			after := memoryMetric(eps[0], tlsCfg)
			if err := a.cleanup(cs[0], &o); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctl.Exit(ctl.ExitInterrupted, cs[0].explain(ctx.Err()))
			}
			if after == 0 {
				fmt.Fprintln(a.out, "FAIL: Could not read process_resident_memory_bytes after the put operations.")
				return ctl.ExitSilently(ctl.ExitError)
			}
			if errs := lat.Errors(); len(errs) != 0 {
				fmt.Fprintln(a.out, "FAIL: too many errors")
				for _, e := range errs {
					fmt.Fprintf(a.out, "FAIL: ERROR(%v) -> %d\n", e.Err, e.Count)
				}
				return ctl.ExitSilently(ctl.ExitError)
			}
			mb := (after - before) / (1024 * 1024)
			fmt.Fprintf(a.out, "PASS: Approximate system memory used : %v MB.\n", strconv.FormatFloat(mb, 'f', 2, 64))
			return nil
		},
	}
	o.addFlags(cmd, "/etcdctl-check-datascale/")
	return cmd
}

// memoryMetric reads process_resident_memory_bytes from the endpoint's
// /metrics; 0 if it cannot.
func memoryMetric(ep string, tlsCfg *tls.Config) float64 {
	u := ep
	if !strings.Contains(u, "://") {
		if tlsCfg != nil {
			u = "https://" + u
		} else {
			u = "http://" + u
		}
	}
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	resp, err := cl.Get(strings.TrimSuffix(u, "/") + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "process_resident_memory_bytes" {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}
