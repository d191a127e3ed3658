// Command cairn-bench is a load generator for any etcd v3 endpoint (Cairn or
// etcd). The logic lives in internal/bench; this file only maps flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairndb/cairn/internal/bench"
)

// gcPercent is the GOGC the load generator runs with unless GOGC is set: it
// shares the machine with the server under test, and fewer collections leave
// more CPU to the server (about 20 % less generator CPU per request than the
// default of 100).
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cairn-bench:", err)
		os.Exit(1)
	}
}

// errAllFailed makes the exit status non-zero when no request succeeded.
var errAllFailed = errors.New("every request failed")

func newRootCmd() *cobra.Command {
	cfg := bench.Default()
	var asJSON bool
	var cpuProfile string
	var serverPIDs []int
	root := &cobra.Command{
		Use:   "cairn-bench",
		Short: "Load generator for etcd v3 endpoints (Cairn or etcd)",
		Long: `cairn-bench drives an etcd v3 cluster with one workload and prints
requests, seconds, throughput and exact latency percentiles.

Each of --clients clients keeps one request in flight; client i uses gRPC
connection i % --conns. The run ends after --total requests or --duration,
whichever comes first (--duration alone turns --total off). Range, delete and
txn-cas first write every key of --key-space once (untimed; --preload=false
skips it). Watch fans one writer's puts out to many watchers (see
"cairn-bench watch --help"); lease-keepalive grants one lease per client
before the run.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringSliceVar(&cfg.Endpoints, "endpoints", cfg.Endpoints, "comma-separated client endpoints")
	pf.IntVar(&cfg.Conns, "conns", cfg.Conns, "number of gRPC connections")
	pf.IntVar(&cfg.Clients, "clients", cfg.Clients, "number of concurrent clients, spread over the connections")
	pf.IntVar(&cfg.KeySize, "key-size", cfg.KeySize, "key size in bytes (zero-padded decimal key index)")
	pf.IntVar(&cfg.ValSize, "val-size", cfg.ValSize, "value size in bytes")
	pf.BoolVar(&cfg.RandomValues, "random-values", cfg.RandomValues, "put and preload: a different incompressible value per write instead of one printable value")
	pf.IntVar(&cfg.KeySpace, "key-space", cfg.KeySpace, "number of distinct keys")
	pf.IntVar(&cfg.FirstKey, "first-key", cfg.FirstKey, "with --seq-keys: the key index the sequence starts at (request n uses (first-key + n) % key-space)")
	pf.BoolVar(&cfg.SeqKeys, "seq-keys", cfg.SeqKeys, "use keys in sequence (request number % key-space) instead of random keys")
	pf.BoolVar(&cfg.Preload, "preload", cfg.Preload, "range, delete, txn-cas: write every key once before the timed run")
	pf.Int64Var(&cfg.Total, "total", cfg.Total, "number of requests (0 = no limit; needs --duration)")
	pf.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of the timed run, e.g. 30s (0 = no limit)")
	pf.Float64Var(&cfg.Rate, "rate", cfg.Rate, "requests per second over all clients (0 = unlimited)")
	pf.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "timeout of each request")
	pf.DurationVar(&cfg.DialTimeout, "dial-timeout", cfg.DialTimeout, "timeout of connecting")
	pf.Int64Var(&cfg.MaxExactSamples, "max-exact-samples", cfg.MaxExactSamples, "latency samples kept exactly (8 B each); later ones go to a ±0.4 % histogram")
	pf.BoolVar(&asJSON, "json", false, "print the result as one JSON line")
	pf.IntSliceVar(&serverPIDs, "server-pid", nil, "process ids of local server processes (cluster members) whose summed CPU time to report (Linux)")
	pf.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the load generator to this file")

	runWorkload := func(name string) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("duration") && !cmd.Flags().Changed("total") {
				cfg.Total = 0
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			opts := bench.Options{Log: os.Stderr, ServerPIDs: serverPIDs}
			if isTerminal(os.Stderr) {
				opts.Progress = os.Stderr
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			res, err := bench.Run(cmd.Context(), cfg, bench.Workloads[name](), opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				err = res.WriteJSON(out)
			} else {
				err = res.WriteText(out)
			}
			if err != nil {
				return err
			}
			if res.Requests == 0 && res.Errors > 0 {
				return fmt.Errorf("%w (%d errors)", errAllFailed, res.Errors)
			}
			return nil
		}
	}

	short := map[string]string{
		"put":             "Put a value under a key",
		"range":           "Get one key (--consistency l or s)",
		"delete":          "Delete one key",
		"txn-cas":         "Compare-and-swap: Txn(If mod_revision == last seen, Then Put, Else Get)",
		"watch":           "Watch fan-out: --watchers watchers, one writer; events/s and put-to-event latency",
		"lease-keepalive": "KeepAliveOnce on one lease per client (granted before the run, TTL 60 s)",
	}
	for _, name := range bench.WorkloadNames() {
		c := &cobra.Command{
			Use:   name,
			Short: short[name],
			Args:  cobra.NoArgs,
			RunE:  runWorkload(name),
		}
		switch name {
		case "range":
			c.Flags().StringVar(&cfg.Consistency, "consistency", cfg.Consistency, "l (linearizable) or s (serializable)")
		case "watch":
			c.Long = `watch creates --watchers watchers (watcher i on connection i % --conns),
all on one key, or with --watch-prefix all on one prefix, before the run,
then one writer puts under it with one put in flight (--rate paces it;
--clients is not used). --total counts puts. Each put's value carries its
send time, so every event delivered to every watcher is timed: the result
counts events, throughput is events per second over all watchers, and the
latencies run from the put's send to the event's arrival. With
--watch-prefix the writer puts the keys of --key-space under the prefix.
Once the writer stops, the run waits up to --request-timeout for every
watcher to catch up; events still missing count as errors.`
			c.Flags().IntVar(&cfg.Watchers, "watchers", cfg.Watchers, "number of watchers, spread over the connections")
			c.Flags().IntVar(&cfg.Writers, "writers", cfg.Writers, "concurrent writers, each with one put in flight, spread over the connections")
			c.Flags().BoolVar(&cfg.WatchPrefix, "watch-prefix", cfg.WatchPrefix, "watch a prefix (the writer spreads puts over --key-space keys under it) instead of one key")
		}
		root.AddCommand(c)
	}
	root.AddCommand(newReportCmd())
	root.AddCommand(newFirstReadCmd(&cfg, &asJSON))
	return root
}

func newFirstReadCmd(cfg *bench.Config, asJSON *bool) *cobra.Command {
	var since int64
	var interval, timeout time.Duration
	c := &cobra.Command{
		Use:   "first-read",
		Short: "Poll a linearizable Get until one succeeds and print how long that took (restart timing)",
		Long: `first-read polls a linearizable Get of key 0 (the first key of the key
space, --key-size) on --endpoints until one succeeds, and prints the time
from --since to that answer. To time a restart, take the time in Unix
nanoseconds (date +%s%N) just before starting the server and pass it as
--since. While the server refuses connections the client reconnects every
--interval; a Get the server turns down is tried again after --interval.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			if since > 0 {
				start = time.Unix(0, since)
			}
			if cfg.KeySize < 1 {
				return fmt.Errorf("%w: key-size must be at least 1", bench.ErrInvalidConfig)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			key := bench.NewKeys(cfg).Key(0)
			res, err := bench.FirstRead(ctx, cfg.Endpoints, key, interval)
			if err != nil {
				return err
			}
			ms := float64(res.At.Sub(start)) / float64(time.Millisecond)
			out := cmd.OutOrStdout()
			if *asJSON {
				b, err := json.Marshal(map[string]any{"first_read_ms": ms, "attempts": res.Attempts, "found": res.Found, "key": key})
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(out, "%s\n", b)
				return err
			}
			_, err = fmt.Fprintf(out, "first linearizable read after %.1f ms (%d attempts, key %q found: %v)\n", ms, res.Attempts, key, res.Found)
			return err
		},
	}
	c.Flags().Int64Var(&since, "since", 0, "start of the timing in Unix nanoseconds (default: when first-read starts)")
	c.Flags().DurationVar(&interval, "interval", 10*time.Millisecond, "time between attempts")
	c.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return c
}

func newReportCmd() *cobra.Command {
	var baseline string
	c := &cobra.Command{
		Use:   "report [results.jsonl ...]",
		Short: "Print markdown tables of medians and ratios from bench script results",
		Long: `report reads JSON lines written by scripts/bench.sh (a --json result plus
server, label, round, rss_kib and disk_kib) from the files or standard input,
and prints the medians per workload and server with each server's ratio to
--baseline.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var readers []io.Reader
			for _, name := range args {
				f, err := os.Open(name)
				if err != nil {
					return err
				}
				defer f.Close()
				readers = append(readers, f)
			}
			if len(args) == 0 {
				readers = append(readers, cmd.InOrStdin())
			}
			recs, err := bench.ReadRecords(io.MultiReader(readers...))
			if err != nil {
				return err
			}
			return bench.WriteReport(cmd.OutOrStdout(), recs, baseline)
		},
	}
	c.Flags().StringVar(&baseline, "baseline", "etcd", "server the ratios divide by")
	return c
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && !strings.HasPrefix(os.Getenv("TERM"), "dumb")
}
