package apply

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"

	"github.com/cairndb/cairn/internal/raftnode"
	"github.com/cairndb/cairn/internal/storage"
)

func downgradeReq(enabled bool, ver string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{DowngradeInfoSet: &membershippb.DowngradeInfoSetRequest{Enabled: enabled, Ver: ver}}
}

func (n *node) downgradeOnDisk() (DowngradeInfo, bool) {
	n.t.Helper()
	d, err := LoadDowngrade(n.db)
	if err != nil {
		n.t.Fatal(err)
	}
	_, closer, err := n.db.Get(keyDowngrade)
	if errors.Is(err, pebble.ErrNotFound) {
		return d.Info(), false
	}
	if err != nil {
		n.t.Fatal(err)
	}
	closer.Close()
	return d.Info(), true
}

// Enabling and cancelling a downgrade job is replicated state: it is in the
// batch with the applied index, survives a restart, and cancelling leaves
// no record behind.
func TestDowngradeInfoSet(t *testing.T) {
	n := newNode(t)
	l := &log{t: t, term: 1}
	if got := n.down.Info(); got != (DowngradeInfo{}) {
		t.Fatalf("fresh store: %+v, want no job", got)
	}

	// Enable, in a batch that is not committed yet: the record and the
	// applied index travel together.
	b := n.db.NewIndexedBatch()
	n.a.Apply(b, []raftnode.Entry{l.req(1, downgradeReq(true, "3.5.0"))}, n.done)
	if _, closer, err := b.Get(keyDowngrade); err != nil {
		t.Fatalf("downgrade record not in the batch: %v", err)
	} else {
		closer.Close()
	}
	if _, ok := n.downgradeOnDisk(); ok {
		t.Fatal("downgrade record on disk before the batch commits")
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	b.Close()
	n.kv.Committed()
	if r, ok := n.results[1]; !ok || r.Err != nil {
		t.Fatalf("enable result %+v (delivered %v)", r, ok)
	}
	want := DowngradeInfo{TargetVersion: "3.5.0", Enabled: true}
	if got := n.down.Info(); got != want {
		t.Fatalf("after enable: %+v, want %+v", got, want)
	}

	n.restart()
	if got := n.down.Info(); got != want {
		t.Fatalf("after restart: %+v, want %+v", got, want)
	}
	if n.a.AppliedIndex() != 1 {
		t.Fatalf("applied index %d, want 1", n.a.AppliedIndex())
	}

	// Raft re-delivering the entry changes nothing; a cancel clears it.
	n.apply(l.req(2, put("k", "v", 0)))
	n.apply(l.req(3, downgradeReq(false, "")))
	if got := n.down.Info(); got != (DowngradeInfo{}) {
		t.Fatalf("after cancel: %+v, want no job", got)
	}
	if _, ok := n.downgradeOnDisk(); ok {
		t.Fatal("a cancelled job left its record")
	}
	n.restart()
	if got := n.down.Info(); got != (DowngradeInfo{}) {
		t.Fatalf("after cancel and restart: %+v, want no job", got)
	}
}

// The record is in the state a snapshot carries to a follower, and Reload
// (what a snapshot install calls) picks it up.
func TestDowngradeInSnapshotState(t *testing.T) {
	in := false
	for _, s := range storage.StateSpans {
		if bytes.Compare(keyDowngrade, s[0]) >= 0 && bytes.Compare(keyDowngrade, s[1]) < 0 {
			in = true
		}
	}
	if !in {
		t.Fatalf("%q is outside storage.StateSpans", keyDowngrade)
	}

	n := newNode(t)
	l := &log{t: t, term: 1}
	n.apply(l.req(1, downgradeReq(true, "3.5.0")))
	other := newNode(t)
	it, err := n.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	for it.First(); it.Valid(); it.Next() {
		if err := other.db.Set(it.Key(), it.Value(), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	it.Close()
	if got := other.down.Info(); got.Enabled {
		t.Fatalf("before reload: %+v", got)
	}
	if err := other.down.Reload(other.db); err != nil {
		t.Fatal(err)
	}
	if got, want := other.down.Info(), (DowngradeInfo{TargetVersion: "3.5.0", Enabled: true}); got != want {
		t.Fatalf("after reload: %+v, want %+v", got, want)
	}
}

// A damaged record refuses to load instead of silently dropping the job.
func TestDowngradeDamagedRecord(t *testing.T) {
	n := newNode(t)
	if err := n.db.Set(keyDowngrade, []byte("{not json"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDowngrade(n.db); err == nil {
		t.Fatal("damaged record loaded without error")
	}
}
