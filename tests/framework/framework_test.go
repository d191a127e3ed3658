package framework

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestMain(m *testing.M) { RunMain(m) }

// Values printed by etcd 3.4.23 for a one-member cluster with peer URL
// http://127.0.0.1:23800 and --initial-cluster-token=tok.
func TestComputeIDsKnownValues(t *testing.T) {
	id := ComputeMemberID([]string{"http://127.0.0.1:23800"}, "tok")
	if id != 0x25351fad42b3c84c {
		t.Errorf("member ID = %x, want 25351fad42b3c84c", id)
	}
	if cid := ComputeClusterID([]uint64{id}); cid != 0x3d3fd201ef4996ab {
		t.Errorf("cluster ID = %x, want 3d3fd201ef4996ab", cid)
	}
	// Order does not matter.
	a := ComputeMemberID([]string{"http://b:1", "http://a:1"}, "x")
	b := ComputeMemberID([]string{"http://a:1", "http://b:1"}, "x")
	if a != b {
		t.Errorf("member ID depends on peer URL order: %x != %x", a, b)
	}
	if ComputeClusterID([]uint64{1, 2, 3}) != ComputeClusterID([]uint64{3, 1, 2}) {
		t.Error("cluster ID depends on member order")
	}
}

// The server's own IDs, for one and for three members, equal the computed
// ones.
func TestComputeIDsMatchServer(t *testing.T) {
	for _, size := range []int{1, 3} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			t.Parallel()
			c := NewCluster(t, ClusterConfig{Size: size, Token: fmt.Sprintf("ids-%d", size)})
			cli := c.Client(t)
			ctx := Context(t, 10*time.Second)
			ml, err := cli.MemberList(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ml.Header.ClusterId != c.ID() {
				t.Errorf("cluster ID = %x, want computed %x", ml.Header.ClusterId, c.ID())
			}
			if l := c.Leader(t); l == nil {
				t.Fatal("no leader")
			}
			got := map[string]uint64{}
			for _, m := range ml.Members {
				got[m.Name] = m.ID
			}
			for _, m := range c.Members {
				if got[m.Name] != m.ID() {
					t.Errorf("member %s ID = %x, want computed %x", m.Name, got[m.Name], m.ID())
				}
				st, err := cli.Status(ctx, m.ClientURL)
				if err != nil {
					t.Fatal(err)
				}
				if st.Header.MemberId != m.ID() || st.Header.ClusterId != c.ID() {
					t.Errorf("Status(%s) header = %x/%x, want %x/%x", m.Name,
						st.Header.MemberId, st.Header.ClusterId, m.ID(), c.ID())
				}
			}
		})
	}
}

// Stop, Kill, Pause, Resume and Restart do what they say.
func TestMemberLifecycle(t *testing.T) {
	c := NewCluster(t, ClusterConfig{})
	m := c.Members[0]
	cli := m.Client(t)
	put := func(k string, d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, err := cli.Put(ctx, k, "v")
		return err
	}
	if err := put("a", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	m.Pause(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := cli.Get(ctx, "a")
	cancel()
	if err == nil {
		t.Fatal("get succeeded against a paused member")
	}
	m.Resume(t)
	if err := put("c", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	m.Stop(t)
	if m.Running() {
		t.Fatal("running after Stop")
	}
	if ws := m.ProcessState().Sys().(syscall.WaitStatus); ws.Exited() && ws.ExitStatus() != 0 {
		t.Errorf("SIGTERM exit status %d, want 0 or death by SIGTERM", ws.ExitStatus())
	}
	m.Start(t)
	if err := put("d", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	m.Kill(t)
	if ws := m.ProcessState().Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("after Kill: %v", m.ProcessState())
	}
	m.Start(t)

	// A paused member still stops on SIGTERM.
	m.Pause(t)
	m.Restart(t)
	resp, err := cli.Get(Context(t, 5*time.Second), "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 3 {
		t.Errorf("after restarts: %d keys, want 3 (a, c, d)", len(resp.Kvs))
	}
}
