package ops

import (
	"context"
	"testing"
	"time"

	"github.com/cairndb/cairn/tests/framework"
)

// TestGracefulStopTransfersLeadership stops the leader of a three-member
// cluster with SIGTERM, as `systemctl stop` or a rolling restart does.
// etcd hands leadership to another member before it exits (EtcdServer.Stop
// calls TransferLeadership), so the cluster is never without a leader for
// an election timeout and writes keep flowing. Right after the old
// leader's exit the others must already follow a new leader.
func TestGracefulStopTransfersLeadership(t *testing.T) {
	t.Parallel()
	c := framework.NewCluster(t, framework.ClusterConfig{Size: 3})
	lead := c.Leader(t)
	var rest []*framework.Member
	for _, m := range c.Members {
		if m != lead {
			rest = append(rest, m)
		}
	}
	cli := framework.NewClient(t, rest[0].ClientURL, rest[1].ClientURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/before", "x"); err != nil {
		t.Fatal(err)
	}
	lead.Stop(t)
	stopped := time.Now()
	for _, m := range rest {
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := cli.Status(sctx, m.ClientURL)
		scancel()
		if err != nil {
			t.Errorf("Status(%s) right after the leader stopped: %v", m.Name, err)
			continue
		}
		if st.Leader == 0 || st.Leader == lead.ID() {
			t.Errorf("%s right after the leader %s exited (SIGTERM): leader %x, want a new leader already (etcd transfers leadership before it stops)",
				m.Name, lead.Name, st.Leader)
		}
	}
	// A write right after the stop succeeds, and quickly.
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	if _, err := cli.Put(pctx, "/after", "y"); err != nil {
		t.Errorf("put right after the leader stopped: %v", err)
	}
	if d := time.Since(stopped); d > 900*time.Millisecond {
		t.Errorf("put right after the leader stopped took %v (an election timeout: no leadership transfer)", d.Round(time.Millisecond))
	}
	if !lead.LogContains("leadership transfer") && !lead.LogContains("transferee") {
		t.Logf("note: the old leader's log does not mention a leadership transfer")
	}
}
