package ops

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/cairndb/cairn/tests/framework"
)

// seedCluster is the guide's three-member TLS cluster on loopback, each
// member started with `cairn --config-file` and its own $NOTIFY_SOCKET.
type seedCluster struct {
	PKI     *pkiFiles
	Members []*confMember
	Notify  []*notifyListener
	// LocalURLs are the listeners that stand for the guide's
	// https://127.0.0.1:2379, one per member.
	LocalURLs []string
	// ClientTLS is the test's client configuration (CA and client cert).
	ClientTLS *tls.Config
}

// seedConfigFor rewrites the guide's config file (node 1's) for member i:
// only the addresses, ports, data dir and certificate paths change. The
// member's own 10.0.1.x:2379 becomes its advertised client port,
// 127.0.0.1:2379 a second client port, 10.0.1.x:2380 its peer port.
func seedConfigFor(seed string, i int, names []string, adv, local, peer []int, dataDir string, p *pkiFiles) string {
	own := seedIPs[0] // the guide's file is node 1's
	url := func(port int) string { return fmt.Sprintf("https://127.0.0.1:%d", port) }
	var out []string
	for _, line := range strings.Split(seed, "\n") {
		switch {
		case strings.HasPrefix(line, "name: "):
			line = "name: " + names[i]
		case strings.HasPrefix(line, "data-dir: "):
			line = "data-dir: " + dataDir
		case strings.HasPrefix(line, "initial-cluster: "):
			for j := range names {
				line = strings.ReplaceAll(line, names[j]+"=https://"+seedIPs[j]+":2380", names[j]+"="+url(peer[j]))
			}
		default:
			line = strings.NewReplacer(
				"https://"+own+":2379", url(adv[i]),
				"https://127.0.0.1:2379", url(local[i]),
				"https://"+own+":2380", url(peer[i]),
				"/etc/etcd/pki/server.crt", p.Server[i].Cert,
				"/etc/etcd/pki/server.key", p.Server[i].Key,
				"/etc/etcd/pki/peer.crt", p.Peer[i].Cert,
				"/etc/etcd/pki/peer.key", p.Peer[i].Key,
				"/etc/etcd/pki/ca.crt", p.CA,
			).Replace(line)
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// yamlKeys lists a YAML document's keys, nested ones as parent.child.
func yamlKeys(t testing.TB, doc string) []string {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("parse YAML: %v\n%s", err, doc)
	}
	var keys []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			keys = append(keys, prefix+k)
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+".", sub)
			}
		}
	}
	walk("", m)
	sort.Strings(keys)
	return keys
}

// newSeedCluster writes the three config files and starts the members. If
// lone is true, member 0 is started first and left alone for a while, and
// the test checks it does not claim readiness without a quorum.
func newSeedCluster(t *testing.T, p *pkiFiles, lone bool) *seedCluster {
	t.Helper()
	bin := framework.BinaryPath(t)
	seed := readTestdata(t, "seed-etcd.conf.yaml")
	seedKeys := yamlKeys(t, seed)
	base := t.TempDir()
	sc := &seedCluster{PKI: p, ClientTLS: clientTLS(t, p.clientTLS())}
	for i := range memberNames {
		logPath := filepath.Join(base, memberNames[i]+".log")
		sc.Notify = append(sc.Notify, newNotifyListener(t, logPath))
	}
	for attempt := 0; ; attempt++ {
		adv, local, peer := freePorts(t, 3), freePorts(t, 3), freePorts(t, 3)
		sc.Members, sc.LocalURLs = nil, nil
		for i, name := range memberNames {
			dataDir := filepath.Join(base, fmt.Sprintf("%s.data.%d", name, attempt))
			conf := seedConfigFor(seed, i, memberNames, adv, local, peer, dataDir, p)
			if strings.Contains(conf, "10.0.1.") || strings.Contains(conf, "/etc/etcd") || strings.Contains(conf, "/var/lib") {
				t.Fatalf("config of %s still names a seed address or path:\n%s", name, conf)
			}
			if got := yamlKeys(t, conf); !reflect.DeepEqual(got, seedKeys) {
				t.Fatalf("config of %s has keys %q, the guide's has %q", name, got, seedKeys)
			}
			path := filepath.Join(base, name+".conf.yaml")
			if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			m := &confMember{
				Name:       name,
				ConfigPath: path,
				LogPath:    filepath.Join(base, name+".log"),
				DataDir:    dataDir,
				ClientURLs: []string{fmt.Sprintf("https://127.0.0.1:%d", adv[i]), fmt.Sprintf("https://127.0.0.1:%d", local[i])},
				PeerURL:    fmt.Sprintf("https://127.0.0.1:%d", peer[i]),
				Env:        []string{sc.Notify[i].Env()},
			}
			sc.Members = append(sc.Members, m)
			sc.LocalURLs = append(sc.LocalURLs, m.ClientURLs[1])
			t.Cleanup(func() {
				m.kill()
				if t.Failed() {
					t.Logf("member %s: config %s:\n%s\nlast lines of %s:\n%s", m.Name, m.ConfigPath, conf, m.LogPath, m.logTail(40))
				}
			})
		}
		err := sc.start(t, bin, lone)
		if err == nil {
			return sc
		}
		conflict := false
		for _, m := range sc.Members {
			m.kill()
			conflict = conflict || m.logContains("address already in use")
		}
		if !conflict || attempt == 2 {
			t.Fatal(err)
		}
		t.Logf("port conflict, retrying with new ports: %v", err)
	}
}

func (sc *seedCluster) start(t *testing.T, bin string, lone bool) error {
	t.Helper()
	first := 0
	if lone {
		// A member of a three-member cluster started alone cannot publish
		// itself through raft, so (like etcd) it must not tell systemd it
		// is ready.
		if err := sc.Members[0].launch(bin); err != nil {
			return err
		}
		deadline := time.Now().Add(10 * time.Second)
		for !sc.Members[0].logContains("member started") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(1500 * time.Millisecond)
		if n := sc.Notify[0].count("READY=1"); n != 0 {
			t.Errorf("%s sent READY=1 while alone in a three-member cluster (no quorum); messages: %q", sc.Members[0].Name, sc.Notify[0].texts())
		}
		first = 1
	}
	for _, m := range sc.Members[first:] {
		if err := m.launch(bin); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	for _, m := range sc.Members {
		if err := m.waitReady(ctx, sc.ClientTLS); err != nil {
			return err
		}
	}
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

// Endpoints are the members' advertised client URLs.
func (sc *seedCluster) Endpoints() []string {
	var eps []string
	for _, m := range sc.Members {
		eps = append(eps, m.ClientURL())
	}
	return eps
}
