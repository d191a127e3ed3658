package raftnode

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/cairndb/cairn/internal/raftlog"
)

// memFS remembers the file system of each database openMem opened, where
// openLog keeps the raft log next to it.
var memFS sync.Map // *pebble.DB -> vfs.FS

func openMem(t *testing.T, fs vfs.FS) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	memFS.Store(db, fs)
	return db
}

// openLog opens the raft log kept beside db (closed when the test ends).
func openLog(t *testing.T, db *pebble.DB) *raftlog.Log {
	t.Helper()
	fs, _ := memFS.Load(db)
	l, err := raftlog.Open(raftlog.Options{Dir: "raft", FS: fs.(vfs.FS), DB: db, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func startSingle(t *testing.T, db *pebble.DB, applied uint64, snapCount uint64) *Node {
	t.Helper()
	n, _ := startSingleWith(t, db, applied, func(c *Config) { c.SnapshotCount, c.CatchUpEntries = snapCount, 5 })
	return n
}

// startSingleWith starts a one-member node on db; tune adjusts its config.
func startSingleWith(t *testing.T, db *pebble.DB, applied uint64, tune func(*Config)) (*Node, *raftlog.Log) {
	t.Helper()
	l := openLog(t, db)
	var boot []Peer
	if l.Fresh() {
		boot = []Peer{{ID: 1, Context: []byte("m1")}}
	}
	cfg := Config{ID: 1, Log: l, TickInterval: 10 * time.Millisecond, ElectionTicks: 10, Bootstrap: boot}
	tune(&cfg)
	n, err := Start(cfg, applied)
	if err != nil {
		t.Fatal(err)
	}
	return n, l
}

// applyAll drains committed entries, records normal data, reports applied.
func applyAll(n *Node, got chan<- string) {
	for ents := range n.CommittedEntries() {
		for _, e := range ents {
			if e.Kind == EntryNormal && len(e.Data) > 0 {
				got <- string(e.Data)
			}
			n.SetApplied(e.Index)
		}
	}
	close(got)
}

func TestSingleNodeProposeAndRestart(t *testing.T) {
	fs := vfs.NewMem()
	db := openMem(t, fs)
	n := startSingle(t, db, 0, 20)
	got := make(chan string, 1000)
	go applyAll(n, got)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const total = 100
	for i := 0; i < total; i++ {
		for {
			err := n.Propose(ctx, []byte(fmt.Sprintf("v%d", i)))
			if err == nil {
				break
			}
			if err != ErrDropped {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond) // no leader yet
		}
	}
	for i := 0; i < total; i++ {
		select {
		case v := <-got:
			if v != fmt.Sprintf("v%d", i) {
				t.Fatalf("entry %d: got %q", i, v)
			}
		case <-ctx.Done():
			t.Fatalf("timed out after %d entries", i)
		}
	}
	idx, err := n.ReadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if idx < total {
		t.Fatalf("read index %d < %d", idx, total)
	}
	if !n.IsLeader() || n.Term() == 0 {
		t.Fatalf("status: leader=%v term=%d", n.IsLeader(), n.Term())
	}
	applied := n.Applied()
	n.Stop()
	for range got {
	}

	// The log was truncated (snapshot-count 20) and must reload consistently.
	l := openLog(t, db)
	if si := l.SnapshotMeta().Index; si == 0 {
		t.Fatalf("expected a log truncation, snapshot index is 0")
	}
	n2 := startSingle(t, db, applied, 20)
	got2 := make(chan string, 1000)
	go applyAll(n2, got2)
	for {
		err := n2.Propose(ctx, []byte("after"))
		if err == nil {
			break
		}
		if err != ErrDropped {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Entries after the snapshot are re-delivered (apply skips by index);
	// the new one must arrive last.
	for v := range got2 {
		if v == "after" {
			break
		}
	}
	n2.Stop()
	db.Close()
}

// The leader keeps one read-index round per distinct context: two members
// with the same sequence number must still send different contexts, and a
// member only takes back its own.
func TestReadCtxDistinctAcrossMembers(t *testing.T) {
	a, b := readCtx(1, 7), readCtx(2, 7)
	if string(a) == string(b) {
		t.Fatalf("members 1 and 2 both send %x for sequence 7", a)
	}
	if seq, ok := readSeqOf(1, a); !ok || seq != 7 {
		t.Errorf("readSeqOf(1, readCtx(1, 7)) = %d %v, want 7 true", seq, ok)
	}
	if _, ok := readSeqOf(1, b); ok {
		t.Errorf("member 1 took member 2's read context as its own")
	}
	if _, ok := readSeqOf(1, a[:8]); ok {
		t.Errorf("a short context was accepted")
	}
}

// With large entries the log is truncated by size before snapshot-count
// entries: what raft holds in memory (and a restart loads) stays bounded by
// SnapshotBytes + CatchUpBytes, not by the entry count.
func TestLogBoundedByBytes(t *testing.T) {
	fs := vfs.NewMem()
	db := openMem(t, fs)
	defer db.Close()
	n, l := startSingleWith(t, db, 0, func(c *Config) {
		c.SnapshotCount, c.CatchUpEntries, c.SnapshotBytes, c.CatchUpBytes = 10000, 5000, 64<<10, 16<<10
	})
	got := make(chan string, 1000)
	go applyAll(n, got)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const total, size = 200, 4 << 10
	val := make([]byte, size)
	for i := 0; i < total; i++ {
		copy(val, fmt.Sprintf("v%05d", i))
		for {
			err := n.Propose(ctx, append([]byte(nil), val...))
			if err == nil {
				break
			}
			if err != ErrDropped {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := 0; i < total; i++ {
		select {
		case v := <-got:
			if v[:6] != fmt.Sprintf("v%05d", i) {
				t.Fatalf("entry %d: got %q", i, v[:6])
			}
		case <-ctx.Done():
			t.Fatalf("timed out after %d entries", i)
		}
	}
	// Truncation runs on the raft goroutine after apply reports in; the
	// log is read there too (it is the raft goroutine's).
	snapIndex := func() uint64 {
		var si uint64
		if err := n.do(ctx, func() { si = l.SnapshotMeta().Index }); err != nil {
			t.Fatal(err)
		}
		return si
	}
	deadline := time.Now().Add(5 * time.Second)
	for snapIndex() < total/2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	n.Stop()
	for range got {
	}
	if si := l.SnapshotMeta().Index; si < total/2 {
		t.Fatalf("snapshot index %d after %d entries of %d bytes: the log was not truncated by size", si, total, size)
	}

	l2 := openLog(t, db)
	ms := l2.Storage()
	first, _ := ms.FirstIndex()
	last, _ := ms.LastIndex()
	held := (last - first + 1) * size
	if bound := uint64(64<<10 + 16<<10 + 2*size); held > bound {
		t.Fatalf("log holds entries %d..%d (%d bytes) after the restart, want at most %d", first, last, held, bound)
	}
	if last < total {
		t.Fatalf("last index %d < %d entries proposed", last, total)
	}
	t.Logf("snapshot index %d, log %d..%d (%d KiB)", l2.SnapshotMeta().Index, first, last, held>>10)
}
