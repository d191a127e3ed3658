package cluster

import (
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairndb/cairn/tests/framework"
)

// checkMemberLists asks every member in idx for the member list,
// linearizable and serializable, and compares it with want.
func (e *env) checkMemberLists(idx []int, want []*pb.Member) {
	e.t.Helper()
	if e.is34 {
		e.converge(idx) // etcd 3.4 has no linearizable MemberList
	}
	for _, i := range idx {
		for _, opts := range [][]clientv3.OpOption{nil, {clientv3.WithSerializable()}} {
			ctx, cancel := e.timeout(10 * time.Second)
			resp, err := e.cli(i).MemberList(ctx, opts...)
			cancel()
			what := fmt.Sprintf("MemberList(linearizable=%v) from %s", opts == nil, e.name(i))
			if err != nil {
				e.t.Errorf("%s: %v", what, err)
				continue
			}
			if resp.Header.ClusterId != e.pc.ID(3) || resp.Header.MemberId != e.pc.IDs[i] {
				e.t.Errorf("%s: header cluster %x member %x, want %x %x", what,
					resp.Header.ClusterId, resp.Header.MemberId, e.pc.ID(3), e.pc.IDs[i])
			}
			checkMembers(e.t, what, resp.Members, want)
		}
	}
}

// memberAdd adds a voting member through member i. A voter can only be
// added once the member has been connected to the other voters for etcd's
// health interval (5 s), so "unhealthy cluster" is retried for up to d.
func (e *env) memberAdd(i int, peerURL string, d time.Duration) (*clientv3.MemberAddResponse, error) {
	e.t.Helper()
	var resp *clientv3.MemberAddResponse
	var fatal error
	err := poll(d, func() error {
		ctx, cancel := e.timeout(10 * time.Second)
		defer cancel()
		var err error
		resp, err = e.cli(i).MemberAdd(ctx, []string{peerURL})
		if err != nil && !isErr(err, rpctypes.ErrGRPCUnhealthy) {
			fatal = err
			return nil
		}
		return err
	})
	if fatal != nil {
		return nil, fatal
	}
	return resp, err
}

// MemberList from every member; MemberAdd of a voter, which then joins;
// MemberUpdate of its peer URL, which the others then use; MemberRemove of
// it, after which its process exits; then removal of the leader itself.
func TestMemberAddUpdateRemove(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	boot := []int{0, 1, 2}
	var want []*pb.Member
	for _, i := range boot {
		want = append(want, e.wantMember(i, true, false))
	}
	e.checkMemberLists(boot, want)

	lead := e.waitLeader(boot, 10*time.Second)
	f := others(boot, lead)[0]
	e.putMany(lead, "a/", 10)

	// Refusals, with etcd's errors. etcd runs its strict reconfiguration
	// check (members connected for 5 s) before it looks at the URLs, so a
	// MemberAdd may first be refused as "unhealthy cluster".
	cc := pb.NewClusterClient(e.grpcConn(lead))
	_, err := cc.MemberUpdate(e.ctx, &pb.MemberUpdateRequest{ID: 0x1234, PeerURLs: []string{"http://127.0.0.1:1"}})
	wantErr(t, "MemberUpdate of an unknown member", err, rpctypes.ErrGRPCMemberNotFound)
	_, err = cc.MemberRemove(e.ctx, &pb.MemberRemoveRequest{ID: 0x1234})
	wantErr(t, "MemberRemove of an unknown member", err, rpctypes.ErrGRPCMemberNotFound)
	_, err = cc.MemberUpdate(e.ctx, &pb.MemberUpdateRequest{ID: e.pc.IDs[f], PeerURLs: []string{e.pc.Members[others(boot, f)[0]].PeerURL}})
	wantErr(t, "MemberUpdate to another member's peer URL", err, rpctypes.ErrGRPCPeerURLExist)
	for _, c := range []struct {
		what string
		url  string
		want error
	}{
		{"MemberAdd of a used peer URL", e.pc.Members[0].PeerURL, rpctypes.ErrGRPCPeerURLExist},
		{"MemberAdd of a URL without scheme", "127.0.0.1:2380", rpctypes.ErrGRPCMemberBadURLs},
	} {
		_ = poll(15*time.Second, func() error {
			_, err = cc.MemberAdd(e.ctx, &pb.MemberAddRequest{PeerURLs: []string{c.url}})
			if isErr(err, rpctypes.ErrGRPCUnhealthy) {
				return err
			}
			return nil
		})
		wantErr(t, c.what, err, c.want)
	}

	// Add m3 through a follower. etcd's strict reconfiguration check wants
	// the voters connected for 5 s; past that, a follower accepts as well
	// as the leader does.
	n, _ := e.pc.PrepareMember(t, "m3")
	ni := e.pc.Index(n)
	via := f
	add, err := e.memberAdd(f, n.PeerURL, 15*time.Second)
	if err != nil {
		t.Errorf("MemberAdd of a voter through follower %s: %v; want it accepted once the members were connected for 5 s (adding through the leader instead)", e.name(f), err)
		via = lead
		if add, err = e.memberAdd(lead, n.PeerURL, 15*time.Second); err != nil {
			t.Fatalf("MemberAdd of a voter through the leader: %v", err)
		}
	}
	e.pc.IDs[ni] = add.Member.ID
	if add.Member.ID == 0 || add.Header.ClusterId != e.pc.ID(3) || add.Header.MemberId != e.pc.IDs[via] {
		t.Errorf("MemberAdd: member ID %x, header cluster %x member %x", add.Member.ID, add.Header.ClusterId, add.Header.MemberId)
	}
	if got, w := fmtMember(add.Member), fmtMember(e.wantMember(ni, false, false)); got != w {
		t.Errorf("MemberAdd: member %s, want %s", got, w)
	}
	want = append(want, e.wantMember(ni, false, false))
	checkMembers(t, "MemberAdd response", add.Members, want)
	e.checkMemberLists(boot, want)

	e.pc.Join(t, ni, add.Member.ID, boot, true)
	all := []int{0, 1, 2, ni}
	want[3] = e.wantMember(ni, true, false)
	e.checkMemberLists(all, want)
	if st, err := e.status(ni, 5*time.Second); err != nil || st.Header.MemberId != add.Member.ID || st.Header.ClusterId != e.pc.ID(3) {
		t.Errorf("Status of the new member: %v, %v; want member %x of cluster %x", st, err, add.Member.ID, e.pc.ID(3))
	}
	e.putMany(ni, "b/", 10)
	e.checkHashKV(all)

	// Move m3 to a second proxy in front of the same port, and retire the
	// first one: the cluster must now reach m3 at the new URL.
	alt, err := framework.StartProxy(e.pc.Proxies[ni].Target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alt.Close)
	ctx, cancel := e.timeout(10 * time.Second)
	upd, err := e.cli(lead).MemberUpdate(ctx, add.Member.ID, []string{alt.URL})
	cancel()
	if err != nil {
		t.Fatalf("MemberUpdate: %v", err)
	}
	e.pc.Proxies[ni].Close()
	e.pc.Proxies[ni] = alt
	n.PeerURL = alt.URL
	want[3] = e.wantMember(ni, true, false)
	checkMembers(t, "MemberUpdate response", upd.Members, want)
	if upd.Header.MemberId != e.pc.IDs[lead] {
		t.Errorf("MemberUpdate answered by %x, want %x", upd.Header.MemberId, e.pc.IDs[lead])
	}
	e.checkMemberLists(all, want)
	e.putMany(lead, "c/", 10)
	e.checkHashKV(all)

	// Remove m3 through a follower: its process exits.
	ctx, cancel = e.timeout(10 * time.Second)
	rm, err := e.cli(f).MemberRemove(ctx, add.Member.ID)
	cancel()
	if err != nil {
		t.Fatalf("MemberRemove(m3): %v", err)
	}
	want = want[:3]
	checkMembers(t, "MemberRemove response", rm.Members, want)
	// etcd stops a removed member and exits with status 0.
	if st, err := n.WaitExit(15 * time.Second); err != nil {
		t.Errorf("the removed member: %v", err)
	} else if !st.Exited() || st.ExitCode() != 0 {
		t.Errorf("the removed member ended with %v, want exit status 0 as etcd", st)
	}
	e.checkMemberLists(boot, want)
	e.putMany(f, "d/", 10)
	e.checkHashKV(boot)

	// Remove the leader through itself: it exits, the other two elect a
	// leader and go on.
	lead = e.waitLeader(boot, 10*time.Second)
	ctx, cancel = e.timeout(10 * time.Second)
	rm, err = e.cli(lead).MemberRemove(ctx, e.pc.IDs[lead])
	cancel()
	rest := others(boot, lead)
	var wantRest []*pb.Member
	for _, i := range rest {
		wantRest = append(wantRest, e.wantMember(i, true, false))
	}
	if err != nil {
		t.Errorf("MemberRemove of the leader through itself: %v", err)
	} else {
		checkMembers(t, "MemberRemove(leader) response", rm.Members, wantRest)
	}
	if st, err := e.pc.Members[lead].WaitExit(15 * time.Second); err != nil {
		t.Errorf("the removed leader: %v", err)
	} else if !st.Exited() || st.ExitCode() != 0 {
		t.Errorf("the removed leader ended with %v, want exit status 0 as etcd", st)
	}
	e.waitLeader(rest, 15*time.Second)
	e.checkMemberLists(rest, wantRest)
	e.putMany(rest[0], "e/", 10)
	e.checkHashKV(rest)
}

// addLearner prepares member m3 and adds it as a learner through member
// via, checking the response.
func (e *env) addLearner(via int) int {
	e.t.Helper()
	t := e.t
	l, _ := e.pc.PrepareMember(t, "m3")
	li := e.pc.Index(l)
	// etcd's strict reconfiguration check wants the member connected to
	// every voter for 5 s before it adds any member, learners included.
	var add *clientv3.MemberAddResponse
	var fatal error
	err := poll(15*time.Second, func() error {
		ctx, cancel := e.timeout(10 * time.Second)
		defer cancel()
		var err error
		add, err = e.cli(via).MemberAddAsLearner(ctx, []string{l.PeerURL})
		if err != nil && !isErr(err, rpctypes.ErrGRPCUnhealthy) {
			fatal = err
			return nil
		}
		return err
	})
	if err != nil || fatal != nil {
		t.Fatalf("MemberAddAsLearner through %s: %v %v", e.name(via), err, fatal)
	}
	e.pc.IDs[li] = add.Member.ID
	if got, w := fmtMember(add.Member), fmtMember(e.wantMember(li, false, true)); got != w || add.Member.ID == 0 {
		t.Errorf("MemberAddAsLearner: member %s, want %s", got, w)
	}
	if add.Header.ClusterId != e.pc.ID(3) || add.Header.MemberId != e.pc.IDs[via] {
		t.Errorf("MemberAddAsLearner: header cluster %x member %x, want %x %x", add.Header.ClusterId, add.Header.MemberId, e.pc.ID(3), e.pc.IDs[via])
	}
	checkMembers(t, "MemberAddAsLearner response", add.Members, e.wantMembers(li, true))
	return li
}

// wantMembers is the member list of the three bootstrap members plus
// member extra, started, as a learner or not.
func (e *env) wantMembers(extra int, learner bool) []*pb.Member {
	var want []*pb.Member
	for _, i := range []int{0, 1, 2} {
		want = append(want, e.wantMember(i, true, false))
	}
	started := e.pc.Members[extra].Running()
	return append(want, e.wantMember(extra, started, learner))
}

// waitLearnerHas waits until learner li holds n keys under prefix.
func (e *env) waitLearnerHas(li int, prefix string, n int64) {
	e.t.Helper()
	if err := poll(20*time.Second, func() error {
		ctx, cancel := e.timeout(time.Second)
		defer cancel()
		resp, err := e.cli(li).Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		if resp.Count != n {
			return fmt.Errorf("learner holds %d keys under %s, want %d", resp.Count, prefix, n)
		}
		return nil
	}); err != nil {
		e.t.Fatalf("the learner did not catch up: %v", err)
	}
}

// promote promotes learner li through member via, retrying while it is
// not in sync, and checks the result.
func (e *env) promote(via, li int) {
	e.t.Helper()
	t := e.t
	var prom *clientv3.MemberPromoteResponse
	var fatal error
	if err := poll(15*time.Second, func() error {
		ctx, cancel := e.timeout(10 * time.Second)
		defer cancel()
		var err error
		prom, err = e.cli(via).MemberPromote(ctx, e.pc.IDs[li])
		if err != nil && !isErr(err, rpctypes.ErrGRPCLearnerNotReady) {
			fatal = err
			return nil
		}
		return err
	}); err != nil || fatal != nil {
		t.Fatalf("MemberPromote through %s: %v %v", e.name(via), err, fatal)
	}
	want := e.wantMembers(li, false)
	checkMembers(t, "MemberPromote response", prom.Members, want)
	ctx, cancel := e.timeout(framework.DefaultReadyTimeout)
	err := e.pc.Members[li].WaitReady(ctx)
	cancel()
	if err != nil {
		t.Fatalf("the promoted member does not serve linearizable reads: %v", err)
	}
	all := []int{0, 1, 2, li}
	e.checkMemberLists(all, want)
	if st, err := e.status(li, 5*time.Second); err != nil || st.IsLearner {
		t.Errorf("Status of the promoted member: %+v, %v", st, err)
	}
	_, err = pb.NewClusterClient(e.grpcConn(via)).MemberPromote(e.ctx, &pb.MemberPromoteRequest{ID: e.pc.IDs[li]})
	wantErr(t, "MemberPromote of the promoted member", err, rpctypes.ErrGRPCMemberNotLearner)
	e.putMany(li, "promoted/", 20)
	e.checkHashKV(all)
}

// A learner: added, refused promotion while it is not in sync, a second
// learner refused, caught up from the leader's log, serving only what a
// learner serves, then promoted.
func TestLearner(t *testing.T) {
	t.Parallel()
	var args []string
	if !serverIs34(t) { // etcd 3.4 has no flag; it allows one learner
		args = append(args, "--max-learners=1")
	}
	e := newEnv(t, 3, args...)
	boot := []int{0, 1, 2}
	lead := e.waitLeader(boot, 10*time.Second)
	f := others(boot, lead)[0]
	e.putMany(lead, "data/", 50)

	li := e.addLearner(f)
	e.checkMemberLists(boot, e.wantMembers(li, true))

	// Not started, the learner is not in sync: promotion is refused, by the
	// leader and by a follower (which asks the leader).
	cc := map[int]pb.ClusterClient{lead: pb.NewClusterClient(e.grpcConn(lead)), f: pb.NewClusterClient(e.grpcConn(f))}
	for _, i := range []int{lead, f} {
		_, err := cc[i].MemberPromote(e.ctx, &pb.MemberPromoteRequest{ID: e.pc.IDs[li]})
		wantErr(t, "MemberPromote of an unstarted learner through "+e.name(i), err, rpctypes.ErrGRPCLearnerNotReady)
	}
	// A voter cannot be promoted.
	_, err := cc[lead].MemberPromote(e.ctx, &pb.MemberPromoteRequest{ID: e.pc.IDs[f]})
	wantErr(t, "MemberPromote of a voter", err, rpctypes.ErrGRPCMemberNotLearner)
	// --max-learners=1: a second learner is refused.
	port, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	_, err = cc[f].MemberAdd(e.ctx, &pb.MemberAddRequest{PeerURLs: []string{fmt.Sprintf("http://127.0.0.1:%d", port)}, IsLearner: true})
	wantErr(t, "MemberAdd of a second learner", err, rpctypes.ErrGRPCTooManyLearners)

	e.pc.Join(t, li, e.pc.IDs[li], boot, false)
	e.waitLearnerHas(li, "data/", 50)
	e.checkHashKV(boot)
	e.checkSameData(append(boot, li)) // a learner refuses HashKV

	// A learner serves Status and serializable Range only.
	st, err := e.status(li, 5*time.Second)
	if err != nil || !st.IsLearner || st.Leader != e.pc.IDs[lead] || st.Header.MemberId != e.pc.IDs[li] {
		t.Errorf("Status of the learner: %+v, %v; want is_learner, leader %x, member %x", st, err, e.pc.IDs[lead], e.pc.IDs[li])
	}
	lconn := e.grpcConn(li)
	notForLearner := rpctypes.ErrGRPCNotSupportedForLearner
	if e.is34 { // etcd 3.4 sent it as Unavailable; 3.5 on as FailedPrecondition
		notForLearner = status.Error(codes.Unavailable, status.Convert(notForLearner).Message())
	}
	_, err = pb.NewKVClient(lconn).Range(e.ctx, &pb.RangeRequest{Key: []byte("data/0000")})
	wantErr(t, "linearizable Range on a learner", err, notForLearner)
	_, err = pb.NewKVClient(lconn).Put(e.ctx, &pb.PutRequest{Key: []byte("x"), Value: []byte("y")})
	wantErr(t, "Put on a learner", err, notForLearner)
	_, err = pb.NewClusterClient(lconn).MemberList(e.ctx, &pb.MemberListRequest{})
	wantErr(t, "MemberList on a learner", err, notForLearner)
	// The learner is started and listed with its name now.
	e.checkMemberLists(boot, e.wantMembers(li, true))

	e.promote(f, li)
}

// A learner added after the leader truncated its log (--snapshot-count)
// catches up through a snapshot, then is promoted.
func TestLearnerSnapshot(t *testing.T) {
	t.Parallel()
	is34 := serverIs34(t)
	args := []string{"--snapshot-count=100"}
	if !is34 { // etcd 3.4 has no flag; it keeps 5000 entries, so no snapshot
		args = append(args, "--experimental-snapshot-catchup-entries=10")
	}
	e := newEnv(t, 3, args...)
	boot := []int{0, 1, 2}
	lead := e.waitLeader(boot, 10*time.Second)
	// About 7 entries at start (conf changes, an empty entry, publishes),
	// then 350 writes: the leader truncated its log 3 times, the last one
	// at index 300 to 330, and the next is 100 entries away. So the
	// learner, added now, gets a snapshot of a state from before it was
	// added, and the leader must send it one that includes it.
	e.putMany(lead, "data/", 350)

	li := e.addLearner(lead)
	e.pc.Join(t, li, e.pc.IDs[li], boot, false)
	e.waitLearnerHas(li, "data/", 350)
	if !is34 {
		waitLog(t, e.pc.Members[li], "installed snapshot from the leader", 10*time.Second)
	}
	e.checkHashKV(boot)
	if !is34 {
		e.checkOneSnapshot(e.pc.Members[li])
	}
	e.checkSameData(append(boot, li)) // a learner refuses HashKV
	e.promote(lead, li)
}

// A member started with another --initial-cluster-token against a running
// cluster: its IDs differ, the members refuse its traffic and say so in
// their logs, and it never joins.
func TestClusterIDMismatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	boot := []int{0, 1, 2}
	var initial string
	for _, i := range boot {
		initial += e.pc.Members[i].Name + "=" + e.pc.Members[i].PeerURL + ","
	}
	peerPort, err := framework.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	x := framework.NewMember(t, framework.MemberConfig{
		Name:           "intruder",
		PeerPort:       peerPort,
		Token:          "another-token",
		InitialCluster: initial + fmt.Sprintf("intruder=http://127.0.0.1:%d", peerPort),
		Args:           timingArgs,
	})
	if err := x.Launch(framework.BinaryPath(t)); err != nil {
		t.Fatal(err)
	}
	if err := poll(20*time.Second, func() error {
		for _, i := range boot {
			if e.pc.Members[i].LogContains("cluster ID mismatch") {
				return nil
			}
		}
		return fmt.Errorf("no member logged a cluster ID mismatch")
	}); err != nil {
		t.Error(err)
	}
	// It does not serve, and the cluster is unchanged.
	ctx, cancel := e.timeout(2 * time.Second)
	_, err = framework.NewClient(t, x.ClientURL).Get(ctx, "k")
	cancel()
	if err == nil {
		t.Error("the refused member serves linearizable reads")
	}
	var want []*pb.Member
	for _, i := range boot {
		want = append(want, e.wantMember(i, true, false))
	}
	e.checkMemberLists(boot, want)
	e.putMany(0, "k/", 10)
	e.checkHashKV(boot)
}

// A restarted member takes its identity from its data dir: changed
// --initial-cluster, --initial-cluster-token and --initial-cluster-state
// are ignored, and it rejoins its cluster.
func TestRestartIgnoresInitialCluster(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	boot := []int{0, 1, 2}
	var want []*pb.Member
	for _, i := range boot {
		want = append(want, e.wantMember(i, true, false))
	}
	// Restart a follower: a leader that stops takes an election with it,
	// which is not what this test is about.
	r := others(boot, e.waitLeader(boot, 10*time.Second))[0]
	m := e.pc.Members[r]
	for _, c := range []struct{ initial, token, state string }{
		// Alone, as a new cluster: if honoured it would lead itself.
		{m.Name + "=" + m.PeerURL, "changed-token", "new"},
		// Joining a cluster that does not exist.
		{"nobody=http://127.0.0.1:1," + m.Name + "=" + m.PeerURL, "other-token", "existing"},
	} {
		if lead := e.waitLeader(boot, 10*time.Second); lead == r {
			ctx, cancel := e.timeout(10 * time.Second)
			_, err := e.cli(r).MoveLeader(ctx, e.pc.IDs[others(boot, r)[0]])
			cancel()
			if err != nil {
				t.Fatalf("moving the leadership away from %s: %v", m.Name, err)
			}
		}
		m.Stop(t)
		e.put(others(boot, r)[0], "while-down", c.token)
		e.pc.SetInitialCluster(r, c.initial, c.token, c.state)
		m.Start(t)
		st, err := e.status(r, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if st.Header.MemberId != e.pc.IDs[r] || st.Header.ClusterId != e.pc.ID(3) {
			t.Errorf("restarted with %+v: member %x cluster %x, want %x %x", c, st.Header.MemberId, st.Header.ClusterId, e.pc.IDs[r], e.pc.ID(3))
		}
		e.checkMemberLists(boot, want)
		if got := e.getLocal(r, "while-down"); got["while-down"] != c.token {
			t.Errorf("restarted member reads while-down=%q, want %q", got["while-down"], c.token)
		}
		e.putMany(r, "after/", 10)
		e.checkHashKV(boot)
	}
}
