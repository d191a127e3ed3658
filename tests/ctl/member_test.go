package ctl

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/tests/framework"
)

// TestMembershipFlow grows a cluster the way the docs tell operators to:
// `member add --learner` prints the ETCD_* settings of the new member,
// which starts with them; then promote, move-leader, and remove the old
// leader, all with cairnctl.
func TestMembershipFlow(t *testing.T) {
	t.Parallel()
	c := framework.NewCluster(t, framework.ClusterConfig{})
	m0 := c.Members[0]
	m1 := framework.NewMember(t, framework.MemberConfig{Name: "m1", State: "existing"})
	ep := m0.ClientAddr()

	out := ctlOK(t, ep, "member", "add", "m1", "--peer-urls="+m1.PeerURL, "--learner")
	re := regexp.MustCompile(`^Member ([0-9a-f ]{16}) added as learner to cluster ([0-9a-f ]{16})\n\n` +
		`ETCD_NAME="m1"\nETCD_INITIAL_CLUSTER="([^"]*)"\nETCD_INITIAL_ADVERTISE_PEER_URLS="([^"]*)"\nETCD_INITIAL_CLUSTER_STATE="existing"\n$`)
	sm := re.FindStringSubmatch(out)
	if sm == nil {
		t.Fatalf("member add printed %q", out)
	}
	id := strings.TrimSpace(sm[1])
	parts := strings.Split(sm[3], ",")
	if len(parts) != 2 || !contains(parts, "m0="+m0.PeerURL) || !contains(parts, "m1="+m1.PeerURL) || sm[4] != m1.PeerURL {
		t.Fatalf("ETCD_INITIAL_CLUSTER %q, ETCD_INITIAL_ADVERTISE_PEER_URLS %q", sm[3], sm[4])
	}
	// Start the new member with what member add printed.
	m1.SetArgs("--initial-cluster=" + sm[3])
	// A learner serves no linearizable read, so m1.Start would not see it
	// ready: wait until it has published its name instead.
	if err := m1.Launch(framework.BinaryPath(t)); err != nil {
		t.Fatal(err)
	}
	want := id + ", started, m1, " + m1.PeerURL + ", " + m1.ClientURL + ", true\n"
	for start := time.Now(); !strings.Contains(ctlOK(t, ep, "member", "list"), want); {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("member list after the learner started:\n%s", ctlOK(t, ep, "member", "list"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A learner is promoted once it has caught up: retry until then.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := ctl(t, ep, "", "member", "promote", id)
		if r.code == 0 {
			if !regexp.MustCompile(`^Member +` + id + ` promoted in cluster [0-9a-f ]{16}\n$`).MatchString(r.stdout) {
				t.Errorf("member promote printed %q", r.stdout)
			}
			break
		}
		if !strings.Contains(r.stderr, "in sync with leader") || time.Now().After(deadline) {
			t.Fatalf("member promote: exit %d %q", r.code, r.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	both := m0.ClientAddr() + "," + m1.ClientAddr()
	out = ctlOK(t, both, "move-leader", id)
	leaderID := strings.TrimLeft(strings.Fields(ctlOK(t, ep, "endpoint", "status"))[1], ",")
	if !regexp.MustCompile(`^Leadership transferred from [0-9a-f]+ to ` + strings.TrimLeft(id, "0") + `\n$`).MatchString(out) {
		t.Errorf("move-leader printed %q", out)
	}
	status := ctlOK(t, both, "endpoint", "status")
	if !strings.Contains(status, m1.ClientAddr()+", "+id+", ") || !strings.Contains(status, ", true, false, ") {
		t.Errorf("endpoint status after move-leader:\n%s", status)
	}
	// move-leader needs the leader among the endpoints.
	if r := ctl(t, ep, "", "move-leader", id); r.code != 128 || !strings.Contains(r.stderr, "no leader endpoint given at") {
		t.Errorf("move-leader without the leader's endpoint: exit %d %q", r.code, r.stderr)
	}
	// Remove the old leader through the new one.
	out = ctlOK(t, m1.ClientAddr(), "member", "remove", strings.TrimSuffix(leaderID, ","))
	if !strings.HasPrefix(out, "Member ") || !strings.Contains(out, " removed from cluster ") {
		t.Errorf("member remove printed %q", out)
	}
	if list := ctlOK(t, m1.ClientAddr(), "member", "list"); strings.Count(list, "\n") != 1 || !strings.HasPrefix(list, id+", started, m1") {
		t.Errorf("member list after remove:\n%s", list)
	}
	if out := ctlOK(t, m1.ClientAddr(), "endpoint", "health", "--cluster"); !strings.HasPrefix(out, m1.ClientURL+" is healthy") {
		t.Errorf("endpoint health --cluster: %q", out)
	}
}
