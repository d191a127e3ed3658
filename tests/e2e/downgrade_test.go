package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"

	"github.com/cairndb/cairn/tests/framework"
)

// etcd 3.6 answers Downgrade with the cluster version as major.minor and
// records the target as major.minor.0.
const (
	downgradeClusterVersion = "3.6"
	downgradeTarget         = "3.5.0"
)

// skipDowngrade34 skips when the server is etcd 3.4, which has no
// Downgrade RPC (it answers Unimplemented) and no Status.downgradeInfo.
func skipDowngrade34(t *testing.T) {
	t.Helper()
	out, err := exec.Command(framework.BinaryPath(t), "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", framework.BinaryPath(t), err)
	}
	if strings.HasPrefix(string(out), "etcd Version: 3.4.") {
		t.Skip("etcd 3.4 has no Maintenance.Downgrade")
	}
}

func downgradeInfoOf(t *testing.T, ctx context.Context, cli *clientv3.Client, endpoint string) *pb.DowngradeInfo {
	t.Helper()
	st, err := cli.Status(ctx, endpoint)
	if err != nil {
		t.Fatalf("status of %s: %v", endpoint, err)
	}
	if st.DowngradeInfo == nil {
		return &pb.DowngradeInfo{}
	}
	return st.DowngradeInfo
}

// waitDowngradeInfo waits until the member's Status (a local read) reports
// the job, as etcd's own downgrade tests do for every member.
func waitDowngradeInfo(t *testing.T, ctx context.Context, cli *clientv3.Client, m *framework.Member, target string, enabled bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := downgradeInfoOf(t, ctx, cli, m.ClientURL)
		if d.TargetVersion == target && d.Enabled == enabled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: downgradeInfo {%q %v}, want {%q %v}", m.Name, d.TargetVersion, d.Enabled, target, enabled)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func downgradeOK(t *testing.T, e *env, action clientv3.DowngradeAction, ver string) {
	t.Helper()
	resp, err := e.cli.Downgrade(e.ctx, action, ver)
	if err != nil {
		t.Fatalf("downgrade %v %q: %v", action, ver, err)
	}
	if resp.Version != downgradeClusterVersion {
		t.Errorf("downgrade %v %q: version %q, want %q", action, ver, resp.Version, downgradeClusterVersion)
	}
	e.checkHeader(t, fmt.Sprintf("downgrade %v", action), resp.Header, -1)
}

func downgradeFails(t *testing.T, e *env, action clientv3.DowngradeAction, ver string, want error) {
	t.Helper()
	_, err := e.cli.Downgrade(e.ctx, action, ver)
	wantErr(t, err, want)
}

// The whole job on one member: version format, target, validate, enable,
// the job in progress across a restart, cancel, and auth.
func TestDowngrade(t *testing.T) {
	skipDowngrade34(t)
	t.Parallel()
	e := newEnv(t)
	validate, enable, cancel := clientv3.DowngradeValidate, clientv3.DowngradeEnable, clientv3.DowngradeCancel

	// "3.5" and "3.5.0" (any patch, pre-release or metadata) name 3.5;
	// anything else is a format error, for validate and enable alike.
	for _, v := range []string{"", "3", "x", "v3.5", "3.5.x", "3.5.0.1", "3.5-rc", "3..5", "3.5.0-rc!"} {
		downgradeFails(t, e, validate, v, rpctypes.ErrGRPCWrongDowngradeVersionFormat)
		downgradeFails(t, e, enable, v, rpctypes.ErrGRPCWrongDowngradeVersionFormat)
	}
	// Only one minor version below the cluster version (3.6) is allowed.
	for _, v := range []string{"3.4", "3.6", "3.6.0", "3.7", "2.5", "4.5.0"} {
		downgradeFails(t, e, validate, v, rpctypes.ErrGRPCInvalidDowngradeTargetVersion)
		downgradeFails(t, e, enable, v, rpctypes.ErrGRPCInvalidDowngradeTargetVersion)
	}
	for _, v := range []string{"3.5", "3.5.0", "3.5.21", "3.5.0-rc.1+build.7"} {
		downgradeOK(t, e, validate, v)
	}
	// Validation changes nothing; there is no job to cancel.
	if d := downgradeInfoOf(t, e.ctx, e.cli, e.m.ClientURL); d.Enabled || d.TargetVersion != "" {
		t.Fatalf("downgradeInfo after validate: %v, want none", d)
	}
	downgradeFails(t, e, cancel, "", rpctypes.ErrGRPCNoInflightDowngrade)
	// An unknown action: etcd's "unknown method" has no gRPC mapping.
	_, err := pb.NewMaintenanceClient(e.cli.ActiveConnection()).Downgrade(e.ctx, &pb.DowngradeRequest{Action: 7, Version: "3.5"})
	wantStatusErr(t, err, codes.Unknown, "etcdserver: unknown method")

	// Enable; the patch does not matter, the job records major.minor.0.
	downgradeOK(t, e, enable, "3.5.7")
	waitDowngradeInfo(t, e.ctx, e.cli, e.m, downgradeTarget, true)
	// A job in progress: validate and enable say so, but the target and
	// the format are checked first, as etcd does.
	downgradeFails(t, e, validate, "3.5", rpctypes.ErrGRPCDowngradeInProcess)
	downgradeFails(t, e, enable, "3.5.0", rpctypes.ErrGRPCDowngradeInProcess)
	downgradeFails(t, e, enable, "3.4", rpctypes.ErrGRPCInvalidDowngradeTargetVersion)
	downgradeFails(t, e, enable, "x", rpctypes.ErrGRPCWrongDowngradeVersionFormat)

	// The job is replicated state: it survives a restart.
	e.m.Restart(t)
	waitDowngradeInfo(t, e.ctx, e.cli, e.m, downgradeTarget, true)
	downgradeFails(t, e, enable, "3.5", rpctypes.ErrGRPCDowngradeInProcess)

	downgradeOK(t, e, cancel, "")
	waitDowngradeInfo(t, e.ctx, e.cli, e.m, "", false)
	downgradeFails(t, e, cancel, "", rpctypes.ErrGRPCNoInflightDowngrade)
	e.m.Restart(t)
	waitDowngradeInfo(t, e.ctx, e.cli, e.m, "", false)

	// With auth on, Downgrade is for root only, checked before the
	// request itself.
	mustOK := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err = e.cli.UserAdd(e.ctx, "root", "rootpw")
	mustOK("add root", err)
	_, err = e.cli.UserGrantRole(e.ctx, "root", "root")
	mustOK("grant root", err)
	_, err = e.cli.UserAdd(e.ctx, "alice", "alicepw")
	mustOK("add alice", err)
	_, err = e.cli.AuthEnable(e.ctx)
	mustOK("auth enable", err)
	authCli := func(user, pw string) *clientv3.Client {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{e.m.ClientURL}, Username: user, Password: pw, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	alice, root := authCli("alice", "alicepw"), authCli("root", "rootpw")
	for _, v := range []string{"3.5", "x"} {
		_, err = alice.Downgrade(e.ctx, validate, v)
		wantErr(t, err, rpctypes.ErrGRPCPermissionDenied)
	}
	_, err = alice.Downgrade(e.ctx, cancel, "")
	wantErr(t, err, rpctypes.ErrGRPCPermissionDenied)
	_, err = e.cli.Downgrade(e.ctx, validate, "3.5")
	wantErr(t, err, rpctypes.ErrGRPCUserEmpty)
	if resp, err := root.Downgrade(e.ctx, validate, "3.5"); err != nil || resp.Version != downgradeClusterVersion {
		t.Fatalf("root: downgrade validate: %v %v", resp, err)
	}
	_, err = root.Downgrade(e.ctx, cancel, "")
	wantErr(t, err, rpctypes.ErrGRPCNoInflightDowngrade)
}

// On a 3-member cluster the job and its cancellation reach every member,
// a member that was down while it was enabled gets it in the leader's
// snapshot, and it is cancelled through any member.
func TestDowngradeCluster(t *testing.T) {
	skipDowngrade34(t)
	t.Parallel()
	c := framework.NewCluster(t, framework.ClusterConfig{Size: 3,
		Args: []string{"--snapshot-count=100", "--experimental-snapshot-catchup-entries=10"}})
	ctx := framework.Context(t, 60*time.Second)
	cli := c.Client(t)
	lead := c.Leader(t)
	var followers []*framework.Member
	for _, m := range c.Members {
		if m != lead {
			followers = append(followers, m)
		}
	}
	f0, f1 := followers[0], followers[1]

	// Enable through a follower: it forwards the proposal to the leader.
	resp, err := f0.Client(t).Downgrade(ctx, clientv3.DowngradeEnable, "3.5")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version != downgradeClusterVersion {
		t.Errorf("enable: version %q, want %q", resp.Version, downgradeClusterVersion)
	}
	for _, m := range c.Members {
		waitDowngradeInfo(t, ctx, cli, m, downgradeTarget, true)
	}
	_, err = lead.Client(t).Downgrade(ctx, clientv3.DowngradeValidate, "3.5")
	wantErr(t, err, rpctypes.ErrGRPCDowngradeInProcess)

	// Cancel through the leader: every member sees it.
	lc := lead.Client(t)
	if _, err := lc.Downgrade(ctx, clientv3.DowngradeCancel, ""); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members {
		waitDowngradeInfo(t, ctx, cli, m, "", false)
	}

	// f1 misses the next enable, and so much log after it that it comes
	// back through a snapshot: the job must come with the snapshot.
	f1.Stop(t)
	if _, err := lc.Downgrade(ctx, clientv3.DowngradeEnable, "3.5.0"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		if _, err := lc.Put(ctx, fmt.Sprintf("k%03d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	f1.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for !f1.LogContains("installed snapshot from the leader") {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not install a snapshot from the leader", f1.Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, m := range c.Members {
		waitDowngradeInfo(t, ctx, cli, m, downgradeTarget, true)
	}

	// Cancel through the member that caught up by snapshot.
	if _, err := f1.Client(t).Downgrade(ctx, clientv3.DowngradeCancel, ""); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members {
		waitDowngradeInfo(t, ctx, cli, m, "", false)
	}
	_, err = f0.Client(t).Downgrade(ctx, clientv3.DowngradeCancel, "")
	wantErr(t, err, rpctypes.ErrGRPCNoInflightDowngrade)
}

// cairnctl's downgrade commands print etcdctl 3.6's lines, and endpoint
// status shows the job. (Debian's etcdctl is 3.4, which has no downgrade
// command and no downgrade columns.)
func TestDowngradeCairnctl(t *testing.T) {
	skipDowngrade34(t)
	t.Parallel()
	root, err := framework.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctl := filepath.Join(t.TempDir(), "cairnctl")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	build := exec.Command(goBin, "build", "-o", ctl, "./cmd/cairnctl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/cairnctl: %v\n%s", err, out)
	}
	e := newEnv(t)
	run := func(args ...string) ctlResult {
		t.Helper()
		return e.runCtl(t, ctl, "", args...)
	}
	ok := func(want string, args ...string) {
		t.Helper()
		if r := run(args...); r.code != 0 || r.stdout != want {
			t.Errorf("cairnctl %q: exit %d stdout %q stderr %q, want exit 0 stdout %q", args, r.code, r.stdout, r.stderr, want)
		}
	}
	fails := func(code int, msg string, args ...string) {
		t.Helper()
		r := run(args...)
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		if r.code != code || r.stdout != "" || lines[len(lines)-1] != "Error: "+msg {
			t.Errorf("cairnctl %q: exit %d stdout %q stderr %q, want exit %d and Error: %s", args, r.code, r.stdout, r.stderr, code, msg)
		}
	}
	status := func() (target, enabled string) {
		t.Helper()
		r := run("endpoint", "status", "-w", "json")
		var sts []struct {
			Status struct {
				DowngradeInfo struct {
					TargetVersion string `json:"targetVersion"`
					Enabled       bool   `json:"enabled"`
				} `json:"downgradeInfo"`
			} `json:"Status"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &sts); err != nil || len(sts) != 1 {
			t.Fatalf("endpoint status -w json: %q %v", r.stdout, err)
		}
		d := sts[0].Status.DowngradeInfo
		// The table's last two columns say the same.
		tbl := run("endpoint", "status", "-w", "table").stdout
		var hdr, row []string
		for _, l := range strings.Split(tbl, "\n") {
			if !strings.HasPrefix(l, "|") {
				continue
			}
			cells := strings.Split(strings.Trim(l, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			if hdr == nil {
				hdr = cells
			} else {
				row = cells
			}
		}
		n := len(hdr)
		if n < 2 || len(row) != n || hdr[n-2] != "DOWNGRADE TARGET VERSION" || hdr[n-1] != "DOWNGRADE ENABLED" ||
			row[n-2] != d.TargetVersion || row[n-1] != fmt.Sprint(d.Enabled) {
			t.Errorf("endpoint status -w table, want downgrade columns %q %v:\n%s", d.TargetVersion, d.Enabled, tbl)
		}
		return d.TargetVersion, fmt.Sprint(d.Enabled)
	}

	fails(128, "TARGET_VERSION not provided", "downgrade", "validate")
	fails(128, "too many arguments", "downgrade", "enable", "3.5", "3.6")
	fails(128, "target version not provided", "downgrade", "enable", "")
	fails(1, "etcdserver: wrong downgrade target version format", "downgrade", "validate", "3")
	fails(1, "etcdserver: invalid downgrade target version", "downgrade", "validate", "3.4")
	fails(1, "etcdserver: no inflight downgrade job", "downgrade", "cancel")
	ok("Downgrade validate success, cluster version 3.6\n", "downgrade", "validate", "3.5")
	if tv, en := status(); tv != "" || en != "false" {
		t.Errorf("endpoint status before enable: %q %s", tv, en)
	}
	ok("Downgrade enable success, cluster version 3.6\n", "downgrade", "enable", "3.5")
	if tv, en := status(); tv != downgradeTarget || en != "true" {
		t.Errorf("endpoint status after enable: %q %s, want %q true", tv, en, downgradeTarget)
	}
	fails(1, "etcdserver: cluster has a downgrade job in progress", "downgrade", "enable", "3.5")
	// etcdctl 3.4 reads the same status and ignores the field it lacks.
	if _, err := os.Stat(etcdctlPath); err == nil {
		if r := e.etcdctl(t, "", "endpoint", "status", "-w", "table"); r.code != 0 {
			t.Errorf("etcdctl 3.4 endpoint status during a downgrade job: exit %d %s", r.code, r.stderr)
		}
	}
	// etcdctl 3.6 takes no argument for cancel and ignores any given.
	ok("Downgrade cancel success, cluster version 3.6\n", "downgrade", "cancel", "ignored")
	if tv, en := status(); tv != "" || en != "false" {
		t.Errorf("endpoint status after cancel: %q %s", tv, en)
	}
	fails(1, "etcdserver: no inflight downgrade job", "downgrade", "cancel")
}
