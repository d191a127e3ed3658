package ctl

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairndb/cairn/tests/framework"
)

// The configuration guide (shared/seed/etcd-configuration-guide.md)
// sections 4 to 8, run with cairnctl in place of etcdctl: over plain HTTP,
// and over TLS with client certificates made by the guide's own openssl
// commands.

// seedEnv is a server for the guide's commands and how to reach it.
type seedEnv struct {
	url     string   // client URL, http:// or https://
	env     []string // ETCDCTL_* exports of the guide's section 5
	tls     *tls.Config
	dir     string // certificates
	metrics string // /metrics URL
}

func TestSeedCommands(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		c := framework.NewCluster(t, framework.ClusterConfig{})
		m := c.Members[0]
		e := &seedEnv{url: m.ClientURL, env: []string{"ETCDCTL_ENDPOINTS=" + m.ClientURL}, metrics: m.ClientURL + "/metrics"}
		e.run(t)
	})
	t.Run("tls", func(t *testing.T) {
		t.Parallel()
		e := startTLSServer(t)
		e.run(t)
		e.tlsFailures(t)
	})
}

// ctl runs cairnctl with the guide's environment.
func (e *seedEnv) ctl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return run(t, command{bin: cairnctlPath, args: args, env: e.env, stdin: stdin, dir: e.dir})
}

func (e *seedEnv) ok(t *testing.T, want string, args ...string) {
	t.Helper()
	r := e.ctl(t, "", args...)
	if r.code != 0 || r.stdout != want {
		t.Errorf("cairnctl %q: exit %d\nstdout %q\nwant   %q\nstderr %s", args, r.code, r.stdout, want, r.stderr)
	}
}

func (e *seedEnv) run(t *testing.T) {
	const url = "/config/api/database_url"

	// Section 5, with three more writes so that --rev=5 means something.
	e.ok(t, "OK\n", "put", url, "postgresql://localhost:5432/api") // revision 2
	e.ok(t, "OK\n", "put", "/config/api/old_setting", "x")         // 3
	e.ok(t, "OK\n", "put", "/config/api/deprecated/a", "1")        // 4
	e.ok(t, "OK\n", "put", "/config/api/deprecated/b", "2")        // 5
	e.ok(t, "OK\n", "put", url, "postgresql://db:5432/api")        // 6
	e.ok(t, url+"\npostgresql://db:5432/api\n", "get", url)
	e.ok(t, url+"\npostgresql://db:5432/api\n/config/api/deprecated/a\n1\n/config/api/deprecated/b\n2\n/config/api/old_setting\nx\n",
		"get", "/config/api/", "--prefix")
	e.ok(t, "postgresql://db:5432/api\n1\n2\nx\n", "get", "/config/api/", "--prefix", "--print-value-only")
	e.ok(t, "1\n", "del", "/config/api/old_setting")             // 7
	e.ok(t, "2\n", "del", "/config/api/deprecated/", "--prefix") // 8
	e.ok(t, url+"\n\n", "get", "", "--prefix", "--keys-only")
	e.ok(t, url+"\npostgresql://localhost:5432/api\n", "get", url, "--rev=5")

	// Section 6: the three watches, then changes they must report.
	watches := [][]string{
		{"watch", url},
		{"watch", "/config/api/", "--prefix"},
		{"watch", "/config/api/", "--prefix", "--prev-kv"},
	}
	var ws []*bgProc
	base := e.watchCount(t)
	for _, w := range watches {
		ws = append(ws, startBG(t, cairnctlPath, w, e.env))
	}
	e.waitWatchCount(t, base+len(watches))
	e.ok(t, "OK\n", "put", url, "postgresql://db2:5432/api") // 9
	e.ok(t, "OK\n", "put", "/config/api/timeout", "30")      // 10
	e.ok(t, "1\n", "del", "/config/api/timeout")             // 11
	wantWatch := []string{
		"PUT\n" + url + "\npostgresql://db2:5432/api\n",
		"PUT\n" + url + "\npostgresql://db2:5432/api\nPUT\n/config/api/timeout\n30\nDELETE\n/config/api/timeout\n\n",
		"PUT\n" + url + "\npostgresql://db:5432/api\n" + url + "\npostgresql://db2:5432/api\n" +
			"PUT\n/config/api/timeout\n30\nDELETE\n/config/api/timeout\n30\n/config/api/timeout\n\n",
	}
	for i, w := range ws {
		if got := w.waitFor(wantWatch[i], 10*time.Second); got != wantWatch[i] {
			t.Errorf("cairnctl %q printed %q, want %q", watches[i], got, wantWatch[i])
		}
		w.stop()
	}

	// Section 7: the guide's heredoc, fed through a shell as written.
	heredoc := "cairnctl txn <<EOF\ncompares:\nversion(\"/config/api/lock\") = 0\n\nsuccess requests:\nput /config/api/lock \"acquired\"\n\nfailure requests:\nget /config/api/lock\nEOF\n"
	for i, want := range []string{"SUCCESS\n\nOK\n", "FAILURE\n\n/config/api/lock\nacquired\n"} {
		r := e.shell(t, heredoc)
		if r.code != 0 || r.stdout != want {
			t.Errorf("the guide's txn, run %d: exit %d stdout %q stderr %q, want %q", i+1, r.code, r.stdout, r.stderr, want)
		}
	}

	// Section 8.
	r := e.ctl(t, "", "endpoint", "health", "--cluster")
	if !regexp.MustCompile(`^`+regexp.QuoteMeta(e.url)+` is healthy: successfully committed proposal: took = [0-9.]+(ns|µs|ms|s)\n$`).MatchString(r.stdout) || r.code != 0 {
		t.Errorf("endpoint health --cluster: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = e.ctl(t, "", "endpoint", "status", "--cluster", "-w", "table")
	if r.code != 0 {
		t.Fatalf("endpoint status: exit %d %s", r.code, r.stderr)
	}
	tb := parseTable(t, r.stdout)
	if eps, _ := tb.column("ENDPOINT"); len(eps) != 1 || eps[0] != e.url {
		t.Errorf("endpoint status endpoints %q, want %s", eps, e.url)
	}
	if l, _ := tb.column("IS LEADER"); len(l) != 1 || l[0] != "true" {
		t.Errorf("endpoint status is leader %q", l)
	}
	r = e.ctl(t, "", "member", "list", "-w", "table")
	if tb := parseTable(t, r.stdout); len(tb.rows) != 1 || tb.rows[0][1] != "started" || tb.rows[0][4] != e.url {
		t.Errorf("member list -w table:\n%s", r.stdout)
	}
	r = e.ctl(t, "", "defrag", "--cluster")
	if !strings.HasPrefix(r.stdout, "Finished defragmenting etcd member["+e.url+"]. took ") || r.code != 0 {
		t.Errorf("defrag --cluster: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	// etcdctl compact $(etcdctl endpoint status -w json | jq -r '.[0].Status.header.revision')
	if _, err := exec.LookPath("jq"); err == nil {
		r = e.shell(t, "cairnctl compact $(cairnctl endpoint status -w json | jq -r '.[0].Status.header.revision')\n")
		if r.code != 0 || r.stdout != "compacted revision 12\n" {
			t.Errorf("the guide's compaction: exit %d %q %q", r.code, r.stdout, r.stderr)
		}
	}
}

// shell runs a bash script with cairnctl on the PATH and the guide's
// environment.
func (e *seedEnv) shell(t *testing.T, script string) result {
	t.Helper()
	bin := filepath.Dir(cairnctlPath)
	return run(t, command{bin: "bash", args: []string{"-c", script}, dir: e.dir,
		env: append([]string{"PATH=" + bin + ":" + os.Getenv("PATH")}, e.env...)})
}

// watchCount is the number of watch requests the server has received, from
// its /metrics.
func (e *seedEnv) watchCount(t *testing.T) int {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: e.tls}}
	resp, err := cl.Get(e.metrics)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "grpc_server_msg_received_total{") && strings.Contains(l, `grpc_method="Watch"`) {
			f := strings.Fields(l)
			n, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return int(n)
		}
	}
	return 0
}

func (e *seedEnv) waitWatchCount(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for e.watchCount(t) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the server received %d watch requests, want %d", e.watchCount(t), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // from received to registered
}

// bgProc is a command running in the background (watch, lock, elect).
type bgProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	errOut strings.Builder
	done   chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startBG(t *testing.T, bin string, args, env []string) *bgProc {
	t.Helper()
	p := &bgProc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = cleanEnv(env...)
	p.cmd.Stdout = lockedWriter{&p.mu, &p.out}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.errOut}
	p.cmd.Stdin = strings.NewReader("")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	return p
}

func (p *bgProc) stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *bgProc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errOut.String()
}

// waitFor waits until stdout is at least as long as want (or the process
// ends, or d passes) and returns it.
func (p *bgProc) waitFor(want string, d time.Duration) string {
	return p.waitUntil(func(s string) bool { return len(s) >= len(want) }, d)
}

// waitMatch waits up to d for the output to match re (output written in
// several pieces, such as a key line then a value line, is waited for
// whole) and returns it; on a timeout or exit, what was printed.
func (p *bgProc) waitMatch(re *regexp.Regexp, d time.Duration) string {
	return p.waitUntil(re.MatchString, d)
}

// waitUntil polls stdout until done(stdout), the process ends or d passes,
// and returns stdout.
func (p *bgProc) waitUntil(done func(string) bool, d time.Duration) string {
	deadline := time.After(d)
	for {
		if s := p.stdout(); done(s) {
			return s
		}
		select {
		case <-p.done:
			return p.stdout()
		case <-deadline:
			return p.stdout()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// signal sends sig and waits up to 10s for the process to exit.
func (p *bgProc) signal(sig os.Signal) bool {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

func (p *bgProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

// startTLSServer makes certificates with the guide's section 3 commands
// (loopback names in the SANs, as the guide has them) and starts a member
// whose client URL is https with client certificate authentication.
func startTLSServer(t *testing.T) *seedEnv {
	t.Helper()
	dir := t.TempDir()
	script := `set -e
openssl genrsa -out ca.key 4096
openssl req -x509 -new -nodes -key ca.key -sha256 -days 3650 \
    -out ca.crt -subj "/CN=etcd-ca"
openssl genrsa -out server.key 2048
cat > server-csr.conf << EOF
[req]
default_bits = 2048
prompt = no
default_md = sha256
distinguished_name = dn
req_extensions = req_ext

[dn]
CN = etcd1

[req_ext]
subjectAltName = @alt_names

[alt_names]
DNS.1 = etcd1
DNS.2 = etcd1.example.com
DNS.3 = localhost
IP.1 = 10.0.1.10
IP.2 = 127.0.0.1
EOF

openssl req -new -key server.key -out server.csr -config server-csr.conf
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
    -CAcreateserial -out server.crt -days 365 -extensions req_ext \
    -extfile server-csr.conf
`
	r := run(t, command{bin: "bash", args: []string{"-c", script}, dir: dir})
	if r.code != 0 {
		t.Fatalf("the guide's openssl commands: exit %d\n%s", r.code, r.stderr)
	}
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	m := framework.NewMember(t, framework.MemberConfig{Name: "etcd1", ClientPort: port, Args: []string{
		"--listen-client-urls=" + url, "--advertise-client-urls=" + url,
		"--cert-file=" + filepath.Join(dir, "server.crt"), "--key-file=" + filepath.Join(dir, "server.key"),
		"--trusted-ca-file=" + filepath.Join(dir, "ca.crt"), "--client-cert-auth",
	}})
	if err := m.Launch(framework.BinaryPath(t)); err != nil {
		t.Fatal(err)
	}
	e := &seedEnv{url: url, dir: dir, metrics: url + "/metrics", env: []string{
		"ETCDCTL_ENDPOINTS=" + url,
		"ETCDCTL_CACERT=" + filepath.Join(dir, "ca.crt"),
		"ETCDCTL_CERT=" + filepath.Join(dir, "server.crt"),
		"ETCDCTL_KEY=" + filepath.Join(dir, "server.key"),
	}}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	pool.AppendCertsFromPEM(ca)
	e.tls = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool}

	// Section 4's check, with the flags rather than the environment, is
	// also the wait for the server to serve.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		r := run(t, command{bin: cairnctlPath, dir: dir, args: []string{"--endpoints=" + url,
			"--cacert=ca.crt", "--cert=server.crt", "--key=server.key", "endpoint", "health"}})
		if r.code == 0 {
			if !strings.HasPrefix(r.stdout, url+" is healthy: successfully committed proposal: took = ") {
				t.Errorf("section 4 health check: %q", r.stdout)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("TLS server not healthy: %s%s", r.stdout, r.stderr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return e
}

// tlsFailures checks that a TLS mistake is reported in one line that names
// the endpoint and the cause.
func (e *seedEnv) tlsFailures(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want string
	}{
		{"no CA", []string{"ETCDCTL_ENDPOINTS=" + e.url, "ETCDCTL_CERT=server.crt", "ETCDCTL_KEY=server.key"}, "not signed by a trusted CA"},
		{"no client certificate", []string{"ETCDCTL_ENDPOINTS=" + e.url, "ETCDCTL_CACERT=ca.crt"}, "client certificate"},
		{"plain http", []string{"ETCDCTL_ENDPOINTS=" + strings.Replace(e.url, "https://", "http://", 1)}, "speaks TLS"},
	} {
		r := run(t, command{bin: cairnctlPath, dir: e.dir, env: c.env, args: []string{"--dial-timeout=1s", "get", "k"}})
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		host := strings.TrimPrefix(strings.TrimPrefix(e.url, "https://"), "http://")
		if r.code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "Error: cannot connect to ") ||
			!strings.Contains(lines[0], host) || !strings.Contains(lines[0], c.want) {
			t.Errorf("%s: exit %d stderr %q, want one Error line naming %s and %q", c.name, r.code, r.stderr, host, c.want)
		}
	}
}

// startBGStdin is startBG with standard input that stays open until the
// test ends, after giving it input.
func startBGStdin(t *testing.T, bin string, args []string, input string) *bgProc {
	t.Helper()
	p := &bgProc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout = lockedWriter{&p.mu, &p.out}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.errOut}
	w, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	w.Write([]byte(input))
	t.Cleanup(func() { p.stop(); w.Close() })
	return p
}

// settled returns the output once it has not changed for quiet (at most
// after max): a watcher's output, and that of the commands it runs, can
// trail the writes on a loaded machine.
func (p *bgProc) settled(quiet, max time.Duration) string {
	deadline := time.Now().Add(max)
	last, since := p.stdout(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if s := p.stdout(); s != last {
			last, since = s, time.Now()
		} else if time.Since(since) >= quiet {
			break
		}
	}
	return last
}
