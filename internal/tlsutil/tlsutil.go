// Package tlsutil builds the TLS configurations of the client and peer
// ports from etcd's TLS options. Certificates and CA bundles are re-read
// when their files change, so a rotation needs no restart: each handshake
// checks the files' modification times (a stat, no read) and reloads on a
// change.
package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Info is one side's TLS options (etcd's cert-file, key-file, ...).
type Info struct {
	CertFile, KeyFile string
	// TrustedCAFile verifies the other side's certificate.
	TrustedCAFile string
	// ClientCertFile/ClientKeyFile, when set, are the certificate this side
	// presents when it dials (peer connections); CertFile otherwise.
	ClientCertFile, ClientKeyFile string
	// ClientCertAuth requires callers to present a certificate signed by
	// TrustedCAFile.
	ClientCertAuth bool
	// AllowedCNs / AllowedHostnames restrict the callers' certificates.
	AllowedCNs, AllowedHostnames []string
	// SkipClientSANVerify skips the SAN check of peers' client certificates.
	SkipClientSANVerify bool
	// InsecureSkipVerify is set for auto-TLS peers (self-signed).
	InsecureSkipVerify     bool
	MinVersion, MaxVersion uint16
	CipherSuites           []uint16
}

// Empty reports whether no certificate is configured.
func (i Info) Empty() bool { return i.CertFile == "" && i.KeyFile == "" }

// ParseVersion maps etcd's TLS1.2 / TLS1.3 names.
func ParseVersion(s string) (uint16, error) {
	switch strings.ToUpper(s) {
	case "":
		return 0, nil
	case "TLS1.2":
		return tls.VersionTLS12, nil
	case "TLS1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("tlsutil: unknown TLS version %q (want TLS1.2 or TLS1.3)", s)
}

// ParseCipherSuites maps Go's cipher suite names (as etcd takes them).
func ParseCipherSuites(names []string) ([]uint16, error) {
	byName := map[string]uint16{}
	for _, c := range tls.CipherSuites() {
		byName[c.Name] = c.ID
	}
	for _, c := range tls.InsecureCipherSuites() {
		byName[c.Name] = c.ID
	}
	var out []uint16
	for _, n := range names {
		id, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("tlsutil: unknown cipher suite %q", n)
		}
		out = append(out, id)
	}
	return out, nil
}

// reloader keeps a certificate or CA pool fresh.
type reloader struct {
	mu     sync.Mutex
	files  []string
	mtimes []time.Time
	load   func() (interface{}, error)
	val    interface{}
	err    error
}

func newReloader(load func() (interface{}, error), files ...string) (*reloader, error) {
	r := &reloader{files: files, load: load}
	if _, err := r.get(); err != nil {
		return nil, err
	}
	return r, nil
}

// get returns the current value, reloading it when a file changed. A failed
// reload keeps the last good value (a half-written file must not break the
// next handshake) and is retried at the next one.
func (r *reloader) get() (interface{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	mt := make([]time.Time, len(r.files))
	for i, f := range r.files {
		st, err := os.Stat(f)
		if err != nil {
			if r.val != nil {
				return r.val, nil
			}
			return nil, fmt.Errorf("tlsutil: %w", err)
		}
		mt[i] = st.ModTime()
	}
	if r.val != nil && equalTimes(mt, r.mtimes) {
		return r.val, nil
	}
	v, err := r.load()
	if err != nil {
		if r.val != nil {
			return r.val, nil
		}
		return nil, err
	}
	r.val, r.mtimes = v, mt
	return v, nil
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

func certReloader(certFile, keyFile string) (*reloader, error) {
	return newReloader(func() (interface{}, error) {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsutil: load certificate %s / key %s: %w", certFile, keyFile, err)
		}
		return &c, nil
	}, certFile, keyFile)
}

func poolReloader(caFile string) (*reloader, error) {
	return newReloader(func() (interface{}, error) {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tlsutil: read trusted CA file: %w", err)
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tlsutil: trusted CA file %s holds no PEM certificate", caFile)
		}
		return p, nil
	}, caFile)
}

// ServerConfig returns the configuration for a listener.
func ServerConfig(info Info) (*tls.Config, error) {
	if info.Empty() {
		return nil, errors.New("tlsutil: a TLS listener needs cert-file and key-file")
	}
	certs, err := certReloader(info.CertFile, info.KeyFile)
	if err != nil {
		return nil, err
	}
	var pool *reloader
	if info.TrustedCAFile != "" {
		if pool, err = poolReloader(info.TrustedCAFile); err != nil {
			return nil, err
		}
	} else if info.ClientCertAuth {
		return nil, errors.New("tlsutil: client-cert-auth needs trusted-ca-file")
	}
	base := &tls.Config{
		MinVersion:   orDefault(info.MinVersion, tls.VersionTLS12),
		MaxVersion:   info.MaxVersion,
		CipherSuites: info.CipherSuites,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	base.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		v, err := certs.get()
		if err != nil {
			return nil, err
		}
		return v.(*tls.Certificate), nil
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		if pool != nil {
			v, err := pool.get()
			if err != nil {
				return nil, err
			}
			c.ClientCAs = v.(*x509.CertPool)
			if info.ClientCertAuth {
				c.ClientAuth = tls.RequireAndVerifyClientCert
			} else {
				c.ClientAuth = tls.VerifyClientCertIfGiven
			}
		}
		if len(info.AllowedCNs) > 0 || len(info.AllowedHostnames) > 0 {
			c.VerifyPeerCertificate = verifyAllowed(info.AllowedCNs, info.AllowedHostnames)
		}
		return c, nil
	}
	return base, nil
}

// ClientConfig returns the configuration for dialing the other side.
func ClientConfig(info Info) (*tls.Config, error) {
	c := &tls.Config{
		MinVersion:         orDefault(info.MinVersion, tls.VersionTLS12),
		MaxVersion:         info.MaxVersion,
		CipherSuites:       info.CipherSuites,
		InsecureSkipVerify: info.InsecureSkipVerify,
	}
	certFile, keyFile := info.CertFile, info.KeyFile
	if info.ClientCertFile != "" {
		certFile, keyFile = info.ClientCertFile, info.ClientKeyFile
	}
	if certFile != "" {
		certs, err := certReloader(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			v, err := certs.get()
			if err != nil {
				return nil, err
			}
			return v.(*tls.Certificate), nil
		}
	}
	if info.TrustedCAFile != "" && !info.InsecureSkipVerify {
		// Standard verification, host name or IP included. The CA bundle
		// is read once here: unlike certificates, a new trusted CA on the
		// dialing side takes a restart.
		pem, err := os.ReadFile(info.TrustedCAFile)
		if err != nil {
			return nil, fmt.Errorf("tlsutil: read trusted CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tlsutil: trusted CA file %s holds no PEM certificate", info.TrustedCAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

func verifyAllowed(cns, hosts []string) func([][]byte, [][]*x509.Certificate) error {
	return func(_ [][]byte, chains [][]*x509.Certificate) error {
		for _, chain := range chains {
			if len(chain) == 0 {
				continue
			}
			leaf := chain[0]
			for _, cn := range cns {
				if leaf.Subject.CommonName == cn {
					return nil
				}
			}
			for _, h := range hosts {
				if leaf.VerifyHostname(h) == nil {
					return nil
				}
			}
		}
		return errors.New("tlsutil: client certificate is not allowed (CN or hostname not in the allowed list)")
	}
}

func orDefault(v, d uint16) uint16 {
	if v == 0 {
		return d
	}
	return v
}

// SelfSigned makes (or reuses) a self-signed certificate for hosts in dir,
// for etcd's auto-tls and peer-auto-tls. It returns the Info to serve with.
func SelfSigned(dir string, hosts []string, validityYears int) (Info, error) {
	certFile, keyFile := dir+"/cert.pem", dir+"/key.pem"
	if _, err := os.Stat(certFile); err == nil {
		if _, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
			return Info{CertFile: certFile, KeyFile: keyFile}, nil
		}
	}
	if validityYears <= 0 {
		validityYears = 1
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Info{}, err
	}
	ca, err := NewCA("cairn-auto-tls", time.Duration(validityYears)*365*24*time.Hour)
	if err != nil {
		return Info{}, err
	}
	certPEM, keyPEM, err := ca.Issue("cairn", hosts, true, true, time.Duration(validityYears)*365*24*time.Hour)
	if err != nil {
		return Info{}, err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return Info{}, err
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return Info{}, err
	}
	return Info{CertFile: certFile, KeyFile: keyFile}, nil
}
