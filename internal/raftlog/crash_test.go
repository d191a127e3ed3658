package raftlog

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3/raftpb"
)

// The power-cut harness (first written for a review of this package): a
// random workload runs against the log, and before its Nth mutating file
// operation, for every N, the file system is cloned as a power cut would
// leave it (what was synced, and a random share of the rest; every write
// is split in two so that some are torn). The clone must open, and hold
// the acknowledged log.

// hookFS calls hook before every mutating operation on the raft log's files.
type hookFS struct {
	vfs.FS
	hook func(op string)
}

type hookFile struct {
	vfs.File
	h    *hookFS
	name string
}

func (h *hookFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	h.hook("create " + name)
	f, err := h.FS.Create(name, c)
	if err != nil {
		return nil, err
	}
	return &hookFile{f, h, name}, nil
}
func (h *hookFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, o ...vfs.OpenOption) (vfs.File, error) {
	f, err := h.FS.OpenReadWrite(name, c, o...)
	if err != nil {
		return nil, err
	}
	return &hookFile{f, h, name}, nil
}
func (h *hookFS) OpenDir(name string) (vfs.File, error) {
	f, err := h.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &hookFile{f, h, name}, nil
}
func (h *hookFS) Remove(name string) error { h.hook("remove " + name); return h.FS.Remove(name) }
func (h *hookFS) RemoveAll(name string) error {
	h.hook("removeall " + name)
	return h.FS.RemoveAll(name)
}
func (h *hookFS) Rename(a, b string) error { h.hook("rename " + a); return h.FS.Rename(a, b) }
func (h *hookFS) MkdirAll(d string, p os.FileMode) error {
	h.hook("mkdir " + d)
	return h.FS.MkdirAll(d, p)
}
func (f *hookFile) Write(b []byte) (int, error) { f.h.hook("write " + f.name); return f.File.Write(b) }
func (f *hookFile) WriteAt(b []byte, off int64) (int, error) {
	f.h.hook(fmt.Sprintf("writeat %s %d+%d", f.name, off, len(b)))
	// split a write in two halves to get torn writes
	if len(b) > 1 {
		n1, err := f.File.WriteAt(b[:len(b)/2], off)
		if err != nil {
			return n1, err
		}
		f.h.hook("writeat-half " + f.name)
		n2, err := f.File.WriteAt(b[len(b)/2:], off+int64(len(b)/2))
		return n1 + n2, err
	}
	return f.File.WriteAt(b, off)
}
func (f *hookFile) Sync() error     { f.h.hook("sync " + f.name); return f.File.Sync() }
func (f *hookFile) SyncData() error { f.h.hook("syncdata " + f.name); return f.File.SyncData() }

var appliedKey = []byte("m/apply/index")

// TestCrashAtEveryFileOperation runs a random workload (appends,
// overwrites of the uncommitted tail, commit-only HardStates, truncations
// after a NoSync write of the applied index, segment cuts and deletions,
// snapshots from a leader) and cuts the power before each of its file
// operations in turn, creation of the log included. After each cut the
// log opens; it holds every acknowledged entry (and no entry that is
// neither acknowledged nor part of the write in flight); the term never
// goes back; the commit index is within the log and at least the
// snapshot; and the database's applied index covers the snapshot (the
// database is synced before a truncation drops entries).
func TestCrashAtEveryFileOperation(t *testing.T) {
	defer func(n int64) { segmentBytes = n }(segmentBytes)
	segmentBytes = 1 << 10
	seeds := uint64(8)
	if testing.Short() {
		seeds = 3
	}
	fails, points := 0, 0
	for seed := uint64(0); seed < seeds; seed++ {
		total := runWorkload(t, seed, -1, nil)
		for n := 0; n < total; n++ {
			var clone *vfs.MemFS
			var st state
			runWorkload(t, seed, n, func(c *vfs.MemFS, s state) { clone, st = c, s })
			if clone == nil {
				continue
			}
			points++
			if msg := check(t, clone, st); msg != "" {
				fails++
				if fails < 8 {
					t.Errorf("seed %d, power cut before operation %d (%s): %s", seed, n, st.op, msg)
				}
			}
		}
	}
	if fails > 0 {
		t.Errorf("%d of %d power cuts failed", fails, points)
	}
	t.Logf("%d power cuts", points)
}

type state struct {
	op       string
	acked    []raftpb.Entry // entries acknowledged (indices snap+1..)
	ackedHS  raftpb.HardState
	inflight *inflight
}

type inflight struct {
	from uint64
	es   []raftpb.Entry
	snap uint64
}

func runWorkload(t *testing.T, seed uint64, crashAt int, onCrash func(*vfs.MemFS, state)) int {
	rng := rand.New(rand.NewPCG(seed, 7))
	mem := vfs.NewCrashableMem()
	db, err := pebble.Open("db", &pebble.Options{FS: mem, Logger: quietLogger{t: t}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ops := 0
	var cur state
	crashed := false
	h := &hookFS{FS: mem}
	h.hook = func(op string) {
		if ops == crashAt && !crashed {
			crashed = true
			s := cur
			s.op = op
			s.acked = append([]raftpb.Entry(nil), cur.acked...)
			onCrash(mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng}), s)
		}
		ops++
	}
	l, err := Open(Options{Dir: logDir, FS: h, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var log []raftpb.Entry // full log 1..last (index i at log[i-1]); entries below snap kept for reference
	term, commit, applied, snapIdx := uint64(1), uint64(0), uint64(0), uint64(0)
	hs := raftpb.HardState{}
	ack := func() {
		cur.acked = log
		cur.ackedHS = hs
		cur.inflight = nil
	}
	for step := 0; step < 60 && !crashed; step++ {
		switch r := rng.IntN(10); {
		case r < 5: // append / overwrite
			from := uint64(len(log)) + 1
			if len(log) > int(commit) && rng.IntN(3) == 0 {
				from = commit + 1 + uint64(rng.IntN(len(log)-int(commit)))
				term++
			}
			es := ents(term, from, from+uint64(rng.IntN(6)))
			for i := range es {
				es[i].Data = []byte(strings.Repeat("d", rng.IntN(150)) + fmt.Sprint(es[i].Index))
			}
			nhs := raftpb.HardState{Term: term, Vote: 1, Commit: commit}
			cur.inflight = &inflight{from: from, es: es}
			if _, err := l.Save(nhs, es, raftpb.Snapshot{}); err != nil {
				t.Fatal(err)
			}
			log = append(log[:from-1], es...)
			hs = nhs
			ack()
		case r < 7: // commit + apply (NoSync)
			if commit < uint64(len(log)) {
				commit += 1 + uint64(rng.IntN(len(log)-int(commit)))
				nhs := raftpb.HardState{Term: term, Vote: 1, Commit: commit}
				if _, err := l.Save(nhs, nil, raftpb.Snapshot{}); err != nil {
					t.Fatal(err)
				}
				applied = commit
				var v [8]byte
				binary.BigEndian.PutUint64(v[:], applied)
				db.Set(appliedKey, v[:], pebble.NoSync)
			}
		case r < 9: // compact
			if applied > snapIdx {
				keep := applied + 1 - uint64(rng.IntN(int(applied-snapIdx)+1))
				if err := l.Compact(applied, raftpb.ConfState{Voters: []uint64{1}}, keep); err != nil {
					t.Fatal(err)
				}
				snapIdx = applied
			}
		default: // leader snapshot beyond our log
			x := uint64(len(log)) + uint64(rng.IntN(5)) + 1
			if x <= commit {
				continue
			}
			term++
			// the state for it is installed "by apply": write it synced after
			snapEnts := ents(term, 1, x) // stand-in for the leader's log
			nhs := raftpb.HardState{Term: term, Vote: 1, Commit: x}
			cur.inflight = &inflight{snap: x}
			snap := raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: x, Term: term, ConfState: raftpb.ConfState{Voters: []uint64{1}}}}
			if _, err := l.Save(nhs, nil, snap); err != nil {
				t.Fatal(err)
			}
			log = snapEnts
			hs = nhs
			commit, snapIdx = x, x
			ack()
			applied = x
			var v [8]byte
			binary.BigEndian.PutUint64(v[:], applied)
			db.Set(appliedKey, v[:], pebble.Sync)
		}
	}
	return ops
}

func check(t *testing.T, fs *vfs.MemFS, st state) string {
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: quietLogger{t: t}})
	if err != nil {
		return "pebble: " + err.Error()
	}
	defer db.Close()
	l, err := Open(Options{Dir: logDir, FS: fs, DB: db})
	if err != nil {
		return "Open: " + err.Error()
	}
	defer l.Close()
	ms := l.Storage()
	first, _ := ms.FirstIndex()
	last, _ := ms.LastIndex()
	snap := l.SnapshotMeta().Index
	if first != snap+1 {
		return fmt.Sprintf("first %d after snapshot %d", first, snap)
	}
	// applied state must cover the snapshot
	var applied uint64
	if v, c, err := db.Get(appliedKey); err == nil {
		applied = binary.BigEndian.Uint64(v)
		c.Close()
	}
	if applied < snap && (st.inflight == nil || st.inflight.snap == 0) {
		return fmt.Sprintf("snapshot %d but applied state only %d", snap, applied)
	}
	hs := l.HardState()
	if hs.Term < st.ackedHS.Term {
		return fmt.Sprintf("term went back %d -> %d", st.ackedHS.Term, hs.Term)
	}
	if hs.Commit > last && hs.Commit > snap {
		return fmt.Sprintf("commit %d beyond last %d", hs.Commit, last)
	}
	if hs.Commit < snap {
		return fmt.Sprintf("commit %d below snapshot %d (raft panics)", hs.Commit, snap)
	}
	var got []raftpb.Entry
	if last >= first {
		got, _ = ms.Entries(first, last+1, 1<<62)
	}
	if st.inflight != nil && st.inflight.snap > 0 {
		if snap == st.inflight.snap {
			return "" // the snapshot landed
		}
	}
	// every acked entry above snap, below the in-flight write, must be there
	limit := uint64(len(st.acked))
	if st.inflight != nil && st.inflight.from > 0 {
		limit = st.inflight.from - 1
	}
	for i := snap + 1; i <= limit; i++ {
		if i > last {
			return fmt.Sprintf("acked entry %d lost (last %d, snap %d)", i, last, snap)
		}
		g, w := got[i-first], st.acked[i-1]
		if g.Term != w.Term || string(g.Data) != string(w.Data) {
			return fmt.Sprintf("entry %d = %d/%q want %d/%q", i, g.Term, g.Data, w.Term, w.Data)
		}
	}
	if st.inflight == nil || st.inflight.from == 0 {
		if last > uint64(len(st.acked)) && last > snap {
			return fmt.Sprintf("log longer than acked: %d > %d", last, len(st.acked))
		}
		return ""
	}
	// above limit: either a prefix of in-flight entries or the acked tail
	for i := limit + 1; i <= last; i++ {
		if i <= snap {
			continue
		}
		g := got[i-first]
		k := i - st.inflight.from
		if int(k) < len(st.inflight.es) && string(g.Data) == string(st.inflight.es[k].Data) && g.Term == st.inflight.es[k].Term {
			continue
		}
		if i <= uint64(len(st.acked)) && string(g.Data) == string(st.acked[i-1].Data) && g.Term == st.acked[i-1].Term {
			continue
		}
		return fmt.Sprintf("entry %d = %d/%q is neither acked nor in-flight", i, g.Term, g.Data)
	}
	return ""
}
