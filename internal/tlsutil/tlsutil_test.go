package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pool(cas ...*CA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Cert)
	}
	return p
}

func newCA(t *testing.T, cn string) *CA {
	t.Helper()
	ca, err := NewCA(cn, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestIssueVerifies(t *testing.T) {
	ca := newCA(t, "test-ca")
	other := newCA(t, "other-ca")
	if !ca.Cert.IsCA || ca.Cert.Subject.CommonName != "test-ca" {
		t.Fatalf("CA cert = IsCA %v CN %q", ca.Cert.IsCA, ca.Cert.Subject.CommonName)
	}
	type usage = x509.ExtKeyUsage
	tests := []struct {
		name           string
		hosts          []string
		server, client bool
		verifyName     string
		verifyUsage    usage
		roots          *x509.CertPool
		wantOK         bool
	}{
		{"server by DNS", []string{"localhost", "127.0.0.1"}, true, false, "localhost", x509.ExtKeyUsageServerAuth, pool(ca), true},
		{"server by IP", []string{"localhost", "127.0.0.1"}, true, false, "127.0.0.1", x509.ExtKeyUsageServerAuth, pool(ca), true},
		{"server by IPv6", []string{"::1"}, true, false, "::1", x509.ExtKeyUsageServerAuth, pool(ca), true},
		{"wrong host", []string{"node1"}, true, false, "node2", x509.ExtKeyUsageServerAuth, pool(ca), false},
		{"client usage", nil, false, true, "", x509.ExtKeyUsageClientAuth, pool(ca), true},
		{"client cert is not a server cert", nil, false, true, "", x509.ExtKeyUsageServerAuth, pool(ca), false},
		{"server cert is not a client cert", []string{"x"}, true, false, "", x509.ExtKeyUsageClientAuth, pool(ca), false},
		{"both usages", []string{"x"}, true, true, "x", x509.ExtKeyUsageClientAuth, pool(ca), true},
		{"other CA", []string{"x"}, true, false, "x", x509.ExtKeyUsageServerAuth, pool(other), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			certPEM, keyPEM, err := ca.Issue("cn-"+tc.name, tc.hosts, tc.server, tc.client, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				t.Fatalf("cert and key do not pair: %v", err)
			}
			c := parseCert(t, certPEM)
			if c.Subject.CommonName != "cn-"+tc.name {
				t.Fatalf("CN = %q", c.Subject.CommonName)
			}
			_, err = c.Verify(x509.VerifyOptions{Roots: tc.roots, DNSName: tc.verifyName, KeyUsages: []x509.ExtKeyUsage{tc.verifyUsage}})
			if (err == nil) != tc.wantOK {
				t.Fatalf("Verify err = %v, want ok=%v", err, tc.wantOK)
			}
		})
	}
}

func TestSerialsDiffer(t *testing.T) {
	ca := newCA(t, "ca")
	a, _, err := ca.Issue("a", nil, true, false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := ca.Issue("a", nil, true, false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if parseCert(t, a).SerialNumber.Cmp(parseCert(t, b).SerialNumber) == 0 {
		t.Fatal("two certificates share a serial")
	}
}

func TestLoadCA(t *testing.T) {
	ca := newCA(t, "ca")
	loaded, err := LoadCA(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := loaded.Issue("s", []string{"s"}, true, false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseCert(t, certPEM).Verify(x509.VerifyOptions{Roots: pool(ca), DNSName: "s"}); err != nil {
		t.Fatalf("a certificate of the loaded CA does not verify against the original: %v", err)
	}

	// PKCS#8 keys are accepted too.
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(ca.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		t.Fatalf("PKCS#8 key refused: %v", err)
	}

	bad := []struct {
		name      string
		cert, key []byte
	}{
		{"cert not PEM", []byte("nope"), ca.KeyPEM},
		{"key not PEM", ca.CertPEM, []byte("nope")},
		{"key is garbage", ca.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}})},
		{"cert is garbage", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), ca.KeyPEM},
	}
	for _, tc := range bad {
		if _, err := LoadCA(tc.cert, tc.key); err == nil {
			t.Errorf("%s: LoadCA accepted it", tc.name)
		}
	}
}

// pki is a CA with a server and a client certificate on disk.
type pki struct {
	dir                  string
	ca                   *CA
	caFile               string
	serverCrt, serverKey string
	clientCrt, clientKey string
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), ca: newCA(t, "ca")}
	p.caFile = filepath.Join(p.dir, "ca.crt")
	writeFile(t, p.caFile, p.ca.CertPEM)
	p.serverCrt, p.serverKey = p.issue(t, "server", "server", []string{"localhost", "127.0.0.1"}, true, false)
	p.clientCrt, p.clientKey = p.issue(t, "client", "root", nil, false, true)
	return p
}

func (p *pki) issue(t *testing.T, file, cn string, hosts []string, server, client bool) (string, string) {
	t.Helper()
	c, k, err := p.ca.Issue(cn, hosts, server, client, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	crt, key := filepath.Join(p.dir, file+".crt"), filepath.Join(p.dir, file+".key")
	writeFile(t, crt, c)
	writeFile(t, key, k)
	return crt, key
}

type handshake struct {
	serverErr error
	clientErr error
	// serverSerial is the serial of the certificate the client saw.
	serverSerial *big.Int
	// clientCN is the CN of the client certificate the server saw.
	clientCN string
}

// dial runs one TLS handshake over loopback and reports both sides.
func dial(t *testing.T, scfg, ccfg *tls.Config) handshake {
	t.Helper()
	return dialHost(t, scfg, ccfg, "127.0.0.1")
}

// dialHost is dial with the client addressing the server as host (which
// must resolve to 127.0.0.1).
func dialHost(t *testing.T, scfg, ccfg *tls.Config, host string) handshake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type srvResult struct {
		err error
		cn  string
	}
	srvc := make(chan srvResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvc <- srvResult{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, scfg)
		if err := tc.Handshake(); err != nil {
			srvc <- srvResult{err: err}
			return
		}
		var cn string
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			cn = pc[0].Subject.CommonName
		}
		// Tell the client the handshake was accepted, then close.
		_, err = tc.Write([]byte("ok"))
		srvc <- srvResult{err: err, cn: cn}
	}()

	var h handshake
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", net.JoinHostPort(host, port), ccfg)
	if err == nil {
		h.serverSerial = c.ConnectionState().PeerCertificates[0].SerialNumber
		// With TLS 1.3 the server's verdict on the client certificate
		// arrives after the client's handshake: read it.
		buf := make([]byte, 2)
		if _, rerr := io.ReadFull(c, buf); rerr != nil {
			err = rerr
		} else if string(buf) != "ok" {
			err = errors.New("unexpected reply " + string(buf))
		}
		c.Close()
	}
	h.clientErr = err
	sr := <-srvc
	h.serverErr, h.clientCN = sr.err, sr.cn
	return h
}

func (h handshake) ok() bool { return h.serverErr == nil && h.clientErr == nil }

func mustServer(t *testing.T, info Info) *tls.Config {
	t.Helper()
	c, err := ServerConfig(info)
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	return c
}

func mustClient(t *testing.T, info Info) *tls.Config {
	t.Helper()
	c, err := ClientConfig(info)
	if err != nil {
		t.Fatalf("ClientConfig: %v", err)
	}
	return c
}

func TestHandshake(t *testing.T) {
	p := newPKI(t)
	other := newPKI(t) // a second, unrelated CA
	strangerCrt, strangerKey := other.issue(t, "stranger", "root", nil, false, true)

	tests := []struct {
		name    string
		server  Info
		client  Info
		wantOK  bool
		wantCN  string
		version uint16
	}{
		{
			name:   "client cert auth with a client cert",
			server: Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: p.caFile, ClientCertAuth: true},
			client: Info{CertFile: p.clientCrt, KeyFile: p.clientKey, TrustedCAFile: p.caFile},
			wantOK: true, wantCN: "root",
		},
		{
			name:   "client cert auth without a client cert",
			server: Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: p.caFile, ClientCertAuth: true},
			client: Info{TrustedCAFile: p.caFile},
		},
		{
			name:   "client cert auth with a stranger's cert",
			server: Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: p.caFile, ClientCertAuth: true},
			client: Info{CertFile: strangerCrt, KeyFile: strangerKey, TrustedCAFile: p.caFile},
		},
		{
			name:   "client cert auth over TLS 1.2",
			server: Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: p.caFile, ClientCertAuth: true, MaxVersion: tls.VersionTLS12},
			client: Info{TrustedCAFile: p.caFile},
		},
		{
			name:   "trusted CA without client-cert-auth lets a client without cert in",
			server: Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: p.caFile},
			client: Info{TrustedCAFile: p.caFile},
			wantOK: true,
		},
		{
			name:   "trusted CA without client-cert-auth still checks a given cert",
			server: Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: p.caFile},
			client: Info{CertFile: strangerCrt, KeyFile: strangerKey, TrustedCAFile: p.caFile},
		},
		{
			name:   "client does not trust the server's CA",
			server: Info{CertFile: p.serverCrt, KeyFile: p.serverKey},
			client: Info{TrustedCAFile: other.caFile},
		},
		{
			name:   "insecure skip verify",
			server: Info{CertFile: p.serverCrt, KeyFile: p.serverKey},
			client: Info{InsecureSkipVerify: true, TrustedCAFile: other.caFile},
			wantOK: true,
		},
		{
			name:   "separate client cert for dialing",
			server: Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: p.caFile, ClientCertAuth: true},
			client: Info{CertFile: p.serverCrt, KeyFile: p.serverKey, ClientCertFile: p.clientCrt, ClientKeyFile: p.clientKey, TrustedCAFile: p.caFile},
			wantOK: true, wantCN: "root",
		},
		{
			name:   "allowed CN",
			server: Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: p.caFile, ClientCertAuth: true, AllowedCNs: []string{"root"}},
			client: Info{CertFile: p.clientCrt, KeyFile: p.clientKey, TrustedCAFile: p.caFile},
			wantOK: true, wantCN: "root",
		},
		{
			name:   "CN not allowed",
			server: Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: p.caFile, ClientCertAuth: true, AllowedCNs: []string{"admin"}},
			client: Info{CertFile: p.clientCrt, KeyFile: p.clientKey, TrustedCAFile: p.caFile},
		},
		{
			name:   "version floor refuses an older client",
			server: Info{CertFile: p.serverCrt, KeyFile: p.serverKey, MinVersion: tls.VersionTLS13},
			client: Info{TrustedCAFile: p.caFile, MaxVersion: tls.VersionTLS12},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := dial(t, mustServer(t, tc.server), mustClient(t, tc.client))
			if h.ok() != tc.wantOK {
				t.Fatalf("handshake ok = %v (server err %v, client err %v), want %v", h.ok(), h.serverErr, h.clientErr, tc.wantOK)
			}
			if tc.wantOK && h.clientCN != tc.wantCN {
				t.Fatalf("server saw client CN %q, want %q", h.clientCN, tc.wantCN)
			}
			if !tc.wantOK && h.serverErr == nil && h.clientErr == nil {
				t.Fatal("refused handshake reported no error")
			}
		})
	}
}

// The client checks that the server's certificate is for the address it
// dialed, by name or by IP, as Go's own verification and etcd do. Peers are
// usually dialed by IP (https://10.0.0.1:2380).
func TestClientVerifiesServerAddress(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name   string
		hosts  []string // SANs of the server certificate
		dialAs string
		wantOK bool
	}{
		{"IP in SANs", []string{"127.0.0.1"}, "127.0.0.1", true},
		{"name in SANs", []string{"localhost"}, "localhost", true},
		{"name not in SANs", []string{"node1.example.com", "127.0.0.1"}, "localhost", false},
		{"IP not in SANs", []string{"node1.example.com", "localhost"}, "127.0.0.1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crt, key := p.issue(t, "srv-"+strings.ReplaceAll(tc.name, " ", "-"), "server", tc.hosts, true, false)
			h := dialHost(t,
				mustServer(t, Info{CertFile: crt, KeyFile: key}),
				mustClient(t, Info{TrustedCAFile: p.caFile}), tc.dialAs)
			if h.ok() != tc.wantOK {
				t.Fatalf("dialing %s, server cert for %v: handshake ok = %v (client err %v), want %v", tc.dialAs, tc.hosts, h.ok(), h.clientErr, tc.wantOK)
			}
		})
	}
}

// The server refuses a client without a certificate itself (not only the
// client noticing).
func TestClientCertAuthRefusesAtServer(t *testing.T) {
	p := newPKI(t)
	h := dial(t,
		mustServer(t, Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: p.caFile, ClientCertAuth: true}),
		mustClient(t, Info{TrustedCAFile: p.caFile}))
	if h.serverErr == nil {
		t.Fatal("the server accepted a client without a certificate")
	}
	if !strings.Contains(h.serverErr.Error(), "certificate") {
		t.Fatalf("server error %q does not mention the certificate", h.serverErr)
	}
}

func TestConfigErrors(t *testing.T) {
	p := newPKI(t)
	missing := filepath.Join(p.dir, "missing.crt")
	notPEM := filepath.Join(p.dir, "junk.crt")
	writeFile(t, notPEM, []byte("junk"))
	serverTests := []struct {
		name string
		info Info
		want string
	}{
		{"no certificate", Info{}, "cert-file and key-file"},
		{"client cert auth without CA", Info{CertFile: p.serverCrt, KeyFile: p.serverKey, ClientCertAuth: true}, "trusted-ca-file"},
		{"missing cert file", Info{CertFile: missing, KeyFile: p.serverKey}, "missing.crt"},
		{"mismatched key", Info{CertFile: p.serverCrt, KeyFile: p.clientKey}, "load certificate"},
		{"CA file without certificates", Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: notPEM}, "no PEM certificate"},
		{"missing CA file", Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: missing}, "missing.crt"},
	}
	for _, tc := range serverTests {
		t.Run("server "+tc.name, func(t *testing.T) {
			_, err := ServerConfig(tc.info)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ServerConfig err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	clientTests := []struct {
		name string
		info Info
	}{
		{"missing client cert", Info{CertFile: missing, KeyFile: p.clientKey}},
		{"missing CA", Info{TrustedCAFile: missing}},
	}
	for _, tc := range clientTests {
		t.Run("client "+tc.name, func(t *testing.T) {
			if _, err := ClientConfig(tc.info); err == nil {
				t.Fatal("ClientConfig accepted it")
			}
		})
	}
	if !(Info{}).Empty() || (Info{CertFile: "x"}).Empty() {
		t.Fatal("Info.Empty is wrong")
	}
}

// bump sets a file's modification time to a fixed point after any the test
// has used, so a change is seen whatever the file system's time resolution.
func bump(t *testing.T, step int, files ...string) {
	t.Helper()
	at := time.Date(2030, 1, 1, 0, 0, step, 0, time.UTC)
	for _, f := range files {
		if err := os.Chtimes(f, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReloadsReplacedServerCertificate(t *testing.T) {
	p := newPKI(t)
	scfg := mustServer(t, Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: p.caFile, ClientCertAuth: true})
	ccfg := mustClient(t, Info{CertFile: p.clientCrt, KeyFile: p.clientKey, TrustedCAFile: p.caFile})

	h := dial(t, scfg, ccfg)
	if !h.ok() {
		t.Fatalf("first handshake: %v / %v", h.serverErr, h.clientErr)
	}
	first := h.serverSerial

	// Rotate the server certificate in place.
	c, k, err := p.ca.Issue("server", []string{"localhost", "127.0.0.1"}, true, false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p.serverCrt, c)
	writeFile(t, p.serverKey, k)
	bump(t, 1, p.serverCrt, p.serverKey)
	want := parseCert(t, c).SerialNumber
	if want.Cmp(first) == 0 {
		t.Fatal("the new certificate has the old serial")
	}

	h = dial(t, scfg, ccfg)
	if !h.ok() {
		t.Fatalf("handshake after rotation: %v / %v", h.serverErr, h.clientErr)
	}
	if h.serverSerial.Cmp(want) != 0 {
		t.Fatalf("served serial %x after rotation, want the new %x (old %x)", h.serverSerial, want, first)
	}

	// A half-written file keeps the last good certificate.
	writeFile(t, p.serverCrt, c[:len(c)/2])
	bump(t, 2, p.serverCrt)
	h = dial(t, scfg, ccfg)
	if !h.ok() {
		t.Fatalf("handshake with a damaged file on disk: %v / %v", h.serverErr, h.clientErr)
	}
	if h.serverSerial.Cmp(want) != 0 {
		t.Fatalf("served serial %x, want the last good %x", h.serverSerial, want)
	}
}

func TestReloadsReplacedClientCertAndCA(t *testing.T) {
	p := newPKI(t)
	scfg := mustServer(t, Info{CertFile: p.serverCrt, KeyFile: p.serverKey, TrustedCAFile: p.caFile, ClientCertAuth: true})
	ccfg := mustClient(t, Info{CertFile: p.clientCrt, KeyFile: p.clientKey, TrustedCAFile: p.caFile})
	if h := dial(t, scfg, ccfg); !h.ok() || h.clientCN != "root" {
		t.Fatalf("first handshake: %+v", h)
	}

	// Move everything to a new CA: the CA files, the server and the client
	// certificates are replaced on disk; both configs follow.
	ca2 := newCA(t, "ca2")
	p.ca = ca2
	writeFile(t, p.caFile, ca2.CertPEM)
	p.issue(t, "server", "server", []string{"localhost", "127.0.0.1"}, true, false)
	p.issue(t, "client", "admin", nil, false, true)
	bump(t, 1, p.caFile, p.serverCrt, p.serverKey, p.clientCrt, p.clientKey)

	// The dialing side verifies servers with Go's standard checks (host
	// name or IP included), whose CA pool is fixed when the config is made:
	// it refuses the new CA until it is rebuilt (a member restart). The
	// serving side follows the replaced CA file at once.
	if h := dial(t, scfg, ccfg); h.clientErr == nil {
		t.Fatal("the old client config accepted a server certificate from the new CA")
	}
	ccfg = mustClient(t, Info{CertFile: p.clientCrt, KeyFile: p.clientKey, TrustedCAFile: p.caFile})
	h := dial(t, scfg, ccfg)
	if !h.ok() {
		t.Fatalf("handshake after moving to the new CA: %v / %v", h.serverErr, h.clientErr)
	}
	if h.clientCN != "admin" {
		t.Fatalf("server saw client CN %q, want the new certificate's admin", h.clientCN)
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    uint16
		wantErr bool
	}{
		{"", 0, false},
		{"TLS1.2", tls.VersionTLS12, false},
		{"TLS1.3", tls.VersionTLS13, false},
		{"tls1.3", tls.VersionTLS13, false},
		{"TLS1.1", 0, true},
		{"TLS1.0", 0, true},
		{"1.2", 0, true},
		{"TLSv1.2", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseVersion(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseVersion(%q) = %x, %v; want %x, err=%v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), tc.in) {
			t.Errorf("ParseVersion(%q) error %q does not name the input", tc.in, err)
		}
	}
}

func TestParseCipherSuites(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []uint16
		wantErr string
	}{
		{"none", nil, nil, ""},
		{"secure", []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}, ""},
		{"insecure but known", []string{"TLS_RSA_WITH_AES_128_CBC_SHA"}, []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}, ""},
		{"order kept", []string{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
			[]uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, ""},
		{"unknown", []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_MADE_UP"}, nil, "TLS_MADE_UP"},
		{"lower case is not a name", []string{"tls_ecdhe_rsa_with_aes_128_gcm_sha256"}, nil, "tls_ecdhe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCipherSuites(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseCipherSuites = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestParseMembers(t *testing.T) {
	tests := []struct {
		in      string
		want    []BundleMember
		wantErr bool
	}{
		{"n1=10.0.0.1", []BundleMember{{"n1", []string{"10.0.0.1"}}}, false},
		{"n1=10.0.0.1,n2=10.0.0.2", []BundleMember{{"n1", []string{"10.0.0.1"}}, {"n2", []string{"10.0.0.2"}}}, false},
		{"n1=10.0.0.1;n2=h2", []BundleMember{{"n1", []string{"10.0.0.1"}}, {"n2", []string{"h2"}}}, false},
		{"n1=a, n1=b", []BundleMember{{"n1", []string{"a", "b"}}}, false},
		{"", nil, true},
		{"n1", nil, true},
		{"=a", nil, true},
		{"n1=", nil, true},
	}
	for _, tc := range tests {
		got, err := ParseMembers(tc.in)
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseMembers(%q) = %v, %v; want %v, err=%v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseCert(t, b)
}

func TestWriteBundle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	written, err := WriteBundle(BundleOptions{
		Dir: dir,
		Members: []BundleMember{
			{Name: "n1", Hosts: []string{"10.0.0.1", "n1.example.com"}},
			{Name: "n2", Hosts: []string{"10.0.0.2", "localhost"}},
		},
		ClientCN: "root",
	})
	if err != nil {
		t.Fatal(err)
	}
	rel := func(ps []string) []string {
		out := []string{}
		for _, p := range ps {
			r, err := filepath.Rel(dir, p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		slices.Sort(out)
		return out
	}
	wantFiles := []string{
		"ca.crt", "ca.key", "client.crt", "client.key",
		"n1/peer.crt", "n1/peer.key", "n1/server.crt", "n1/server.key",
		"n2/peer.crt", "n2/peer.key", "n2/server.crt", "n2/server.key",
	}
	if got := rel(written); !reflect.DeepEqual(got, wantFiles) {
		t.Fatalf("written = %v, want %v", got, wantFiles)
	}
	for _, f := range wantFiles {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".key") && st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
		if strings.HasSuffix(f, ".crt") && st.Mode().Perm()&0o044 == 0 {
			t.Errorf("%s mode %v is not readable", f, st.Mode().Perm())
		}
	}

	caCert := readCert(t, filepath.Join(dir, "ca.crt"))
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	if !caCert.IsCA || caCert.Subject.CommonName != "cairn-ca" {
		t.Fatalf("CA cert IsCA=%v CN=%q", caCert.IsCA, caCert.Subject.CommonName)
	}
	sans := []struct {
		member   string
		wantDNS  []string
		wantIPs  []string
		verifyAs []string
	}{
		{"n1", []string{"n1", "n1.example.com", "localhost"}, []string{"10.0.0.1", "127.0.0.1"}, []string{"n1", "n1.example.com", "localhost", "10.0.0.1", "127.0.0.1"}},
		{"n2", []string{"n2", "localhost"}, []string{"10.0.0.2", "127.0.0.1"}, []string{"n2", "localhost", "10.0.0.2"}},
	}
	for _, s := range sans {
		for _, kind := range []string{"server", "peer"} {
			c := readCert(t, filepath.Join(dir, s.member, kind+".crt"))
			var ips []string
			for _, ip := range c.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !reflect.DeepEqual(c.DNSNames, s.wantDNS) || !reflect.DeepEqual(ips, s.wantIPs) {
				t.Errorf("%s/%s SANs = DNS %v IP %v, want DNS %v IP %v", s.member, kind, c.DNSNames, ips, s.wantDNS, s.wantIPs)
			}
			if c.Subject.CommonName != s.member {
				t.Errorf("%s/%s CN = %q", s.member, kind, c.Subject.CommonName)
			}
			for _, name := range s.verifyAs {
				for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
					if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
						t.Errorf("%s/%s does not verify as %s for usage %v: %v", s.member, kind, name, u, err)
					}
				}
			}
			if _, err := tls.LoadX509KeyPair(filepath.Join(dir, s.member, kind+".crt"), filepath.Join(dir, s.member, kind+".key")); err != nil {
				t.Errorf("%s/%s key does not match: %v", s.member, kind, err)
			}
		}
	}
	client := readCert(t, filepath.Join(dir, "client.crt"))
	if client.Subject.CommonName != "root" {
		t.Errorf("client CN = %q, want root", client.Subject.CommonName)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client cert does not verify for client auth: %v", err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Errorf("client cert verifies for server auth")
	}

	// A second run adds a member under the same CA.
	caBefore, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	written, err = WriteBundle(BundleOptions{Dir: dir, Members: []BundleMember{{Name: "n3", Hosts: []string{"10.0.0.3"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rel(written), []string{"client.crt", "client.key", "n3/peer.crt", "n3/peer.key", "n3/server.crt", "n3/server.key"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("second run wrote %v, want %v", got, want)
	}
	caAfter, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if string(caBefore) != string(caAfter) {
		t.Fatal("the second run replaced the CA")
	}
	n3 := readCert(t, filepath.Join(dir, "n3", "server.crt"))
	if _, err := n3.Verify(x509.VerifyOptions{Roots: roots, DNSName: "10.0.0.3"}); err != nil {
		t.Fatalf("n3 does not verify against the original CA: %v", err)
	}
}

func TestWriteBundleCAWithoutKey(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "ca")
	writeFile(t, filepath.Join(dir, "ca.crt"), ca.CertPEM)
	_, err := WriteBundle(BundleOptions{Dir: dir, Members: []BundleMember{{Name: "n1", Hosts: []string{"h"}}}})
	if err == nil || !strings.Contains(err.Error(), "ca.key") {
		t.Fatalf("err = %v, want one naming ca.key", err)
	}
}

func TestSelfSigned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auto")
	info, err := SelfSigned(dir, []string{"localhost", "127.0.0.1"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(info.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCert(t, first)
	if !slices.Contains(c.DNSNames, "localhost") || len(c.IPAddresses) != 1 {
		t.Fatalf("SANs = %v %v", c.DNSNames, c.IPAddresses)
	}
	// A second call reuses the pair.
	info2, err := SelfSigned(dir, []string{"localhost"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(info2.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != string(second) {
		t.Fatal("SelfSigned replaced a usable certificate")
	}
	// Auto-TLS peers skip verification.
	h := dial(t, mustServer(t, info), mustClient(t, Info{InsecureSkipVerify: true}))
	if !h.ok() {
		t.Fatalf("handshake with the self-signed cert: %v / %v", h.serverErr, h.clientErr)
	}
}
