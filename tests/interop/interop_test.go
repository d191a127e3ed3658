package interop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/tests/framework"
)

// Tools the clients need; .ci/run installs them on CI.
const (
	etcdctlPath = "/usr/bin/etcdctl" // Debian's etcd-client (3.4)
	python3Path = "/usr/bin/python3" // Debian's, with python3-etcd3 (not pyenv's)
)

// The guide's values the programs write.
const (
	dbURL       = "postgresql://localhost:5432/api"
	settingsDoc = `{"max_connections": 100, "timeout": 30}`
	// newDBURL is what "another client" (the test) changes database_url to.
	newDBURL = "postgresql://db2:5432/api"
)

// TestInterop starts the guide's cluster once and runs every client
// through a follower, then through the leader. Each client starts from an
// empty keyspace.
func TestInterop(t *testing.T) {
	type built struct {
		path string
		err  error
	}
	// The guide's Go program builds while the cluster starts.
	goProgram := make(chan built, 1)
	go func() {
		p, err := buildSeedGo()
		goProgram <- built{p, err}
	}()
	var b built
	gotProgram := false
	getProgram := func() built {
		if !gotProgram {
			b, gotProgram = <-goProgram, true
		}
		return b
	}
	t.Cleanup(func() {
		if p := getProgram().path; p != "" {
			os.RemoveAll(filepath.Dir(p))
		}
	})

	c := startCluster(t)
	lead := c.leader(t)
	var follower *member
	for _, m := range c.Members {
		if m != lead {
			follower = m
			break
		}
	}
	if b := getProgram(); b.err != nil {
		t.Fatal(b.err)
	}

	for _, via := range []struct {
		role string
		m    *member
	}{{"follower", follower}, {"leader", lead}} {
		t.Run("via-"+via.role, func(t *testing.T) {
			e := newEnv(t, c, via.m)
			t.Run("go", func(t *testing.T) {
				e.reset(t)
				testSeedGo(t, e, b.path)
			})
			t.Run("python", func(t *testing.T) {
				if r := runCmd(t, 30*time.Second, cleanEnv(), "", python3Path, "-c", "import etcd3"); r.code != 0 {
					t.Skipf("%s cannot import etcd3 (apt-get install python3-etcd3): %s", python3Path, r.stderr)
				}
				e.reset(t)
				testSeedPython(t, e)
			})
			t.Run("etcdctl", func(t *testing.T) {
				if _, err := os.Stat(etcdctlPath); err != nil {
					t.Skipf("%s not installed (apt-get install etcd-client)", etcdctlPath)
				}
				e.reset(t)
				testSeedEtcdctl(t, e, lead)
			})
			// The run went through the member it meant to.
			if now := c.leader(t); now != lead {
				t.Errorf("the leader changed from %s to %s during the run", lead.Name, now.Name)
			}
		})
	}
}

// buildSeedGo builds testdata/seedgo with the module's go.mod into a
// temporary directory.
func buildSeedGo() (string, error) {
	root, err := framework.ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "interop-seedgo-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "seedgo")
	gobin := "go"
	if _, err := exec.LookPath("go"); err != nil {
		gobin = "/usr/local/go/bin/go"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", out, "./tests/interop/testdata/seedgo")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build ./tests/interop/testdata/seedgo: %w\n%s", err, b)
	}
	return out, nil
}

// env is one run: every client under test talks to via; the test's own
// client, "another client", talks to other.
type env struct {
	c     *cluster
	via   *member
	other *member
	cli   *clientv3.Client
	ctx   context.Context
	// rewrite turns the guide's endpoint and certificate paths into the
	// test's: https://127.0.0.1:2379 is via's second client listener (the
	// one the guide's YAML puts on 127.0.0.1), the certificates are those
	// makePKI made, and the client certificate is etcd1's server.crt as in
	// the guide.
	rewrite *strings.Replacer
	// vars are the guide's §5 exports, rewritten: the environment of
	// etcdctl and of both programs.
	vars []string
}

func newEnv(t *testing.T, c *cluster, via *member) *env {
	t.Helper()
	e := &env{c: c, via: via, ctx: framework.Context(t, 3*time.Minute)}
	for _, m := range c.Members {
		if m != via {
			e.other = m
			break
		}
	}
	e.cli = c.client(t, e.other.LocalURL)
	e.rewrite = strings.NewReplacer(
		"https://127.0.0.1:2379", via.LocalURL,
		"/etc/etcd/pki/ca.crt", c.PKI.CA,
		"/etc/etcd/pki/server.crt", c.PKI.ClientCert,
		"/etc/etcd/pki/server.key", c.PKI.ClientKey,
	)
	for _, kv := range parseSeedScripts(t).Exports {
		e.vars = append(e.vars, kv[0]+"="+e.rewrite.Replace(kv[1]))
	}
	return e
}

// progEnv is the environment of the programs and etcdctl: the test's,
// without ETCD*_ variables, with the guide's exports, and with a PATH on
// which etcdctl and jq are Debian's.
func (e *env) progEnv() []string { return append(e.baseEnv(), e.vars...) }

// baseEnv is progEnv without the guide's exports: the environment of the
// commands the guide runs before it exports them (§1, §4), since etcdctl
// 3.4 refuses a flag that a variable also sets.
func (e *env) baseEnv() []string {
	var env []string
	for _, kv := range cleanEnv() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return append(env, "PATH=/usr/bin:/bin")
}

// reset deletes every key, so each client starts from an empty keyspace.
func (e *env) reset(t *testing.T) {
	t.Helper()
	if _, err := e.cli.Delete(e.ctx, "", clientv3.WithPrefix()); err != nil {
		t.Fatalf("delete every key: %v", err)
	}
}

// put and del are the test's own writes, as "another client".
func (e *env) put(t *testing.T, k, v string) int64 {
	t.Helper()
	resp, err := e.cli.Put(e.ctx, k, v)
	if err != nil {
		t.Fatalf("put %s: %v", k, err)
	}
	return resp.Header.Revision
}

func (e *env) del(t *testing.T, k string) int64 {
	t.Helper()
	resp, err := e.cli.Delete(e.ctx, k)
	if err != nil {
		t.Fatalf("delete %s: %v", k, err)
	}
	if resp.Deleted != 1 {
		t.Fatalf("delete %s: deleted %d, want 1", k, resp.Deleted)
	}
	return resp.Header.Revision
}

// checkKey checks, through the test's client, a key's value and version
// (0: absent).
func (e *env) checkKey(t *testing.T, k, v string, version int64) {
	t.Helper()
	resp, err := e.cli.Get(e.ctx, k)
	if err != nil {
		t.Fatalf("get %s: %v", k, err)
	}
	switch {
	case version == 0 && len(resp.Kvs) != 0:
		t.Errorf("%s = %q (version %d), want absent", k, resp.Kvs[0].Value, resp.Kvs[0].Version)
	case version == 0:
	case len(resp.Kvs) != 1:
		t.Errorf("%s absent, want %q (version %d)", k, v, version)
	case string(resp.Kvs[0].Value) != v || resp.Kvs[0].Version != version:
		t.Errorf("%s = %q (version %d), want %q (version %d)", k, resp.Kvs[0].Value, resp.Kvs[0].Version, v, version)
	}
}

// probeWatch makes the test's first change for a client's watch, whose
// start the test cannot observe: it puts key = value(1), value(2), ...
// (every 200 ms, at most 50 times) until seen reports one of them, then
// calls wait for the last one. From the first change it reports, a watch
// must report every change. probeWatch returns the number of values put.
func (e *env) probeWatch(t *testing.T, key string, value func(int) string, seen func(v int) bool, wait func(last int)) int {
	t.Helper()
	for i := 1; i <= 50; i++ {
		e.put(t, key, value(i))
		deadline := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(deadline) {
			for j := 1; j <= i; j++ {
				if seen(j) {
					wait(i)
					return i
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Fatalf("no watch reported %s within 50 changes", key)
	return 0
}

func itoa(n int) string { return strconv.Itoa(n) }
