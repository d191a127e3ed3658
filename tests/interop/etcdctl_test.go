package interop

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The guide's etcdctl commands, verbatim. TestSeedSources checks that this
// is every etcdctl command in the guide.
const (
	// §1
	cmdVersion = `etcdctl version`
	// §4
	cmdHealth = `etcdctl --endpoints=https://127.0.0.1:2379 \
    --cacert=/etc/etcd/pki/ca.crt \
    --cert=/etc/etcd/pki/server.crt \
    --key=/etc/etcd/pki/server.key \
    endpoint health`
	// §5
	cmdPut        = `etcdctl put /config/api/database_url "postgresql://localhost:5432/api"`
	cmdGet        = `etcdctl get /config/api/database_url`
	cmdGetPrefix  = `etcdctl get /config/api/ --prefix`
	cmdGetValues  = `etcdctl get /config/api/ --prefix --print-value-only`
	cmdDel        = `etcdctl del /config/api/old_setting`
	cmdDelPrefix  = `etcdctl del /config/api/deprecated/ --prefix`
	cmdListKeys   = `etcdctl get "" --prefix --keys-only`
	cmdGetRev     = `etcdctl get /config/api/database_url --rev=5`
	cmdWatchKey   = `etcdctl watch /config/api/database_url`
	cmdWatchPre   = `etcdctl watch /config/api/ --prefix`
	cmdWatchPrev  = `etcdctl watch /config/api/ --prefix --prev-kv`
	cmdTxnLiteral = `etcdctl txn <<EOF
compares:
version("/config/api/lock") = 0

success requests:
put /config/api/lock "acquired"

failure requests:
get /config/api/lock
EOF`
	// §8
	cmdHealthCluster = `etcdctl endpoint health --cluster`
	cmdStatusTable   = `etcdctl endpoint status --cluster -w table`
	cmdMemberTable   = `etcdctl member list -w table`
	cmdDefrag        = `etcdctl defrag --cluster`
	cmdCompact       = `etcdctl compact $(etcdctl endpoint status -w json | jq -r '.[0].Status.header.revision')`
)

// cmdTxn is the guide's §7 transaction in the form etcdctl reads it:
// compares, success requests and failure requests as three blocks each
// ended by an empty line, and the compared value quoted. (The guide's
// "compares:" and "... requests:" headings are what `etcdctl txn -i`
// prints as prompts; fed as input, etcdctl 3.4 rejects the first as a
// malformed comparison, and so does an unquoted 0.)
const cmdTxn = `etcdctl txn <<EOF
version("/config/api/lock") = "0"

put /config/api/lock "acquired"

get /config/api/lock

EOF`

var seedCommandsRun = []string{
	cmdVersion, cmdHealth,
	cmdPut, cmdGet, cmdGetPrefix, cmdGetValues, cmdDel, cmdDelPrefix, cmdListKeys, cmdGetRev,
	cmdWatchKey, cmdWatchPre, cmdWatchPrev,
	cmdTxnLiteral,
	cmdHealthCluster, cmdStatusTable, cmdMemberTable, cmdDefrag, cmdCompact,
}

// ctl runs one of the guide's commands with bash, after rewriting its
// addresses and paths (env.rewrite), with the guide's §5 exports set from
// §5 on.
func (e *env) ctl(t *testing.T, command string) result {
	t.Helper()
	env := e.progEnv()
	if command == cmdVersion || command == cmdHealth {
		env = e.baseEnv()
	}
	return runCmd(t, 30*time.Second, env, "", "bash", "-c", e.rewrite.Replace(command))
}

// ctlOK runs a command and checks it succeeds with exactly stdout and
// nothing on stderr.
func (e *env) ctlOK(t *testing.T, command, stdout string) {
	t.Helper()
	r := e.ctl(t, command)
	if r.code != 0 || r.stdout != stdout || r.stderr != "" {
		t.Errorf("%s:\nexit %d, stdout:\n%s\nstderr:\n%s\nwant exit 0, stdout:\n%s", command, r.code, r.stdout, r.stderr, stdout)
	}
}

// testSeedEtcdctl runs the guide's etcdctl commands in the guide's order,
// through e.via (ETCDCTL_ENDPOINTS), and checks their output. The three
// watches of §6 run in the background while §5 and §7 make changes.
func testSeedEtcdctl(t *testing.T, e *env, lead *member) {
	const url = "/config/api/database_url"

	// §1 and §4.
	if r := e.ctl(t, cmdVersion); r.code != 0 || !regexp.MustCompile(`^etcdctl version: 3\.\d+\.\d+\nAPI version: 3\.\d+\n$`).MatchString(r.stdout) {
		t.Errorf("%s: exit %d, stdout %q, stderr %q", cmdVersion, r.code, r.stdout, r.stderr)
	}
	e.checkHealth(t, cmdHealth, []string{e.via.LocalURL})

	// §6: the watches, started first so that they see §5's changes.
	var m watchModel
	watches := []*watch{
		{cmd: cmdWatchKey, key: url},
		{cmd: cmdWatchPre, key: "/config/api/", prefix: true},
		{cmd: cmdWatchPrev, key: "/config/api/", prefix: true, prevKV: true},
	}
	for _, w := range watches {
		w.p = startProc(t, e.progEnv(), "", "bash", "-c", "exec "+e.rewrite.Replace(w.cmd))
	}
	// The test puts url = probe-1, probe-2, ... until every watch reports
	// one; every watch must then report every later change.
	allSaw := func(v int) bool {
		for _, w := range watches {
			if !hasLine(probeValue(v))(w.p.lines()) {
				return false
			}
		}
		return true
	}
	m.probes = e.probeWatch(t, url, probeValue, allSaw, func(last int) {
		for _, w := range watches {
			w.p.waitFor(t, "the last probe", 10*time.Second, hasLine(probeValue(last)))
		}
	})
	for i := 1; i <= m.probes; i++ {
		m.put(url, probeValue(i))
	}

	// §5.
	e.ctlOK(t, cmdPut, "OK\n")
	m.put(url, dbURL)
	rev1 := e.modRevision(t, url)
	// The guide's next commands read and delete keys it does not create:
	// another client (the test) writes them, and changes database_url.
	for _, kv := range [][2]string{
		{"/config/api/old_setting", "legacy"},
		{"/config/api/deprecated/timeout", "30"},
		{"/config/api/deprecated/retries", "3"},
		{url, "postgresql://db:5432/api"},
	} {
		e.put(t, kv[0], kv[1])
		m.put(kv[0], kv[1])
	}
	e.ctlOK(t, cmdGet, url+"\npostgresql://db:5432/api\n")
	e.ctlOK(t, cmdGetPrefix, url+"\npostgresql://db:5432/api\n"+
		"/config/api/deprecated/retries\n3\n/config/api/deprecated/timeout\n30\n/config/api/old_setting\nlegacy\n")
	e.ctlOK(t, cmdGetValues, "postgresql://db:5432/api\n3\n30\nlegacy\n")
	e.ctlOK(t, cmdDel, "1\n")
	m.del("/config/api/old_setting")
	e.ctlOK(t, cmdDelPrefix, "2\n")
	m.del("/config/api/deprecated/retries", "/config/api/deprecated/timeout")
	e.ctlOK(t, cmdListKeys, url+"\n\n")
	// The guide's revision 5 is the one its first put made, here rev1.
	e.ctlOK(t, strings.Replace(cmdGetRev, "--rev=5", "--rev="+strconv.FormatInt(rev1, 10), 1), url+"\n"+dbURL+"\n")

	// §7: the guide's text fails as it does against etcd 3.4, and changes
	// nothing; the form etcdctl reads puts the lock once.
	r := e.ctl(t, cmdTxnLiteral)
	if want := "Error: malformed comparison: compares:\n"; r.code != 3 || r.stdout != "" || r.stderr != want {
		t.Errorf("the guide's literal txn: exit %d, stdout %q, stderr %q; want etcdctl's exit 3 and %q", r.code, r.stdout, r.stderr, want)
	}
	e.checkKey(t, "/config/api/lock", "", 0)
	e.ctlOK(t, cmdTxn, "SUCCESS\n\nOK\n")
	m.put("/config/api/lock", "acquired")
	e.ctlOK(t, cmdTxn, "FAILURE\n\n/config/api/lock\nacquired\n")
	e.checkKey(t, "/config/api/lock", "acquired", 1)

	// §6's output: every change since the watch started, in order.
	for _, w := range watches {
		err := w.p.waitForErr(10*time.Second, func(lines []string) bool { return w.matches(&m, lines) })
		w.p.stop()
		if err != nil || w.p.stderr() != "" {
			t.Errorf("%s: %v; output:\n%s\nstderr:\n%s\nwant, from some probe on:\n%s", w.cmd, err,
				strings.Join(w.p.lines(), "\n"), w.p.stderr(), m.render(w, 0))
		}
	}

	// §8.
	var advURLs []string
	for _, mb := range e.c.Members {
		advURLs = append(advURLs, mb.AdvURL)
	}
	e.checkHealth(t, cmdHealthCluster, advURLs)
	e.checkStatusTable(t, lead)
	e.checkMemberTable(t)
	var defragged []string
	for _, u := range advURLs {
		defragged = append(defragged, "Finished defragmenting etcd member["+u+"]")
	}
	r = e.ctl(t, cmdDefrag)
	if got := sortedLines(r.stdout); r.code != 0 || r.stderr != "" || !slices.Equal(got, sortedLines(strings.Join(defragged, "\n"))) {
		t.Errorf("%s: exit %d, stdout:\n%s\nstderr:\n%s\nwant:\n%s", cmdDefrag, r.code, r.stdout, r.stderr, strings.Join(defragged, "\n"))
	}
	if _, err := exec.LookPath("/usr/bin/jq"); err != nil {
		t.Errorf("/usr/bin/jq is not installed (apt-get install jq): the guide's compaction pipeline needs it")
		return
	}
	rev := e.revision(t)
	e.ctlOK(t, cmdCompact, fmt.Sprintf("compacted revision %d\n", rev))
	_, err := e.cli.Get(e.ctx, url, clientv3.WithRev(rev1))
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("get at revision %d after compacting at %d: %v, want %v", rev1, rev, err, rpctypes.ErrCompacted)
	}
	e.checkKey(t, url, "postgresql://db:5432/api", 2+int64(m.probes))
}

func probeValue(v int) string { return "probe-" + itoa(v) }

// modRevision and revision read through the test's client.
func (e *env) modRevision(t *testing.T, k string) int64 {
	t.Helper()
	resp, err := e.cli.Get(e.ctx, k)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %v %v", k, resp, err)
	}
	return resp.Kvs[0].ModRevision
}

func (e *env) revision(t *testing.T) int64 {
	t.Helper()
	resp, err := e.cli.Get(e.ctx, "interop-revision-probe")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

var healthy = regexp.MustCompile(`^(\S+) is healthy: successfully committed proposal: took = [0-9.]+(ns|µs|ms|s)$`)

// checkHealth runs an endpoint health command and checks that it reports
// exactly the given endpoints healthy. etcdctl 3.4 prints the report on
// stderr (3.5 and later on stdout), one line per endpoint in any order.
func (e *env) checkHealth(t *testing.T, command string, endpoints []string) {
	t.Helper()
	r := e.ctl(t, command)
	var got []string
	bad := r.code != 0 || r.stdout != ""
	for _, line := range strings.Split(strings.TrimRight(r.stderr, "\n"), "\n") {
		if m := healthy.FindStringSubmatch(line); m != nil {
			got = append(got, m[1])
		} else {
			bad = true
		}
	}
	sort.Strings(got)
	want := slices.Sorted(slices.Values(endpoints))
	if bad || !slices.Equal(got, want) {
		t.Errorf("%s: exit %d, stdout %q, stderr:\n%s\nwant each of %q healthy", command, r.code, r.stdout, r.stderr, want)
	}
}

// checkStatusTable runs `endpoint status --cluster -w table`.
func (e *env) checkStatusTable(t *testing.T, lead *member) {
	t.Helper()
	r := e.ctl(t, cmdStatusTable)
	rows := parseTable(t, r.stdout)
	header := []string{"ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"}
	if r.code != 0 || r.stderr != "" || len(rows) != 4 || !slices.Equal(rows[0], header) {
		t.Errorf("%s: exit %d, stdout:\n%s\nstderr:\n%s\nwant a table with %q and a row per member", cmdStatusTable, r.code, r.stdout, r.stderr, header)
		return
	}
	var term string
	for _, mb := range e.c.Members {
		st, err := e.c.client(t, mb.LocalURL).Status(e.ctx, mb.LocalURL)
		if err != nil {
			t.Fatal(err)
		}
		var row []string
		for _, r := range rows[1:] {
			if r[0] == mb.AdvURL {
				row = r
			}
		}
		if row == nil {
			t.Errorf("%s: no row for %s:\n%s", cmdStatusTable, mb.AdvURL, r.stdout)
			continue
		}
		if term == "" {
			term = row[6]
		}
		number := regexp.MustCompile(`^[1-9][0-9]*$`)
		if row[1] != fmt.Sprintf("%x", mb.ID) || row[2] != st.Version || !regexp.MustCompile(`^[0-9.]+ [kMG]?B$`).MatchString(row[3]) ||
			row[4] != strconv.FormatBool(mb == lead) || row[5] != "false" || row[6] != term ||
			!number.MatchString(row[7]) || !number.MatchString(row[8]) || row[9] != "" {
			t.Errorf("%s: row %q, want ID %x, version %s, leader %v, not a learner, term %s, no errors",
				cmdStatusTable, row, mb.ID, st.Version, mb == lead, term)
		}
	}
}

// checkMemberTable runs `member list -w table`.
func (e *env) checkMemberTable(t *testing.T) {
	t.Helper()
	r := e.ctl(t, cmdMemberTable)
	rows := parseTable(t, r.stdout)
	want := [][]string{{"ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"}}
	for _, mb := range e.c.Members {
		want = append(want, []string{fmt.Sprintf("%x", mb.ID), "started", mb.Name, mb.PeerURL, mb.AdvURL, "false"})
	}
	if len(rows) > 1 {
		slices.SortFunc(rows[1:], func(a, b []string) int { return strings.Compare(a[2], b[2]) })
	}
	if r.code != 0 || r.stderr != "" || !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("%s: exit %d, stdout:\n%s\nstderr:\n%s\nwant rows %q", cmdMemberTable, r.code, r.stdout, r.stderr, want)
	}
}

// parseTable reads etcdctl's -w table output: the header row, then the
// data rows, each a list of trimmed cells.
func parseTable(t *testing.T, out string) [][]string {
	t.Helper()
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	return rows
}

func sortedLines(s string) []string {
	return slices.Sorted(slices.Values(strings.Split(strings.TrimRight(s, "\n"), "\n")))
}

// watch is one of the guide's etcdctl watch commands running.
type watch struct {
	cmd            string
	key            string
	prefix, prevKV bool
	p              *proc
}

// watchModel is every change the test and etcdctl made while the watches
// ran, in revision order.
type watchModel struct {
	changes []watchChange
	state   map[string]string
	probes  int // the first probes changes are probes
}

type watchChange struct {
	del      bool
	key, val string
	prev     *string
}

func (m *watchModel) put(k, v string) { m.add(false, k, v) }

// del records a delete of keys, in key order, as one DeleteRange reports
// them.
func (m *watchModel) del(keys ...string) {
	for _, k := range keys {
		m.add(true, k, "")
	}
}

func (m *watchModel) add(del bool, k, v string) {
	if m.state == nil {
		m.state = make(map[string]string)
	}
	c := watchChange{del: del, key: k, val: v}
	if prev, ok := m.state[k]; ok {
		c.prev = &prev
	}
	if del {
		delete(m.state, k)
	} else {
		m.state[k] = v
	}
	m.changes = append(m.changes, c)
}

// render is what etcdctl watch prints (simple format) for the changes from
// index from on: for each event its type, then the previous key and value
// with --prev-kv, then the key and value.
func (m *watchModel) render(w *watch, from int) string {
	var b strings.Builder
	for _, c := range m.changes[from:] {
		if !(c.key == w.key || w.prefix && strings.HasPrefix(c.key, w.key)) {
			continue
		}
		if c.del {
			b.WriteString("DELETE\n")
		} else {
			b.WriteString("PUT\n")
		}
		if w.prevKV && c.prev != nil {
			b.WriteString(c.key + "\n" + *c.prev + "\n")
		}
		b.WriteString(c.key + "\n" + c.val + "\n")
	}
	return b.String()
}

// matches reports whether a watch printed exactly the changes from one of
// the probes on.
func (w *watch) matches(m *watchModel, lines []string) bool {
	got := strings.Join(lines, "\n") + "\n"
	for from := 0; from < m.probes; from++ {
		if got == m.render(w, from) {
			return true
		}
	}
	return false
}
