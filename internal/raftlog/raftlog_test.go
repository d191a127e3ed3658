package raftlog

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3/raftpb"
)

type env struct {
	t    *testing.T
	fs   vfs.FS
	db   *pebble.DB
	logs []*Log
	sync bool // open logs that fsync
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvFS(t, vfs.NewMem())
}

func newEnvFS(t *testing.T, fs vfs.FS) *env {
	t.Helper()
	e := &env{t: t, fs: fs}
	e.openDB()
	t.Cleanup(func() {
		e.closeLogs()
		e.db.Close()
	})
	return e
}

func (e *env) openDB() {
	e.t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: e.fs, Logger: quietLogger{t: e.t}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
}

// quietLogger keeps pebble's informational lines out of the test output.
type quietLogger struct{ t *testing.T }

func (quietLogger) Infof(string, ...interface{})        {}
func (l quietLogger) Errorf(f string, a ...interface{}) { l.t.Logf("pebble: "+f, a...) }
func (l quietLogger) Fatalf(f string, a ...interface{}) { panic(fmt.Sprintf("pebble: "+f, a...)) }

const logDir = "raft"

func (e *env) tryOpen() (*Log, error) {
	l, err := Open(Options{Dir: logDir, FS: e.fs, DB: e.db, NoSync: !e.sync})
	if err == nil {
		e.logs = append(e.logs, l)
	}
	return l, err
}

func (e *env) open() *Log {
	e.t.Helper()
	l, err := e.tryOpen()
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	return l
}

func (e *env) closeLogs() {
	for _, l := range e.logs {
		l.Close()
	}
	e.logs = nil
}

// reopen closes the log and the DB and opens them again, as a restart does.
func (e *env) reopen() *Log {
	e.t.Helper()
	e.closeLogs()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.openDB()
	return e.open()
}

// segments lists the log's segment files.
func (e *env) segments() []segmentName {
	e.t.Helper()
	segs, err := listSegments(e.fs, logDir)
	if err != nil {
		e.t.Fatal(err)
	}
	return segs
}

func (e *env) segPath(s segmentName) string { return e.fs.PathJoin(logDir, s.String()) }

func ents(term, from, to uint64) []raftpb.Entry {
	var out []raftpb.Entry
	for i := from; i <= to; i++ {
		out = append(out, raftpb.Entry{Term: term, Index: i, Type: raftpb.EntryNormal, Data: []byte(fmt.Sprintf("t%d-i%d", term, i))})
	}
	return out
}

func save(t *testing.T, l *Log, hs raftpb.HardState, es []raftpb.Entry, snap raftpb.Snapshot) {
	t.Helper()
	if _, err := l.Save(hs, es, snap); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

// logOf returns the entries raft sees, and checks the bounds agree.
func logOf(t *testing.T, l *Log) (first, last uint64, es []raftpb.Entry) {
	t.Helper()
	ms := l.Storage()
	first, err := ms.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err = ms.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if last >= first {
		es, err = ms.Entries(first, last+1, 1<<62)
		if err != nil {
			t.Fatalf("Entries(%d, %d): %v", first, last+1, err)
		}
	}
	return first, last, es
}

func sameEntries(t *testing.T, what string, got, want []raftpb.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d\n got %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if got[i].Index != want[i].Index || got[i].Term != want[i].Term || string(got[i].Data) != string(want[i].Data) {
			t.Fatalf("%s: entry %d = %d/%d %q, want %d/%d %q", what, i, got[i].Index, got[i].Term, got[i].Data, want[i].Index, want[i].Term, want[i].Data)
		}
	}
}

func TestFreshLog(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	if !l.Fresh() {
		t.Fatal("an empty DB is not Fresh")
	}
	if first, last, es := logOf(t, l); first != 1 || last != 0 || len(es) != 0 {
		t.Fatalf("fresh log bounds = %d..%d %v", first, last, es)
	}
	if synced, err := l.Save(raftpb.HardState{}, nil, raftpb.Snapshot{}); err != nil || synced {
		t.Fatalf("empty Save = %v, %v; want false, nil", synced, err)
	}
	if l2 := e.reopen(); !l2.Fresh() {
		t.Fatal("an empty Save made the log non-fresh")
	}
}

func TestSaveAndReopen(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	hs := raftpb.HardState{Term: 2, Vote: 3, Commit: 4}
	want := append(ents(1, 1, 3), ents(2, 4, 5)...)
	save(t, l, raftpb.HardState{Term: 1, Vote: 3, Commit: 1}, want[:3], raftpb.Snapshot{})
	save(t, l, hs, want[3:], raftpb.Snapshot{})

	for _, name := range []string{"live", "reopened"} {
		if name == "reopened" {
			l = e.reopen()
		}
		if name == "reopened" && l.Fresh() {
			t.Fatalf("%s: Fresh after saving", name)
		}
		if got := l.HardState(); got != hs {
			t.Fatalf("%s: HardState = %+v, want %+v", name, got, hs)
		}
		gotHS, _, err := l.Storage().InitialState()
		if err != nil || gotHS != hs {
			t.Fatalf("%s: storage HardState = %+v, %v; want %+v", name, gotHS, err, hs)
		}
		first, last, es := logOf(t, l)
		if first != 1 || last != 5 {
			t.Fatalf("%s: bounds %d..%d, want 1..5", name, first, last)
		}
		sameEntries(t, name, es, want)
	}
}

func TestSaveSyncReport(t *testing.T) {
	e := newEnv(t)
	e.sync = true
	l := e.open()
	steps := []struct {
		name string
		hs   raftpb.HardState
		es   []raftpb.Entry
		want bool
	}{
		{"entries sync", raftpb.HardState{Term: 1, Commit: 0}, ents(1, 1, 2), true},
		{"commit only does not", raftpb.HardState{Term: 1, Commit: 2}, nil, false},
		{"a vote syncs", raftpb.HardState{Term: 1, Vote: 1, Commit: 2}, nil, true},
		{"a term syncs", raftpb.HardState{Term: 2, Vote: 1, Commit: 2}, nil, true},
		{"nothing new", raftpb.HardState{}, nil, false},
	}
	for _, s := range steps {
		synced, err := l.Save(s.hs, s.es, raftpb.Snapshot{})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if synced != s.want {
			t.Errorf("%s: synced = %v, want %v", s.name, synced, s.want)
		}
	}
	// With noSync nothing reports a sync.
	e2 := newEnv(t)
	l2 := e2.open()
	if synced, err := l2.Save(raftpb.HardState{Term: 1}, ents(1, 1, 1), raftpb.Snapshot{}); err != nil || synced {
		t.Fatalf("noSync Save = %v, %v; want false", synced, err)
	}
}

func TestConflictingSuffixReplaced(t *testing.T) {
	tests := []struct {
		name     string
		first    []raftpb.Entry
		second   []raftpb.Entry
		wantLast uint64
		want     []raftpb.Entry
	}{
		{
			name:     "shorter overwrite drops the tail",
			first:    ents(1, 1, 5),
			second:   ents(2, 3, 4),
			wantLast: 4,
			want:     append(ents(1, 1, 2), ents(2, 3, 4)...),
		},
		{
			name:     "same length overwrite",
			first:    ents(1, 1, 5),
			second:   ents(2, 4, 5),
			wantLast: 5,
			want:     append(ents(1, 1, 3), ents(2, 4, 5)...),
		},
		{
			name:     "longer overwrite",
			first:    ents(1, 1, 3),
			second:   ents(3, 2, 6),
			wantLast: 6,
			want:     append(ents(1, 1, 1), ents(3, 2, 6)...),
		},
		{
			name:     "replace from the start",
			first:    ents(1, 1, 4),
			second:   ents(2, 1, 1),
			wantLast: 1,
			want:     ents(2, 1, 1),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			l := e.open()
			save(t, l, raftpb.HardState{Term: 1}, tc.first, raftpb.Snapshot{})
			save(t, l, raftpb.HardState{Term: tc.second[0].Term}, tc.second, raftpb.Snapshot{})
			for _, name := range []string{"live", "reopened"} {
				if name == "reopened" {
					l = e.reopen()
				}
				_, last, es := logOf(t, l)
				if last != tc.wantLast {
					t.Fatalf("%s: last = %d, want %d", name, last, tc.wantLast)
				}
				sameEntries(t, name, es, tc.want)
			}
		})
	}
}

func TestSaveSnapshot(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	save(t, l, raftpb.HardState{Term: 1, Commit: 3}, ents(1, 1, 3), raftpb.Snapshot{})
	snap := raftpb.Snapshot{
		Data:     []byte("state is sent separately; not stored"),
		Metadata: raftpb.SnapshotMetadata{Index: 10, Term: 2, ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}}},
	}
	save(t, l, raftpb.HardState{Term: 2, Commit: 10}, nil, snap)
	save(t, l, raftpb.HardState{Term: 2, Commit: 12}, ents(2, 11, 12), raftpb.Snapshot{})

	for _, name := range []string{"live", "reopened"} {
		if name == "reopened" {
			l = e.reopen()
		}
		meta := l.SnapshotMeta()
		if meta.Index != 10 || meta.Term != 2 || !reflect.DeepEqual(meta.ConfState.Voters, []uint64{1, 2, 3}) {
			t.Fatalf("%s: SnapshotMeta = %+v", name, meta)
		}
		first, last, es := logOf(t, l)
		if first != 11 || last != 12 {
			t.Fatalf("%s: bounds %d..%d, want 11..12", name, first, last)
		}
		sameEntries(t, name, es, ents(2, 11, 12))
		if term, err := l.Storage().Term(10); err != nil || term != 2 {
			t.Fatalf("%s: Term(10) = %d, %v; want 2", name, term, err)
		}
	}
}

// A follower whose log runs past the leader's snapshot index (entries of an
// old term that were never committed) receives a snapshot. raft replaces the
// whole log with the snapshot, so after the snapshot and the leader's next,
// shorter, append the log must end at the leader's last entry, before and
// after a restart. A stale tail left on disk comes back at Open with terms
// lower than the entries before it.
func TestSnapshotDiscardsLogAfterIt(t *testing.T) {
	snap := raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: 15, Term: 3, ConfState: raftpb.ConfState{Voters: []uint64{1}}}}
	tests := []struct {
		name     string
		after    []raftpb.Entry // the leader's append after the snapshot
		wantLast uint64
	}{
		{"restart right after the snapshot", nil, 15},
		{"shorter append after the snapshot, then restart", ents(3, 16, 18), 18},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			l := e.open()
			save(t, l, raftpb.HardState{Term: 1, Commit: 5}, ents(1, 1, 20), raftpb.Snapshot{})
			save(t, l, raftpb.HardState{Term: 3, Commit: 15}, nil, snap)
			if _, last, _ := logOf(t, l); last != 15 {
				t.Fatalf("live: last = %d after the snapshot, want 15", last)
			}
			if tc.after != nil {
				save(t, l, raftpb.HardState{Term: 3, Commit: 15}, tc.after, raftpb.Snapshot{})
			}
			if _, last, _ := logOf(t, l); last != tc.wantLast {
				t.Fatalf("live: last = %d, want %d", last, tc.wantLast)
			}
			l = e.reopen()
			if _, last, es := logOf(t, l); last != tc.wantLast {
				t.Errorf("reopened: last = %d, want %d; raft's log is now %s(stale term-1 entries after the term-3 snapshot came back)", last, tc.wantLast, tailTerms(es))
			}
		})
	}
}

func tailTerms(es []raftpb.Entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%d@t%d ", e.Index, e.Term)
	}
	return b.String()
}

func TestCompact(t *testing.T) {
	tests := []struct {
		name      string
		index     uint64
		keepFrom  uint64
		wantFirst uint64 // raft's first index before a restart
	}{
		{"keep catch-up entries", 8, 5, 5},
		{"keep none below the snapshot", 8, 9, 9},
		{"keepFrom past the snapshot is clamped", 8, 100, 9},
		{"keep everything", 8, 1, 1},
		{"compact to the last entry", 10, 7, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			l := e.open()
			save(t, l, raftpb.HardState{Term: 1, Vote: 1, Commit: 10}, ents(1, 1, 10), raftpb.Snapshot{})
			cs := raftpb.ConfState{Voters: []uint64{1, 2}}
			if err := l.Compact(tc.index, cs, tc.keepFrom); err != nil {
				t.Fatalf("Compact: %v", err)
			}
			if meta := l.SnapshotMeta(); meta.Index != tc.index || meta.Term != 1 || !reflect.DeepEqual(meta.ConfState.Voters, cs.Voters) {
				t.Fatalf("SnapshotMeta = %+v", meta)
			}
			first, last, es := logOf(t, l)
			if first != tc.wantFirst || last != 10 {
				t.Fatalf("live bounds %d..%d, want %d..10", first, last, tc.wantFirst)
			}
			sameEntries(t, "live", es, ents(1, tc.wantFirst, 10))

			// After a restart raft starts from the snapshot.
			l = e.reopen()
			if meta := l.SnapshotMeta(); meta.Index != tc.index {
				t.Fatalf("reopened SnapshotMeta.Index = %d, want %d", meta.Index, tc.index)
			}
			first, last, es = logOf(t, l)
			if first > tc.index+1 || last != 10 {
				t.Fatalf("reopened bounds %d..%d, want ..%d..10", first, last, tc.index+1)
			}
			sameEntries(t, "reopened", es, ents(1, first, 10))
			if l.HardState().Commit != 10 || l.Fresh() {
				t.Fatalf("reopened HardState = %+v fresh=%v", l.HardState(), l.Fresh())
			}
		})
	}
}

func TestCompactNoOpsAndErrors(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	save(t, l, raftpb.HardState{Term: 1, Commit: 10}, ents(1, 1, 10), raftpb.Snapshot{})
	if err := l.Compact(6, raftpb.ConfState{Voters: []uint64{1}}, 4); err != nil {
		t.Fatal(err)
	}
	before := l.active.off
	for _, idx := range []uint64{6, 3} {
		if err := l.Compact(idx, raftpb.ConfState{}, idx); err != nil {
			t.Fatalf("Compact(%d) at or below the snapshot: %v, want a no-op", idx, err)
		}
	}
	if got := l.active.off; got != before {
		t.Fatalf("a no-op Compact wrote to the log: offset %d -> %d", before, got)
	}
	if l.SnapshotMeta().Index != 6 {
		t.Fatalf("SnapshotMeta.Index = %d, want 6", l.SnapshotMeta().Index)
	}
	// Compacting past the log is a caller bug: it must not succeed quietly
	// (raft's MemoryStorage panics).
	func() {
		defer func() { _ = recover() }()
		if err := l.Compact(11, raftpb.ConfState{}, 11); err == nil {
			t.Fatal("Compact past the last index succeeded")
		}
	}()
	if l.SnapshotMeta().Index != 6 {
		t.Fatalf("a refused Compact moved the snapshot to %d", l.SnapshotMeta().Index)
	}
}

func TestReset(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, l *Log)
	}{
		{"log with snapshot", func(t *testing.T, l *Log) {
			save(t, l, raftpb.HardState{Term: 5, Vote: 2, Commit: 7}, ents(5, 1, 9), raftpb.Snapshot{})
			if err := l.Compact(6, raftpb.ConfState{Voters: []uint64{1, 2}}, 3); err != nil {
				t.Fatal(err)
			}
		}},
		{"log without snapshot", func(t *testing.T, l *Log) {
			save(t, l, raftpb.HardState{Term: 5, Vote: 2, Commit: 7}, ents(5, 1, 9), raftpb.Snapshot{})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			l := e.open()
			tc.setup(t, l)
			if err := l.Reset(); err != nil {
				t.Fatalf("Reset: %v", err)
			}
			for _, name := range []string{"live", "reopened"} {
				if name == "reopened" {
					l = e.reopen()
				}
				if got, want := l.HardState(), (raftpb.HardState{Term: 5, Vote: 2}); got != want {
					t.Fatalf("%s: HardState = %+v, want %+v", name, got, want)
				}
				if meta := l.SnapshotMeta(); meta.Index != 0 || meta.Term != 0 {
					t.Fatalf("%s: SnapshotMeta = %+v, want none", name, meta)
				}
				if first, last, es := logOf(t, l); last != 0 || len(es) != 0 {
					t.Fatalf("%s: log after reset %d..%d %v, want empty", name, first, last, es)
				}
				if name == "reopened" && l.Fresh() {
					t.Fatal("a reset log with a term is Fresh (it would bootstrap again)")
				}
			}
			// The leader's snapshot and entries then follow.
			snap := raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: 20, Term: 5, ConfState: raftpb.ConfState{Voters: []uint64{1, 2}}}}
			save(t, l, raftpb.HardState{Term: 5, Vote: 2, Commit: 20}, nil, snap)
			save(t, l, raftpb.HardState{Term: 5, Vote: 2, Commit: 22}, ents(5, 21, 22), raftpb.Snapshot{})
			l = e.reopen()
			if first, last, es := logOf(t, l); first != 21 || last != 22 {
				t.Fatalf("after the leader's snapshot: %d..%d %v, want 21..22", first, last, es)
			}
		})
	}
}

func TestOpenRefusesDamage(t *testing.T) {
	entry := func(idx, term uint64) []byte {
		e := raftpb.Entry{Index: idx, Term: term, Data: []byte("x")}
		v, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name    string
		kvs     map[string][]byte
		wantErr string
	}{
		{
			name:    "gap in the middle",
			kvs:     map[string][]byte{string(entryKey(1)): entry(1, 1), string(entryKey(2)): entry(2, 1), string(entryKey(4)): entry(4, 1)},
			wantErr: "gap: want entry 3, found 4",
		},
		{
			name:    "missing first entry",
			kvs:     map[string][]byte{string(entryKey(2)): entry(2, 1)},
			wantErr: "gap: want entry 1, found 2",
		},
		{
			name: "gap after the snapshot",
			kvs: map[string][]byte{
				string(keySnapshot): mustMarshal(&raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: 5, Term: 1}}),
				string(entryKey(7)): entry(7, 1),
			},
			wantErr: "gap: want entry 6, found 7",
		},
		{
			name:    "entry under the wrong key",
			kvs:     map[string][]byte{string(entryKey(1)): entry(1, 1), string(entryKey(2)): entry(9, 1)},
			wantErr: "gap: want entry 2, found 9",
		},
		{
			name:    "damaged entry",
			kvs:     map[string][]byte{string(entryKey(1)): entry(1, 1), string(entryKey(2)): {0xff, 0xff, 0xff, 0xff}},
			wantErr: "is damaged",
		},
		{
			name:    "damaged HardState",
			kvs:     map[string][]byte{string(keyHardState): {0xff, 0xff, 0xff}},
			wantErr: "r/hs is damaged",
		},
		{
			name:    "damaged snapshot metadata",
			kvs:     map[string][]byte{string(keySnapshot): {0xff, 0xff, 0xff}},
			wantErr: "r/snap is damaged",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			for k, v := range tc.kvs {
				if err := e.db.Set([]byte(k), v, pebble.Sync); err != nil {
					t.Fatal(err)
				}
			}
			_, err := e.tryOpen()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Open err = %v, want one containing %q", err, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "raftlog: ") {
				t.Errorf("Open err %q lacks the package prefix", err)
			}
		})
	}
}

// Save must reject non-contiguous entries loudly: writing them would make
// the next Open fail.
func TestSaveNonContiguousPanics(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	defer func() {
		if recover() == nil {
			t.Fatal("Save of non-contiguous entries did not panic")
		}
	}()
	_, _ = l.Save(raftpb.HardState{Term: 1}, []raftpb.Entry{{Index: 1, Term: 1}, {Index: 3, Term: 1}}, raftpb.Snapshot{})
}
