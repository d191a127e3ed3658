package tlsutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// BundleMember is one member of a PKI bundle: its name and its addresses
// (IPs or DNS names) that certificates must cover.
type BundleMember struct {
	Name  string
	Hosts []string
}

// BundleOptions describe the certificates `cairn pki` makes.
type BundleOptions struct {
	Dir      string
	Members  []BundleMember
	ClientCN string // CN of the client certificate (an auth user name, e.g. root)
	Validity time.Duration
	CAName   string
}

// ParseMembers reads "name=host[,host...];name=host" or the
// "name=host,name=host" form (each name once).
func ParseMembers(s string) ([]BundleMember, error) {
	var out []BundleMember
	idx := map[string]int{}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		name, host, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || host == "" {
			return nil, fmt.Errorf("tlsutil: bad member %q, want name=host", part)
		}
		if i, seen := idx[name]; seen {
			out[i].Hosts = append(out[i].Hosts, host)
			continue
		}
		idx[name] = len(out)
		out = append(out, BundleMember{Name: name, Hosts: []string{host}})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("tlsutil: no members given")
	}
	return out, nil
}

// WriteBundle makes a CA, then for each member a server and a peer
// certificate (SANs: the member's name and hosts, localhost, 127.0.0.1) and
// one client certificate, laid out as
//
//	DIR/ca.crt DIR/ca.key
//	DIR/NAME/server.crt DIR/NAME/server.key DIR/NAME/peer.crt DIR/NAME/peer.key
//	DIR/client.crt DIR/client.key
//
// An existing CA in DIR is reused, so members can be added later.
func WriteBundle(o BundleOptions) ([]string, error) {
	if o.Validity == 0 {
		o.Validity = 365 * 24 * time.Hour
	}
	if o.CAName == "" {
		o.CAName = "cairn-ca"
	}
	if o.ClientCN == "" {
		o.ClientCN = "client"
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	write := func(path string, data []byte, mode os.FileMode) error {
		if err := os.WriteFile(path, data, mode); err != nil {
			return err
		}
		written = append(written, path)
		return nil
	}
	caCrt, caKey := filepath.Join(o.Dir, "ca.crt"), filepath.Join(o.Dir, "ca.key")
	var ca *CA
	if c, err := os.ReadFile(caCrt); err == nil {
		k, err := os.ReadFile(caKey)
		if err != nil {
			return nil, fmt.Errorf("tlsutil: %s exists but its key %s cannot be read: %w", caCrt, caKey, err)
		}
		if ca, err = LoadCA(c, k); err != nil {
			return nil, err
		}
	} else {
		if ca, err = NewCA(o.CAName, 10*o.Validity); err != nil {
			return nil, err
		}
		if err := write(caKey, ca.KeyPEM, 0o600); err != nil {
			return nil, err
		}
		if err := write(caCrt, ca.CertPEM, 0o644); err != nil {
			return nil, err
		}
	}
	for _, m := range o.Members {
		dir := filepath.Join(o.Dir, m.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		hosts := dedupe(append(append([]string{m.Name}, m.Hosts...), "localhost", "127.0.0.1"))
		for _, kind := range []string{"server", "peer"} {
			// Peer certificates serve and dial, so they carry both usages;
			// server certificates too, as the seed uses them with etcdctl.
			crt, key, err := ca.Issue(m.Name, hosts, true, true, o.Validity)
			if err != nil {
				return nil, err
			}
			if err := write(filepath.Join(dir, kind+".key"), key, 0o600); err != nil {
				return nil, err
			}
			if err := write(filepath.Join(dir, kind+".crt"), crt, 0o644); err != nil {
				return nil, err
			}
		}
	}
	crt, key, err := ca.Issue(o.ClientCN, nil, false, true, o.Validity)
	if err != nil {
		return nil, err
	}
	if err := write(filepath.Join(o.Dir, "client.key"), key, 0o600); err != nil {
		return nil, err
	}
	if err := write(filepath.Join(o.Dir, "client.crt"), crt, 0o644); err != nil {
		return nil, err
	}
	return written, nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
