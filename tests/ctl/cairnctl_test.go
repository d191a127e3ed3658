package ctl

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairndb/cairn/tests/framework"
)

// Behaviour of cairnctl beyond the golden comparison: what etcdctl cannot
// be compared on (long-running commands, Cairn's snapshot files) and what
// cairnctl does better.

func TestConnectionFailureIsOneClearLine(t *testing.T) {
	t.Parallel()
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ep := fmt.Sprintf("127.0.0.1:%d", port)
	start := time.Now()
	r := ctl(t, ep, "", "--dial-timeout=1s", "get", "k")
	took := time.Since(start)
	want := "Error: cannot connect to " + ep + ": dial " + ep + ": connect: connection refused\n"
	if r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Errorf("exit %d stderr %q, want exit 1 and %q", r.code, r.stderr, want)
	}
	// etcdctl waits for the command timeout (5s); cairnctl gives up after
	// the dial timeout.
	if took > 4*time.Second {
		t.Errorf("took %v to report a refused connection", took)
	}
	r = ctl(t, ep, "", "--dial-timeout=1s", "endpoint", "health")
	if r.code != 1 || !strings.Contains(r.stderr, ep+" is unhealthy: failed to commit proposal: cannot connect to "+ep+": dial") ||
		!strings.HasSuffix(r.stderr, "Error: unhealthy cluster\n") {
		t.Errorf("endpoint health: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	t.Parallel()
	c := framework.NewCluster(t, framework.ClusterConfig{})
	m := c.Members[0]
	ctlOK(t, m.ClientAddr(), "put", "k", "v")
	// A flag wins over its variable (etcdctl refuses the combination).
	r := run(t, command{bin: cairnctlPath, args: []string{"--endpoints=" + m.ClientAddr(), "get", "k"},
		env: []string{"ETCDCTL_ENDPOINTS=127.0.0.1:1"}})
	if r.code != 0 || r.stdout != "k\nv\n" {
		t.Errorf("--endpoints with ETCDCTL_ENDPOINTS set: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = run(t, command{bin: cairnctlPath, args: []string{"get", "k"}, env: []string{"ETCDCTL_ENDPOINTS=" + m.ClientAddr(), "ETCDCTL_DIAL_TIMEOUT=soon"}})
	if r.code != 128 || !strings.Contains(r.stderr, "ETCDCTL_DIAL_TIMEOUT") {
		t.Errorf("bad ETCDCTL_DIAL_TIMEOUT: exit %d %q", r.code, r.stderr)
	}
	r = run(t, command{bin: cairnctlPath, args: []string{"--debug", "get", "k"}, env: []string{"ETCDCTL_ENDPOINTS=" + m.ClientAddr()}})
	if r.code != 0 || !strings.Contains(r.stderr, "ETCDCTL_ENDPOINTS=["+m.ClientAddr()+"]") || !strings.Contains(r.stderr, "ETCDCTL_DIAL_TIMEOUT=2s") {
		t.Errorf("--debug: exit %d stderr %q", r.code, r.stderr)
	}
	out := ctlOK(t, m.ClientAddr(), "version")
	if !regexp.MustCompile(`^etcdctl version: 3\.6\.\d+\nAPI version: 3\.6\ncairnctl version: \S+\n$`).MatchString(out) {
		t.Errorf("version: %q", out)
	}
	// Shell completion, including the keys in the store.
	if out := ctlOK(t, m.ClientAddr(), "completion", "bash"); !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: %.200q", out)
	}
	if out := ctlOK(t, m.ClientAddr(), "__complete", "get", ""); !strings.HasPrefix(out, "k\n") {
		t.Errorf("key completion: %q", out)
	}
	// Prefix matching of commands, as etcdctl.
	if out := ctlOK(t, m.ClientAddr(), "ge", "k"); out != "k\nv\n" {
		t.Errorf("ge k: %q", out)
	}
}

func TestTxnLenientForms(t *testing.T) {
	t.Parallel()
	c := framework.NewCluster(t, framework.ClusterConfig{})
	ep := c.Members[0].ClientAddr()
	for i, in := range []string{
		// The -i transcript pasted as is.
		"compares:\nversion(\"lock\") = \"0\"\n\nsuccess requests (get, put, del):\nput lock \"1\"\n\nfailure requests (get, put, del):\nget lock\n\n",
		// No final blank line, unquoted numbers, == and comments.
		"# take the lock\nversion(lock) == 0\n\nput lock 1\n\nget lock",
		// Headings without blank lines.
		"if:\nver(\"lock\") = 0\nthen:\nput lock 1\nelse:\nget lock\n",
	} {
		ctlOK(t, ep, "del", "lock")
		for _, want := range []string{"SUCCESS\n\nOK\n", "FAILURE\n\nlock\n1\n"} {
			r := ctl(t, ep, in, "txn")
			if r.code != 0 || r.stdout != want {
				t.Errorf("form %d: exit %d %q %q, want %q", i, r.code, r.stdout, r.stderr, want)
			}
		}
	}
	r := ctl(t, ep, "", "txn")
	if r.code != 3 || !strings.Contains(r.stderr, "no input") {
		t.Errorf("empty txn: exit %d %q", r.code, r.stderr)
	}
}

func TestWatchAgainstEtcdctl(t *testing.T) {
	haveEtcdctl(t)
	t.Parallel()
	c := framework.NewCluster(t, framework.ClusterConfig{})
	m := c.Members[0]
	ep := m.ClientAddr()
	env := []string{"ETCDCTL_ENDPOINTS=" + ep}
	e := &seedEnv{metrics: m.ClientURL + "/metrics"}
	ctlOK(t, ep, "put", "w/a", "0") // 2
	exec := "echo key=$ETCD_WATCH_KEY value=$ETCD_WATCH_VALUE type=$ETCD_WATCH_EVENT_TYPE rev=$ETCD_WATCH_REVISION"
	cases := []struct {
		args []string
		env  []string
	}{
		{args: []string{"watch", "w/", "--prefix", "--prev-kv"}},
		{args: []string{"watch", "w/a"}},
		{args: []string{"watch", "w/a", "w/c"}},
		{args: []string{"watch", "w/", "--prefix", "--rev=2"}},
		{args: []string{"watch", "w/", "--prefix", "--hex"}},
		{args: []string{"watch", "w/", "--prefix", "-w", "json"}},
		{args: []string{"watch", "w/", "--prefix", "-w", "fields"}},
		{args: []string{"watch", "w/a", "--", "sh", "-c", exec}},
		{args: []string{"watch"}, env: []string{"ETCDCTL_WATCH_KEY=w/a"}},
		{args: []string{"watch", "--", "sh", "-c", exec}, env: []string{"ETCDCTL_WATCH_KEY=w/", "ETCDCTL_WATCH_RANGE_END=w/z"}},
	}
	base := e.watchCount(t)
	type pair struct{ etcdctl, cairnctl *bgProc }
	var ps []pair
	for _, c := range cases {
		ps = append(ps, pair{
			startBG(t, etcdctlPath, c.args, append(append([]string(nil), env...), c.env...)),
			startBG(t, cairnctlPath, c.args, append(append([]string(nil), env...), c.env...)),
		})
	}
	e.waitWatchCount(t, base+2*len(cases))
	ctlOK(t, ep, "put", "w/a", "1")                                    // 3
	ctlOK(t, ep, "put", "w/b", "2")                                    // 4
	ctlOK(t, ep, "put", "w/a", "three words")                          // 5
	ctlOK(t, ep, "del", "w/", "--prefix")                              // 6
	if r := ctl(t, ep, "\nput w/a 4\nput w/b 5", "txn"); r.code != 0 { // 7: two events, one response
		t.Fatalf("txn: %+v", r)
	}
	for i, p := range ps {
		want := p.etcdctl.settled(time.Second, 15*time.Second)
		got := p.cairnctl.waitFor(want, 5*time.Second)
		if strings.Contains(strings.Join(cases[i].args, " "), "json") {
			// 3.6's WatchResponse has no more fields than 3.4's in JSON,
			// but compare the events only: the JSON of a response is one line.
			want, got = jsonEvents(want), jsonEvents(got)
		}
		if want == "" || want != got {
			t.Errorf("%q %q: etcdctl printed\n%s\ncairnctl printed\n%s", cases[i].env, cases[i].args, want, got)
		}
	}
	// Watching a compacted revision: the server cancels the watch.
	ctlOK(t, ep, "compaction", "5")
	for _, bin := range []string{etcdctlPath, cairnctlPath} {
		r := run(t, command{bin: bin, args: []string{"--endpoints=" + ep, "watch", "w/a", "--rev=2"}})
		if r.code != 5 || !strings.Contains(r.stderr, "watch was canceled (etcdserver: mvcc: required revision has been compacted)") ||
			errorLine(r.stderr) != "Error: watch is canceled by the server" {
			t.Errorf("%s watch --rev=2 after compaction: exit %d stderr %q", filepath.Base(bin), r.code, r.stderr)
		}
	}
	for _, args := range [][]string{{"watch"}, {"watch", "k", "--"}, {"watch", "a", "b", "--prefix"}} {
		w := run(t, command{bin: etcdctlPath, args: append([]string{"--endpoints=" + ep}, args...)})
		g := ctl(t, ep, "", args...)
		if w.code != g.code || errorLine(w.stderr) != errorLine(g.stderr) {
			t.Errorf("%q: etcdctl exit %d %q, cairnctl exit %d %q", args, w.code, errorLine(w.stderr), g.code, errorLine(g.stderr))
		}
	}
}

// jsonEvents keeps the "Events" of each line of watch -w json.
func jsonEvents(s string) string {
	re := regexp.MustCompile(`"Events":(\[.*?\]),"CompactRevision"`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return strings.Join(out, "\n")
}

func TestWatchInteractive(t *testing.T) {
	t.Parallel()
	c := framework.NewCluster(t, framework.ClusterConfig{})
	m := c.Members[0]
	ep := m.ClientAddr()
	e := &seedEnv{metrics: m.ClientURL + "/metrics"}
	base := e.watchCount(t)
	w := startBGStdin(t, cairnctlPath, []string{"--endpoints=" + ep, "watch", "-i"},
		"watch i/a\nwatch i/ --prefix --prev-kv\nbogus\nprogress\n")
	e.waitWatchCount(t, base+2)
	ctlOK(t, ep, "put", "i/a", "1")
	ctlOK(t, ep, "put", "i/b", "2")
	// The two watches print concurrently; each response is whole.
	want := map[string]bool{"PUT\ni/a\n1\n": true, "PUT\ni/b\n2\n": true}
	got := w.waitFor("PUT\ni/a\n1\nPUT\ni/a\n1\nPUT\ni/b\n2\n", 10*time.Second)
	if strings.Count(got, "PUT\ni/a\n1\n") != 2 || strings.Count(got, "PUT\ni/b\n2\n") != 1 {
		t.Errorf("watch -i printed %q, want two events for i/a and one for i/b (%v)", got, want)
	}
	if !regexp.MustCompile(`(?m)^progress notify: \d+$`).MatchString(got) {
		t.Errorf("watch -i did not print the progress notification: %q", got)
	}
	if !strings.Contains(w.stderr(), "Invalid command bogus (only support watch)") {
		t.Errorf("watch -i stderr %q", w.stderr())
	}
}

func TestSnapshotSaveAndStatus(t *testing.T) {
	t.Parallel()
	c := framework.NewCluster(t, framework.ClusterConfig{})
	ep := c.Members[0].ClientAddr()
	for i := 0; i < 20; i++ {
		ctlOK(t, ep, "put", fmt.Sprintf("s/%02d", i), strings.Repeat("x", 100)) // up to revision 21
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "backup.db")
	out := ctlOK(t, ep, "snapshot", "save", path)
	if out != "Snapshot saved at "+path+"\nServer version 3.6.0\n" {
		t.Errorf("snapshot save: %q", out)
	}
	if _, err := os.Stat(path + ".part"); !os.IsNotExist(err) {
		t.Errorf("the .part file is left: %v", err)
	}
	out = ctlOK(t, ep, "snapshot", "status", path, "-w", "table")
	tb := parseTable(t, out)
	if !strings.EqualFold(strings.Join(tb.hdr, ","), "HASH,REVISION,TOTAL KEYS,TOTAL SIZE,VERSION") || len(tb.rows) != 1 ||
		tb.rows[0][1] != "21" || tb.rows[0][4] != "3.6.0" {
		t.Errorf("snapshot status:\n%s", out)
	}
	if out := ctlOK(t, ep, "snapshot", "status", path, "-w", "json"); !strings.Contains(out, `"revision":21`) {
		t.Errorf("snapshot status -w json: %s", out)
	}
	// A damaged file is refused.
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0xff
	os.WriteFile(path, b, 0o600)
	if r := ctl(t, ep, "", "snapshot", "status", path); r.code != 1 || !strings.Contains(r.stderr, "sha256") {
		t.Errorf("damaged snapshot: exit %d %q", r.code, r.stderr)
	}
	if r := ctl(t, ep+","+ep, "", "snapshot", "save", path); r.code != 5 || !strings.Contains(r.stderr, "not multiple") {
		t.Errorf("snapshot save with two endpoints: exit %d %q", r.code, r.stderr)
	}
	// On a terminal, a progress bar (on stderr); util-linux's script gives
	// the command one.
	if _, err := exec.LookPath("script"); err == nil {
		cmd := fmt.Sprintf("%s --endpoints=%s snapshot save %s", cairnctlPath, ep, filepath.Join(dir, "tty.db"))
		r := run(t, command{bin: "script", args: []string{"-qec", cmd, "/dev/null"}})
		if r.code != 0 || !strings.Contains(r.stdout, "\r\x1b[Ksnapshot [") || !strings.Contains(r.stdout, "] 100% ") ||
			!strings.Contains(r.stdout, "Snapshot saved at ") {
			t.Errorf("snapshot save on a terminal: exit %d %q", r.code, r.stdout)
		}
	}
}

func TestLockAndElect(t *testing.T) {
	t.Parallel()
	c := framework.NewCluster(t, framework.ClusterConfig{})
	ep := c.Members[0].ClientAddr()
	env := []string{"ETCDCTL_ENDPOINTS=" + ep}
	holder := startBG(t, cairnctlPath, []string{"lock", "L"}, env)
	locked := regexp.MustCompile(`^L/[0-9a-f]+\n\n$`)
	if out := holder.waitMatch(locked, 10*time.Second); !locked.MatchString(out) {
		t.Fatalf("lock L printed %q (%s)", out, holder.stderr())
	}
	// A second locker waits for the first.
	waiter := startBG(t, cairnctlPath, []string{"lock", "L", "sh", "-c", "echo got it $ETCD_LOCK_KEY"}, env)
	time.Sleep(time.Second)
	if out := waiter.stdout(); out != "" {
		t.Fatalf("second locker ran while the lock was held: %q", out)
	}
	if !holder.signal(syscall.SIGINT) {
		t.Fatal("lock did not exit on SIGINT")
	}
	gotIt := regexp.MustCompile(`^got it L/[0-9a-f]+\n$`)
	if out := waiter.waitMatch(gotIt, 10*time.Second); !gotIt.MatchString(out) {
		t.Errorf("second locker printed %q (%s)", out, waiter.stderr())
	}
	// A command's exit code is passed on.
	if r := ctl(t, ep, "", "lock", "L", "--", "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("lock with a failing command: exit %d", r.code)
	}

	// elect prints the leader's key, then its proposal, in two writes: each
	// check waits for the whole expected output.
	leader := startBG(t, cairnctlPath, []string{"elect", "E", "first"}, env)
	elected := regexp.MustCompile(`^E/[0-9a-f]+\nfirst\n$`)
	if out := leader.waitMatch(elected, 10*time.Second); !elected.MatchString(out) {
		t.Fatalf("elect E first printed %q (%s)", out, leader.stderr())
	}
	observer := startBG(t, cairnctlPath, []string{"elect", "-l", "E"}, env)
	observed := regexp.MustCompile(`^E/[0-9a-f]+\nfirst\n$`)
	if out := observer.waitMatch(observed, 10*time.Second); !observed.MatchString(out) {
		t.Errorf("elect -l printed %q", out)
	}
	second := startBG(t, cairnctlPath, []string{"elect", "E", "second"}, env)
	time.Sleep(500 * time.Millisecond)
	leader.signal(syscall.SIGINT) // resigns
	won := regexp.MustCompile(`^E/[0-9a-f]+\nsecond\n$`)
	if out := second.waitMatch(won, 10*time.Second); !won.MatchString(out) {
		t.Errorf("second candidate printed %q (%s)", out, second.stderr())
	}
	both := regexp.MustCompile(`^E/[0-9a-f]+\nfirst\nE/[0-9a-f]+\nsecond\n$`)
	if out := observer.waitMatch(both, 10*time.Second); !both.MatchString(out) {
		t.Errorf("observer printed %q", out)
	}
}

func TestMakeMirror(t *testing.T) {
	t.Parallel()
	src := framework.NewCluster(t, framework.ClusterConfig{Token: "mirror-src"})
	dst := framework.NewCluster(t, framework.ClusterConfig{Token: "mirror-dst"})
	s, d := src.Members[0].ClientAddr(), dst.Members[0].ClientAddr()
	ctlOK(t, s, "put", "/app/a", "1")
	ctlOK(t, s, "put", "/app/b", "2")
	ctlOK(t, s, "put", "/other", "x")
	mm := startBG(t, cairnctlPath, []string{"--endpoints=" + s, "make-mirror", "--prefix=/app/", "--dest-prefix=/copy/", d}, nil)
	deadline := time.Now().Add(15 * time.Second)
	want := "/copy/a\n1\n/copy/b\n2\n"
	for ctlOK(t, d, "get", "/", "--prefix") != want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	ctlOK(t, s, "put", "/app/c", "3")
	ctlOK(t, s, "del", "/app/a")
	want = "/copy/b\n2\n/copy/c\n3\n"
	for ctlOK(t, d, "get", "/", "--prefix") != want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := ctlOK(t, d, "get", "/", "--prefix"); got != want {
		t.Errorf("destination holds %q, want %q (make-mirror stderr %q)", got, want, mm.stderr())
	}
	if r := ctl(t, s, "", "make-mirror", "--dest-prefix=/x/", "--no-dest-prefix", d); r.code != 128 {
		t.Errorf("conflicting prefix flags: exit %d %q", r.code, r.stderr)
	}
}

func TestCheckPerf(t *testing.T) {
	if testing.Short() {
		t.Skip("writes for several seconds")
	}
	t.Parallel()
	c := framework.NewCluster(t, framework.ClusterConfig{})
	ep := c.Members[0].ClientAddr()
	r := ctl(t, ep, "", "check", "perf", "--duration=3s", "--auto-compact")
	// The verdict depends on the machine; the report's shape does not.
	if !regexp.MustCompile(`(?m)^(PASS: Throughput is \d+ writes/s|FAIL: Throughput too low: \d+ writes/s)$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^(PASS|FAIL)$`).MatchString(r.stdout) || !strings.Contains(r.stdout, "Compacted with revision ") {
		t.Errorf("check perf: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := ctlOK(t, ep, "get", "/etcdctl-check-perf/", "--prefix", "--count-only", "-w", "json"); strings.Contains(out, `"count"`) {
		t.Errorf("check perf left keys: %s", out)
	}
	ctlOK(t, ep, "put", "/etcdctl-check-perf/x", "1")
	if r := ctl(t, ep, "", "check", "perf", "--duration=1s"); r.code != 3 || !strings.Contains(r.stderr, "has keys") {
		t.Errorf("check perf over existing keys: exit %d %q", r.code, r.stderr)
	}
	if r := ctl(t, ep, "", "check", "perf", "--load=huge"); r.code != 4 {
		t.Errorf("check perf --load=huge: exit %d %q", r.code, r.stderr)
	}
}
