package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPUUsage is the CPU time spent during the timed run, from /proc (Linux).
// It tells how much of the machine the server used per request, and whether
// something else was competing for the CPUs.
type CPUUsage struct {
	// ServerPIDs is Options.ServerPIDs; empty means Server was not
	// measured.
	ServerPIDs []int
	// Server is the CPU time of the server processes (all members of a
	// cluster running on this machine), summed.
	Server time.Duration
	// Bench is the CPU time of this load generator.
	Bench time.Duration
	// Machine is the busy CPU time of the whole machine (all CPUs).
	Machine time.Duration
}

// userHZ is the unit of /proc CPU times: USER_HZ, 100 on every Linux
// architecture Go supports.
const userHZ = 100

// cpuSample is a reading of the cumulative counters.
type cpuSample struct {
	server, bench, machine time.Duration
}

// readCPU reads the counters; the server counter sums serverPIDs.
func readCPU(serverPIDs []int) (cpuSample, error) {
	var s cpuSample
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return s, err
	}
	s.bench = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	if s.machine, err = parseProcStat(stat); err != nil {
		return s, err
	}
	for _, pid := range serverPIDs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return s, err
		}
		d, err := parsePidStat(b)
		if err != nil {
			return s, err
		}
		s.server += d
	}
	return s, nil
}

func ticks(n uint64) time.Duration { return time.Duration(n) * time.Second / userHZ }

// parseProcStat returns the busy time of the "cpu" line of /proc/stat: all
// fields but idle and iowait (guest time is already counted in user).
func parseProcStat(b []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("bench: unexpected /proc/stat line %q", line)
	}
	var busy uint64
	for i, v := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/stat: %w", err)
		}
		busy += n
	}
	return ticks(busy), nil
}

// parsePidStat returns utime+stime of a /proc/<pid>/stat line. The command
// name may contain spaces and parentheses, so fields count from the last ')'.
func parsePidStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: unexpected /proc/pid/stat %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state(3) ppid(4) ... utime(14) stime(15), 1-based per proc(5).
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: short /proc/pid/stat %q", b)
	}
	var sum uint64
	for _, v := range f[11:13] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/pid/stat: %w", err)
		}
		sum += n
	}
	return ticks(sum), nil
}

// cpuMeter measures CPU usage between start and stop; it reports nothing
// when /proc cannot be read.
type cpuMeter struct {
	pids  []int
	start cpuSample
	err   error
}

func startCPU(pids []int) *cpuMeter {
	m := &cpuMeter{pids: pids}
	m.start, m.err = readCPU(pids)
	return m
}

func (m *cpuMeter) stop() *CPUUsage {
	if m.err != nil {
		return nil
	}
	end, err := readCPU(m.pids)
	if err != nil {
		return nil
	}
	u := &CPUUsage{ServerPIDs: m.pids, Bench: end.bench - m.start.bench, Machine: end.machine - m.start.machine}
	if len(m.pids) > 0 {
		u.Server = end.server - m.start.server
	}
	return u
}
