package ops

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/tests/framework"
)

// pkiFiles are the certificate files of a three-member cluster.
type pkiFiles struct {
	Dir  string
	CA   string
	Name []string // member names, etcd1..etcd3
	// Server and Peer are each member's cert and key paths.
	Server, Peer []tlsFiles
	// Client is what the test, etcdctl and the health checks present.
	Client tlsFiles
	// rotate issues member i a new server and peer certificate from the
	// same CA, overwriting the files in place.
	rotate func(t testing.TB, i int)
}

func (p *pkiFiles) clientTLS() tlsFiles {
	return tlsFiles{CA: p.CA, Cert: p.Client.Cert, Key: p.Client.Key}
}

// memberNames are the guide's member names.
var memberNames = []string{"etcd1", "etcd2", "etcd3"}

// seedIPs are the guide's member addresses; certificates keep them as
// SANs beside 127.0.0.1.
var seedIPs = []string{"10.0.1.10", "10.0.1.11", "10.0.1.12"}

func requireOpenSSL(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	return p
}

// opensslPKI makes the certificates with the guide's §3 commands, run as
// written: a CA, then for each member a server certificate from the
// guide's server-csr.conf (its CN, DNS names and IP.1 changed to that
// member's, IP.2 = 127.0.0.1 kept). The guide's config also names a
// peer.crt/peer.key without showing how to make them; they are made with
// the same commands. As in the guide's §4 and §5, etcdctl and the test
// present etcd1's server certificate as their client certificate.
func opensslPKI(t testing.TB) *pkiFiles {
	t.Helper()
	ossl := requireOpenSSL(t)
	dir := filepath.Join(t.TempDir(), "pki")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	osslErr := func(wd string, args ...string) error {
		cmd := exec.Command(ossl, args...)
		cmd.Dir = wd
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("openssl %s (in %s): %v\n%s", strings.Join(args, " "), wd, err, out)
		}
		return nil
	}
	sh := func(wd string, args ...string) {
		t.Helper()
		if err := osslErr(wd, args...); err != nil {
			t.Fatal(err)
		}
	}
	// RSA key generation is the slow part: make the keys concurrently,
	// then run the rest of the commands in the guide's order.
	genKeys := func(keys ...[2]string) {
		t.Helper()
		errs := make(chan error, len(keys))
		for _, k := range keys {
			go func() {
				if err := os.MkdirAll(k[0], 0o755); err != nil {
					errs <- err
					return
				}
				bits := "2048"
				if filepath.Base(k[1]) == "ca.key" {
					bits = "4096"
				}
				errs <- osslErr(k[0], "genrsa", "-out", k[1], bits)
			}()
		}
		for range keys {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	memberKeys := func(members ...int) [][2]string {
		var ks [][2]string
		for _, i := range members {
			md := filepath.Join(dir, memberNames[i])
			ks = append(ks, [2]string{md, "server.key"}, [2]string{md, "peer.key"})
		}
		return ks
	}
	// # Generate CA (openssl genrsa -out ca.key 4096), and the members' keys
	// (openssl genrsa -out server.key 2048).
	genKeys(append(memberKeys(0, 1, 2), [2]string{dir, "ca.key"})...)
	sh(dir, "req", "-x509", "-new", "-nodes", "-key", "ca.key", "-sha256", "-days", "3650",
		"-out", "ca.crt", "-subj", "/CN=etcd-ca")

	p := &pkiFiles{Dir: dir, CA: filepath.Join(dir, "ca.crt"), Name: memberNames}
	csrConf := readTestdata(t, "seed-server-csr.conf")
	issue := func(i int, kind string) {
		t.Helper()
		md := filepath.Join(dir, memberNames[i])
		if err := os.MkdirAll(md, 0o755); err != nil {
			t.Fatal(err)
		}
		conf := memberCSRConf(csrConf, i)
		if err := os.WriteFile(filepath.Join(md, kind+"-csr.conf"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		// # Generate server certificate (the guide's commands after genrsa,
		// with the CA one directory up).
		sh(md, "req", "-new", "-key", kind+".key", "-out", kind+".csr", "-config", kind+"-csr.conf")
		sh(md, "x509", "-req", "-in", kind+".csr", "-CA", "../ca.crt", "-CAkey", "../ca.key",
			"-CAcreateserial", "-out", kind+".crt", "-days", "365", "-extensions", "req_ext",
			"-extfile", kind+"-csr.conf")
	}
	for i := range memberNames {
		issue(i, "server")
		issue(i, "peer")
	}
	for i := range memberNames {
		md := filepath.Join(dir, memberNames[i])
		p.Server = append(p.Server, tlsFiles{CA: p.CA, Cert: filepath.Join(md, "server.crt"), Key: filepath.Join(md, "server.key")})
		p.Peer = append(p.Peer, tlsFiles{CA: p.CA, Cert: filepath.Join(md, "peer.crt"), Key: filepath.Join(md, "peer.key")})
	}
	p.Client = p.Server[0]
	// Rotation: the same commands again write a new key and a certificate
	// with the CA's next serial over the old files.
	p.rotate = func(t testing.TB, i int) {
		genKeys(memberKeys(i)...)
		issue(i, "server")
		issue(i, "peer")
	}
	return p
}

// memberCSRConf is the guide's server-csr.conf for member i: etcd1's names
// and address replaced by member i's. IP.2 = 127.0.0.1 stays, so the
// certificate is valid for the loopback URLs the test uses.
func memberCSRConf(seed string, i int) string {
	conf := strings.NewReplacer(
		"etcd1", memberNames[i],
		"IP.1 = 10.0.1.10", "IP.1 = "+seedIPs[i],
	).Replace(seed)
	return conf
}

// cairnPKI makes the certificates with `cairn pki`.
func cairnPKI(t testing.TB) *pkiFiles {
	t.Helper()
	if !isCairn(t) {
		t.Skip("the binary under test is not cairn: no `cairn pki`")
	}
	bin := framework.BinaryPath(t)
	dir := filepath.Join(t.TempDir(), "pki")
	var members []string
	for i, n := range memberNames {
		members = append(members, n+"="+seedIPs[i])
	}
	r := run(t, 30*time.Second, nil, "", bin, "pki", "--dir", dir, "--members", strings.Join(members, ","))
	if r.code != 0 {
		t.Fatalf("cairn pki: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	p := &pkiFiles{Dir: dir, CA: filepath.Join(dir, "ca.crt"), Name: memberNames}
	for _, n := range memberNames {
		md := filepath.Join(dir, n)
		p.Server = append(p.Server, tlsFiles{CA: p.CA, Cert: filepath.Join(md, "server.crt"), Key: filepath.Join(md, "server.key")})
		p.Peer = append(p.Peer, tlsFiles{CA: p.CA, Cert: filepath.Join(md, "peer.crt"), Key: filepath.Join(md, "peer.key")})
	}
	p.Client = tlsFiles{CA: p.CA, Cert: filepath.Join(dir, "client.crt"), Key: filepath.Join(dir, "client.key")}
	// The files `cairn pki` lists are the ones it wrote.
	for _, f := range []string{p.CA, filepath.Join(dir, "ca.key"), p.Client.Cert, p.Client.Key} {
		if !strings.Contains(r.stdout, f+"\n") {
			t.Errorf("cairn pki output does not list %s:\n%s", f, r.stdout)
		}
	}
	for i := range memberNames {
		for _, f := range []string{p.Server[i].Cert, p.Server[i].Key, p.Peer[i].Cert, p.Peer[i].Key} {
			if !strings.Contains(r.stdout, f+"\n") {
				t.Errorf("cairn pki output does not list %s:\n%s", f, r.stdout)
			}
		}
	}
	// Rotation: `cairn pki` again for one member reuses the CA in DIR and
	// writes that member's certificates (and the client's) anew.
	p.rotate = func(t testing.TB, i int) {
		r := run(t, 30*time.Second, nil, "", bin, "pki", "--dir", dir, "--members", memberNames[i]+"="+seedIPs[i])
		if r.code != 0 {
			t.Fatalf("cairn pki (rotation): exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout, "ca.crt") {
			t.Errorf("cairn pki with an existing CA rewrote it:\n%s", r.stdout)
		}
	}
	return p
}

// checkCert checks that a certificate made for member i is valid for
// 127.0.0.1 and the member's seed address, and chains to the CA.
func checkCert(t testing.TB, p *pkiFiles, certFile string, i int) {
	t.Helper()
	c := readCert(t, certFile)
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, p.CA))
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("%s does not chain to %s: %v", certFile, p.CA, err)
	}
	for _, h := range []string{"127.0.0.1", "localhost", seedIPs[i], memberNames[i]} {
		if err := c.VerifyHostname(h); err != nil {
			t.Errorf("%s: %v", certFile, err)
		}
	}
}

func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s is not PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func serialOf(t testing.TB, path string) *big.Int { return readCert(t, path).SerialNumber }

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// otherCAClient makes a CA unrelated to the cluster's and a client
// certificate from it.
func otherCAClient(t testing.TB) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stranger-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "stranger"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := tlsFiles{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "client.crt"), Key: filepath.Join(dir, "client.key")}
	for path, blk := range map[string]*pem.Block{
		f.CA:   {Type: "CERTIFICATE", Bytes: caDER},
		f.Cert: {Type: "CERTIFICATE", Bytes: der},
		f.Key:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// isCairn reports whether the server binary under test is Cairn (and not
// etcd run through $CAIRN_TEST_BINARY for comparison).
func isCairn(t testing.TB) bool {
	t.Helper()
	r := run(t, 10*time.Second, nil, "", framework.BinaryPath(t), "--version")
	return strings.Contains(r.stdout, "Cairn Version")
}
