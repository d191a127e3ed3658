package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Result is the outcome of one run.
type Result struct {
	Workload string
	Config   Config
	// Requests is the number of successful requests; only they are timed.
	Requests int64
	Errors   int64
	// ErrorKinds lists the most frequent distinct error messages.
	ErrorKinds []ErrorCount
	// Elapsed runs from the first request handed out to the last answer.
	Elapsed time.Duration
	Latency Summary
	// Counters are workload-specific counts (cas_failed, deleted, ...).
	Counters map[string]int64
	// CPU is the CPU time spent during the timed run; nil when /proc could
	// not be read.
	CPU *CPUUsage
}

// Throughput is successful requests per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// JSONResult is the --json line: flat, so scripts read it with one jq path.
// Latencies are in milliseconds.
type JSONResult struct {
	Workload    string           `json:"workload"`
	Consistency string           `json:"consistency,omitempty"`
	Endpoints   []string         `json:"endpoints"`
	Conns       int              `json:"conns"`
	Clients     int              `json:"clients"`
	KeySize     int              `json:"key_size"`
	ValSize     int              `json:"val_size"`
	KeySpace    int              `json:"key_space"`
	SeqKeys     bool             `json:"seq_keys"`
	FirstKey    int              `json:"first_key,omitempty"`
	RandomVals  bool             `json:"random_values"`
	Rate        float64          `json:"rate"`
	Requests    int64            `json:"requests"`
	Errors      int64            `json:"errors"`
	Seconds     float64          `json:"seconds"`
	Throughput  float64          `json:"throughput"`
	P50         float64          `json:"p50_ms"`
	P90         float64          `json:"p90_ms"`
	P99         float64          `json:"p99_ms"`
	P999        float64          `json:"p999_ms"`
	Max         float64          `json:"max_ms"`
	Mean        float64          `json:"mean_ms"`
	Exact       bool             `json:"exact"`
	Counters    map[string]int64 `json:"counters,omitempty"`
	// The watch workload's: its requests are events delivered (one put,
	// one event per watcher), its throughput is events per second and its
	// latencies run from the put's send to the event's arrival. Events and
	// EventsPerSec repeat Requests and Throughput under explicit names.
	Watchers     int      `json:"watchers,omitempty"`
	WatchPrefix  bool     `json:"watch_prefix,omitempty"`
	Events       *int64   `json:"events,omitempty"`
	EventsPerSec *float64 `json:"events_per_s,omitempty"`
	// CPU seconds during the timed run (present when measured): the server's
	// (with --server-pid), the load generator's, and the whole machine's busy
	// time over all CPUs.
	ServerCPU  *float64     `json:"server_cpu_s,omitempty"`
	BenchCPU   *float64     `json:"bench_cpu_s,omitempty"`
	MachineCPU *float64     `json:"machine_cpu_s,omitempty"`
	CPUs       int          `json:"cpus"`
	ErrorKinds []ErrorCount `json:"error_kinds,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// JSON returns r in its --json form.
func (r *Result) JSON() JSONResult {
	j := JSONResult{
		Workload:   r.Workload,
		Endpoints:  r.Config.Endpoints,
		Conns:      r.Config.Conns,
		Clients:    r.Config.Clients,
		KeySize:    r.Config.KeySize,
		ValSize:    r.Config.ValSize,
		KeySpace:   r.Config.KeySpace,
		SeqKeys:    r.Config.SeqKeys,
		FirstKey:   r.Config.FirstKey,
		RandomVals: r.Config.RandomValues,
		Rate:       r.Config.Rate,
		Requests:   r.Requests,
		Errors:     r.Errors,
		Seconds:    r.Elapsed.Seconds(),
		Throughput: r.Throughput(),
		P50:        ms(r.Latency.P50),
		P90:        ms(r.Latency.P90),
		P99:        ms(r.Latency.P99),
		P999:       ms(r.Latency.P999),
		Max:        ms(r.Latency.Max),
		Mean:       ms(r.Latency.Mean),
		Exact:      r.Latency.Exact,
		Counters:   r.Counters,
		ErrorKinds: r.ErrorKinds,
		CPUs:       runtime.NumCPU(),
	}
	if r.Workload == "range" {
		j.Consistency = r.Config.Consistency
	}
	if r.Workload == "watch" {
		events, rate := r.Requests, r.Throughput()
		j.Watchers, j.WatchPrefix = r.Config.Watchers, r.Config.WatchPrefix
		j.Events, j.EventsPerSec = &events, &rate
	}
	if u := r.CPU; u != nil {
		sec := func(d time.Duration) *float64 { s := d.Seconds(); return &s }
		if len(u.ServerPIDs) > 0 {
			j.ServerCPU = sec(u.Server)
		}
		j.BenchCPU, j.MachineCPU = sec(u.Bench), sec(u.Machine)
	}
	return j
}

// WriteJSON writes r as one JSON line.
func (r *Result) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r.JSON())
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteText writes r for a person to read.
func (r *Result) WriteText(w io.Writer) error {
	c := &r.Config
	var b strings.Builder
	keys := "random"
	if c.SeqKeys {
		keys = "sequential"
	}
	name := r.Workload
	unit, per := "requests", "req/s"
	switch r.Workload {
	case "range":
		name += map[string]string{Linearizable: " (linearizable)", Serializable: " (serializable)"}[c.Consistency]
	case "watch":
		unit, per = "events", "events/s"
		name += fmt.Sprintf(" (%d watchers on one key)", c.Watchers)
		if c.WatchPrefix {
			name = fmt.Sprintf("watch (%d watchers on one prefix)", c.Watchers)
		}
	}
	fmt.Fprintf(&b, "workload    %s against %s\n", name, strings.Join(c.Endpoints, ","))
	if r.Workload == "watch" {
		fmt.Fprintf(&b, "load        1 writer (one put in flight), %d watchers over %d conns, key %d B, value %d B",
			c.Watchers, c.Conns, c.KeySize, max(c.ValSize, stampLen))
		if c.WatchPrefix {
			fmt.Fprintf(&b, ", %d %s keys", c.KeySpace, keys)
		}
	} else {
		fmt.Fprintf(&b, "load        %d clients over %d conns, key %d B, value %d B, %d %s keys",
			c.Clients, c.Conns, c.KeySize, c.ValSize, c.KeySpace, keys)
		if c.RandomValues {
			b.WriteString(", random values")
		}
	}
	if c.Rate > 0 {
		fmt.Fprintf(&b, ", rate %g/s", c.Rate)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%-11s %d (%d errors)\n", unit, r.Requests, r.Errors)
	fmt.Fprintf(&b, "seconds     %.2f\n", r.Elapsed.Seconds())
	fmt.Fprintf(&b, "throughput  %.0f %s\n", r.Throughput(), per)
	l := &r.Latency
	approx := ""
	if !l.Exact && l.Count > 0 {
		approx = " (from a histogram, ±0.4 %)"
	}
	what := ""
	if r.Workload == "watch" {
		what = " (put sent to event received)"
	}
	fmt.Fprintf(&b, "latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f%s%s\n",
		ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), ms(l.Mean), approx, what)
	if len(r.Counters) > 0 {
		names := make([]string, 0, len(r.Counters))
		for k := range r.Counters {
			names = append(names, k)
		}
		sort.Strings(names)
		b.WriteString("counters   ")
		for _, k := range names {
			fmt.Fprintf(&b, " %s %d", k, r.Counters[k])
		}
		b.WriteString("\n")
	}
	if u := r.CPU; u != nil && r.Elapsed > 0 {
		cores := func(d time.Duration) float64 { return d.Seconds() / r.Elapsed.Seconds() }
		fmt.Fprintf(&b, "cpu cores   bench %.2f  machine %.2f of %d", cores(u.Bench), cores(u.Machine), runtime.NumCPU())
		if len(u.ServerPIDs) > 0 {
			fmt.Fprintf(&b, "  server %.2f", cores(u.Server))
			if r.Requests > 0 {
				fmt.Fprintf(&b, " (%.1f µs/%s)", float64(u.Server.Microseconds())/float64(r.Requests), strings.TrimSuffix(unit, "s"))
			}
		}
		b.WriteString("\n")
	}
	for _, e := range r.ErrorKinds {
		fmt.Fprintf(&b, "error       %d× %s\n", e.Count, e.Message)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
