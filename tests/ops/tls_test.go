package ops

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/cairndb/cairn/tests/framework"
)

// etcdctlPath is Debian's etcdctl 3.4 (package etcd-client).
const etcdctlPath = "/usr/bin/etcdctl"

// TestSeedTLSCluster runs the configuration guide's §2-§5 on loopback: its
// config file for three members (only addresses, ports and paths changed),
// certificates from its openssl commands and, again, from `cairn pki`;
// then health over TLS with client certificates, refusal of clients
// without one, the guide's etcdctl commands, systemd notifications, and a
// certificate replaced on a running member.
func TestSeedTLSCluster(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		pki  func(testing.TB) *pkiFiles
	}{
		{"openssl", opensslPKI},
		{"cairn-pki", cairnPKI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			p := tc.pki(t)
			t.Logf("certificates made in %v", time.Since(start).Round(time.Millisecond))
			for i := range memberNames {
				checkCert(t, p, p.Server[i].Cert, i)
				checkCert(t, p, p.Peer[i].Cert, i)
			}
			start = time.Now()
			sc := newSeedCluster(t, p, tc.name == "openssl")
			t.Logf("cluster started in %v", time.Since(start).Round(time.Millisecond))
			t.Run("notify-ready", sc.testNotifyReady)
			t.Run("health-over-tls", sc.testHealthOverTLS)
			t.Run("refuse-without-cert", sc.testRefuseWithoutCert)
			t.Run("log-is-json", sc.testLogIsJSON)
			t.Run("etcdctl-endpoint-health", sc.testEtcdctlHealth)
			t.Run("etcdctl-env", sc.testEtcdctlEnv)
			t.Run("rotate-cert", sc.testRotateCert)
		})
	}
}

// testNotifyReady: every member sent READY=1 exactly once, after its log
// said "ready to serve client requests", with etcd's log lines around it.
func (sc *seedCluster) testNotifyReady(t *testing.T) {
	for i, m := range sc.Members {
		msg, err := sc.Notify[i].waitCount("READY=1", 1, 5*time.Second)
		if err != nil {
			t.Errorf("%s: %v", m.Name, err)
			continue
		}
		if !msg.logHadReady {
			t.Errorf("%s: READY=1 arrived before the log said \"ready to serve client requests\"", m.Name)
		}
		if n := sc.Notify[i].count("READY=1"); n != 1 {
			t.Errorf("%s: READY=1 sent %d times, want once; messages %q", m.Name, n, sc.Notify[i].texts())
		}
		log := string(m.logBytes())
		ready := strings.Index(log, "ready to serve client requests")
		notifying := strings.Index(log, "notifying init daemon")
		notified := strings.Index(log, "successfully notified init daemon")
		if ready < 0 || notifying < 0 || notified < 0 || !(ready < notifying && notifying < notified) {
			t.Errorf("%s: want log lines \"ready to serve client requests\", \"notifying init daemon\", \"successfully notified init daemon\" in that order; positions %d %d %d",
				m.Name, ready, notifying, notified)
		}
	}
}

// testHealthOverTLS: GET /health on both client listeners of every member,
// with the client certificate, is 200 {"health":"true","reason":""}.
func (sc *seedCluster) testHealthOverTLS(t *testing.T) {
	hc := httpsClient(sc.ClientTLS)
	for _, m := range sc.Members {
		for _, u := range m.ClientURLs {
			code, body, err := get(hc, u+"/health")
			if err != nil {
				t.Errorf("%s: GET %s/health: %v", m.Name, u, err)
				continue
			}
			if code != 200 || body != `{"health":"true","reason":""}` {
				t.Errorf("%s: GET %s/health: %d %q, want 200 {\"health\":\"true\",\"reason\":\"\"}", m.Name, u, code, body)
			}
		}
	}
	// And the gRPC API on the same port: a put through one member is
	// read back through another.
	cli := tlsClient(t, sc.ClientTLS, sc.Members[0].ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/ops/tls", "yes"); err != nil {
		t.Fatalf("put over TLS: %v", err)
	}
	cli2 := tlsClient(t, sc.ClientTLS, sc.Members[2].ClientURLs[1])
	resp, err := cli2.Get(ctx, "/ops/tls")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "yes" {
		t.Fatalf("get over TLS from %s: %v %v", sc.Members[2].Name, resp, err)
	}
	// The JSON gateway and /metrics on the same https port.
	var rr gwRange
	if code := postJSON(t, hc, sc.Members[1].ClientURL()+"/v3/kv/range", map[string]any{"key": b64("/ops/tls")}, &rr); code != 200 ||
		len(rr.Kvs) != 1 || unb64(rr.Kvs[0].Value) != "yes" {
		t.Errorf("gateway range over https: %d %+v", code, rr)
	}
	req, _ := http.NewRequest("GET", sc.Members[1].ClientURL()+"/metrics", nil)
	mresp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics over https: %v", err)
	}
	defer mresp.Body.Close()
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(mresp.Body)
	if err != nil {
		t.Fatalf("GET /metrics over https: %v", err)
	}
	if v, ok := scrape(mfs).value("etcd_server_has_leader", nil); !ok || v != 1 {
		t.Errorf("GET /metrics over https: etcd_server_has_leader = %v (present %v), want 1", v, ok)
	}
}

// testRefuseWithoutCert: with client-cert-auth, a client that presents no
// certificate, or one from another CA, gets nothing from the client or the
// peer port; plain http gets no answer either.
func (sc *seedCluster) testRefuseWithoutCert(t *testing.T) {
	m := sc.Members[1]
	noCert := clientTLS(t, tlsFiles{CA: sc.PKI.CA})
	strangerFiles := otherCAClient(t)
	stranger := clientTLS(t, tlsFiles{CA: sc.PKI.CA, Cert: strangerFiles.Cert, Key: strangerFiles.Key})

	for _, c := range []struct {
		name string
		cfg  *tls.Config
	}{{"no certificate", noCert}, {"certificate from another CA", stranger}} {
		for _, u := range m.ClientURLs {
			code, body, err := get(httpsClient(c.cfg), u+"/health")
			if err == nil {
				t.Errorf("%s: GET %s/health with %s: %d %q, want the TLS handshake refused", m.Name, u, c.name, code, body)
			}
		}
		// gRPC: the client cannot get a connection at all.
		cli, err := newTLSClient([]string{m.ClientURL()}, c.cfg)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			_, err = cli.Get(ctx, "/ops/tls")
			cancel()
			cli.Close()
		}
		if err == nil {
			t.Errorf("%s: gRPC Get with %s succeeded", m.Name, c.name)
		}
		// The peer port (peer-transport-security.client-cert-auth) too.
		if err := handshake(strings.TrimPrefix(m.PeerURL, "https://"), c.cfg); err == nil {
			t.Errorf("%s: peer port accepted a TLS client with %s", m.Name, c.name)
		}
	}
	// The test's own client certificate is accepted on the peer port.
	if err := handshake(strings.TrimPrefix(m.PeerURL, "https://"), sc.ClientTLS); err != nil {
		t.Errorf("%s: peer port refused a certificate from the cluster's CA: %v", m.Name, err)
	}
	// Plain http to the https port.
	hc := &http.Client{Timeout: 5 * time.Second}
	if code, body, err := get(hc, strings.Replace(m.ClientURL(), "https://", "http://", 1)+"/health"); err == nil && code == 200 {
		t.Errorf("%s: plain http /health on the https port: %d %q", m.Name, code, body)
	}
	// etcdctl without --cert/--key fails.
	if _, err := os.Stat(etcdctlPath); err == nil {
		r := run(t, 30*time.Second, []string{"ETCDCTL_API=3"}, "", etcdctlPath,
			"--endpoints="+m.ClientURL(), "--cacert="+sc.PKI.CA, "--dial-timeout=1s", "--command-timeout=2s", "endpoint", "health")
		if r.code == 0 {
			t.Errorf("etcdctl endpoint health without a client certificate succeeded:\n%s", r.stdout)
		}
	}
}

// handshake completes a TLS handshake and one read, so a server that
// rejects the client's certificate after the handshake (TLS 1.3) is seen
// too.
func handshake(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 3 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg.Clone())
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	// A rejected TLS 1.3 client learns it at its first read; an accepted
	// one times out waiting for data the server never sends.
	_, err = c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return nil
	}
	if err == nil {
		return nil
	}
	return err
}

// testEtcdctlHealth runs the guide's §4 command with Debian's etcdctl
// against each member's https://127.0.0.1 listener.
func (sc *seedCluster) testEtcdctlHealth(t *testing.T) {
	if _, err := os.Stat(etcdctlPath); err != nil {
		t.Skipf("%s not installed (apt-get install etcd-client)", etcdctlPath)
	}
	c := sc.PKI.Client
	for _, u := range sc.LocalURLs {
		r := run(t, 30*time.Second, []string{"ETCDCTL_API=3"}, "", etcdctlPath,
			"--endpoints="+u, "--cacert="+sc.PKI.CA, "--cert="+c.Cert, "--key="+c.Key, "endpoint", "health")
		// etcdctl 3.4 prints the health lines on stderr (3.5 on stdout).
		re := regexp.MustCompile(`^` + regexp.QuoteMeta(u) + ` is healthy: successfully committed proposal: took = \S+\n$`)
		if r.code != 0 || !re.MatchString(r.stdout+r.stderr) {
			t.Errorf("etcdctl endpoint health on %s: exit %d\nstdout: %q\nstderr: %s", u, r.code, r.stdout, r.stderr)
		}
	}
}

// testEtcdctlEnv runs the guide's §5 commands with its ETCDCTL_* variables
// (and §8's endpoint health --cluster), checking etcdctl's exact output.
func (sc *seedCluster) testEtcdctlEnv(t *testing.T) {
	if _, err := os.Stat(etcdctlPath); err != nil {
		t.Skipf("%s not installed (apt-get install etcd-client)", etcdctlPath)
	}
	c := sc.PKI.Client
	env := []string{
		"ETCDCTL_API=3",
		"ETCDCTL_ENDPOINTS=" + sc.LocalURLs[0],
		"ETCDCTL_CACERT=" + sc.PKI.CA,
		"ETCDCTL_CERT=" + c.Cert,
		"ETCDCTL_KEY=" + c.Key,
	}
	ctl := func(want string, args ...string) string {
		t.Helper()
		r := run(t, 30*time.Second, env, "", etcdctlPath, args...)
		if r.code != 0 {
			t.Errorf("etcdctl %q: exit %d\nstderr: %s", args, r.code, r.stderr)
			return r.stdout
		}
		if want == "**" { // endpoint health: etcdctl 3.4 writes it on stderr
			return r.stdout + r.stderr
		}
		if want != "*" && r.stdout != want {
			t.Errorf("etcdctl %q: stdout %q, want %q", args, r.stdout, want)
		}
		return r.stdout
	}
	const url = "postgresql://localhost:5432/api"
	ctl("OK\n", "put", "/config/api/database_url", url)
	ctl("OK\n", "put", "/config/api/old_setting", "x")
	ctl("OK\n", "put", "/config/api/deprecated/a", "1")
	ctl("OK\n", "put", "/config/api/deprecated/b", "2")
	ctl("/config/api/database_url\n"+url+"\n", "get", "/config/api/database_url")
	ctl("/config/api/database_url\n"+url+"\n/config/api/deprecated/a\n1\n/config/api/deprecated/b\n2\n/config/api/old_setting\nx\n",
		"get", "/config/api/", "--prefix")
	ctl(url+"\n1\n2\nx\n", "get", "/config/api/", "--prefix", "--print-value-only")
	ctl("1\n", "del", "/config/api/old_setting")
	ctl("2\n", "del", "/config/api/deprecated/", "--prefix")
	out := ctl("*", "get", "", "--prefix", "--keys-only")
	if !strings.Contains(out, "/config/api/database_url\n") || strings.Contains(out, "/config/api/old_setting") || strings.Contains(out, "/config/api/deprecated") {
		t.Errorf("etcdctl get \"\" --prefix --keys-only: %q", out)
	}
	// --rev: the revision of the first put, read from its json header.
	js := ctl("*", "get", "/config/api/database_url", "-w", "json")
	var gr struct {
		Kvs []struct {
			ModRevision int64 `json:"mod_revision"`
		} `json:"kvs"`
	}
	if err := json.Unmarshal([]byte(js), &gr); err != nil || len(gr.Kvs) != 1 {
		t.Fatalf("etcdctl get -w json: %v %q", err, js)
	}
	ctl("OK\n", "put", "/config/api/database_url", "postgresql://db2:5432/api")
	ctl("/config/api/database_url\n"+url+"\n", "get", "/config/api/database_url", fmt.Sprintf("--rev=%d", gr.Kvs[0].ModRevision))

	// §8: endpoint health --cluster reaches every member's advertised URL.
	out = ctl("**", "endpoint", "health", "--cluster")
	for _, m := range sc.Members {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m.ClientURL()) + ` is healthy: successfully committed proposal: took = \S+$`)
		if !re.MatchString(out) {
			t.Errorf("etcdctl endpoint health --cluster does not report %s healthy:\n%s", m.ClientURL(), out)
		}
	}
}

// testRotateCert replaces member 1's server and peer certificates in place
// with new ones from the same CA (a different serial) and checks that new
// handshakes on its client ports and its peer port present the new ones
// while the member keeps serving; then restarts another member so that peer
// connections to and from member 1 are made anew with the new peer
// certificate, and checks STOPPING=1 and a second READY=1 on the way.
func (sc *seedCluster) testRotateCert(t *testing.T) {
	const i = 1
	m := sc.Members[i]
	oldServer, oldPeer := serialOf(t, sc.PKI.Server[i].Cert), serialOf(t, sc.PKI.Peer[i].Cert)
	clientAddr := strings.TrimPrefix(m.ClientURL(), "https://")
	peerAddr := strings.TrimPrefix(m.PeerURL, "https://")
	if got := servedSerial(t, clientAddr, sc.ClientTLS); got == nil || got.Cmp(oldServer) != 0 {
		t.Fatalf("%s serves serial %v on its client port before rotation, want %v", m.Name, got, oldServer)
	}
	// An open client connection from before the rotation.
	before := tlsClient(t, sc.ClientTLS, m.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := before.Put(ctx, "/ops/rotate", "before"); err != nil {
		t.Fatal(err)
	}

	sc.PKI.rotate(t, i)
	newServer, newPeer := serialOf(t, sc.PKI.Server[i].Cert), serialOf(t, sc.PKI.Peer[i].Cert)
	if newServer.Cmp(oldServer) == 0 || newPeer.Cmp(oldPeer) == 0 {
		t.Fatalf("rotation did not change the serials: server %v, peer %v", newServer, newPeer)
	}
	checkCert(t, sc.PKI, sc.PKI.Server[i].Cert, i)

	waitSerial := func(what, addr string, want *big.Int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		var got *big.Int
		for time.Now().Before(deadline) {
			if got = servedSerial(t, addr, sc.ClientTLS); got != nil && got.Cmp(want) == 0 {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("%s: new handshakes on the %s port present serial %v, want the new certificate's %v", m.Name, what, got, want)
	}
	waitSerial("client", clientAddr, newServer)
	waitSerial("client (127.0.0.1 listener)", strings.TrimPrefix(m.ClientURLs[1], "https://"), newServer)
	waitSerial("peer", peerAddr, newPeer)

	// It keeps serving: health over a new connection, the old connection,
	// and a write through it read back from another member.
	if code, body, err := get(httpsClient(sc.ClientTLS), m.ClientURL()+"/health"); err != nil || code != 200 {
		t.Errorf("%s: /health after rotation: %d %q %v", m.Name, code, body, err)
	}
	if _, err := before.Put(ctx, "/ops/rotate", "after"); err != nil {
		t.Errorf("%s: put on the connection opened before rotation: %v", m.Name, err)
	}
	after := tlsClient(t, sc.ClientTLS, m.ClientURL())
	if _, err := after.Put(ctx, "/ops/rotate", "after-new-conn"); err != nil {
		t.Errorf("%s: put on a new connection after rotation: %v", m.Name, err)
	}
	if _, err := os.Stat(etcdctlPath); err == nil {
		c := sc.PKI.Client
		r := run(t, 30*time.Second, []string{"ETCDCTL_API=3"}, "", etcdctlPath,
			"--endpoints="+m.ClientURLs[1], "--cacert="+sc.PKI.CA, "--cert="+c.Cert, "--key="+c.Key, "endpoint", "health")
		if r.code != 0 {
			t.Errorf("etcdctl endpoint health on %s after rotation: exit %d\n%s%s", m.Name, r.code, r.stdout, r.stderr)
		}
	}

	// Restart member 0: SIGTERM sends STOPPING=1, the exit is by SIGTERM
	// (as etcd, which re-raises it), and the restarted member reconnects
	// to member 1, whose peer port now presents the new certificate and
	// which dials with it.
	// The member restarted is one that does not lead: stopping the leader
	// is TestGracefulStopTransfersLeadership's business.
	j := 0
	if sc.leader(t) == 0 {
		j = 2
	}
	m0 := sc.Members[j]
	st := m0.stop(t)
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || !(ws.Signaled() && ws.Signal() == syscall.SIGTERM) && st.ExitCode() != 0 {
		t.Errorf("%s after SIGTERM: %v, want death by SIGTERM (as etcd) or exit 0", m0.Name, st)
	}
	// Cairn also tells systemd it is stopping (etcd sends nothing).
	if isCairn(t) {
		if _, err := sc.Notify[j].waitCount("STOPPING=1", 1, 2*time.Second); err != nil {
			t.Errorf("%s: %v", m0.Name, err)
		}
	}
	if _, err := after.Put(ctx, "/ops/rotate", "while-m0-down"); err != nil {
		t.Errorf("put through %s while %s is down: %v", m.Name, m0.Name, err)
	}
	if err := m0.launch(framework.BinaryPath(t)); err != nil {
		t.Fatal(err)
	}
	if err := m0.waitReady(ctx, sc.ClientTLS); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Notify[j].waitCount("READY=1", 2, 5*time.Second); err != nil {
		t.Errorf("%s after restart: %v", m0.Name, err)
	}
	c0 := tlsClient(t, sc.ClientTLS, m0.ClientURL())
	resp, err := c0.Get(ctx, "/ops/rotate")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "while-m0-down" {
		t.Errorf("%s after restart reads /ops/rotate = %v (%v), want while-m0-down", m0.Name, resp, err)
	}
	// A write through the restarted member, read through the rotated one.
	if _, err := c0.Put(ctx, "/ops/rotate", "via-m0"); err != nil {
		t.Errorf("put through restarted %s: %v", m0.Name, err)
	}
	resp, err = after.Get(ctx, "/ops/rotate")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "via-m0" {
		t.Errorf("%s reads /ops/rotate = %v (%v), want via-m0", m.Name, resp, err)
	}
}

// servedSerial makes a new TLS connection and returns the serial of the
// certificate the server presents, or nil if the handshake fails.
func servedSerial(t testing.TB, addr string, cfg *tls.Config) *big.Int {
	t.Helper()
	c := cfg.Clone()
	c.ClientSessionCache = nil // no resumption: a full handshake each time
	d := &net.Dialer{Timeout: 3 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, c)
	if err != nil {
		t.Logf("TLS dial %s: %v", addr, err)
		return nil
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil
	}
	return certs[0].SerialNumber
}

// get does a GET and returns the status and body.
func get(hc *http.Client, url string) (int, string, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// leader returns the index of the member the others follow.
func (sc *seedCluster) leader(t testing.TB) int {
	t.Helper()
	cli := tlsClient(t, sc.ClientTLS, sc.Endpoints()...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var lead uint64
	ids := map[uint64]int{}
	for i, m := range sc.Members {
		st, err := cli.Status(ctx, m.ClientURL())
		if err != nil {
			t.Fatalf("Status(%s): %v", m.Name, err)
		}
		ids[st.Header.MemberId] = i
		lead = st.Leader
	}
	i, ok := ids[lead]
	if !ok {
		t.Fatalf("leader %x is not a member", lead)
	}
	return i
}

// testLogIsJSON: the members log JSON (log-format json, the default), one
// object a line, also when clients fail their TLS handshake. etcd gives
// its HTTP servers a discarding ErrorLog ("do not log user error"), so Go's
// "http: TLS handshake error" lines never reach its log.
func (sc *seedCluster) testLogIsJSON(t *testing.T) {
	if !isCairn(t) {
		t.Skip("etcd 3.4 logs with capnslog by default")
	}
	for _, m := range sc.Members {
		var bad []string
		for _, l := range strings.Split(strings.TrimSpace(string(m.logBytes())), "\n") {
			if strings.HasPrefix(l, "=== ops:") {
				continue
			}
			var obj map[string]any
			if json.Unmarshal([]byte(l), &obj) != nil {
				bad = append(bad, l)
			}
		}
		if len(bad) > 0 {
			if len(bad) > 5 {
				bad = append(bad[:5], fmt.Sprintf("... (%d lines in all)", len(bad)))
			}
			t.Errorf("%s: log lines that are not JSON:\n%s", m.Name, strings.Join(bad, "\n"))
		}
	}
}
