package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// etcdctlPath is Debian's etcdctl (package etcd-client, which .ci/run
// installs). Its output formats are etcdctl 3.4's.
const etcdctlPath = "/usr/bin/etcdctl"

type ctlResult struct {
	stdout, stderr string
	code           int
}

// etcdctl runs etcdctl against the member with the given standard input.
func (e *env) etcdctl(t *testing.T, stdin string, args ...string) ctlResult {
	t.Helper()
	return e.runCtl(t, etcdctlPath, stdin, args...)
}

// runCtl runs an etcdctl-compatible binary (etcdctl or cairnctl) against
// the member, with none of the caller's ETCDCTL_* variables.
func (e *env) runCtl(t *testing.T, bin, stdin string, args ...string) ctlResult {
	t.Helper()
	cmd := exec.CommandContext(e.ctx, bin, append([]string{"--endpoints=" + e.m.ClientAddr(), "--command-timeout=10s"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "ETCDCTL_API=3")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := ctlResult{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %q: %v", filepath.Base(bin), args, err)
	}
	return r
}

// ctlOK runs etcdctl, expects success, and checks its exact stdout.
func (e *env) ctlOK(t *testing.T, want string, args ...string) {
	t.Helper()
	e.ctlStdin(t, "", want, args...)
}

func (e *env) ctlStdin(t *testing.T, stdin, want string, args ...string) {
	t.Helper()
	r := e.etcdctl(t, stdin, args...)
	if r.code != 0 {
		t.Errorf("etcdctl %q: exit %d, stderr:\n%s", args, r.code, r.stderr)
		return
	}
	if r.stdout != want {
		t.Errorf("etcdctl %q: stdout\n%q\nwant\n%q", args, r.stdout, want)
	}
}

// ctlFails expects exit code 1 with "Error: <msg>" as the last line of
// stderr (etcdctl also logs the client's retry warning before it).
func (e *env) ctlFails(t *testing.T, msg string, args ...string) {
	t.Helper()
	r := e.etcdctl(t, "", args...)
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if r.code != 1 || r.stdout != "" || lines[len(lines)-1] != "Error: "+msg {
		t.Errorf("etcdctl %q: exit %d stdout %q stderr\n%s\nwant exit 1 and Error: %s", args, r.code, r.stdout, r.stderr, msg)
	}
}

// The commands of the configuration guide's §5 (key-value operations), §7
// (transactions) and §8 (monitoring), with their exact output.
func TestEtcdctl(t *testing.T) {
	if _, err := os.Stat(etcdctlPath); err != nil {
		t.Skipf("%s not installed (apt-get install etcd-client)", etcdctlPath)
	}
	t.Parallel()
	e := newEnv(t)
	const url = "/config/api/database_url"

	// §5
	e.ctlOK(t, "OK\n", "put", url, "postgresql://localhost:5432/api") // revision 2
	e.ctlOK(t, "OK\n", "put", "/config/api/old_setting", "x")         // 3
	e.ctlOK(t, "OK\n", "put", "/config/api/deprecated/a", "1")        // 4
	e.ctlOK(t, "OK\n", "put", "/config/api/deprecated/b", "2")        // 5
	e.ctlOK(t, "OK\n", "put", url, "postgresql://db:5432/api")        // 6
	e.ctlOK(t, url+"\npostgresql://db:5432/api\n", "get", url)
	e.ctlOK(t, url+"\npostgresql://db:5432/api\n/config/api/deprecated/a\n1\n/config/api/deprecated/b\n2\n/config/api/old_setting\nx\n",
		"get", "/config/api/", "--prefix")
	e.ctlOK(t, "postgresql://db:5432/api\n1\n2\nx\n", "get", "/config/api/", "--prefix", "--print-value-only")
	e.ctlOK(t, "1\n", "del", "/config/api/old_setting") // 7
	e.ctlOK(t, "0\n", "del", "/config/api/old_setting")
	e.ctlOK(t, "2\n", "del", "/config/api/deprecated/", "--prefix") // 8
	e.ctlOK(t, url+"\n\n", "get", "", "--prefix", "--keys-only")
	e.ctlOK(t, url+"\npostgresql://localhost:5432/api\n", "get", url, "--rev=5")
	e.ctlOK(t, "", "get", url, "--rev=1")
	e.ctlFails(t, "etcdserver: mvcc: required revision is a future revision", "get", url, "--rev=100")

	// §7. etcdctl reads compares, success ops and failure ops as three
	// blocks ended by blank lines; the "compares:" headings of the guide are
	// only prompts that `txn -i` prints, and compare values are quoted.
	// Fed literally, the guide's text fails in etcdctl 3.4 and 3.6 alike.
	txn := "version(\"/config/api/lock\") = \"0\"\n\nput /config/api/lock \"acquired\"\n\nget /config/api/lock\n\n"
	e.ctlStdin(t, txn, "SUCCESS\n\nOK\n", "txn") // 9
	e.ctlStdin(t, txn, "FAILURE\n\n/config/api/lock\nacquired\n", "txn")
	e.ctlStdin(t, txn, "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nFAILURE\n\n/config/api/lock\nacquired\n", "txn", "-i")
	r := e.etcdctl(t, "compares:\nversion(\"/config/api/lock\") = 0\n\nsuccess requests:\nput /config/api/lock \"acquired\"\n\nfailure requests:\nget /config/api/lock\n", "txn")
	if r.code != 3 || !strings.Contains(r.stderr, "Error: malformed comparison: compares:") {
		t.Errorf("the guide's literal txn: exit %d stderr %q, want etcdctl's exit 3 malformed comparison", r.code, r.stderr)
	}

	// §8
	healthy := regexp.MustCompile(`^(\S+) is healthy: successfully committed proposal: took = [0-9.]+(ns|µs|ms|s)\n$`)
	for _, args := range [][]string{{"endpoint", "health", "--cluster"}, {"endpoint", "health"}} {
		r := e.etcdctl(t, "", args...)
		out := r.stdout + r.stderr // etcdctl 3.4 prints health on stderr, 3.5+ on stdout
		m := healthy.FindStringSubmatch(out)
		wantEp := e.m.ClientURL
		if len(args) == 2 {
			wantEp = e.m.ClientAddr()
		}
		if r.code != 0 || m == nil || m[1] != wantEp {
			t.Errorf("etcdctl %q: exit %d output %q, want %s is healthy", args, r.code, out, wantEp)
		}
	}

	id := fmt.Sprintf("%x", e.m.ID())
	for _, c := range []struct {
		args []string
		ep   string
	}{
		{[]string{"endpoint", "status", "--cluster", "-w", "table"}, e.m.ClientURL},
		{[]string{"endpoint", "status", "-w", "table"}, e.m.ClientAddr()},
	} {
		r := e.etcdctl(t, "", c.args...)
		if r.code != 0 {
			t.Errorf("etcdctl %q: exit %d stderr %s", c.args, r.code, r.stderr)
			continue
		}
		checkTable(t, r.stdout,
			[]string{"ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"},
			[][]string{{c.ep, id, "<version>", "<size>", "true", "false", "<n>", "<n>", "<n>", ""}})
	}
	r = e.etcdctl(t, "", "member", "list", "-w", "table")
	checkTable(t, r.stdout, []string{"ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"},
		[][]string{{id, "started", e.m.Name, e.m.PeerURL, e.m.ClientURL, "false"}})
	e.ctlOK(t, fmt.Sprintf("%s, started, %s, %s, %s, false\n", id, e.m.Name, e.m.PeerURL, e.m.ClientURL), "member", "list")
	e.ctlOK(t, "Finished defragmenting etcd member["+e.m.ClientURL+"]\n", "defrag", "--cluster")
	e.ctlOK(t, "Finished defragmenting etcd member["+e.m.ClientAddr()+"]\n", "defrag")

	// etcdctl compact $(etcdctl endpoint status -w json | jq -r '.[0].Status.header.revision')
	r = e.etcdctl(t, "", "endpoint", "status", "-w", "json")
	var status []struct {
		Endpoint string
		Status   struct {
			Header struct {
				ClusterID uint64 `json:"cluster_id"`
				MemberID  uint64 `json:"member_id"`
				Revision  int64  `json:"revision"`
				RaftTerm  uint64 `json:"raft_term"`
			} `json:"header"`
			Version string `json:"version"`
			DBSize  int64  `json:"dbSize"`
			Leader  uint64 `json:"leader"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &status); err != nil || len(status) != 1 {
		t.Fatalf("endpoint status -w json: %v: %q", err, r.stdout)
	}
	st := status[0]
	if st.Endpoint != e.m.ClientAddr() || st.Status.Header.Revision != 9 || st.Status.Header.ClusterID != e.c.ID() ||
		st.Status.Header.MemberID != e.m.ID() || st.Status.Leader != e.m.ID() || st.Status.DBSize <= 0 || !strings.HasPrefix(st.Status.Version, "3.") {
		t.Errorf("endpoint status -w json = %+v", st)
	}
	e.ctlOK(t, "compacted revision 9\n", "compact", strconv.FormatInt(st.Status.Header.Revision, 10))
	e.ctlFails(t, "etcdserver: mvcc: required revision has been compacted", "get", url, "--rev=5")
	e.ctlFails(t, "etcdserver: mvcc: required revision has been compacted", "compact", "9")
	e.ctlOK(t, url+"\npostgresql://db:5432/api\n", "get", url, "--rev=9")

	// The guide's pipeline itself, where jq is installed.
	if jq, err := exec.LookPath("jq"); err == nil {
		e.ctlOK(t, "OK\n", "put", "/config/api/extra", "1") // 10
		ep := e.m.ClientAddr()
		cmd := exec.CommandContext(e.ctx, "bash", "-c", fmt.Sprintf(
			"%[1]s --endpoints=%[2]s compact $(%[1]s --endpoints=%[2]s endpoint status -w json | %[3]s -r '.[0].Status.header.revision')",
			etcdctlPath, ep, jq))
		cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
		out, err := cmd.Output()
		if err != nil || string(out) != "compacted revision 10\n" {
			t.Errorf("compaction pipeline: %v: %q", err, out)
		}
	}
}

var (
	tableBorder = regexp.MustCompile(`^\+(-+\+)+$`)
	versionCell = regexp.MustCompile(`^3\.\d+\.\d+$`)
	sizeCell    = regexp.MustCompile(`^\d+(\.\d+)? (B|kB|MB|GB)$`)
	numberCell  = regexp.MustCompile(`^[1-9]\d*$`)
)

// checkTable checks an etcdctl -w table output: borders, column widths,
// header and cells. Cells "<version>", "<size>" and "<n>" match any version,
// human-readable size or positive number.
func checkTable(t *testing.T, out string, header []string, rows [][]string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4+len(rows) {
		t.Errorf("table has %d lines, want %d:\n%s", len(lines), 4+len(rows), out)
		return
	}
	border := lines[0]
	if !tableBorder.MatchString(border) || lines[2] != border || lines[len(lines)-1] != border {
		t.Errorf("table borders are wrong:\n%s", out)
	}
	parse := func(line string) []string {
		if len(line) != len(border) || !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
			t.Errorf("table line %q does not fit the border %q", line, border)
			return nil
		}
		cells := strings.Split(line[1:len(line)-1], "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		return cells
	}
	if got := parse(lines[1]); strings.Join(got, "|") != strings.Join(header, "|") {
		t.Errorf("table header %q, want %q", got, header)
	}
	for i, want := range rows {
		got := parse(lines[3+i])
		if len(got) != len(want) {
			t.Errorf("table row %q, want %q", got, want)
			continue
		}
		for j := range want {
			ok := got[j] == want[j]
			switch want[j] {
			case "<version>":
				ok = versionCell.MatchString(got[j])
			case "<size>":
				ok = sizeCell.MatchString(got[j])
			case "<n>":
				ok = numberCell.MatchString(got[j])
			}
			if !ok {
				t.Errorf("table column %s = %q, want %q", header[j], got[j], want[j])
			}
		}
	}
}
