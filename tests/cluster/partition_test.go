package cluster

import (
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Two followers of five are cut off from the rest. The majority keeps its
// leader and goes on writing; the minority has no leader. Healed, the
// minority catches up and, with pre-vote, does not unseat the leader.
func TestPartitionMinority(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 5)
	lead := e.waitLeader(e.all(), 10*time.Second)
	minority := others(e.all(), lead)[:2]
	majority := others(e.all(), minority...)
	w := e.startWriter("ack/", majority)
	w.waitMore(t, 30, 20*time.Second)

	e.pc.Partition(minority, majority)
	e.waitNoLeader(minority, 10*election)
	w.waitMore(t, 50, 20*time.Second)
	if got := e.waitLeader(majority, 10*time.Second); got != lead {
		t.Errorf("majority side leader is %s, want %s unchanged", e.name(got), e.name(lead))
	}
	// Linearizable reads on the minority fail; serializable ones answer.
	for _, i := range minority {
		ctx, cancel := e.timeout(reqTimeout + 5*time.Second)
		_, err := e.cli(i).Get(clientv3.WithRequireLeader(ctx), "ack/")
		cancel()
		if err == nil {
			t.Errorf("linearizable Get on %s in the minority succeeded", e.name(i))
		}
		e.getLocal(i, "ack/")
	}

	e.pc.Heal()
	w.waitMore(t, 20, 20*time.Second)
	w.stop()
	e.checkHashKV(e.all())
	w.check(e, e.all())
	if got := e.waitLeader(e.all(), 10*time.Second); got != lead {
		t.Errorf("after healing, leader is %s, want %s unchanged", e.name(got), e.name(lead))
	}
}

// The leader and one follower of five are cut off from the other three.
// The three elect a new leader within a few election timeouts and go on
// writing; the old leader steps down (check quorum). Healed, everyone
// follows the new leader and no acknowledged write is missing.
func TestPartitionMajority(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 5)
	lead := e.waitLeader(e.all(), 10*time.Second)
	minority := []int{lead, others(e.all(), lead)[0]}
	majority := others(e.all(), minority...)
	w := e.startWriter("ack/", e.all())
	w.waitMore(t, 30, 20*time.Second)

	e.pc.Partition(minority, majority)
	cut := time.Now()
	newLead := e.waitLeader(majority, 15*time.Second)
	// The majority waits out one election timeout without heartbeats, then
	// elects: within a few election timeouts.
	if took := time.Since(cut); took > leaderWithin {
		t.Errorf("majority elected %s after %v, want within %v", e.name(newLead), took, leaderWithin)
	}
	e.waitNoLeader(minority, 10*election)
	w.waitMore(t, 50, 20*time.Second)

	e.pc.Heal()
	w.waitMore(t, 20, 20*time.Second)
	w.stop()
	if got := e.waitLeader(e.all(), 10*time.Second); got != newLead {
		t.Errorf("after healing, leader is %s, want %s", e.name(got), e.name(newLead))
	}
	e.checkHashKV(e.all())
	w.check(e, e.all())
}

// Writes and linearizable reads through a follower; serializable reads
// served from the follower's own state, even when it is cut off.
func TestFollowerReadsWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	lead := e.waitLeader(e.all(), 10*time.Second)
	fs := others(e.all(), lead)
	f, g := fs[0], fs[1]

	// A write through a follower, then linearizable reads through each
	// member see it at once.
	for n := 0; n < 20; n++ {
		v := fmt.Sprintf("v%d", n)
		put := e.put(f, "k", v)
		if put.Header.MemberId != e.pc.IDs[f] {
			t.Fatalf("put through %s answered by %x", e.name(f), put.Header.MemberId)
		}
		for _, i := range []int{g, f, lead} {
			ctx, cancel := e.timeout(10 * time.Second)
			resp, err := e.cli(i).Get(ctx, "k")
			cancel()
			if err != nil {
				t.Fatalf("linearizable get on %s: %v", e.name(i), err)
			}
			if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != v || resp.Kvs[0].ModRevision != put.Header.Revision ||
				resp.Header.Revision < put.Header.Revision || resp.Header.MemberId != e.pc.IDs[i] {
				t.Fatalf("linearizable get on %s after put %s at revision %d: %v", e.name(i), v, put.Header.Revision, resp)
			}
		}
	}

	// Cut f off and write through the leader: f's serializable read is
	// its own, stale, state; a linearizable read there cannot be served.
	before := e.put(lead, "s", "old")
	e.converge(e.all())
	e.pc.Isolate(f)
	after := e.put(lead, "s", "new")
	ctx, cancel := e.timeout(time.Second)
	resp, err := e.cli(f).Get(ctx, "s", clientv3.WithSerializable())
	cancel()
	if err != nil {
		t.Fatalf("serializable get on the cut-off follower: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "old" || resp.Header.Revision != before.Header.Revision {
		t.Errorf("serializable get on the cut-off follower = %v, want s=old at revision %d", resp, before.Header.Revision)
	}
	ctx, cancel = e.timeout(2 * election)
	_, err = e.cli(f).Get(ctx, "s")
	cancel()
	if err == nil {
		t.Error("linearizable get on the cut-off follower succeeded")
	}
	e.pc.Heal()
	if err := poll(15*time.Second, func() error {
		ctx, cancel := e.timeout(time.Second)
		defer cancel()
		resp, err := e.cli(f).Get(ctx, "s", clientv3.WithSerializable())
		if err != nil {
			return err
		}
		if len(resp.Kvs) != 1 || resp.Kvs[0].ModRevision != after.Header.Revision {
			return fmt.Errorf("serializable get on %s = %v", e.name(f), resp.Kvs)
		}
		return nil
	}); err != nil {
		t.Fatalf("the healed follower did not catch up: %v", err)
	}
	e.checkHashKV(e.all())
}
