package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3/raftpb"
)

// crash replaces the file system by what a power cut would leave of it
// now: the synced data, and each unsynced block with probability
// unsyncedPercent. Then the database is opened on it again.
func (e *env) crash(unsyncedPercent int, rng *rand.Rand) {
	e.t.Helper()
	clone := e.fs.(*vfs.MemFS).CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsyncedPercent, RNG: rng})
	e.closeLogs()
	e.db.Close()
	e.fs = clone
	e.openDB()
}

// Entries and votes are on disk when Save returns; a commit index alone
// is not (raft learns it again), and neither is what was never synced.
func TestCrashKeepsWhatWasSynced(t *testing.T) {
	e := newEnvFS(t, vfs.NewCrashableMem())
	e.sync = true
	l := e.open()
	save(t, l, raftpb.HardState{Term: 1, Vote: 1, Commit: 0}, ents(1, 1, 5), raftpb.Snapshot{})
	save(t, l, raftpb.HardState{Term: 1, Vote: 1, Commit: 5}, nil, raftpb.Snapshot{}) // not synced
	save(t, l, raftpb.HardState{Term: 2, Vote: 3, Commit: 5}, ents(2, 6, 7), raftpb.Snapshot{})
	e.crash(0, nil)
	l = e.open()
	if got, want := l.HardState(), (raftpb.HardState{Term: 2, Vote: 3, Commit: 5}); got != want {
		t.Fatalf("HardState after the crash = %+v, want %+v", got, want)
	}
	_, last, es := logOf(t, l)
	if last != 7 {
		t.Fatalf("last index after the crash = %d, want 7", last)
	}
	sameEntries(t, "after the crash", es, append(ents(1, 1, 5), ents(2, 6, 7)...))

	// A commit-only HardState after the last sync is lost, the rest stays.
	save(t, l, raftpb.HardState{Term: 2, Vote: 3, Commit: 7}, nil, raftpb.Snapshot{})
	e.crash(0, nil)
	l = e.open()
	if got := l.HardState().Commit; got != 5 {
		t.Fatalf("commit after losing the unsynced update = %d, want 5", got)
	}
	if _, last, _ := logOf(t, l); last != 7 {
		t.Fatalf("last index = %d, want 7", last)
	}
}

// The state a truncation stands for, written to the database without a
// sync, survives a power cut after the truncation (that the database is
// synced before the log drops entries, not after, is checked at every file
// operation by TestCrashAtEveryFileOperation).
func TestCompactSyncsTheDatabaseFirst(t *testing.T) {
	e := newEnvFS(t, vfs.NewCrashableMem())
	e.sync = true
	l := e.open()
	save(t, l, raftpb.HardState{Term: 1, Vote: 1, Commit: 10}, ents(1, 1, 10), raftpb.Snapshot{})
	// The apply goroutine writes the state without syncing.
	if err := e.db.Set([]byte("m/apply/index"), []byte("10"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := l.Compact(10, raftpb.ConfState{Voters: []uint64{1}}, 11); err != nil {
		t.Fatal(err)
	}
	e.crash(0, nil)
	l = e.open()
	if got := l.SnapshotMeta().Index; got != 10 {
		t.Fatalf("snapshot index after the crash = %d, want 10", got)
	}
	v, closer, err := e.db.Get([]byte("m/apply/index"))
	if err != nil {
		t.Fatalf("the state applied before the truncation was lost in the crash: %v", err)
	}
	defer closer.Close()
	if string(v) != "10" {
		t.Fatalf("applied index = %q", v)
	}
}

// writeAt overwrites bytes of a file.
func writeAt(t *testing.T, fs vfs.FS, path string, off int64, b []byte) {
	t.Helper()
	f, err := fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, fs vfs.FS, path string) []byte {
	t.Helper()
	f, err := fs.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A crash in the middle of a write leaves a record cut short, and possibly
// whole records after it (the page cache writes blocks back in any order).
// None of it was synced or acknowledged: the log ends before the cut
// record, and the records after it must never come back, also once new
// records are written over the cut one.
func TestTornWriteIsTheEnd(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	save(t, l, raftpb.HardState{Term: 1, Commit: 3}, ents(1, 1, 3), raftpb.Snapshot{})
	seg := e.segments()[0]
	end := l.active.off
	// Records for entries 4..6 as a Save would write them; keep 4 whole,
	// cut 5 after its header, keep 6 whole where it was.
	var recs [][]byte
	for _, en := range ents(1, 4, 6) {
		recs = append(recs, appendRecord(nil, seg.seq, recEntry, mustMarshal(&en)))
	}
	e.closeLogs()
	writeAt(t, e.fs, e.segPath(seg), end, recs[0])
	writeAt(t, e.fs, e.segPath(seg), end+int64(len(recs[0])), recs[1][:recHeader+2])
	writeAt(t, e.fs, e.segPath(seg), end+int64(len(recs[0])+len(recs[1])), recs[2])

	l = e.reopen()
	_, last, es := logOf(t, l)
	if last != 4 {
		t.Fatalf("last index after the torn write = %d, want 4 (entries %s)", last, tailTerms(es))
	}
	// A new leader's entry takes the cut record's place; its record is as
	// long as the cut one, so the next one read is where record 6 was.
	// (No HardState: its record would follow and cover record 6.)
	save(t, l, raftpb.HardState{}, ents(2, 5, 5), raftpb.Snapshot{})
	l = e.reopen()
	_, last, es = logOf(t, l)
	if last != 5 || es[len(es)-1].Term != 2 {
		t.Fatalf("log after writing over the torn record ends %s, want 5@t2 (the stale entry 6 came back?)", tailTerms(es[len(es)-2:]))
	}
}

// Segments are sealed at segmentBytes and deleted once a truncation no
// longer needs them; the newest segments alone rebuild the log.
func TestSegmentsCutAndDeleted(t *testing.T) {
	defer func(n int64) { segmentBytes = n }(segmentBytes)
	segmentBytes = 4 << 10
	e := newEnv(t)
	l := e.open()
	var all []raftpb.Entry
	for i := uint64(1); i <= 400; i += 10 {
		es := ents(1, i, i+9)
		for j := range es {
			es[j].Data = []byte(strings.Repeat("x", 90) + fmt.Sprint(es[j].Index))
		}
		all = append(all, es...)
		save(t, l, raftpb.HardState{Term: 1, Vote: 1, Commit: i + 9}, es, raftpb.Snapshot{})
	}
	segs := e.segments()
	if len(segs) < 5 {
		t.Fatalf("%d segments for ~50 KiB of log with 4 KiB segments", len(segs))
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 || segs[i].first <= segs[i-1].first {
			t.Fatalf("segments out of order: %v", segs)
		}
	}
	l = e.reopen()
	if _, last, es := logOf(t, l); last != 400 {
		t.Fatalf("reopened last = %d, want 400", last)
	} else {
		sameEntries(t, "reopened", es, all)
	}

	if err := l.Compact(300, raftpb.ConfState{Voters: []uint64{1}}, 250); err != nil {
		t.Fatal(err)
	}
	left := e.segments()
	if len(left) >= len(segs) {
		t.Fatalf("no segment deleted by the truncation: %v", left)
	}
	if left[0].first > 250 {
		t.Fatalf("segment %v deleted entries the truncation keeps (from 250)", left[0])
	}
	if len(left) > 1 && left[1].first <= 250 {
		t.Fatalf("segment %v kept though the next one starts at %d, before 250", left[0], left[1].first)
	}
	l = e.reopen()
	if meta := l.SnapshotMeta(); meta.Index != 300 {
		t.Fatalf("snapshot index after reopening = %d, want 300", meta.Index)
	}
	first, last, es := logOf(t, l)
	if first != 301 || last != 400 {
		t.Fatalf("reopened bounds %d..%d, want 301..400", first, last)
	}
	sameEntries(t, "after the truncation", es, all[300:])
	if got := l.HardState(); got.Commit != 400 || got.Term != 1 {
		t.Fatalf("HardState = %+v", got)
	}
}

// A log whose files went missing or were damaged is refused with an error
// that says so; it is never read as a shorter log.
func TestOpenRefusesMissingOrDamagedSegments(t *testing.T) {
	defer func(n int64) { segmentBytes = n }(segmentBytes)
	segmentBytes = 512
	setup := func(t *testing.T) *env {
		e := newEnv(t)
		l := e.open()
		for i := uint64(1); i <= 100; i += 10 {
			save(t, l, raftpb.HardState{Term: 1, Vote: 1, Commit: i + 9}, ents(1, i, i+9), raftpb.Snapshot{})
		}
		if n := len(e.segments()); n < 3 {
			t.Fatalf("only %d segments", n)
		}
		e.closeLogs()
		return e
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, e *env)
		want   string
	}{
		{"newest segment missing", func(t *testing.T, e *env) {
			segs := e.segments()
			if err := e.fs.Remove(e.segPath(segs[len(segs)-1])); err != nil {
				t.Fatal(err)
			}
		}, "is missing"},
		{"middle segment missing", func(t *testing.T, e *env) {
			if err := e.fs.Remove(e.segPath(e.segments()[1])); err != nil {
				t.Fatal(err)
			}
		}, "is missing"},
		{"log directory missing", func(t *testing.T, e *env) {
			if err := e.fs.RemoveAll(logDir); err != nil {
				t.Fatal(err)
			}
		}, "directory raft is missing"},
		{"damaged record in a sealed segment", func(t *testing.T, e *env) {
			p := e.segPath(e.segments()[0])
			b := readAll(t, e.fs, p)
			writeAt(t, e.fs, p, 40, []byte{b[40] ^ 0xff})
		}, "without its seal"},
		{"sealed segment cut short", func(t *testing.T, e *env) {
			p := e.segPath(e.segments()[1])
			b := readAll(t, e.fs, p)
			if err := e.fs.Remove(p); err != nil {
				t.Fatal(err)
			}
			f, err := e.fs.Create(p, vfs.WriteCategoryUnspecified)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(b[:100]) // the segment holds over 512 bytes of records
			f.Close()
		}, "without its seal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			tc.damage(t, e)
			e.closeLogs()
			e.db.Close()
			e.openDB()
			_, err := e.tryOpen()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrDamaged) {
				t.Fatalf("Open = %v, want an ErrDamaged error containing %q", err, tc.want)
			}
		})
	}
}

// A data dir of format cairn/1 kept the log in the database: Open moves it
// into a segment, deletes the keys and stamps format cairn/2.
func TestUpgradeFromTheDatabase(t *testing.T) {
	e := newEnv(t)
	hs := raftpb.HardState{Term: 4, Vote: 2, Commit: 9}
	snap := raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: 5, Term: 3, ConfState: raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}
	b := e.db.NewBatch()
	set := func(k []byte, v []byte) {
		if err := b.Set(k, v, nil); err != nil {
			t.Fatal(err)
		}
	}
	set(keyHardState, mustMarshal(&hs))
	set(keySnapshot, mustMarshal(&snap))
	want := append(ents(3, 6, 7), ents(4, 8, 10)...)
	for _, en := range append(ents(3, 3, 5), want...) {
		set(entryKey(en.Index), mustMarshal(&en))
	}
	set([]byte("\x00format"), []byte("cairn/1"))
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"upgraded", "reopened"} {
		var l *Log
		if name == "upgraded" {
			l = e.open()
		} else {
			l = e.reopen()
		}
		if got := l.HardState(); got != hs {
			t.Fatalf("%s: HardState = %+v, want %+v", name, got, hs)
		}
		if got := l.SnapshotMeta(); !reflect.DeepEqual(got, snap.Metadata) {
			t.Fatalf("%s: SnapshotMeta = %+v, want %+v", name, got, snap.Metadata)
		}
		first, last, es := logOf(t, l)
		if first != 6 || last != 10 {
			t.Fatalf("%s: bounds %d..%d, want 6..10", name, first, last)
		}
		sameEntries(t, name, es, want)
		if l.Fresh() {
			t.Fatalf("%s: an upgraded log is Fresh", name)
		}
		if has, err := hasLegacyKeys(e.db); err != nil || has {
			t.Fatalf("%s: keys of the old layout left: %v %v", name, has, err)
		}
		v, closer, err := e.db.Get([]byte("\x00format"))
		if err != nil {
			t.Fatal(err)
		}
		if string(v) != "cairn/2" {
			t.Fatalf("%s: format = %q, want cairn/2", name, v)
		}
		closer.Close()
	}
}

// The newest segment's seq is kept in the database as segments are cut.
func TestNewestSegmentRecorded(t *testing.T) {
	defer func(n int64) { segmentBytes = n }(segmentBytes)
	segmentBytes = 1 << 10
	e := newEnv(t)
	l := e.open()
	for i := uint64(1); i <= 50; i += 10 {
		save(t, l, raftpb.HardState{Term: 1, Commit: i + 9}, ents(1, i, i+9), raftpb.Snapshot{})
	}
	segs := e.segments()
	v, closer, err := e.db.Get(keyNewest)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if got, want := binary.BigEndian.Uint64(v), segs[len(segs)-1].seq; got != want || want < 2 {
		t.Fatalf("recorded newest segment %d, newest on disk %d", got, want)
	}
}

// A power cut between a Save's write and its fsync, after a random log
// (appends, a new leader overwriting the uncommitted tail, truncations,
// segment cuts), with a random share of the unsynced blocks kept: the
// reopened log is the acknowledged one, or it with a prefix of the
// interrupted Save's entries in place of its tail. Never a gap, a stale
// entry after a newer one, or an acknowledged entry lost.
func TestCrashDuringSave(t *testing.T) {
	defer func(n int64) { segmentBytes = n }(segmentBytes)
	segmentBytes = 2 << 10
	rng := rand.New(rand.NewPCG(1, uint64(len(t.Name()))))
	for trial := 0; trial < 30; trial++ {
		e := newEnvFS(t, vfs.NewCrashableMem())
		e.sync = true
		l := e.open()
		var acked []raftpb.Entry // the log as of the last acknowledged Save
		term, commit := uint64(1), uint64(0)
		steps := 5 + rng.IntN(40)
		for step := 0; ; step++ {
			// The next Save: append, or overwrite above the commit index.
			from := uint64(len(acked)) + 1
			if len(acked) > int(commit) && rng.IntN(4) == 0 {
				from = commit + 1 + uint64(rng.IntN(len(acked)-int(commit)))
				term++
			}
			es := ents(term, from, from+uint64(rng.IntN(8)))
			for i := range es {
				es[i].Data = []byte(strings.Repeat("d", rng.IntN(200)) + fmt.Sprint(es[i].Index))
			}
			crashNow := step == steps
			var clone *vfs.MemFS
			if crashNow {
				l.beforeSync = func() {
					clone = e.fs.(*vfs.MemFS).CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng})
				}
			}
			save(t, l, raftpb.HardState{Term: term, Vote: 1, Commit: commit}, es, raftpb.Snapshot{})
			if crashNow {
				e.closeLogs()
				e.db.Close()
				e.fs = clone
				e.openDB()
				l = e.open()
				first, _, got := logOf(t, l)
				if snapAt := l.SnapshotMeta().Index; first != snapAt+1 || snapAt >= from {
					t.Fatalf("trial %d: log starts at %d after a snapshot at %d (the interrupted write was from %d)", trial, first, snapAt, from)
				}
				base := acked[first-1 : from-1]
				if len(got) < len(base) {
					t.Fatalf("trial %d: %d entries after the crash, %d were acknowledged below the interrupted write", trial, len(got), len(base))
				}
				sameEntries(t, "acknowledged prefix", got[:len(base)], base)
				rest := got[len(base):]
				switch {
				case len(rest) == 0:
				case rest[0].Term == term && rest[0].Data != nil && string(rest[0].Data) == string(es[0].Data):
					if len(rest) > len(es) {
						t.Fatalf("trial %d: %d entries of a %d-entry write", trial, len(rest), len(es))
					}
					sameEntries(t, "interrupted write", rest, es[:len(rest)])
				default:
					sameEntries(t, "tail kept", rest, acked[from-1:])
				}
				break
			}
			acked = append(acked[:from-1], es...)
			commit = min(uint64(len(acked)), commit+uint64(rng.IntN(6)))
			if commit > 0 && rng.IntN(5) == 0 {
				if err := l.Compact(commit, raftpb.ConfState{Voters: []uint64{1}}, commit+1-uint64(rng.IntN(int(commit)))); err != nil {
					t.Fatal(err)
				}
			}
		}
		e.closeLogs()
	}
}

// A HardState that only moves the commit index is not written on its own:
// it goes out with the next record, or at Close, and a truncation writes it
// before its snapshot (a restart must find the commit index at or above
// the snapshot, or raft refuses the state).
func TestCommitOnlyHardStateHeld(t *testing.T) {
	e := newEnvFS(t, vfs.NewCrashableMem())
	e.sync = true
	l := e.open()
	save(t, l, raftpb.HardState{Term: 1, Vote: 1}, ents(1, 1, 5), raftpb.Snapshot{})
	off := l.active.off
	save(t, l, raftpb.HardState{Term: 1, Vote: 1, Commit: 5}, nil, raftpb.Snapshot{})
	if l.active.off != off {
		t.Fatalf("a commit-only HardState was written at once (offset %d -> %d)", off, l.active.off)
	}
	if got := l.HardState().Commit; got != 5 {
		t.Fatalf("HardState().Commit = %d, want 5", got)
	}
	if hs, _, _ := l.Storage().InitialState(); hs.Commit != 5 {
		t.Fatalf("raft's storage has commit %d, want 5", hs.Commit)
	}
	// At Close.
	l = e.reopen()
	if got := l.HardState(); got != (raftpb.HardState{Term: 1, Vote: 1, Commit: 5}) {
		t.Fatalf("after Close and reopen: HardState = %+v", got)
	}
	// With the next entries, whose Ready carries no HardState.
	save(t, l, raftpb.HardState{Term: 1, Vote: 1, Commit: 6}, nil, raftpb.Snapshot{})
	save(t, l, raftpb.HardState{}, ents(1, 6, 7), raftpb.Snapshot{})
	e.crash(0, nil)
	l = e.open()
	if got := l.HardState().Commit; got != 6 {
		t.Fatalf("after entries and a crash: commit %d, want 6", got)
	}
	// Before a truncation's snapshot.
	save(t, l, raftpb.HardState{Term: 1, Vote: 1, Commit: 7}, nil, raftpb.Snapshot{})
	if err := l.Compact(7, raftpb.ConfState{Voters: []uint64{1}}, 8); err != nil {
		t.Fatal(err)
	}
	e.crash(0, nil)
	l = e.open()
	if got := l.HardState().Commit; got != 7 || l.SnapshotMeta().Index != 7 {
		t.Fatalf("after a truncation and a crash: commit %d, snapshot %d; want 7 and 7", got, l.SnapshotMeta().Index)
	}
}

// A HardState that commits entries the log does not hold is damage (raft
// would panic on it), not something to start from.
func TestOpenRefusesCommitPastTheLog(t *testing.T) {
	e := newEnv(t)
	l := e.open()
	save(t, l, raftpb.HardState{Term: 1, Vote: 1, Commit: 5}, ents(1, 1, 5), raftpb.Snapshot{})
	hs := raftpb.HardState{Term: 1, Vote: 1, Commit: 9}
	if err := l.active.write(appendRecord(nil, l.active.name.seq, recHardState, mustMarshal(&hs))); err != nil {
		t.Fatal(err)
	}
	e.closeLogs()
	_, err := e.tryOpen()
	if err == nil || !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "commits entry 9 but the log ends at 5") {
		t.Fatalf("Open = %v, want the commit-past-the-log error", err)
	}
}
