package interop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// result is the outcome of a command run to completion.
type result struct {
	stdout, stderr string
	code           int
}

// runCmd runs a command with env (the whole environment), stdin and a
// timeout; a command that does not finish in time fails the test.
func runCmd(t testing.TB, timeout time.Duration, env []string, stdin string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %q did not finish within %v; stdout:\n%s\nstderr:\n%s", name, args, timeout, r.stdout, r.stderr)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %q: %v", name, args, err)
	}
	return r
}

// proc is a program running in the background whose stdout lines the test
// reads as they come, and whose stdin the test writes.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when the process has exited and its output is read

	mu struct {
		sync.Mutex
		lines   []string
		stderr  bytes.Buffer
		changed chan struct{} // closed and replaced on every new line
		waitErr error
	}
}

// startProc starts a program; it is killed (by its PID) when the test ends
// if it still runs.
func startProc(t testing.TB, env []string, dir string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.mu.changed = make(chan struct{})
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = env
	p.cmd.Dir = dir
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = (*lockedWriter)(p)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.mu.lines = append(p.mu.lines, sc.Text())
			close(p.mu.changed)
			p.mu.changed = make(chan struct{})
			p.mu.Unlock()
		}
		err := p.cmd.Wait()
		p.mu.Lock()
		p.mu.waitErr = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// lockedWriter collects a proc's stderr.
type lockedWriter proc

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.stderr.Write(b)
}

// lines returns the stdout lines read so far.
func (p *proc) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.mu.lines...)
}

func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.stderr.String()
}

// waitFor waits until the stdout lines satisfy ok, the process exits or
// timeout passes; it fails the test in the last two cases.
func (p *proc) waitFor(t testing.TB, what string, timeout time.Duration, ok func(lines []string) bool) {
	t.Helper()
	if err := p.waitForErr(timeout, ok); err != nil {
		t.Fatalf("%s: waiting for %s: %v\nstdout so far:\n%s\nstderr:\n%s", p.name, what, err,
			strings.Join(p.lines(), "\n"), p.stderr())
	}
}

func (p *proc) waitForErr(timeout time.Duration, ok func(lines []string) bool) error {
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		hit, ch := ok(p.mu.lines), p.mu.changed
		p.mu.Unlock()
		if hit {
			return nil
		}
		select {
		case <-ch:
		case <-p.done:
			p.mu.Lock()
			hit = ok(p.mu.lines)
			p.mu.Unlock()
			if hit {
				return nil
			}
			return fmt.Errorf("the process exited (%v)", p.cmd.ProcessState)
		case <-deadline:
			return fmt.Errorf("not within %v", timeout)
		}
	}
}

// hasLine is a waitFor condition: some line equals want.
func hasLine(want string) func([]string) bool {
	return func(lines []string) bool {
		for _, l := range lines {
			if l == want {
				return true
			}
		}
		return false
	}
}

// hasPrefixLine is a waitFor condition: some line starts with prefix.
func hasPrefixLine(prefix string) func([]string) bool {
	return func(lines []string) bool {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return true
			}
		}
		return false
	}
}

// send writes a line to the process's stdin.
func (p *proc) send(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("%s: write stdin: %v", p.name, err)
	}
}

// finish closes stdin and waits for the process to exit; it returns the
// exit code.
func (p *proc) finish(t testing.TB, timeout time.Duration) int {
	t.Helper()
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not exit within %v of its stdin closing; stdout:\n%s\nstderr:\n%s", p.name, timeout,
			strings.Join(p.lines(), "\n"), p.stderr())
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop kills the process (by its PID) and waits for it.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}
