package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairndb/cairn/tests/framework"
)

// The golden test runs one script of commands twice, side by side, each
// against its own fresh single-member server: with Debian's etcdctl 3.4 and
// with cairnctl. The servers have the same name and cluster token, so
// revisions come out the same, and etcdctl's output has its server's ports
// and IDs replaced by cairnctl's. Each step's outputs must then be equal,
// once values that must differ (lease IDs, durations, database sizes,
// remaining TTLs) are replaced by placeholders and, for the steps where
// etcdctl 3.6 prints differently from 3.4, 3.4's output is rewritten into
// 3.6's (cairnctl follows 3.6).

// step is one command of the golden script.
type step struct {
	args  []string // without --endpoints; {placeholders} are expanded
	stdin string
	env   []string // extra environment; "{ep}" is expanded
	// noEndpointFlag leaves out --endpoints (the step sets ETCDCTL_ENDPOINTS).
	noEndpointFlag bool
	// fix34 rewrites etcdctl 3.4's result into what etcdctl 3.6 prints, for
	// a difference between the two versions. The comment on each says what
	// changed.
	fix34 func(r *result)
	// cmp replaces the exact comparison (stdout, stderr without client
	// logs, exit code) of the normalised results.
	cmp func(t *testing.T, want, got result)
}

func args(s ...string) []string { return s }

// runScript runs steps with bin against endpoint addr and returns the
// results, normalised (see scriptVars.normalise), with the strings of
// rename replaced. It may run on any goroutine: failures to start bin come
// back as an error.
func runScript(bin, addr, dir string, steps []step, rename map[string]string) ([]result, error) {
	vars := &scriptVars{addr: addr, dir: dir}
	out := make([]result, len(steps))
	for i, s := range steps {
		var argv []string
		if !s.noEndpointFlag {
			argv = append(argv, "--endpoints="+addr)
		}
		for _, a := range s.args {
			argv = append(argv, vars.expand(a))
		}
		var env []string
		for _, e := range s.env {
			env = append(env, vars.expand(e))
		}
		r, err := runErr(command{bin: bin, args: argv, env: env, stdin: s.stdin, dir: dir})
		if err != nil {
			return nil, err
		}
		vars.capture(r.stdout)
		out[i] = r
	}
	for i := range out {
		out[i] = vars.normalise(out[i])
		for from, to := range rename {
			out[i].stdout = strings.ReplaceAll(out[i].stdout, from, to)
			out[i].stderr = strings.ReplaceAll(out[i].stderr, from, to)
		}
	}
	return out, nil
}

// scriptVars are the values one run of the script discovers (lease IDs,
// the ID of an added member) and the placeholders that stand for them.
type scriptVars struct {
	addr, dir string
	leases    []uint64
	newMember string
}

var (
	leaseGranted = regexp.MustCompile(`lease ([0-9a-f]{16}) granted`)
	leaseJSON    = regexp.MustCompile(`"ID":(\d{15,20}),"TTL"`)
	leaseFields  = regexp.MustCompile(`"ID" : (\d{15,20})\n"TTL"`)
	memberAdded  = regexp.MustCompile(`Member ([0-9a-f ]{16}) added`)
)

func (v *scriptVars) capture(stdout string) {
	add := func(id uint64) {
		for _, l := range v.leases {
			if l == id {
				return
			}
		}
		v.leases = append(v.leases, id)
	}
	for _, m := range leaseGranted.FindAllStringSubmatch(stdout, -1) {
		id, _ := strconv.ParseUint(m[1], 16, 64)
		add(id)
	}
	for _, m := range append(leaseJSON.FindAllStringSubmatch(stdout, -1), leaseFields.FindAllStringSubmatch(stdout, -1)...) {
		id, _ := strconv.ParseUint(m[1], 10, 64)
		add(id)
	}
	if m := memberAdded.FindStringSubmatch(stdout); m != nil {
		v.newMember = strings.TrimSpace(m[1])
	}
}

func (v *scriptVars) expand(s string) string {
	s = strings.ReplaceAll(s, "{ep}", v.addr)
	s = strings.ReplaceAll(s, "{dir}", v.dir)
	s = strings.ReplaceAll(s, "{newmember}", v.newMember)
	for i, l := range v.leases {
		s = strings.ReplaceAll(s, fmt.Sprintf("{lease%d}", i+1), fmt.Sprintf("%016x", l))
	}
	return s
}

var (
	tookRE      = regexp.MustCompile(`(took = |"took":"|"Took" : |\. took )[0-9.]+(ns|µs|ms|s|m[0-9.]+s)`)
	remainingRE = regexp.MustCompile(`remaining\(\d+s\)`)
	ttlRE       = regexp.MustCompile(`("ttl":|"TTL" : )\d+`)
	sessionRE   = regexp.MustCompile(`(mylock|myelection)/[0-9a-f]{1,16}`)
	logLineRE   = regexp.MustCompile(`^(\{"level":|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)`)
)

// normalise replaces what differs between two runs of the same script by
// placeholders, and drops the client log lines etcdctl writes on stderr.
func (v *scriptVars) normalise(r result) result {
	rep := func(s string) string {
		for i, l := range v.leases {
			ph := fmt.Sprintf("<lease%d>", i+1)
			s = strings.ReplaceAll(s, fmt.Sprintf("%016x", l), ph)
			s = strings.ReplaceAll(s, fmt.Sprintf("%x", l), ph)
			s = strings.ReplaceAll(s, strconv.FormatUint(l, 10), ph)
		}
		if v.newMember != "" {
			id, _ := strconv.ParseUint(v.newMember, 16, 64)
			s = strings.ReplaceAll(s, fmt.Sprintf("%16x", id), "<newmember>")
			s = strings.ReplaceAll(s, fmt.Sprintf("%x", id), "<newmember>")
			s = strings.ReplaceAll(s, strconv.FormatUint(id, 10), "<newmember>")
		}
		s = tookRE.ReplaceAllString(s, "${1}<dur>")
		s = remainingRE.ReplaceAllString(s, "remaining(<ttl>)")
		s = sessionRE.ReplaceAllString(s, "$1/<session>")
		s = strings.ReplaceAll(s, v.dir, "<dir>")
		return s
	}
	var errLines []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if l != "" && !logLineRE.MatchString(l) {
			errLines = append(errLines, l)
		}
	}
	return result{stdout: rep(r.stdout), stderr: rep(strings.Join(errLines, "\n")), code: r.code}
}

// TestGoldenAgainstEtcdctl is the golden comparison of cairnctl with
// etcdctl.
func TestGoldenAgainstEtcdctl(t *testing.T) {
	haveEtcdctl(t)
	t.Parallel()
	steps := goldenSteps(t)
	// Two servers, one per client, run side by side. Each has its own ports
	// and so its own member and cluster IDs; they are chosen to print as
	// long as each other, so that etcdctl's output, with its server's
	// ports and IDs replaced by cairnctl's, lines up byte for byte.
	ma, mb := goldenMember(t), goldenMember(t)
	for _, m := range []*framework.Member{ma, mb} {
		if err := m.Launch(framework.BinaryPath(t)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), framework.DefaultReadyTimeout)
	defer cancel()
	for _, m := range []*framework.Member{ma, mb} {
		if err := m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rename := map[string]string{
		ma.ClientAddr(): mb.ClientAddr(),
		strings.TrimPrefix(ma.PeerURL, "http://"): strings.TrimPrefix(mb.PeerURL, "http://"),
		fmt.Sprintf("%x", ma.ID()):                fmt.Sprintf("%x", mb.ID()),
		strconv.FormatUint(ma.ID(), 10):           strconv.FormatUint(mb.ID(), 10),
		fmt.Sprintf("%x", clusterID(ma)):          fmt.Sprintf("%x", clusterID(mb)),
		strconv.FormatUint(clusterID(ma), 10):     strconv.FormatUint(clusterID(mb), 10),
	}
	var want, got []result
	var errA, errB error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		want, errA = runScript(etcdctlPath, ma.ClientAddr(), t.TempDir(), steps, rename)
	}()
	go func() { defer wg.Done(); got, errB = runScript(cairnctlPath, mb.ClientAddr(), t.TempDir(), steps, nil) }()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("etcdctl: %v; cairnctl: %v", errA, errB)
	}
	for i, s := range steps {
		name := strings.Join(s.args, " ")
		if s.stdin != "" {
			name += " <<< " + strconv.Quote(s.stdin)
		}
		w, g := want[i], got[i]
		if s.fix34 != nil {
			s.fix34(&w)
		}
		if s.cmp != nil {
			t.Run(name, func(t *testing.T) { s.cmp(t, w, g) })
			continue
		}
		if w != g {
			t.Errorf("step %d: %s\netcdctl: exit %d\nstdout:\n%s\nstderr:\n%s\ncairnctl: exit %d\nstdout:\n%s\nstderr:\n%s",
				i, name, w.code, w.stdout, w.stderr, g.code, g.stdout, g.stderr)
		}
	}
}

func clusterID(m *framework.Member) uint64 { return framework.ComputeClusterID([]uint64{m.ID()}) }

// goldenMember prepares a one-member cluster named golden on five-digit
// ports whose member and cluster IDs print as 16 hex digits.
func goldenMember(t *testing.T) *framework.Member {
	t.Helper()
	for {
		cp, err := framework.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		pp, err := framework.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		peer := fmt.Sprintf("http://127.0.0.1:%d", pp)
		id := framework.ComputeMemberID([]string{peer}, framework.DefaultToken)
		cid := framework.ComputeClusterID([]uint64{id})
		if cp >= 10000 && pp >= 10000 && len(fmt.Sprintf("%x", id)) == 16 && len(fmt.Sprintf("%x", cid)) == 16 {
			return framework.NewMember(t, framework.MemberConfig{Name: "golden", ClientPort: cp, PeerPort: pp})
		}
	}
}

// Rewrites of etcdctl 3.4's output into 3.6's.

// dropZeroRevision: 3.6's fields format leaves out "Revision" : 0.
func dropZeroRevision(r *result) {
	r.stdout = strings.ReplaceAll(r.stdout, "\"Revision\" : 0\n", "")
}

// healthOnStdout: 3.4 printed healthy endpoints on stderr, 3.5+ on stdout.
func healthOnStdout(r *result) {
	var keep []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, " is healthy: ") {
			r.stdout += l + "\n"
		} else if l != "" {
			keep = append(keep, l)
		}
	}
	r.stderr = strings.Join(keep, "\n")
}

// oneofNames: 3.6's API module names the txn response oneofs in JSON by
// their proto names.
func oneofNames(r *result) {
	for from, to := range map[string]string{`"ResponseRange"`: `"response_range"`, `"ResponsePut"`: `"response_put"`,
		`"ResponseDeleteRange"`: `"response_delete_range"`, `"ResponseTxn"`: `"response_txn"`} {
		r.stdout = strings.ReplaceAll(r.stdout, from, to)
	}
}

// asLearner: since 3.5, member add --learner says "added as learner".
func asLearner(r *result) {
	r.stdout = strings.Replace(r.stdout, " added to cluster ", " added as learner to cluster ", 1)
}

// serverVersion: since 3.5, snapshot save also prints the server version.
func serverVersion(r *result) {
	if r.code == 0 {
		r.stdout += "Server version 3.6.0\n"
	}
}

// defragTook: 3.6 says how long each defragmentation took.
func defragTook(r *result) {
	r.stdout = regexp.MustCompile(`(?m)^(Finished defragmenting etcd member\[[^\]]*\])$`).ReplaceAllString(r.stdout, "$1. took <dur>")
}

// ttlNormalised compares with the remaining TTL left out.
func ttlNormalised(t *testing.T, want, got result) {
	t.Helper()
	want.stdout = ttlRE.ReplaceAllString(want.stdout, "${1}<ttl>")
	got.stdout = ttlRE.ReplaceAllString(got.stdout, "${1}<ttl>")
	if want != got {
		t.Errorf("etcdctl:\n%+v\ncairnctl:\n%+v", want, got)
	}
}

// errorLineOnly compares the exit code and the "Error:" line: etcdctl also
// prints its usage on stdout for flag errors.
func errorLineOnly(t *testing.T, want, got result) {
	t.Helper()
	if want.code != got.code || errorLine(want.stderr) != errorLine(got.stderr) {
		t.Errorf("etcdctl: exit %d %q\ncairnctl: exit %d %q", want.code, errorLine(want.stderr), got.code, errorLine(got.stderr))
	}
}

// unordered compares outputs whose lines, table rows, JSON members or
// ETCD_INITIAL_CLUSTER entries come in member ID order: the ID of an added
// member differs between the two runs, and so may its place.
func unordered(t *testing.T, want, got result) {
	t.Helper()
	norm := func(r result) result {
		s := r.stdout
		if strings.HasPrefix(s, "{") {
			var v struct {
				Header  json.RawMessage   `json:"header"`
				Members []json.RawMessage `json:"members"`
			}
			// Placeholders are not JSON numbers: quote them first.
			q := strings.ReplaceAll(s, ":<newmember>", `:"<newmember>"`)
			if err := json.Unmarshal([]byte(q), &v); err == nil {
				ms := make([]string, len(v.Members))
				for i, m := range v.Members {
					ms[i] = string(m)
				}
				sort.Strings(ms)
				s = string(v.Header) + "\n" + strings.Join(ms, "\n")
			}
		}
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "ETCD_INITIAL_CLUSTER=") {
				parts := strings.Split(strings.Trim(strings.TrimPrefix(l, "ETCD_INITIAL_CLUSTER="), `"`), ",")
				sort.Strings(parts)
				lines[i] = "ETCD_INITIAL_CLUSTER=" + strings.Join(parts, ",")
			}
		}
		sort.Strings(lines)
		r.stdout = strings.Join(lines, "\n")
		return r
	}
	if w, g := norm(want), norm(got); w != g {
		t.Errorf("etcdctl:\n%s\ncairnctl:\n%s", want.stdout, got.stdout)
	}
}

// rangeWarning compares a two-argument del: cairnctl also warns on stderr
// that a range is deleted (as etcdctl 3.5 and 3.6 do).
func rangeWarning(t *testing.T, want, got result) {
	t.Helper()
	if !strings.HasPrefix(got.stderr, "Warning: ") {
		t.Errorf("no warning on stderr: %q", got.stderr)
	}
	got.stderr = ""
	if want != got {
		t.Errorf("etcdctl:\n%+v\ncairnctl:\n%+v", want, got)
	}
}

// protobufRange compares -w protobuf of a range response: the wire bytes
// carry the servers' IDs, which the textual renaming cannot reach, so the
// IDs are cleared on both sides first.
func protobufRange(t *testing.T, want, got result) {
	t.Helper()
	clear := func(s string) string {
		var r pb.RangeResponse
		if err := r.Unmarshal([]byte(s)); err != nil {
			t.Fatalf("not a RangeResponse: %v", err)
		}
		r.Header.ClusterId, r.Header.MemberId = 0, 0
		b, _ := r.Marshal()
		return string(b)
	}
	if want.code != got.code || clear(want.stdout) != clear(got.stdout) {
		t.Errorf("etcdctl %q, cairnctl %q", want.stdout, got.stdout)
	}
}

// protobufMembers compares -w protobuf of member list, IDs and URLs
// cleared (see protobufRange).
func protobufMembers(t *testing.T, want, got result) {
	t.Helper()
	clear := func(s string) string {
		var r pb.MemberListResponse
		if err := r.Unmarshal([]byte(s)); err != nil {
			t.Fatalf("not a MemberListResponse: %v", err)
		}
		r.Header.ClusterId, r.Header.MemberId = 0, 0
		for _, m := range r.Members {
			m.ID, m.PeerURLs, m.ClientURLs = 0, nil, nil
		}
		b, _ := r.Marshal()
		return string(b)
	}
	if want.code != got.code || clear(want.stdout) != clear(got.stdout) {
		t.Errorf("etcdctl %q, cairnctl %q", want.stdout, got.stdout)
	}
}

// goldenSteps is the script.
func goldenSteps(t *testing.T) []step {
	p2, _ := framework.FreePort()
	p3, _ := framework.FreePort()
	peer2, peer3 := fmt.Sprintf("http://127.0.0.1:%d", p2), fmt.Sprintf("http://127.0.0.1:%d", p3)
	strict := "version(\"/config/api/lock\") = \"0\"\n\nput /config/api/lock \"acquired\"\n\nget /config/api/lock\n\n"
	rich := "mod(\"/config/api/a\") > \"0\"\nval(\"/config/api/a\") = \"1\"\nc(\"/config/api/a\") != \"0\"\n\n" +
		"get /config/api/ --prefix --keys-only\nput /config/api/c \"three\" --prev-kv\ndel /config/api/b --prev-kv\n\nput never happens\n\n"
	s := []step{
		// Key-value basics (revision 2 onwards).
		{args: args("put", "foo", "bar")},
		{args: args("put", "foo", "bar2", "--prev-kv")},
		{args: args("put", "foo", "bar3", "-w", "json")},
		{args: args("put", "foo", "bar4", "-w", "fields"), fix34: dropZeroRevision},
		{args: args("get", "foo")},
		{args: args("get", "foo", "-w", "json")},
		{args: args("get", "foo", "-w", "fields")},
		{args: args("get", "foo", "-w", "protobuf"), cmp: protobufRange},
		{args: args("get", "foo", "--hex")},
		{args: args("get", "foo", "--consistency=s")},
		{args: args("put", "/config/api/database_url", "postgresql://localhost:5432/api")},
		{args: args("put", "/config/api/a", "1")},
		{args: args("put", "/config/api/b", "2")},
		{args: args("put", "/config/other", "x")},
		{args: args("put", "--", "dash", "-v")},
		{args: args("put", "stdinkey"), stdin: "line one\nline two\n"},
		{args: args("get", "stdinkey")},
		{args: args("get", "/config/api/", "--prefix")},
		{args: args("get", "/config/api/", "--prefix", "--print-value-only")},
		{args: args("get", "/config/api/", "--prefix", "--keys-only")},
		{args: args("get", "", "--prefix", "--keys-only")},
		{args: args("get", "/config/api/", "--prefix", "--limit=1", "-w", "fields")},
		{args: args("get", "/config/api/", "--prefix", "--order=DESCEND", "--sort-by=VALUE")},
		{args: args("get", "/config/api/", "--prefix", "--sort-by=MODIFY", "--order=DESCEND", "-w", "json")},
		{args: args("get", "/config/api/a", "/config/api/c")},
		{args: args("get", "/config/api/b", "--from-key", "--keys-only")},
		{args: args("get", "foo", "--rev=2")},
		{args: args("get", "foo", "--rev=1")},
		{args: args("get", "foo", "--rev=1000")},
		{args: args("get", "foo", "-w", "table")},
		{args: args("get", "foo", "--order=SIDEWAYS")},
		{args: args("get", "foo", "--sort-by=COLOR")},
		{args: args("get", "foo", "--consistency=x")},
		{args: args("get", "a", "--prefix", "--from-key")},
		{args: args("get", "a", "z", "--prefix")},
		{args: args("get")},
		{args: args("get", "--bogus", "x"), cmp: errorLineOnly},
		{args: args("-w", "yaml", "get", "foo")},
		{args: args("put", "foo", "--ignore-value")},
		{args: args("put", "foo", "v", "--ignore-value")},
		{args: args("put", "nokey", "--ignore-value")},
		{args: args("put", "foo", "v", "--lease=zz")},
		{args: args("put")},
		{args: args("del", "/config/api/b", "--prev-kv")},
		{args: args("del", "/config/api/b")},
		{args: args("del", "nothing", "-w", "json")},
		{args: args("del", "nothing", "-w", "fields")},
		{args: args("del")},
		{args: args("del", "a", "--prefix", "--from-key")},
		{args: args("put", "/config/api/b", "2")},
		{args: args("put", "r/1", "1")},
		{args: args("put", "r/2", "2")},
		{args: args("put", "r/3", "3")},
		{args: args("del", "r/1", "r/3"), cmp: rangeWarning},
		{args: args("get", "r/", "--prefix")},

		// Transactions.
		{args: args("txn"), stdin: strict},
		{args: args("txn"), stdin: strict},
		{args: args("txn", "-i"), stdin: strict},
		{args: args("txn", "-w", "json"), stdin: strict, fix34: oneofNames},
		{args: args("txn", "-w", "fields"), stdin: strict},
		{args: args("txn"), stdin: rich},
		{args: args("txn", "--hex"), stdin: "\nget /config/api/a\n\n\n"},
		{args: args("txn"), stdin: "bogus\n\n\n\n"},
		{args: args("txn"), stdin: "version(\"k\") = \"x\"\n\n\n\n"},
		{args: args("txn"), stdin: "foo(\"k\") = \"x\"\n\n\n\n"},
		{args: args("txn"), stdin: "\nfrob k\n\n\n"},
		{args: args("txn"), stdin: "\nget\n\n\n"},
		{args: args("txn", "x")},

		// Compaction.
		{args: args("compaction", "5")},
		{args: args("compaction", "5")},
		{args: args("compact", "4")},
		{args: args("get", "foo", "--rev=4")},
		{args: args("get", "foo", "--rev=5")},
		{args: args("compaction", "abc")},
		{args: args("compaction")},
		{args: args("compaction", "100000")},

		// Endpoints.
		{args: args("endpoint", "health"), fix34: healthOnStdout},
		{args: args("endpoint", "health", "--cluster"), fix34: healthOnStdout},
		{args: args("endpoint", "health", "-w", "json")},
		{args: args("endpoint", "health", "-w", "fields")},
		{args: args("endpoint", "health", "-w", "table"), cmp: tableCells([]string{"TOOK"})},
		{args: args("endpoint", "status"), cmp: statusCompare},
		{args: args("endpoint", "status", "-w", "table"), cmp: statusCompare},
		{args: args("endpoint", "status", "--cluster", "-w", "table"), cmp: statusCompare},
		{args: args("endpoint", "status", "-w", "json"), cmp: jsonSubset(statusVolatile)},
		{args: args("endpoint", "status", "-w", "fields"), cmp: fieldsSubset(statusVolatile)},
		{args: args("endpoint", "hashkv"), cmp: hashKVCompare},
		{args: args("endpoint", "hashkv", "-w", "table"), cmp: hashKVCompare},
		{args: args("endpoint", "hashkv", "--cluster", "-w", "table"), cmp: hashKVCompare},
		{args: args("endpoint", "hashkv", "-w", "json"), cmp: jsonSubset(nil)},
		{args: args("endpoint", "hashkv", "-w", "fields"), cmp: fieldsSubset(nil)},
		{args: args("endpoint", "hashkv", "--rev=3"), cmp: hashKVCompare},

		// Leases.
		{args: args("lease", "grant", "300")},
		{args: args("put", "lk", "v", "--lease={lease1}")},
		{args: args("put", "lk2", "v", "--lease={lease1}")},
		{args: args("get", "lk", "-w", "fields")},
		{args: args("lease", "timetolive", "{lease1}")},
		{args: args("lease", "timetolive", "{lease1}", "--keys")},
		{args: args("lease", "timetolive", "{lease1}", "--keys", "-w", "json"), cmp: ttlNormalised},
		{args: args("lease", "timetolive", "{lease1}", "-w", "fields"), cmp: ttlNormalised},
		{args: args("lease", "list")},
		{args: args("lease", "list", "-w", "fields")},
		{args: args("lease", "list", "-w", "json")},
		{args: args("lease", "keep-alive", "--once", "{lease1}")},
		{args: args("lease", "keep-alive", "--once", "{lease1}", "-w", "json")},
		{args: args("lease", "keep-alive", "--once", "{lease1}", "-w", "fields")},
		{args: args("lease", "grant", "100", "-w", "json")},
		{args: args("lease", "grant", "100", "-w", "fields")},
		{args: args("lease", "revoke", "{lease1}")},
		{args: args("get", "lk")},
		{args: args("lease", "timetolive", "{lease1}")},
		{args: args("lease", "revoke", "{lease1}")},
		{args: args("lease", "revoke", "{lease2}", "-w", "fields")},
		{args: args("lease", "revoke", "{lease3}", "-w", "json")},
		{args: args("lease", "grant")},
		{args: args("lease", "grant", "x")},
		{args: args("lease", "revoke", "zz")},
		{args: args("lease", "timetolive")},
		{args: args("lease", "keep-alive", "--once", "1234")},

		// Members.
		{args: args("member", "list")},
		{args: args("member", "list", "-w", "table")},
		{args: args("member", "list", "-w", "json")},
		{args: args("member", "list", "-w", "fields"), fix34: dropZeroRevision},
		{args: args("member", "list", "-w", "protobuf"), cmp: protobufMembers},
		{args: args("member", "add", "learner2", "--peer-urls="+peer2, "--learner"), fix34: asLearner, cmp: unordered},
		{args: args("member", "list"), cmp: unordered},
		{args: args("member", "list", "-w", "table"), cmp: unordered},
		{args: args("member", "update", "{newmember}", "--peer-urls="+peer3)},
		{args: args("member", "list", "-w", "json"), cmp: unordered},
		{args: args("member", "promote", "{newmember}")},
		{args: args("member", "remove", "{newmember}")},
		{args: args("member", "remove", "{newmember}")},
		{args: args("member", "remove", "zz")},
		{args: args("member", "remove")},
		{args: args("member", "add")},
		{args: args("member", "add", "x")},
		{args: args("member", "add", "x", "http://127.0.0.1:1")},
		{args: args("member", "update", "{newmember}")},

		// Maintenance.
		{args: args("alarm", "list")},
		{args: args("alarm", "list", "-w", "json")},
		{args: args("alarm", "disarm")},
		{args: args("defrag"), fix34: defragTook},
		{args: args("defrag", "--cluster"), fix34: defragTook},
		{args: args("move-leader", "zz")},
		{args: args("move-leader")},
		{args: args("snapshot", "save", "{dir}/snap.db"), fix34: serverVersion},
		{args: args("snapshot", "save")},

		// Locks (client side, over leases and watches).
		{args: args("lock", "mylock", "--", "sh", "-c", "echo locked $ETCD_LOCK_KEY")},
		{args: args("lock")},
		{args: args("elect", "myelection")},
		{args: args("elect", "myelection", "p", "-l")},

		// Global flags and their ETCDCTL_* variables.
		{args: args("get", "foo"), noEndpointFlag: true, env: []string{"ETCDCTL_ENDPOINTS={ep}"}},
		{args: args("get", "foo"), env: []string{"ETCDCTL_WRITE_OUT=json"}},
		{args: args("get", "foo"), env: []string{"ETCDCTL_HEX=true"}},
		{args: args("--dial-timeout=3s", "--command-timeout=10s", "--keepalive-time=5s", "--keepalive-timeout=10s", "get", "foo")},
		{args: args("get", "foo"), noEndpointFlag: true, env: []string{"ETCDCTL_ENDPOINTS={ep}", "ETCDCTL_DIAL_TIMEOUT=3s", "ETCDCTL_COMMAND_TIMEOUT=10s"}},
		{args: args("--cert=", "get", "foo")},

		// Users, roles and authentication.
		{args: args("user", "add", "root:rootpw")},
		{args: args("user", "add", "alice", "--new-user-password=alicepw")},
		{args: args("user", "add", "bob", "--interactive=false"), stdin: "bobpw\n"},
		{args: args("user", "add", "alice:x")},
		{args: args("role", "add", "reader")},
		{args: args("role", "add", "reader")},
		{args: args("role", "grant-permission", "reader", "read", "/app/", "--prefix")},
		{args: args("role", "grant-permission", "reader", "readwrite", "k1", "k5")},
		{args: args("role", "grant-permission", "reader", "write", "/w/", "--from-key")},
		{args: args("role", "grant-permission", "reader", "write", "single")},
		{args: args("role", "grant-permission", "reader", "bogus", "k")},
		{args: args("role", "get", "reader")},
		{args: args("role", "get", "reader", "-w", "json")},
		{args: args("role", "get", "nobody")},
		{args: args("user", "grant-role", "alice", "reader")},
		{args: args("user", "get", "alice")},
		{args: args("user", "get", "alice", "--detail")},
		{args: args("user", "get", "alice", "-w", "json")},
		{args: args("user", "list")},
		{args: args("user", "list", "-w", "json")},
		{args: args("role", "list")},
		{args: args("auth", "enable")},
		{args: args("get", "foo")},
		{args: args("--user=alice:alicepw", "get", "/app/x")},
		{args: args("--user=alice:alicepw", "put", "/other", "x")},
		{args: args("--user=alice", "--password=alicepw", "put", "k2", "x")},
		{args: args("--user=alice:wrong", "get", "/app/x")},
		{args: args("--user=root:rootpw", "role", "revoke-permission", "reader", "/app/", "--prefix")},
		{args: args("--user=root:rootpw", "role", "revoke-permission", "reader", "k1", "k5")},
		{args: args("--user=root:rootpw", "role", "revoke-permission", "reader", "single")},
		{args: args("--user=root:rootpw", "user", "revoke-role", "alice", "reader")},
		{args: args("--user=root:rootpw", "user", "passwd", "bob", "--interactive=false"), stdin: "newpw\n"},
		{args: args("--user=bob:newpw", "get", "foo")},
		{args: args("--user=root:rootpw", "user", "delete", "alice")},
		{args: args("--user=root:rootpw", "user", "delete", "bob")},
		{args: args("--user=root:rootpw", "role", "delete", "reader")},
		{args: args("--user=root:rootpw", "auth", "disable")},
		{args: args("user", "delete", "root")},
		{args: args("role", "delete", "root")},
		{args: args("user", "delete", "root")},
		{args: args("role", "list")},
	}
	return s
}
