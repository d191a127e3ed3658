package cluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// checkStatus checks that every member in idx reports lead as leader and,
// once they converged, the same term, raft index and applied index.
func (e *env) checkStatus(idx []int, lead int) []*clientv3.StatusResponse {
	e.t.Helper()
	e.converge(idx)
	var sts []*clientv3.StatusResponse
	for _, i := range idx {
		st, err := e.status(i, 5*time.Second)
		if err != nil {
			e.t.Fatalf("Status of %s: %v", e.name(i), err)
		}
		sts = append(sts, st)
		if st.Leader != e.pc.IDs[lead] || st.Header.MemberId != e.pc.IDs[i] || st.Header.ClusterId != e.pc.ID(3) ||
			st.IsLearner || len(st.Errors) != 0 || st.DbSize <= 0 || !strings.HasPrefix(st.Version, "3.") {
			e.t.Errorf("Status of %s: %+v; want leader %x, member %x, cluster %x", e.name(i), st, e.pc.IDs[lead], e.pc.IDs[i], e.pc.ID(3))
		}
		s0 := sts[0]
		if st.RaftTerm != s0.RaftTerm || st.RaftIndex != s0.RaftIndex || st.RaftAppliedIndex != s0.RaftAppliedIndex ||
			st.Header.RaftTerm != s0.RaftTerm || st.RaftAppliedIndex != st.RaftIndex {
			e.t.Errorf("Status: %s term %d index %d applied %d header term %d; %s term %d index %d applied %d",
				e.name(i), st.RaftTerm, st.RaftIndex, st.RaftAppliedIndex, st.Header.RaftTerm,
				e.name(idx[0]), s0.RaftTerm, s0.RaftIndex, s0.RaftAppliedIndex)
		}
	}
	return sts
}

// Status on each member; MoveLeader from a follower (refused), from the
// leader to a follower, and to a member that does not exist.
func TestMoveLeaderAndStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	all := e.all()
	lead := e.waitLeader(all, 10*time.Second)
	fs := others(all, lead)
	e.putMany(lead, "k/", 10)
	before := e.checkStatus(all, lead)

	_, err := pb.NewMaintenanceClient(e.grpcConn(fs[0])).MoveLeader(e.ctx, &pb.MoveLeaderRequest{TargetID: e.pc.IDs[fs[1]]})
	wantErr(t, "MoveLeader through a follower", err, rpctypes.ErrGRPCNotLeader)
	_, err = pb.NewMaintenanceClient(e.grpcConn(lead)).MoveLeader(e.ctx, &pb.MoveLeaderRequest{TargetID: 0x1234})
	wantErr(t, "MoveLeader to an unknown member", err, rpctypes.ErrGRPCBadLeaderTransferee)

	ctx, cancel := e.timeout(15 * time.Second)
	resp, err := e.cli(lead).MoveLeader(ctx, e.pc.IDs[fs[1]])
	cancel()
	if err != nil {
		t.Fatalf("MoveLeader from the leader to %s: %v", e.name(fs[1]), err)
	}
	// etcd answers MoveLeader with an empty response, without header.
	if resp.Header != nil {
		t.Errorf("MoveLeader answered with header %+v, want none as etcd", resp.Header)
	}
	// The transferee leads once MoveLeader returns.
	st, err := e.status(fs[1], 5*time.Second)
	if err != nil || st.Leader != e.pc.IDs[fs[1]] {
		t.Errorf("right after MoveLeader, %s reports leader %x (%v), want itself", e.name(fs[1]), st.Leader, err)
	}
	if got := e.waitLeader(all, 10*time.Second); got != fs[1] {
		t.Errorf("leader after MoveLeader is %s, want %s", e.name(got), e.name(fs[1]))
	}
	e.putMany(fs[0], "k2/", 10)
	after := e.checkStatus(all, fs[1])
	if after[0].RaftTerm != before[0].RaftTerm+1 {
		t.Errorf("term after one leadership transfer is %d, want %d", after[0].RaftTerm, before[0].RaftTerm+1)
	}
	// The old leader may not move leadership any more.
	_, err = pb.NewMaintenanceClient(e.grpcConn(lead)).MoveLeader(e.ctx, &pb.MoveLeaderRequest{TargetID: e.pc.IDs[lead]})
	wantErr(t, "MoveLeader through the former leader", err, rpctypes.ErrGRPCNotLeader)
	e.checkHashKV(all)
}

// Snapshot catch-up: a follower stopped while the others write far past
// --snapshot-count comes back to a truncated log, receives a snapshot from
// the leader and ends with the same state.
func TestSnapshotCatchUp(t *testing.T) {
	t.Parallel()
	is34 := serverIs34(t)
	args := []string{"--snapshot-count=100"}
	if !is34 { // etcd 3.4 keeps 5000 catch-up entries and has no flag for it
		args = append(args, "--experimental-snapshot-catchup-entries=10")
	}
	e := newEnv(t, 3, args...)
	all := e.all()
	lead := e.waitLeader(all, 10*time.Second)
	f := others(all, lead)[0]
	e.putMany(lead, "before/", 10)
	e.pc.Members[f].Stop(t)
	e.putMany(lead, "key/", 1000)
	e.pc.Members[f].Start(t)
	if is34 {
		t.Log("etcd 3.4: the follower is within the 5000 catch-up entries, no snapshot expected")
	} else {
		waitLog(t, e.pc.Members[f], "installed snapshot from the leader", 10*time.Second)
	}
	e.checkHashKV(all)
	if !is34 {
		e.checkOneSnapshot(e.pc.Members[f])
	}
	for k, v := range map[string]int{"before/": 10, "key/": 1000} {
		if got := len(e.getLocal(f, k)); got != v {
			t.Errorf("the follower holds %d keys under %s, want %d", got, k, v)
		}
	}
	got := e.getLocal(f, "key/")
	for i := 0; i < 1000; i++ {
		if k, v := fmt.Sprintf("key/%04d", i), fmt.Sprintf("v%d", i); got[k] != v {
			t.Fatalf("the follower reads %s=%q, want %q", k, got[k], v)
		}
	}
	// It keeps following after the snapshot.
	e.putMany(lead, "after/", 10)
	e.checkHashKV(all)
}
