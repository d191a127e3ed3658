package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/tests/framework"
)

// The guide's member names and addresses, in member order.
var (
	seedNames = []string{"etcd1", "etcd2", "etcd3"}
	seedIPs   = []string{"10.0.1.10", "10.0.1.11", "10.0.1.12"}
)

// The guide's token (initial-cluster-token in its YAML): member IDs are
// computed from it and the peer URLs.
const seedToken = "etcd-cluster-1"

// seedPath is a file of testdata/seed, the guide's code blocks.
func seedPath(name string) string { return filepath.Join("testdata", "seed", name) }

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pki holds the certificate files made by the guide's openssl commands.
type pki struct {
	CA           string   // ca.crt
	ServerCert   []string // per member: <dir>/<name>/server.crt
	ServerKey    []string
	PeerCert     []string
	PeerKey      []string
	ClientCert   string // what etcdctl and the programs present: etcd1's server.crt, as in the guide's §4 and §5
	ClientKey    string
	clientConfig *tls.Config
}

// makePKI runs the guide's §3 commands (testdata/seed/s3-pki.sh) with
// bash: the "Generate CA" part once, then the "Generate server
// certificate" part once per member for its server certificate and once
// for its peer certificate, in a directory per member. Per member, the
// text changes only where the guide names node 1: etcd1 becomes the
// member's name and 10.0.1.10 its address (IP.2 = 127.0.0.1 stays, which
// is what makes the certificates valid on loopback), and ca.crt/ca.key are
// the shared CA one directory up. For the peer certificate, "server" in
// file names becomes "peer": the guide's YAML names peer.crt and peer.key
// without saying how to make them. The last part (sudo cp and chown to
// /etc/etcd/pki) is not run; the config files name the files where they are.
func makePKI(t testing.TB) *pki {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	script := readFile(t, seedPath("s3-pki.sh"))
	caPart, rest, ok := strings.Cut(script, "# Generate server certificate\n")
	if !ok {
		t.Fatal("s3-pki.sh: no server certificate part")
	}
	serverPart, copyPart, ok := strings.Cut(rest, "# Copy certificates to etcd directory\n")
	if !ok {
		t.Fatal("s3-pki.sh: no copy part")
	}
	for _, line := range strings.Split(strings.TrimSpace(copyPart), "\n") {
		if !strings.HasPrefix(line, "sudo ") {
			t.Fatalf("s3-pki.sh: the part left out holds more than sudo commands: %q", line)
		}
	}
	dir := filepath.Join(t.TempDir(), "pki")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bash(t, dir, caPart)
	p := &pki{CA: filepath.Join(dir, "ca.crt")}
	for i, name := range seedNames {
		md := filepath.Join(dir, name)
		if err := os.MkdirAll(md, 0o755); err != nil {
			t.Fatal(err)
		}
		member := strings.NewReplacer(
			"etcd1", name,
			seedIPs[0], seedIPs[i],
			"-CA ca.crt", "-CA ../ca.crt",
			"-CAkey ca.key", "-CAkey ../ca.key",
		).Replace(serverPart)
		bash(t, md, member)
		bash(t, md, strings.ReplaceAll(member, "server", "peer"))
		p.ServerCert = append(p.ServerCert, filepath.Join(md, "server.crt"))
		p.ServerKey = append(p.ServerKey, filepath.Join(md, "server.key"))
		p.PeerCert = append(p.PeerCert, filepath.Join(md, "peer.crt"))
		p.PeerKey = append(p.PeerKey, filepath.Join(md, "peer.key"))
	}
	p.ClientCert, p.ClientKey = p.ServerCert[0], p.ServerKey[0]

	ca, err := os.ReadFile(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatalf("%s holds no certificate", p.CA)
	}
	cert, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	p.clientConfig = &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return p
}

// bash runs a script with bash -euo pipefail in dir.
func bash(t testing.TB, dir, script string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash in %s: %v\n%s\nscript:\n%s", dir, err, out, script)
	}
}

// cleanEnv is the test's environment without ETCD_* and ETCDCTL_* (which
// would configure a server or client behind the test's back) and
// NOTIFY_SOCKET.
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

// member is one server process started, as the guide's systemd unit
// starts it, with --config-file and nothing else.
type member struct {
	Name     string
	ID       uint64
	Config   string // path of the YAML file
	Log      string
	AdvURL   string // advertise-client-urls (the guide's https://10.0.1.x:2379)
	LocalURL string // the second listener (the guide's https://127.0.0.1:2379)
	PeerURL  string

	mu struct {
		sync.Mutex
		cmd  *exec.Cmd
		done chan struct{}
	}
}

// memberConfig is the guide's YAML (testdata/seed/s2-etcd.conf.yaml, node
// 1's file) for member i: its name, data dir, addresses and certificate
// paths. The guide's https://<own address>:2379 and :2380 become
// https://127.0.0.1 with the member's client and peer ports, its
// https://127.0.0.1:2379 a second free client port, the other members'
// peer URLs theirs. Nothing else changes.
func memberConfig(t testing.TB, seed string, i int, dataDir string, p *pki, adv, local, peer []int) string {
	t.Helper()
	url := func(port int) string { return fmt.Sprintf("https://127.0.0.1:%d", port) }
	var out []string
	for _, line := range strings.Split(seed, "\n") {
		switch {
		case strings.HasPrefix(line, "name: "):
			line = "name: " + seedNames[i]
		case strings.HasPrefix(line, "data-dir: "):
			line = "data-dir: " + dataDir
		case strings.HasPrefix(line, "initial-cluster: "):
			for j, n := range seedNames {
				line = strings.ReplaceAll(line, n+"=https://"+seedIPs[j]+":2380", n+"="+url(peer[j]))
			}
		default:
			line = strings.NewReplacer(
				"https://"+seedIPs[0]+":2379", url(adv[i]),
				"https://127.0.0.1:2379", url(local[i]),
				"https://"+seedIPs[0]+":2380", url(peer[i]),
				"/etc/etcd/pki/server.crt", p.ServerCert[i],
				"/etc/etcd/pki/server.key", p.ServerKey[i],
				"/etc/etcd/pki/peer.crt", p.PeerCert[i],
				"/etc/etcd/pki/peer.key", p.PeerKey[i],
				"/etc/etcd/pki/ca.crt", p.CA,
			).Replace(line)
		}
		out = append(out, line)
	}
	conf := strings.Join(out, "\n")
	if s := leftover.FindString(conf); s != "" {
		t.Fatalf("config of %s still holds %q:\n%s", seedNames[i], s, conf)
	}
	return conf
}

// leftover matches what must not remain of the guide's addresses and paths.
var leftover = regexp.MustCompile(`10\.0\.1\.|/etc/etcd|/var/lib|:(2379|2380)\b`)

// cluster is the guide's three members, running.
type cluster struct {
	PKI     *pki
	Members []*member
}

// startCluster makes the certificates and config files and starts the
// three members, retrying with new ports if another process took one.
func startCluster(t testing.TB) *cluster {
	t.Helper()
	bin := framework.BinaryPath(t)
	p := makePKI(t)
	seed := readFile(t, seedPath("s2-etcd.conf.yaml"))
	base := t.TempDir()
	for attempt := 0; attempt < 3; attempt++ {
		adv, local, peer := freePorts(t, 3), freePorts(t, 3), freePorts(t, 3)
		c := &cluster{PKI: p}
		for i, name := range seedNames {
			dataDir := filepath.Join(base, fmt.Sprintf("%s.%d.data", name, attempt))
			conf := memberConfig(t, seed, i, dataDir, p, adv, local, peer)
			m := &member{
				Name:     name,
				Config:   filepath.Join(base, fmt.Sprintf("%s.%d.conf.yaml", name, attempt)),
				Log:      filepath.Join(base, fmt.Sprintf("%s.%d.log", name, attempt)),
				AdvURL:   fmt.Sprintf("https://127.0.0.1:%d", adv[i]),
				LocalURL: fmt.Sprintf("https://127.0.0.1:%d", local[i]),
				PeerURL:  fmt.Sprintf("https://127.0.0.1:%d", peer[i]),
			}
			m.ID = framework.ComputeMemberID([]string{m.PeerURL}, seedToken)
			if err := os.WriteFile(m.Config, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			c.Members = append(c.Members, m)
			t.Cleanup(func() {
				m.kill()
				if t.Failed() {
					t.Logf("member %s (%s): last lines of %s:\n%s", m.Name, m.LocalURL, m.Log, m.logTail(40))
				}
			})
		}
		err := c.launch(bin)
		if err == nil {
			return c
		}
		conflict := false
		for _, m := range c.Members {
			m.kill()
			conflict = conflict || m.logContains("address already in use")
		}
		if !conflict {
			t.Fatal(err)
		}
		t.Logf("port conflict, retrying with new ports: %v", err)
	}
	t.Fatal("no free ports after 3 attempts")
	return nil
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ps []int
	for i := 0; i < n; i++ {
		p, err := framework.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func (c *cluster) launch(bin string) error {
	for _, m := range c.Members {
		if err := m.launch(bin); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, m := range c.Members {
		if err := m.waitReady(ctx, c.PKI.clientConfig); err != nil {
			return err
		}
	}
	return nil
}

func (m *member) launch(bin string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	logf, err := os.OpenFile(m.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, "--config-file="+m.Config)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", m.Name, err)
	}
	done := make(chan struct{})
	m.mu.cmd, m.mu.done = cmd, done
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return nil
}

func (m *member) exited() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.done
}

// kill sends SIGKILL to the member's own process, if it runs, and waits.
func (m *member) kill() {
	m.mu.Lock()
	cmd, done := m.mu.cmd, m.mu.done
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
	}
}

// waitReady polls until a linearizable Get over TLS succeeds on both
// client listeners.
func (m *member) waitReady(ctx context.Context, cfg *tls.Config) error {
	done := m.exited()
	var lastErr error = errors.New("not probed yet")
	for _, ep := range []string{m.AdvURL, m.LocalURL} {
		for {
			select {
			case <-done:
				return fmt.Errorf("member %s exited before it was ready; log tail:\n%s", m.Name, m.logTail(30))
			default:
			}
			if lastErr = probe(ctx, ep, cfg); lastErr == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("member %s not ready at %s: %w (last error: %v)", m.Name, ep, ctx.Err(), lastErr)
			case <-done:
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func probe(ctx context.Context, endpoint string, cfg *tls.Config) error {
	cli, err := newClient(cfg, endpoint)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = cli.Get(ctx, "interop-readiness-probe")
	return err
}

func newClient(cfg *tls.Config, endpoints ...string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		TLS:         cfg.Clone(),
		Logger:      zap.NewNop(),
	})
}

// client returns a TLS client of the given endpoints, closed when the test
// ends.
func (c *cluster) client(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := newClient(c.PKI.clientConfig, endpoints...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// leader returns the member every member names as leader.
func (c *cluster) leader(t testing.TB) *member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var lead uint64
	for _, m := range c.Members {
		cli := c.client(t, m.LocalURL)
		st, err := cli.Status(ctx, m.LocalURL)
		if err != nil {
			t.Fatalf("Status(%s): %v", m.Name, err)
		}
		if lead != 0 && st.Leader != lead {
			t.Fatalf("members disagree on the leader: %x and %x", lead, st.Leader)
		}
		lead = st.Leader
	}
	for _, m := range c.Members {
		if m.ID == lead {
			return m
		}
	}
	t.Fatalf("no member leads (leader %x)", lead)
	return nil
}

func (m *member) logBytes() []byte {
	b, _ := os.ReadFile(m.Log)
	return b
}

func (m *member) logContains(s string) bool { return bytes.Contains(m.logBytes(), []byte(s)) }

func (m *member) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(string(m.logBytes()), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
