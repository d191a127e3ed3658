package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/config"
	"github.com/cairndb/cairn/internal/tlsutil"
)

func needsTLS(us []url.URL) bool {
	for _, u := range us {
		if u.Scheme == "https" || u.Scheme == "unixs" {
			return true
		}
	}
	return false
}

func hostsOf(us []url.URL) []string {
	var hs []string
	for _, u := range us {
		hs = append(hs, u.Hostname())
	}
	return hs
}

// tlsInfo turns the config's options for one side into tlsutil's, making a
// self-signed certificate under the data dir for auto-tls.
func (s *Server) tlsInfo(ti config.TLSInfo, side string, urls []url.URL) (tlsutil.Info, error) {
	minV, err := tlsutil.ParseVersion(s.cfg.TLSMinVersion)
	if err != nil {
		return tlsutil.Info{}, err
	}
	maxV, err := tlsutil.ParseVersion(s.cfg.TLSMaxVersion)
	if err != nil {
		return tlsutil.Info{}, err
	}
	suites, err := tlsutil.ParseCipherSuites(s.cfg.CipherSuites)
	if err != nil {
		return tlsutil.Info{}, err
	}
	info := tlsutil.Info{
		CertFile:            ti.CertFile,
		KeyFile:             ti.KeyFile,
		TrustedCAFile:       ti.TrustedCAFile,
		ClientCertFile:      ti.ClientCertFile,
		ClientKeyFile:       ti.ClientKeyFile,
		ClientCertAuth:      ti.ClientCertAuth,
		AllowedCNs:          ti.AllowedCNs(),
		AllowedHostnames:    ti.AllowedHostnames(),
		SkipClientSANVerify: ti.SkipClientSANVerify,
		MinVersion:          minV,
		MaxVersion:          maxV,
		CipherSuites:        suites,
	}
	if info.Empty() && ti.AutoTLS && needsTLS(urls) {
		auto, err := tlsutil.SelfSigned(filepath.Join(s.cfg.DataDir, "fixtures", side), append(hostsOf(urls), "localhost", "127.0.0.1"), int(s.cfg.SelfSignedCertValidity))
		if err != nil {
			return info, fmt.Errorf("auto-tls for %s: %w", side, err)
		}
		info.CertFile, info.KeyFile = auto.CertFile, auto.KeyFile
		info.InsecureSkipVerify = true
		s.lg.Info("made a self-signed certificate (auto-tls)", zap.String("side", side), zap.String("cert-file", info.CertFile))
	}
	return info, nil
}

// checkTLSFiles names the option of the first TLS file that cannot be read.
func checkTLSFiles(ti config.TLSInfo, side string) error {
	prefix, block := "--", "client-transport-security"
	if side == "peer" {
		prefix, block = "--peer-", "peer-transport-security"
	}
	for _, f := range []struct{ flag, key, path string }{
		{"cert-file", "cert-file", ti.CertFile},
		{"key-file", "key-file", ti.KeyFile},
		{"trusted-ca-file", "trusted-ca-file", ti.TrustedCAFile},
		{"client-cert-file", "client-cert-file", ti.ClientCertFile},
		{"client-key-file", "client-key-file", ti.ClientKeyFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			return fmt.Errorf("cannot read %s%s (%s.%s) %s: %w", prefix, f.flag, block, f.key, f.path, errors.Unwrap(err))
		}
	}
	return nil
}

// setupTLS builds the client-port and peer TLS configurations.
func (s *Server) setupTLS() error {
	if err := checkTLSFiles(s.cfg.ClientTLS, "client"); err != nil {
		return err
	}
	if err := checkTLSFiles(s.cfg.PeerTLS, "peer"); err != nil {
		return err
	}
	if needsTLS(s.cfg.ListenClientURLs) {
		info, err := s.tlsInfo(s.cfg.ClientTLS, "client", s.cfg.ListenClientURLs)
		if err != nil {
			return err
		}
		if info.Empty() {
			return fmt.Errorf("an https client URL needs --cert-file and --key-file (or --auto-tls)")
		}
		if s.clientServerTLS, err = tlsutil.ServerConfig(info); err != nil {
			return fmt.Errorf("client TLS (--cert-file, --key-file, --trusted-ca-file; client-transport-security): %w", err)
		}
	}
	peerURLs := append(append([]url.URL(nil), s.cfg.ListenPeerURLs...), s.cfg.InitialAdvertisePeerURLs...)
	info, err := s.tlsInfo(s.cfg.PeerTLS, "peer", peerURLs)
	if err != nil {
		return err
	}
	if needsTLS(s.cfg.ListenPeerURLs) {
		if info.Empty() {
			return fmt.Errorf("an https peer URL needs --peer-cert-file and --peer-key-file (or --peer-auto-tls)")
		}
		if s.peerServerTLS, err = tlsutil.ServerConfig(info); err != nil {
			return fmt.Errorf("peer TLS (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file; peer-transport-security): %w", err)
		}
	}
	if !info.Empty() || info.TrustedCAFile != "" {
		if s.peerClientTLS, err = tlsutil.ClientConfig(info); err != nil {
			return fmt.Errorf("peer TLS (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file; peer-transport-security): %w", err)
		}
	} else {
		s.peerClientTLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return nil
}
