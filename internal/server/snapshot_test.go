package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/apply"
	"github.com/cairndb/cairn/internal/raftlog"
	"github.com/cairndb/cairn/internal/storage"
)

// snapEnv holds a member's data dir with its pebble store, as
// installPendingSnapshot finds it at start.
type snapEnv struct {
	t       *testing.T
	dataDir string
	db      *pebble.DB
}

func newSnapEnv(t *testing.T) *snapEnv {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "member"), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(filepath.Join(dir, "member", "db"), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &snapEnv{t: t, dataDir: dir, db: db}
}

// raftLog opens the member's raft log with a snapshot from the leader at
// snapIndex taken (term 3, vote 2), as raft leaves it before the state is
// installed.
func (e *snapEnv) raftLog(snapIndex uint64) *raftlog.Log {
	e.t.Helper()
	l, err := raftlog.Open(raftlog.Options{Dir: storage.RaftDir(e.dataDir), DB: e.db})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { l.Close() })
	snap := raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: snapIndex, Term: 3, ConfState: raftpb.ConfState{Voters: []uint64{1, 2}}}}
	if _, err := l.Save(raftpb.HardState{Term: 3, Vote: 2, Commit: snapIndex}, nil, snap); err != nil {
		e.t.Fatal(err)
	}
	return l
}

func setApplied(t *testing.T, db *pebble.DB, index uint64) {
	t.Helper()
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], index)
	if err := db.Set([]byte("m/apply/index"), v[:], pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

func (e *snapEnv) set(k, v string) {
	e.t.Helper()
	if err := e.db.Set([]byte(k), []byte(v), pebble.Sync); err != nil {
		e.t.Fatal(err)
	}
}

func (e *snapEnv) get(k string) (string, bool) {
	e.t.Helper()
	v, closer, err := e.db.Get([]byte(k))
	if errors.Is(err, pebble.ErrNotFound) {
		return "", false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	defer closer.Close()
	return string(v), true
}

func (e *snapEnv) applied() uint64 {
	e.t.Helper()
	i, err := apply.ReadAppliedIndex(e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	return i
}

// spool writes, as the leader would stream it, a snapshot at index whose
// state holds keys and the applied index, into the spool file for index.
// cut > 0 drops that many bytes from its end.
func (e *snapEnv) spool(index uint64, keys map[string]string, cut int) string {
	e.t.Helper()
	src, err := pebble.Open(filepath.Join(e.t.TempDir(), "leader"), &pebble.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	defer src.Close()
	setApplied(e.t, src, index)
	for k, v := range keys {
		if err := src.Set([]byte(k), []byte(v), pebble.Sync); err != nil {
			e.t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := (*snapshotter)(&Server{db: src}).WriteSnapshot(context.Background(), &buf); err != nil {
		e.t.Fatal(err)
	}
	b := buf.Bytes()[:buf.Len()-cut]
	path := filepath.Join(e.dataDir, "member", fmt.Sprintf("%016x%s", index, snapSuffix))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// Raft took the snapshot at 10 (its log starts after it) but the member
// stopped before the install: the start installs the spooled file.
func TestInstallPendingSnapshotFromFile(t *testing.T) {
	e := newSnapEnv(t)
	setApplied(t, e.db, 3)
	e.set("k/old", "stale")
	older := e.spool(2, map[string]string{"k/x": "older"}, 0)
	path := e.spool(10, map[string]string{"k/new": "fresh"}, 0)

	if err := installPendingSnapshot(e.db, e.raftLog(10), e.dataDir, zap.NewNop()); err != nil {
		t.Fatalf("installPendingSnapshot: %v", err)
	}
	if got := e.applied(); got != 10 {
		t.Errorf("applied index = %d, want 10", got)
	}
	if v, ok := e.get("k/new"); !ok || v != "fresh" {
		t.Errorf("k/new = %q %v, want the snapshot's value", v, ok)
	}
	if _, ok := e.get("k/old"); ok {
		t.Errorf("k/old survived the install; the state must be the snapshot's alone")
	}
	if _, ok := e.get(string(keyInstalling)); ok {
		t.Errorf("the installing marker is still set")
	}
	if exists(t, path) || exists(t, older) {
		t.Errorf("spooled snapshots at or below the installed one were not removed")
	}
}

// An install that a crash cut short (marker set, state partly replaced)
// runs again from the file, even when the applied index already reads 10.
func TestInstallPendingSnapshotInterrupted(t *testing.T) {
	e := newSnapEnv(t)
	setApplied(t, e.db, 10)
	e.set("k/half", "from the cut install")
	e.set(string(keyInstalling), "")
	e.spool(10, map[string]string{"k/a": "1", "k/b": "2"}, 0)

	if err := installPendingSnapshot(e.db, e.raftLog(10), e.dataDir, zap.NewNop()); err != nil {
		t.Fatalf("installPendingSnapshot: %v", err)
	}
	if _, ok := e.get("k/half"); ok {
		t.Errorf("k/half survived the repeated install")
	}
	for k, want := range map[string]string{"k/a": "1", "k/b": "2"} {
		if v, ok := e.get(k); !ok || v != want {
			t.Errorf("%s = %q %v, want %q", k, v, ok, want)
		}
	}
	if _, ok := e.get(string(keyInstalling)); ok {
		t.Errorf("the installing marker is still set")
	}
}

// A state already at or past the snapshot is left alone; old spooled files
// go.
func TestInstallPendingSnapshotUpToDate(t *testing.T) {
	e := newSnapEnv(t)
	setApplied(t, e.db, 12)
	e.set("k/mine", "kept")
	old := e.spool(10, map[string]string{"k/other": "x"}, 0)
	newer := e.spool(20, map[string]string{"k/other": "y"}, 0)

	if err := installPendingSnapshot(e.db, e.raftLog(10), e.dataDir, zap.NewNop()); err != nil {
		t.Fatalf("installPendingSnapshot: %v", err)
	}
	if v, ok := e.get("k/mine"); !ok || v != "kept" {
		t.Errorf("k/mine = %q %v: the state changed", v, ok)
	}
	if _, ok := e.get("k/other"); ok {
		t.Errorf("a snapshot was installed over a state that did not need it")
	}
	if got := e.applied(); got != 12 {
		t.Errorf("applied index = %d, want 12", got)
	}
	if exists(t, old) {
		t.Errorf("the spooled snapshot at 10 (below applied 12) was kept")
	}
	if !exists(t, newer) {
		t.Errorf("the spooled snapshot at 20 (above applied 12) was removed")
	}
}

// A state behind the snapshot with no file to finish from is a damaged
// data dir: refused with the reason, nothing changed.
func TestInstallPendingSnapshotMissingFile(t *testing.T) {
	e := newSnapEnv(t)
	setApplied(t, e.db, 3)
	e.set("k/mine", "kept")
	err := installPendingSnapshot(e.db, e.raftLog(10), e.dataDir, zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "the state is at index 3 but the raft log starts after a snapshot at 10") ||
		!strings.Contains(err.Error(), "is missing") {
		t.Fatalf("installPendingSnapshot = %v, want the missing-file error", err)
	}
	if v, ok := e.get("k/mine"); !ok || v != "kept" {
		t.Errorf("k/mine = %q %v: a refused start changed the state", v, ok)
	}
}

// A spooled file cut short is refused before anything is touched.
func TestInstallPendingSnapshotTruncatedFile(t *testing.T) {
	e := newSnapEnv(t)
	setApplied(t, e.db, 3)
	e.set("k/mine", "kept")
	e.spool(10, map[string]string{"k/new": "fresh"}, 5)
	err := installPendingSnapshot(e.db, e.raftLog(10), e.dataDir, zap.NewNop())
	if !errors.Is(err, errSnapshotCut) {
		t.Fatalf("installPendingSnapshot = %v, want %v", err, errSnapshotCut)
	}
	if v, ok := e.get("k/mine"); !ok || v != "kept" {
		t.Errorf("k/mine = %q %v: a refused install changed the state", v, ok)
	}
	if _, ok := e.get(string(keyInstalling)); ok {
		t.Errorf("the installing marker was set for a file that was never loaded")
	}
	if got := e.applied(); got != 3 {
		t.Errorf("applied index = %d, want 3", got)
	}
}

// An interrupted install with no file (a data dir from before installs
// were spooled) discards the partial state and the raft log, so the leader
// sends a new snapshot.
func TestInstallPendingSnapshotInterruptedNoFile(t *testing.T) {
	e := newSnapEnv(t)
	setApplied(t, e.db, 10)
	e.set("k/half", "partial")
	e.set(string(keyInstalling), "")
	e.set("\x00member/id", "kept") // this member's identity is not state
	l := e.raftLog(10)
	if err := installPendingSnapshot(e.db, l, e.dataDir, zap.NewNop()); err != nil {
		t.Fatalf("installPendingSnapshot: %v", err)
	}
	// The raft log is empty but for the term and vote, also once read again.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := raftlog.Open(raftlog.Options{Dir: storage.RaftDir(e.dataDir), DB: e.db})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	for _, l := range []*raftlog.Log{l, l2} {
		if got, want := l.HardState(), (raftpb.HardState{Term: 3, Vote: 2}); got != want {
			t.Errorf("HardState after the reset = %+v, want %+v", got, want)
		}
		if got := l.SnapshotMeta().Index; got != 0 {
			t.Errorf("snapshot index after the reset = %d, want 0", got)
		}
	}
	if _, ok := e.get("k/half"); ok {
		t.Errorf("the partial state survived")
	}
	if got := e.applied(); got != 0 {
		t.Errorf("applied index = %d, want 0 (state discarded)", got)
	}
	if _, ok := e.get(string(keyInstalling)); ok {
		t.Errorf("the installing marker is still set")
	}
	if v, ok := e.get("\x00member/id"); !ok || v != "kept" {
		t.Errorf("a key outside the state spans was removed")
	}
}
