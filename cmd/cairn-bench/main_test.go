package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cairndb/cairn/internal/bench"
)

func TestInvalidFlagsFailBeforeDialing(t *testing.T) {
	for _, args := range [][]string{
		{"put", "--clients", "0"},
		{"put", "--total", "0"},
		{"range", "--consistency", "x"},
		{"--key-size", "2", "--key-space", "1000", "delete"},
		{"watch", "--watchers", "0"},
		{"--server-pid", "1,2", "lease-keepalive", "--clients", "0"},
	} {
		cmd := newRootCmd()
		cmd.SetArgs(args)
		cmd.SetOut(new(bytes.Buffer))
		if err := cmd.Execute(); !errors.Is(err, bench.ErrInvalidConfig) {
			t.Errorf("%v: err = %v, want ErrInvalidConfig", args, err)
		}
	}
}

func TestReportFromStdin(t *testing.T) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetArgs([]string{"report"})
	cmd.SetIn(strings.NewReader(`{"server":"etcd","label":"put","throughput":100,"p50_ms":1,"p99_ms":2}` + "\n"))
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| put | 100 | 1.00 | 2.00 | 1 |") {
		t.Fatalf("report:\n%s", out.String())
	}
}
