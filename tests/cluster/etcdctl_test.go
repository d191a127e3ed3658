package cluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// etcdctlPath is Debian's etcdctl (package etcd-client): etcdctl 3.4.
const etcdctlPath = "/usr/bin/etcdctl"

type ctlResult struct {
	stdout, stderr string
	code           int
}

// etcdctl runs etcdctl with the given endpoints.
func (e *env) etcdctl(endpoints []string, args ...string) ctlResult {
	e.t.Helper()
	ctx, cancel := e.timeout(30 * time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdctlPath, append([]string{"--endpoints=" + strings.Join(endpoints, ","), "--command-timeout=10s"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "ETCDCTL_API=3")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := ctlResult{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("etcdctl %q: %v", args, err)
	}
	return r
}

var (
	tableBorder = regexp.MustCompile(`^\+(-+\+)+$`)
	versionCell = regexp.MustCompile(`^3\.\d+\.\d+$`)
	sizeCell    = regexp.MustCompile(`^\d+(\.\d+)? (B|kB|MB|GB)$`)
	numberCell  = regexp.MustCompile(`^[1-9]\d*$`)
)

// checkTable checks an etcdctl -w table output: borders, column widths,
// header and cells, and returns the cells. Cells "<version>", "<size>" and
// "<n>" match any version, human-readable size or positive number.
func checkTable(t *testing.T, what, out string, header []string, rows [][]string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4+len(rows) {
		t.Errorf("%s: table has %d lines, want %d:\n%s", what, len(lines), 4+len(rows), out)
		return nil
	}
	border := lines[0]
	if !tableBorder.MatchString(border) || lines[2] != border || lines[len(lines)-1] != border {
		t.Errorf("%s: table borders are wrong:\n%s", what, out)
	}
	parse := func(line string) []string {
		if len(line) != len(border) || !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
			t.Errorf("%s: table line %q does not fit the border %q", what, line, border)
			return nil
		}
		cells := strings.Split(line[1:len(line)-1], "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		return cells
	}
	if got := parse(lines[1]); strings.Join(got, "|") != strings.Join(header, "|") {
		t.Errorf("%s: table header %q, want %q", what, got, header)
	}
	var cells [][]string
	for i, want := range rows {
		got := parse(lines[3+i])
		cells = append(cells, got)
		if len(got) != len(want) {
			t.Errorf("%s: table row %q, want %q", what, got, want)
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
				t.Errorf("%s: row %d column %s = %q, want %q", what, i, header[j], got[j], want[j])
			}
		}
	}
	return cells
}

// The configuration guide's cluster commands with Debian's etcdctl against
// a 3-member cluster: member list, endpoint health and status of the whole
// cluster, move-leader.
func TestEtcdctlCluster(t *testing.T) {
	if _, err := os.Stat(etcdctlPath); err != nil {
		t.Skipf("%s not installed (apt-get install etcd-client)", etcdctlPath)
	}
	t.Parallel()
	e := newEnv(t, 3)
	all := e.all()
	lead := e.waitLeader(all, 10*time.Second)
	e.putMany(lead, "k/", 5)
	eps := e.pc.Endpoints()

	// Members in ID order, as the server lists them.
	order := append([]int(nil), all...)
	sort.Slice(order, func(a, b int) bool { return e.pc.IDs[order[a]] < e.pc.IDs[order[b]] })

	r := e.etcdctl(eps, "member", "list", "-w", "table")
	var rows [][]string
	var simple string
	for _, i := range order {
		m := e.pc.Members[i]
		id := fmt.Sprintf("%x", e.pc.IDs[i])
		rows = append(rows, []string{id, "started", m.Name, m.PeerURL, m.ClientURL, "false"})
		simple += fmt.Sprintf("%s, started, %s, %s, %s, false\n", id, m.Name, m.PeerURL, m.ClientURL)
	}
	if r.code != 0 {
		t.Errorf("member list -w table: exit %d, stderr %s", r.code, r.stderr)
	} else {
		checkTable(t, "member list -w table", r.stdout,
			[]string{"ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"}, rows)
	}
	if r := e.etcdctl(eps, "member", "list"); r.code != 0 || r.stdout != simple {
		t.Errorf("member list: exit %d stdout\n%s\nwant\n%s", r.code, r.stdout, simple)
	}

	// endpoint health --cluster: every member's client URL, in any order
	// (etcdctl checks them concurrently); etcdctl 3.4 prints on stderr.
	r = e.etcdctl(eps[:1], "endpoint", "health", "--cluster")
	healthy := regexp.MustCompile(`^(\S+) is healthy: successfully committed proposal: took = [0-9.]+(ns|µs|ms|s)$`)
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout+r.stderr), "\n") {
		m := healthy.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("endpoint health --cluster: unexpected line %q", line)
			continue
		}
		got = append(got, m[1])
	}
	sort.Strings(got)
	want := append([]string(nil), eps...)
	sort.Strings(want)
	if r.code != 0 || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("endpoint health --cluster: exit %d, healthy %q, want %q\n%s%s", r.code, got, want, r.stdout, r.stderr)
	}

	// endpoint status --cluster -w table: one row per member in member
	// list order, the same leader, term and indexes on every row.
	e.converge(all)
	r = e.etcdctl(eps[:1], "endpoint", "status", "--cluster", "-w", "table")
	rows = nil
	for _, i := range order {
		rows = append(rows, []string{e.pc.Members[i].ClientURL, fmt.Sprintf("%x", e.pc.IDs[i]), "<version>", "<size>",
			fmt.Sprint(i == lead), "false", "<n>", "<n>", "<n>", ""})
	}
	if r.code != 0 {
		t.Errorf("endpoint status --cluster -w table: exit %d, stderr %s", r.code, r.stderr)
	} else {
		cells := checkTable(t, "endpoint status --cluster -w table", r.stdout,
			[]string{"ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"}, rows)
		for _, c := range cells {
			if len(c) == 10 && (c[6] != cells[0][6] || c[7] != cells[0][7] || c[8] != cells[0][8] || c[7] != c[8]) {
				t.Errorf("endpoint status: row %q disagrees with %q on term or indexes", c, cells[0])
			}
		}
	}

	// move-leader <hex id>: etcdctl finds the leader among the endpoints
	// and asks it.
	to := others(all, lead)[1]
	r = e.etcdctl(eps, "move-leader", fmt.Sprintf("%x", e.pc.IDs[to]))
	wantOut := fmt.Sprintf("Leadership transferred from %x to %x\n", e.pc.IDs[lead], e.pc.IDs[to])
	if r.code != 0 || r.stdout != wantOut {
		t.Errorf("move-leader: exit %d stdout %q stderr %q, want %q", r.code, r.stdout, r.stderr, wantOut)
	}
	if got := e.waitLeader(all, 10*time.Second); got != to {
		t.Errorf("after move-leader, leader is %s, want %s", e.name(got), e.name(to))
	}
	// Through a follower only, etcdctl finds no leader among the endpoints
	// and exits with its bad-arguments code.
	r = e.etcdctl([]string{e.pc.Members[lead].ClientURL}, "move-leader", fmt.Sprintf("%x", e.pc.IDs[to]))
	wantErrOut := fmt.Sprintf("Error: no leader endpoint given at [%s]\n", e.pc.Members[lead].ClientURL)
	if r.code != 128 || r.stdout != "" || r.stderr != wantErrOut {
		t.Errorf("move-leader through a follower: exit %d stdout %q stderr %q, want exit 128 and %q", r.code, r.stdout, r.stderr, wantErrOut)
	}
	e.checkHashKV(all)
}
