package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultToken is the --initial-cluster-token used when a config leaves it
// empty.
const DefaultToken = "cairn-test-cluster"

// Defaults for the timeouts of member operations.
const (
	DefaultReadyTimeout = 30 * time.Second
	DefaultStopTimeout  = 20 * time.Second
)

// MemberConfig describes one server process. The zero value of every field
// except Name has a usable default.
type MemberConfig struct {
	Name string // --name; required
	// ClientPort and PeerPort are loopback ports; 0 picks free ones.
	ClientPort, PeerPort int
	// InitialCluster is --initial-cluster (name=peerURL,...). Empty means
	// this member alone.
	InitialCluster string
	// Token is --initial-cluster-token; empty means DefaultToken.
	Token string
	// State is --initial-cluster-state; empty means "new".
	State string
	// Args are further flags, appended after the ones above, e.g.
	// "--max-txn-ops=4".
	Args []string
	// ReadyTimeout bounds Start's wait for the member to serve a
	// linearizable Get; 0 means DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Member is one server process on loopback, with its own data directory
// and log file. The process can be started, stopped and killed any number of
// times; the data directory survives until the test ends.
type Member struct {
	Name      string
	ClientURL string // http://127.0.0.1:port
	PeerURL   string // http://127.0.0.1:port
	DataDir   string // --data-dir; created by the server
	LogPath   string // stdout and stderr of every run, appended
	Token     string

	cfg MemberConfig

	mu struct {
		sync.Mutex
		cmd      *exec.Cmd
		done     chan struct{} // closed when cmd has exited
		state    *os.ProcessState
		waitErr  error
		paused   bool
		launches int
	}
}

// NewMember prepares a member: ports, data dir and log file, and registers
// the cleanup that kills its process and, if the test failed, writes the
// tail of its log. It does not start the process.
func NewMember(t testing.TB, cfg MemberConfig) *Member {
	t.Helper()
	if cfg.Name == "" {
		t.Fatal("framework: MemberConfig.Name is required")
	}
	var err error
	if cfg.ClientPort == 0 {
		if cfg.ClientPort, err = FreePort(); err != nil {
			t.Fatalf("framework: %v", err)
		}
	}
	if cfg.PeerPort == 0 {
		if cfg.PeerPort, err = FreePort(); err != nil {
			t.Fatalf("framework: %v", err)
		}
	}
	if cfg.Token == "" {
		cfg.Token = DefaultToken
	}
	if cfg.State == "" {
		cfg.State = "new"
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	base := t.TempDir()
	m := &Member{
		Name:      cfg.Name,
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", cfg.ClientPort),
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", cfg.PeerPort),
		DataDir:   filepath.Join(base, cfg.Name+".data"),
		LogPath:   filepath.Join(base, cfg.Name+".log"),
		Token:     cfg.Token,
		cfg:       cfg,
	}
	if cfg.InitialCluster == "" {
		m.cfg.InitialCluster = m.Name + "=" + m.PeerURL
	}
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		m.kill()
		if t.Failed() {
			t.Logf("framework: member %s (%s): last lines of %s:\n%s", m.Name, m.ClientURL, m.LogPath, m.LogTail(60))
		}
	})
	return m
}

// Args returns the flags the member is started with.
func (m *Member) Args() []string {
	args := []string{
		"--name=" + m.Name,
		"--data-dir=" + m.DataDir,
		"--listen-client-urls=" + m.ClientURL,
		"--advertise-client-urls=" + m.ClientURL,
		"--listen-peer-urls=" + m.PeerURL,
		"--initial-advertise-peer-urls=" + m.PeerURL,
		"--initial-cluster=" + m.cfg.InitialCluster,
		"--initial-cluster-token=" + m.cfg.Token,
		"--initial-cluster-state=" + m.cfg.State,
	}
	return append(args, m.cfg.Args...)
}

// SetArgs replaces the extra flags used from the next start on.
func (m *Member) SetArgs(args ...string) { m.cfg.Args = args }

// ID is the member ID etcd computes for this member of a new cluster.
func (m *Member) ID() uint64 { return ComputeMemberID([]string{m.PeerURL}, m.cfg.Token) }

// ClientAddr is the host:port of the client URL.
func (m *Member) ClientAddr() string { return strings.TrimPrefix(m.ClientURL, "http://") }

// Launch starts the process without waiting for it to serve.
func (m *Member) Launch(bin string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runningLocked() {
		return fmt.Errorf("framework: member %s is already running", m.Name)
	}
	logf, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy of the descriptor
	m.mu.launches++
	args := m.Args()
	fmt.Fprintf(logf, "=== framework: launch #%d at %s: %s %s\n", m.mu.launches,
		time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = serverEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("framework: starting member %s: %w", m.Name, err)
	}
	done := make(chan struct{})
	m.mu.cmd, m.mu.done, m.mu.state, m.mu.waitErr, m.mu.paused = cmd, done, nil, nil, false
	go func() {
		err := cmd.Wait()
		m.mu.Lock()
		m.mu.state, m.mu.waitErr = cmd.ProcessState, err
		m.mu.Unlock()
		close(done)
	}()
	return nil
}

// serverEnv is the test's environment without ETCD_* and ETCDCTL_*
// variables, which would otherwise configure the server behind the flags'
// back.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ETCD_") || strings.HasPrefix(kv, "ETCDCTL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (m *Member) runningLocked() bool {
	if m.mu.done == nil {
		return false
	}
	select {
	case <-m.mu.done:
		return false
	default:
		return true
	}
}

// Running reports whether the process is alive (possibly paused).
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runningLocked()
}

// Exited returns a channel closed when the current process exits, or nil
// if the member was never launched.
func (m *Member) Exited() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.done
}

// ProcessState is the exit state of the last process, nil while it runs.
func (m *Member) ProcessState() *os.ProcessState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.state
}

// WaitReady polls the member until a linearizable Get succeeds, the process
// exits, or ctx ends.
func (m *Member) WaitReady(ctx context.Context) error {
	done := m.Exited()
	if done == nil {
		return fmt.Errorf("framework: member %s was not launched", m.Name)
	}
	var lastErr error = errors.New("client port not accepting connections")
	for {
		select {
		case <-done:
			return fmt.Errorf("framework: member %s exited before it was ready (%v); log tail:\n%s",
				m.Name, m.ProcessState(), m.LogTail(30))
		default:
		}
		if c, err := net.DialTimeout("tcp", m.ClientAddr(), 200*time.Millisecond); err == nil {
			c.Close()
			lastErr = m.probe(ctx)
			if lastErr == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("framework: member %s not ready: %w (last error: %v)", m.Name, ctx.Err(), lastErr)
		case <-done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// probe makes one linearizable Get with a fresh client, so that gRPC's
// reconnect backoff from earlier attempts never delays readiness.
func (m *Member) probe(ctx context.Context) error {
	cli, err := newClient([]string{m.ClientURL})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = cli.Get(ctx, "cairn-test-readiness-probe")
	return err
}

// Start launches the member and waits until it serves; it fails the test
// otherwise.
func (m *Member) Start(t testing.TB) {
	t.Helper()
	if err := m.Launch(BinaryPath(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ReadyTimeout)
	defer cancel()
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// Signal sends sig to the running process.
func (m *Member) Signal(sig syscall.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.runningLocked() {
		return fmt.Errorf("framework: member %s is not running", m.Name)
	}
	if err := m.mu.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("framework: signal %v to member %s: %w", sig, m.Name, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		m.mu.paused = true
	case syscall.SIGCONT:
		m.mu.paused = false
	}
	return nil
}

// WaitExit waits up to timeout for the process to exit and returns its
// state.
func (m *Member) WaitExit(timeout time.Duration) (*os.ProcessState, error) {
	done := m.Exited()
	if done == nil {
		return nil, fmt.Errorf("framework: member %s was not launched", m.Name)
	}
	select {
	case <-done:
		return m.ProcessState(), nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("framework: member %s did not exit within %v", m.Name, timeout)
	}
}

// Stop sends SIGTERM (and SIGCONT, should the member be paused) and waits
// for the process to exit. A member that does not exit within
// DefaultStopTimeout is killed and the test fails.
func (m *Member) Stop(t testing.TB) {
	t.Helper()
	if err := m.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	paused := m.mu.paused
	m.mu.Unlock()
	if paused {
		_ = m.Signal(syscall.SIGCONT)
	}
	if _, err := m.WaitExit(DefaultStopTimeout); err != nil {
		m.kill()
		t.Fatalf("%v after SIGTERM; killed it", err)
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (m *Member) Kill(t testing.TB) {
	t.Helper()
	if err := m.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitExit(DefaultStopTimeout); err != nil {
		t.Fatal(err)
	}
}

// Pause stops the process with SIGSTOP.
func (m *Member) Pause(t testing.TB) {
	t.Helper()
	if err := m.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// SIGSTOP is delivered asynchronously: wait until the kernel reports
	// the process stopped, so a request sent next cannot be served.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if stopped, ok := processStopped(m.pid()); !ok || stopped {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("framework: member %s did not stop within 5s of SIGSTOP", m.Name)
}

// processStopped reads /proc/PID/stat: ok is false when it cannot tell
// (not Linux, or the process is gone).
func processStopped(pid int) (stopped, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false, false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return false, false
	}
	st := b[i+2]
	return st == 'T' || st == 't', true
}

// Resume continues a paused process with SIGCONT.
func (m *Member) Resume(t testing.TB) {
	t.Helper()
	if err := m.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// Restart stops the member gracefully (if it runs) and starts it again on
// the same data directory and ports.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	if m.Running() {
		m.Stop(t)
	}
	m.Start(t)
}

// kill ends the process, if any, and waits for it; used by cleanup.
func (m *Member) kill() {
	if m.Signal(syscall.SIGKILL) == nil {
		_, _ = m.WaitExit(DefaultStopTimeout)
	}
}

// Client returns a client connected to this member only, closed when the
// test ends.
func (m *Member) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return NewClient(t, m.ClientURL)
}

// LogTail returns the last n lines of the member's log.
func (m *Member) LogTail(n int) string {
	b, err := os.ReadFile(m.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// LogContains reports whether the member's log holds s.
func (m *Member) LogContains(s string) bool {
	b, _ := os.ReadFile(m.LogPath)
	return bytes.Contains(b, []byte(s))
}

// pid is the running process's id, or 0.
func (m *Member) pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.runningLocked() {
		return 0
	}
	return m.mu.cmd.Process.Pid
}
