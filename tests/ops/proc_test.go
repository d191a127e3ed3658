package ops

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// confMember is one cairn process started with --config-file only, the way
// the guide's systemd unit starts it. Unlike framework.Member it speaks
// https and passes no flags; the config file says everything.
type confMember struct {
	Name       string
	ConfigPath string
	LogPath    string
	DataDir    string
	// ClientURLs are the member's listen-client-urls; the first one is
	// also its advertise-client-urls.
	ClientURLs []string
	PeerURL    string
	// Env is added to the process environment (NOTIFY_SOCKET).
	Env []string

	mu struct {
		sync.Mutex
		cmd   *exec.Cmd
		done  chan struct{}
		state *os.ProcessState
	}
}

// ClientURL is the advertised client URL.
func (m *confMember) ClientURL() string { return m.ClientURLs[0] }

// launch starts the process; it does not wait for it to serve.
func (m *confMember) launch(bin string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.done != nil {
		select {
		case <-m.mu.done:
		default:
			return fmt.Errorf("member %s is already running", m.Name)
		}
	}
	logf, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== ops: launch at %s: %s --config-file=%s\n", time.Now().Format(time.RFC3339Nano), bin, m.ConfigPath)
	cmd := exec.Command(bin, "--config-file="+m.ConfigPath)
	cmd.Env = append(cleanEnv(), m.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start member %s: %w", m.Name, err)
	}
	done := make(chan struct{})
	m.mu.cmd, m.mu.done, m.mu.state = cmd, done, nil
	go func() {
		_ = cmd.Wait()
		m.mu.Lock()
		m.mu.state = cmd.ProcessState
		m.mu.Unlock()
		close(done)
	}()
	return nil
}

func (m *confMember) exited() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.done
}

func (m *confMember) processState() *os.ProcessState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.state
}

func (m *confMember) signal(sig syscall.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.cmd == nil {
		return errors.New("not launched")
	}
	select {
	case <-m.mu.done:
		return errors.New("not running")
	default:
	}
	return m.mu.cmd.Process.Signal(sig)
}

// stop sends SIGTERM and returns the exit state.
func (m *confMember) stop(t testing.TB) *os.ProcessState {
	t.Helper()
	if err := m.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to %s: %v", m.Name, err)
	}
	select {
	case <-m.exited():
		return m.processState()
	case <-time.After(20 * time.Second):
		m.kill()
		t.Fatalf("member %s did not exit within 20s of SIGTERM", m.Name)
		return nil
	}
}

// kill ends the process, if any, and waits for it.
func (m *confMember) kill() {
	if m.signal(syscall.SIGKILL) == nil {
		select {
		case <-m.exited():
		case <-time.After(20 * time.Second):
		}
	}
}

// waitReady polls until a linearizable Get over TLS succeeds, the process
// exits, or ctx ends.
func (m *confMember) waitReady(ctx context.Context, cfg *tls.Config) error {
	done := m.exited()
	var lastErr error = errors.New("not probed yet")
	for {
		select {
		case <-done:
			return fmt.Errorf("member %s exited before it was ready (%v); log tail:\n%s", m.Name, m.processState(), m.logTail(30))
		default:
		}
		lastErr = probeTLS(ctx, m.ClientURL(), cfg)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("member %s not ready: %w (last error: %v)", m.Name, ctx.Err(), lastErr)
		case <-done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func probeTLS(ctx context.Context, endpoint string, cfg *tls.Config) error {
	cli, err := newTLSClient([]string{endpoint}, cfg)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = cli.Get(ctx, "ops-readiness-probe")
	return err
}

func (m *confMember) logBytes() []byte {
	b, _ := os.ReadFile(m.LogPath)
	return b
}

func (m *confMember) logContains(s string) bool { return bytes.Contains(m.logBytes(), []byte(s)) }

func (m *confMember) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(string(m.logBytes()), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cleanEnv is the test's environment without ETCD_* and ETCDCTL_* (which
// would configure the server or etcdctl behind the test's back) and without
// NOTIFY_SOCKET (a test's own socket is added where wanted).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ETCD_") || strings.HasPrefix(kv, "ETCDCTL_") || strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// tlsFiles are the PEM files a TLS client uses.
type tlsFiles struct{ CA, Cert, Key string }

// clientTLS builds a client configuration from PEM files; an empty Cert
// means no client certificate.
func clientTLS(t testing.TB, f tlsFiles) *tls.Config {
	t.Helper()
	ca, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("%s holds no certificate", f.CA)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if f.Cert != "" {
		c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg
}

func newTLSClient(endpoints []string, cfg *tls.Config) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 2 * time.Second,
		TLS:         cfg.Clone(),
		Logger:      zap.NewNop(),
	})
}

// tlsClient returns a client closed when the test ends.
func tlsClient(t testing.TB, cfg *tls.Config, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := newTLSClient(endpoints, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// httpsClient is an HTTP client with its own transport, so every test
// makes its own TLS handshakes.
func httpsClient(cfg *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: cfg.Clone(), DisableKeepAlives: true},
	}
}

// notifyListener is a stand-in for systemd: a unixgram socket whose path
// is given to the server as $NOTIFY_SOCKET. It records every datagram.
type notifyListener struct {
	Path string
	conn *net.UnixConn

	mu   sync.Mutex
	msgs []notifyMsg
	cond chan struct{} // closed and replaced on every message
}

type notifyMsg struct {
	text string
	at   time.Time
	// logHadReady records whether, when the datagram arrived, the
	// member's log already held "ready to serve client requests".
	logHadReady bool
}

// newNotifyListener listens in a short temporary directory (a socket path
// must fit in 108 bytes, which t.TempDir's long names may not). logPath,
// if set, is read at each message to record what the log said by then.
func newNotifyListener(t testing.TB, logPath string) *notifyListener {
	t.Helper()
	dir, err := os.MkdirTemp("", "ops-ntf-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &notifyListener{Path: dir + "/notify.sock", cond: make(chan struct{})}
	n.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.Path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			k, err := n.conn.Read(buf)
			if err != nil {
				return
			}
			msg := notifyMsg{text: string(buf[:k]), at: time.Now()}
			if logPath != "" {
				b, _ := os.ReadFile(logPath)
				msg.logHadReady = bytes.Contains(b, []byte("ready to serve client requests"))
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, msg)
			close(n.cond)
			n.cond = make(chan struct{})
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		n.conn.Close()
		wg.Wait()
	})
	return n
}

// Env is the variable to give the server.
func (n *notifyListener) Env() string { return "NOTIFY_SOCKET=" + n.Path }

// messages returns the datagrams received so far.
func (n *notifyListener) messages() []notifyMsg {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]notifyMsg(nil), n.msgs...)
}

// count returns how many received datagrams hold the line want.
func (n *notifyListener) count(want string) int {
	c := 0
	for _, m := range n.messages() {
		for _, line := range strings.Split(m.text, "\n") {
			if line == want {
				c++
			}
		}
	}
	return c
}

// waitCount waits until at least k datagrams hold the line want and
// returns the k-th.
func (n *notifyListener) waitCount(want string, k int, timeout time.Duration) (notifyMsg, error) {
	deadline := time.After(timeout)
	for {
		n.mu.Lock()
		c, ch := 0, n.cond
		var hit notifyMsg
		for _, m := range n.msgs {
			for _, line := range strings.Split(m.text, "\n") {
				if line == want {
					c++
					if c == k {
						hit = m
					}
				}
			}
		}
		n.mu.Unlock()
		if c >= k {
			return hit, nil
		}
		select {
		case <-ch:
		case <-deadline:
			return notifyMsg{}, fmt.Errorf("no %q (#%d) on %s within %v; got %q", want, k, n.Path, timeout, n.texts())
		}
	}
}

func (n *notifyListener) texts() []string {
	var out []string
	for _, m := range n.messages() {
		out = append(out, m.text)
	}
	return out
}

// runResult is the outcome of a command run to completion.
type runResult struct {
	stdout, stderr string
	code           int
}

// run runs a command with the given environment (added to cleanEnv) and
// stdin, with a timeout.
func run(t testing.TB, timeout time.Duration, env []string, stdin string, name string, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := runResult{stdout: out.String(), stderr: errb.String()}
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
