package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// ErrNoResults is returned by WriteReport when there is nothing to report.
var ErrNoResults = errors.New("bench: no results")

// RunRecord is one line of a bench script's results file: a --json result
// plus what the script measured around it.
type RunRecord struct {
	JSONResult
	// Server names the system under test ("etcd", "cairn").
	Server string `json:"server"`
	// Label names the workload variant ("put, 256 clients, 8 conns").
	Label string `json:"label"`
	Round int    `json:"round"`
	// RSSKiB is the server's peak resident set (VmHWM) at the end of the run.
	RSSKiB int64 `json:"rss_kib"`
	// DiskKiB is the data directory's disk usage (du) after the run,
	// including blocks preallocated past the end of files.
	DiskKiB int64 `json:"disk_kib"`
	// DiskApparentKiB is the sum of the data directory's file sizes.
	DiskApparentKiB int64 `json:"disk_apparent_kib"`
}

// ReadRecords reads JSON lines; blank lines are skipped.
func ReadRecords(r io.Reader) ([]RunRecord, error) {
	var recs []RunRecord
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var rec RunRecord
		if err := json.Unmarshal([]byte(text), &rec); err != nil {
			return nil, fmt.Errorf("bench: results line %d: %w", line, err)
		}
		if rec.Label == "" {
			rec.Label = rec.Workload
		}
		recs = append(recs, rec)
	}
	return recs, sc.Err()
}

// median of xs (the mean of the two middle values for an even count),
// ignoring NaNs; NaN if there is no number. xs is sorted in place.
func median(xs []float64) float64 {
	xs = slices.DeleteFunc(xs, math.IsNaN)
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// cell is the medians of one (label, server) pair.
type cell struct {
	runs                      int
	errors                    int64
	tput, p50, p99, rss, disk float64 // rss and disk in MiB
	apparent                  float64 // MiB
	cpuPerReq                 float64 // server CPU µs per request, NaN if unknown
	otherCores                float64 // CPU used by neither server nor bench, NaN if unknown
}

// serverCPUPerRequest is the server's CPU µs per request, NaN if unknown.
func (r *RunRecord) serverCPUPerRequest() float64 {
	if r.ServerCPU == nil || r.Requests == 0 {
		return math.NaN()
	}
	return *r.ServerCPU * 1e6 / float64(r.Requests)
}

// otherCores is the average number of CPUs busy with neither the server nor
// the load generator during the run (other processes, the kernel's own
// threads), NaN if unknown.
func (r *RunRecord) otherCores() float64 {
	if r.ServerCPU == nil || r.BenchCPU == nil || r.MachineCPU == nil || r.Seconds <= 0 {
		return math.NaN()
	}
	return max(0, *r.MachineCPU-*r.ServerCPU-*r.BenchCPU) / r.Seconds
}

// WriteReport writes markdown tables of the medians per workload label and
// server, with the ratio of every other server to baseline. Labels and
// servers keep the order in which they first appear; baseline comes first.
func WriteReport(w io.Writer, recs []RunRecord, baseline string) error {
	if len(recs) == 0 {
		return ErrNoResults
	}
	var labels, servers []string
	by := map[[2]string][]RunRecord{}
	for _, r := range recs {
		if !slices.Contains(labels, r.Label) {
			labels = append(labels, r.Label)
		}
		if !slices.Contains(servers, r.Server) {
			servers = append(servers, r.Server)
		}
		k := [2]string{r.Label, r.Server}
		by[k] = append(by[k], r)
	}
	if i := slices.Index(servers, baseline); i > 0 {
		servers = append([]string{baseline}, slices.Delete(servers, i, i+1)...)
	}
	cells := map[[2]string]cell{}
	for k, rs := range by {
		var c cell
		col := func(f func(RunRecord) float64) float64 {
			xs := make([]float64, len(rs))
			for i, r := range rs {
				xs[i] = f(r)
			}
			return median(xs)
		}
		c.runs = len(rs)
		for _, r := range rs {
			c.errors += r.Errors
		}
		c.tput = col(func(r RunRecord) float64 { return r.Throughput })
		c.p50 = col(func(r RunRecord) float64 { return r.P50 })
		c.p99 = col(func(r RunRecord) float64 { return r.P99 })
		c.rss = col(func(r RunRecord) float64 { return float64(r.RSSKiB) / 1024 })
		c.disk = col(func(r RunRecord) float64 { return float64(r.DiskKiB) / 1024 })
		c.apparent = col(func(r RunRecord) float64 { return float64(r.DiskApparentKiB) / 1024 })
		c.cpuPerReq = col(func(r RunRecord) float64 { return r.serverCPUPerRequest() })
		c.otherCores = col(func(r RunRecord) float64 { return r.otherCores() })
		cells[k] = c
	}
	base, others := servers[0], servers[1:]
	ratio := func(a, b float64) string {
		if b == 0 || a == 0 || math.IsNaN(a) || math.IsNaN(b) {
			return "–"
		}
		return fmt.Sprintf("%.2fx", a/b)
	}
	num := func(label, server string, f func(cell) float64, format string) string {
		c, ok := cells[[2]string{label, server}]
		if !ok || math.IsNaN(f(c)) {
			return "–"
		}
		return fmt.Sprintf(format, f(c))
	}
	var b strings.Builder
	row := func(cols []string) { b.WriteString("| " + strings.Join(cols, " | ") + " |\n") }
	sep := func(n int) {
		cols := []string{"---"}
		for i := 1; i < n; i++ {
			cols = append(cols, "---:")
		}
		row(cols)
	}
	table := func(title string, metrics []struct {
		name, format string
		f            func(cell) float64
		ratio        bool
	}) {
		b.WriteString(title + "\n\n")
		head := []string{"workload"}
		for _, m := range metrics {
			for _, s := range servers {
				head = append(head, s+" "+m.name)
			}
			if m.ratio {
				for _, o := range others {
					head = append(head, o+"/"+base+" "+m.name)
				}
			}
		}
		head = append(head, "runs")
		row(head)
		sep(len(head))
		for _, l := range labels {
			name := l
			var errs int64
			runs := []string{}
			for _, s := range servers {
				c := cells[[2]string{l, s}]
				errs += c.errors
				runs = append(runs, fmt.Sprint(c.runs))
			}
			if errs > 0 {
				name += fmt.Sprintf(" (%d errors)", errs)
			}
			cols := []string{name}
			for _, m := range metrics {
				for _, s := range servers {
					cols = append(cols, num(l, s, m.f, m.format))
				}
				if m.ratio {
					for _, o := range others {
						co, ok1 := cells[[2]string{l, o}]
						cb, ok2 := cells[[2]string{l, base}]
						if !ok1 || !ok2 {
							cols = append(cols, "–")
							continue
						}
						cols = append(cols, ratio(m.f(co), m.f(cb)))
					}
				}
			}
			cols = append(cols, strings.Join(runs, "+"))
			row(cols)
		}
		b.WriteString("\n")
	}
	type metric = struct {
		name, format string
		f            func(cell) float64
		ratio        bool
	}
	table("Throughput and latency (medians; for p99 a ratio below 1 is better):", []metric{
		{"req/s", "%.0f", func(c cell) float64 { return c.tput }, true},
		{"p50 ms", "%.2f", func(c cell) float64 { return c.p50 }, false},
		{"p99 ms", "%.2f", func(c cell) float64 { return c.p99 }, true},
	})
	table("Server resources (medians):", []metric{
		{"RSS MiB", "%.0f", func(c cell) float64 { return c.rss }, true},
		{"data dir MiB", "%.1f", func(c cell) float64 { return c.disk }, true},
		{"file sizes MiB", "%.1f", func(c cell) float64 { return c.apparent }, false},
		{"CPU µs/req", "%.0f", func(c cell) float64 { return c.cpuPerReq }, true},
		{"other CPUs", "%.2f", func(c cell) float64 { return c.otherCores }, false},
	})
	b.WriteString("RSS is the server's peak resident set (VmHWM) at the end of the run; data dir is its `du` " +
		"after a clean stop, counting blocks preallocated past the end of files, and file sizes is its " +
		"apparent size (`du --apparent-size`); CPU µs/req is the server's CPU time during the timed run per request; other CPUs " +
		"is how many CPUs were busy on average with neither the server nor the load generator " +
		"(other processes: a noise indicator).\n")
	_, err := io.WriteString(w, b.String())
	return err
}
