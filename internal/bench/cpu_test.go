package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	got, err := parseProcStat([]byte("cpu  100 5 50 1000 40 3 2 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := 160 * time.Second / userHZ; got != want {
		t.Fatalf("busy = %v, want %v", got, want)
	}
	if _, err := parseProcStat([]byte("intr 1 2 3\n")); err == nil {
		t.Fatal("accepted a line that is not cpu")
	}
}

func TestParsePidStat(t *testing.T) {
	line := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 1000000 2000 18446744073709551615\n"
	got, err := parsePidStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 300 * time.Second / userHZ; got != want {
		t.Fatalf("utime+stime = %v, want %v", got, want)
	}
}

func TestCPUMeterSelf(t *testing.T) {
	m := startCPU(nil)
	if m.err != nil {
		t.Skipf("no /proc: %v", m.err)
	}
	for deadline := time.Now().Add(20 * time.Millisecond); time.Now().Before(deadline); {
	}
	u := m.stop()
	if u == nil || u.Bench <= 0 || len(u.ServerPIDs) != 0 || u.Server != 0 {
		t.Fatalf("usage %+v, want some bench time and no server time", u)
	}
}

func TestCPUMeterServer(t *testing.T) {
	// This process stands in for the server.
	m := startCPU([]int{os.Getpid()})
	if m.err != nil {
		t.Skipf("no /proc: %v", m.err)
	}
	for deadline := time.Now().Add(30 * time.Millisecond); time.Now().Before(deadline); {
	}
	u := m.stop()
	if u == nil || len(u.ServerPIDs) != 1 || u.ServerPIDs[0] != os.Getpid() || u.Server <= 0 {
		t.Fatalf("usage %+v, want the server measured", u)
	}
}
