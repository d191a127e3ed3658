// Package ctl tests cairnctl, Cairn's etcdctl-compatible client, end to end:
// the same commands run with cairnctl and with Debian's etcdctl (3.4) must
// print the same thing (golden_test.go), the configuration guide's
// commands run unchanged, over TLS too (seed_test.go), and cairnctl's own
// additions work (cairnctl_test.go).
//
// Where etcdctl 3.4 and 3.6 differ, cairnctl follows 3.6; each such step of
// the golden test says so and rewrites 3.4's output into 3.6's before the
// comparison.
package ctl

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/tests/framework"
)

// etcdctlPath is Debian's etcdctl (package etcd-client).
const etcdctlPath = "/usr/bin/etcdctl"

// cairnctlPath is the cairnctl built for this test run.
var cairnctlPath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "cairnctl-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := framework.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	build := func(pkg, out string) error {
		cmd := exec.Command(goTool(), "build", "-o", out, pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
		return nil
	}
	cairnctlPath = filepath.Join(dir, "cairnctl")
	if err := build("./cmd/cairnctl", cairnctlPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Build the server here too (unless the run names one), so that no
	// build directory outlives the tests.
	if os.Getenv(framework.BinaryEnv) == "" {
		server := filepath.Join(dir, "cairn")
		if err := build("./cmd/cairn", server); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.Setenv(framework.BinaryEnv, server)
	}
	return m.Run()
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

func haveEtcdctl(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(etcdctlPath); err != nil {
		t.Skipf("%s not installed (apt-get install etcd-client)", etcdctlPath)
	}
}

// result is what one command printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

// command describes one run of a client binary.
type command struct {
	bin   string
	args  []string
	env   []string // added to the environment, after the ETCDCTL_* of the test's own are removed
	stdin string
	dir   string
}

// run executes c with a 60s limit and returns its output.
func run(t *testing.T, c command) result {
	t.Helper()
	r, err := runErr(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runErr is run for any goroutine: it returns the failure to start.
func runErr(c command) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, c.args...)
	cmd.Env = cleanEnv(c.env...)
	cmd.Dir = c.dir
	cmd.Stdin = strings.NewReader(c.stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		return r, fmt.Errorf("%s %q: %w", c.bin, c.args, err)
	}
	return r, nil
}

// cleanEnv is the test's environment without ETCDCTL_* variables, plus
// extra, with ETCDCTL_API=3 for Debian's etcdctl.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	return append(append(env, "ETCDCTL_API=3"), extra...)
}

// ctl runs cairnctl against endpoint.
func ctl(t *testing.T, endpoint, stdin string, args ...string) result {
	t.Helper()
	return run(t, command{bin: cairnctlPath, args: append([]string{"--endpoints=" + endpoint}, args...), stdin: stdin})
}

// ctlOK runs cairnctl, expects success and returns stdout.
func ctlOK(t *testing.T, endpoint string, args ...string) string {
	t.Helper()
	r := ctl(t, endpoint, "", args...)
	if r.code != 0 {
		t.Fatalf("cairnctl %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// errorLine is the last line of stderr: etcdctl logs client warnings
// before its "Error: ..." line.
func errorLine(stderr string) string {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	return lines[len(lines)-1]
}
