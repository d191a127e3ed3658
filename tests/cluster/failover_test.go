package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The leader killed with SIGKILL while clients write: the others elect a
// new leader within a few election timeouts, writes go on, and once the
// old leader is back no acknowledged write is missing anywhere.
func TestLeaderKill(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, size)
			w := e.startWriter("ack/", e.all())
			w.waitMore(t, 50, 20*time.Second)

			old := e.waitLeader(e.all(), 10*time.Second)
			e.pc.Members[old].Kill(t)
			killed := time.Now()
			rest := others(e.all(), old)
			lead := e.waitLeader(rest, 15*time.Second)
			if took := time.Since(killed); took > leaderWithin {
				t.Errorf("new leader %s after %v, want within %v", e.name(lead), took, leaderWithin)
			}
			w.waitMore(t, 50, 20*time.Second)

			e.pc.Members[old].Start(t)
			w.waitMore(t, 20, 20*time.Second)
			w.stop()
			if got := e.waitLeader(e.all(), 10*time.Second); got != lead {
				t.Errorf("after the old leader returned, leader is %s, want %s", e.name(got), e.name(lead))
			}
			e.checkHashKV(e.all())
			w.check(e, e.all())
		})
	}
}

// A follower killed with SIGKILL misses writes, restarts and catches up
// from the leader's log.
func TestFollowerKillRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	lead := e.waitLeader(e.all(), 10*time.Second)
	f := others(e.all(), lead)[0]
	e.putMany(lead, "before/", 20)
	e.pc.Members[f].Kill(t)
	e.putMany(lead, "during/", 200)
	e.pc.Members[f].Start(t)
	e.checkHashKV(e.all())
	if got := len(e.getLocal(f, "during/")); got != 200 {
		t.Errorf("restarted follower holds %d of the 200 keys written while it was down", got)
	}
	if got := e.waitLeader(e.all(), 10*time.Second); got != lead {
		t.Errorf("leader changed from %s to %s while a follower restarted", e.name(lead), e.name(got))
	}
}

// SIGTERM on the leader: as etcd does, it hands leadership to a follower
// before it exits, so the others have a leader the moment it is gone,
// without waiting out an election timeout, and writes go on.
func TestLeaderGracefulStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	w := e.startWriter("ack/", e.all())
	w.waitMore(t, 30, 20*time.Second)
	old := e.waitLeader(e.all(), 10*time.Second)
	before, err := e.status(old, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e.pc.Members[old].Stop(t)
	rest := others(e.all(), old)
	// One round of Status, right after the exit: no polling, an election
	// by timeout would take at least one election timeout from here.
	var lead uint64
	for _, i := range rest {
		st, err := e.status(i, time.Second)
		if err != nil {
			t.Fatalf("Status of %s: %v", e.name(i), err)
		}
		if st.Leader == 0 || st.Leader == e.pc.IDs[old] || (lead != 0 && st.Leader != lead) {
			t.Errorf("right after the leader %s exited, %s reports leader %x at term %d; want the leader it handed over to (it was at term %d)",
				e.name(old), e.name(i), st.Leader, st.RaftTerm, before.RaftTerm)
		}
		lead = st.Leader
	}
	newLead := e.waitLeader(rest, 15*time.Second)
	w.waitMore(t, 30, 20*time.Second)
	e.pc.Members[old].Start(t)
	w.waitMore(t, 10, 20*time.Second)
	w.stop()
	if got := e.waitLeader(e.all(), 10*time.Second); got != newLead {
		t.Errorf("after the old leader returned, leader is %s, want %s", e.name(got), e.name(newLead))
	}
	e.checkHashKV(e.all())
	w.check(e, e.all())
}

// A member paused with SIGSTOP for three election timeouts. A paused
// follower costs nothing: with pre-vote it does not unseat the leader when
// it resumes. A paused leader is replaced, and steps down when it resumes.
func TestPause(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	w := e.startWriter("ack/", e.all())
	w.waitMore(t, 30, 20*time.Second)

	lead := e.waitLeader(e.all(), 10*time.Second)
	f := others(e.all(), lead)[0]
	e.pc.Members[f].Pause(t)
	time.Sleep(3 * election) // the fault itself lasts this long
	w.waitMore(t, 20, 20*time.Second)
	e.pc.Members[f].Resume(t)
	e.converge(e.all())
	if got := e.waitLeader(e.all(), 10*time.Second); got != lead {
		t.Errorf("after a follower paused, leader is %s, want %s still", e.name(got), e.name(lead))
	}

	e.pc.Members[lead].Pause(t)
	paused := time.Now()
	rest := others(e.all(), lead)
	newLead := e.waitLeader(rest, 15*time.Second)
	if took := time.Since(paused); took > leaderWithin {
		t.Errorf("new leader %s after %v, want within %v", e.name(newLead), took, leaderWithin)
	}
	w.waitMore(t, 30, 20*time.Second)
	if d := 3*election - time.Since(paused); d > 0 {
		time.Sleep(d)
	}
	e.pc.Members[lead].Resume(t)
	w.waitMore(t, 20, 20*time.Second)
	w.stop()
	if got := e.waitLeader(e.all(), 10*time.Second); got != newLead {
		t.Errorf("after the old leader resumed, leader is %s, want %s", e.name(got), e.name(newLead))
	}
	e.checkHashKV(e.all())
	w.check(e, e.all())
}

// A member cut off from the others loses its leader. Requests that need
// one fail with etcd's error within the request timeout instead of hanging,
// at once when the client asks for a leader; serializable reads are served
// from local state. Healing brings it back.
func TestNoLeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	lead := e.waitLeader(e.all(), 10*time.Second)
	f := others(e.all(), lead)[0]
	put := e.put(f, "k", "v1")

	e.pc.Isolate(f)
	e.waitNoLeader([]int{f}, 10*election)
	st, err := e.status(f, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Errors) != 1 || st.Errors[0] != "etcdserver: no leader" {
		t.Errorf("Status of a member without leader: errors %q, want [\"etcdserver: no leader\"]", st.Errors)
	}
	// The majority still works.
	e.put(lead, "k", "v2")

	kv := pb.NewKVClient(e.grpcConn(f))
	timed := func(what string, f func(ctx context.Context) error) (error, time.Duration) {
		ctx, cancel := context.WithTimeout(e.ctx, reqTimeout+10*time.Second)
		defer cancel()
		start := time.Now()
		err := f(ctx)
		took := time.Since(start)
		if took > reqTimeout+time.Second {
			t.Errorf("%s without leader took %v, want at most the request timeout %v", what, took, reqTimeout)
		}
		return err, took
	}
	err, took := timed("Put", func(ctx context.Context) error {
		_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("lost")})
		return err
	})
	// etcd's raft holds a proposal while there is no leader; when the
	// request timeout ends it, etcd hands context.DeadlineExceeded to gRPC,
	// which sends code DeadlineExceeded (etcd 3.4's older gRPC: Unknown).
	wantCode := codes.DeadlineExceeded
	if e.is34 {
		wantCode = codes.Unknown
	}
	wantErr(t, "Put without leader", err, status.Error(wantCode, "context deadline exceeded"))
	t.Logf("Put without leader failed after %v: %v", took, err)
	err, took = timed("linearizable Range", func(ctx context.Context) error {
		_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("k")})
		return err
	})
	// etcd's read loop gives up on the read index after the request timeout.
	wantErr(t, "linearizable Range without leader", err, rpctypes.ErrGRPCTimeout)
	t.Logf("linearizable Range without leader failed after %v: %v", took, err)

	// With hasleader=true the member refuses at once.
	for what, call := range map[string]func(ctx context.Context) error{
		"Put": func(ctx context.Context) error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("lost")})
			return err
		},
		"Range": func(ctx context.Context) error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("k")})
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(e.ctx), 5*time.Second)
		start := time.Now()
		err := call(ctx)
		cancel()
		wantErr(t, what+" with hasleader and no leader", err, rpctypes.ErrGRPCNoLeader)
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s with hasleader took %v, want an immediate refusal", what, took)
		}
	}

	// Serializable reads answer from the local, now stale, state.
	start := time.Now()
	resp, err := kv.Range(e.ctx, &pb.RangeRequest{Key: []byte("k"), Serializable: true})
	if err != nil {
		t.Fatalf("serializable Range without leader: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("serializable Range without leader took %v", took)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" || resp.Kvs[0].ModRevision != put.Header.Revision ||
		resp.Header.Revision != put.Header.Revision || resp.Header.MemberId != e.pc.IDs[f] {
		t.Errorf("serializable Range on the cut-off member = %v, want k=v1 at revision %d from %x", resp, put.Header.Revision, e.pc.IDs[f])
	}

	e.pc.Heal()
	e.waitLeader(e.all(), 15*time.Second)
	e.put(f, "k", "v3")
	e.checkHashKV(e.all())
	if got := e.getLocal(f, "k"); got["k"] != "v3" {
		t.Errorf("after healing, k = %q on %s, want v3", got["k"], e.name(f))
	}
}
