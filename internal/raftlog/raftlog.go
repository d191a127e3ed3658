// Package raftlog keeps the raft log, the HardState and the snapshot
// metadata in the member's Pebble database and serves them to raft.
//
// Keys (prefix "r", owned here):
//
//	"r/hs"            raftpb.HardState
//	"r/snap"          raftpb.Snapshot metadata (index, term, ConfState); no data
//	"r/e/" + index    raftpb.Entry, index as 8 bytes big-endian
//
// The log since the last snapshot is also mirrored in a raft.MemoryStorage,
// which is what raft reads. It holds at most snapshot-count plus the catch-up
// entries, so loading it at boot is bounded and does not grow with the data.
//
// Log is not safe for concurrent use: the raft goroutine owns it.
package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

var (
	keyHardState = []byte("r/hs")
	keySnapshot  = []byte("r/snap")
	entryPrefix  = []byte("r/e/")
)

func entryKey(i uint64) []byte {
	k := make([]byte, len(entryPrefix)+8)
	copy(k, entryPrefix)
	binary.BigEndian.PutUint64(k[len(entryPrefix):], i)
	return k
}

// Log is the durable raft log of one member.
type Log struct {
	db     *pebble.DB
	mem    *raft.MemoryStorage
	wo     *pebble.WriteOptions
	fresh  bool
	hs     raftpb.HardState
	snap   raftpb.Snapshot
	onSync func(seconds float64)
	// bytes counts the entries after the snapshot (EntrySize each). It is
	// approximate: a suffix replaced by a new leader's entries is not
	// taken off.
	bytes uint64
}

// EntrySize is what an entry counts toward the log's size.
func EntrySize(e *raftpb.Entry) uint64 { return uint64(len(e.Data)) + 48 }

// Open loads the raft state from db. noSync disables fsync (tests only).
func Open(db *pebble.DB, noSync bool) (*Log, error) {
	l := &Log{db: db, mem: raft.NewMemoryStorage(), wo: pebble.Sync}
	if noSync {
		l.wo = pebble.NoSync
	}
	foundHS, err := l.get(keyHardState, &l.hs)
	if err != nil {
		return nil, err
	}
	foundSnap, err := l.get(keySnapshot, &l.snap)
	if err != nil {
		return nil, err
	}
	if foundSnap {
		if err := l.mem.ApplySnapshot(l.snap); err != nil {
			return nil, fmt.Errorf("raftlog: load snapshot %d: %w", l.snap.Metadata.Index, err)
		}
	}
	it, err := db.NewIter(&pebble.IterOptions{
		LowerBound: entryKey(l.snap.Metadata.Index + 1),
		UpperBound: entryKey(1<<64 - 1),
	})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var ents []raftpb.Entry
	next := l.snap.Metadata.Index + 1
	for it.First(); it.Valid(); it.Next() {
		var e raftpb.Entry
		if err := e.Unmarshal(it.Value()); err != nil {
			return nil, fmt.Errorf("raftlog: entry at key %x is damaged: %w", it.Key(), err)
		}
		if e.Index != next {
			return nil, fmt.Errorf("raftlog: log has a gap: want entry %d, found %d (the data dir is damaged)", next, e.Index)
		}
		next++
		ents = append(ents, e)
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	if len(ents) > 0 {
		if err := l.mem.Append(ents); err != nil {
			return nil, fmt.Errorf("raftlog: load entries: %w", err)
		}
	}
	l.bytes = sumSizes(ents)
	if foundHS {
		if err := l.mem.SetHardState(l.hs); err != nil {
			return nil, err
		}
	}
	l.fresh = !foundHS && !foundSnap && len(ents) == 0
	return l, nil
}

func (l *Log) get(key []byte, m interface{ Unmarshal([]byte) error }) (bool, error) {
	v, closer, err := l.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("raftlog: read %s: %w", key, err)
	}
	defer closer.Close()
	if err := m.Unmarshal(v); err != nil {
		return false, fmt.Errorf("raftlog: %s is damaged: %w", key, err)
	}
	return true, nil
}

// Fresh reports whether the log was empty when opened (a member that has
// never run).
func (l *Log) Fresh() bool { return l.fresh }

// Storage is what raft reads. Only the raft goroutine may call Save or
// Compact while raft uses it.
func (l *Log) Storage() *raft.MemoryStorage { return l.mem }

// HardState returns the last saved HardState.
func (l *Log) HardState() raftpb.HardState { return l.hs }

// SnapshotMeta returns the metadata of the last snapshot.
func (l *Log) SnapshotMeta() raftpb.SnapshotMetadata { return l.snap.Metadata }

// Save makes hs, ents and snap durable with one fsync, then makes them
// visible to raft. Entries replace any persisted entries at the same or later
// indices, as raft requires when a follower's log is overwritten.
// It reports whether the write was synced.
func (l *Log) Save(hs raftpb.HardState, ents []raftpb.Entry, snap raftpb.Snapshot) (bool, error) {
	// Room for the entries up front when they are large (pebble's pooled
	// batches serve small writes; a large one would otherwise be copied as
	// it doubles).
	size := sumSizes(ents)
	reserve := 0
	if size >= 1<<20 {
		reserve = int(size)
	}
	b := l.db.NewBatchWithSize(reserve)
	defer b.Close()
	if !raft.IsEmptySnap(snap) {
		meta := raftpb.Snapshot{Metadata: snap.Metadata}
		if err := setProto(b, keySnapshot, &meta); err != nil {
			return false, err
		}
		// Raft drops its whole log when it takes a snapshot: entries at or
		// below it are covered by it, and a stored tail above it belongs to
		// the log that was replaced (it may carry older terms). The entries
		// of this Ready, written below, come after the delete and win.
		if err := b.DeleteRange(entryKey(0), entryKey(1<<64-1), nil); err != nil {
			return false, err
		}
		if err := b.Delete(entryKey(1<<64-1), nil); err != nil {
			return false, err
		}
	}
	if len(ents) > 0 {
		first, last := ents[0].Index, ents[len(ents)-1].Index
		// Drop a conflicting suffix the new entries replace.
		if prevLast, _ := l.mem.LastIndex(); prevLast > last {
			if err := b.DeleteRange(entryKey(last+1), entryKey(prevLast+1), nil); err != nil {
				return false, err
			}
		}
		buf := make([]byte, 0, 256)
		for i := range ents {
			e := &ents[i]
			if e.Index != first+uint64(i) {
				panic(fmt.Sprintf("raftlog: non-contiguous entries %d then %d", first+uint64(i)-1, e.Index))
			}
			n := e.Size()
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			if _, err := e.MarshalTo(buf); err != nil {
				return false, err
			}
			if err := b.Set(entryKey(e.Index), buf, nil); err != nil {
				return false, err
			}
		}
	}
	if !raft.IsEmptyHardState(hs) {
		if err := setProto(b, keyHardState, &hs); err != nil {
			return false, err
		}
	}
	if b.Empty() {
		return false, nil
	}
	// Only new entries, a new term or a new vote must reach the disk before
	// raft goes on; a HardState that only moves the commit index may be
	// lost in a crash (raft learns it again), so it shares the next fsync.
	wo := l.wo
	if raft.IsEmptySnap(snap) && !raft.MustSync(hs, l.hs, len(ents)) {
		wo = pebble.NoSync
	}
	if err := b.Commit(wo); err != nil {
		return false, fmt.Errorf("raftlog: persist: %w", err)
	}
	if !raft.IsEmptySnap(snap) {
		if err := l.mem.ApplySnapshot(snap); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
			return false, err
		}
		l.snap = raftpb.Snapshot{Metadata: snap.Metadata}
		l.bytes = 0
	}
	if len(ents) > 0 {
		if err := l.mem.Append(ents); err != nil {
			return false, err
		}
		l.bytes += size
	}
	if !raft.IsEmptyHardState(hs) {
		l.hs = hs
		if err := l.mem.SetHardState(hs); err != nil {
			return false, err
		}
	}
	return wo == l.wo && l.wo == pebble.Sync, nil
}

// Compact records a snapshot at index (whose state the caller has already
// committed to the database) and drops the entries before keepFrom. It syncs,
// so the applied state that the snapshot stands for is durable before the
// entries that could rebuild it are gone.
func (l *Log) Compact(index uint64, cs raftpb.ConfState, keepFrom uint64) error {
	if index <= l.snap.Metadata.Index {
		return nil
	}
	snap, err := l.mem.CreateSnapshot(index, &cs, nil)
	if err != nil {
		if errors.Is(err, raft.ErrSnapOutOfDate) {
			return nil
		}
		return fmt.Errorf("raftlog: snapshot at %d: %w", index, err)
	}
	if keepFrom > index+1 {
		keepFrom = index + 1
	}
	b := l.db.NewBatch()
	defer b.Close()
	meta := raftpb.Snapshot{Metadata: snap.Metadata}
	if err := setProto(b, keySnapshot, &meta); err != nil {
		return err
	}
	if keepFrom > 1 {
		if err := b.DeleteRange(entryKey(0), entryKey(keepFrom), nil); err != nil {
			return err
		}
	}
	if err := b.Commit(l.wo); err != nil {
		return fmt.Errorf("raftlog: compact: %w", err)
	}
	l.snap = meta
	if keepFrom > 1 {
		if first, _ := l.mem.FirstIndex(); keepFrom-1 >= first {
			if err := l.mem.Compact(keepFrom - 1); err != nil && !errors.Is(err, raft.ErrCompacted) {
				return err
			}
		}
	}
	last, _ := l.mem.LastIndex()
	l.bytes = l.BytesBetween(index+1, last+1)
	return nil
}

// Bytes is the size of the entries after the last snapshot (approximate,
// see Log.bytes).
func (l *Log) Bytes() uint64 { return l.bytes }

// BytesBetween is the size of the entries in [lo, hi) that the log holds.
func (l *Log) BytesBetween(lo, hi uint64) uint64 {
	ents := l.held(lo, hi)
	return sumSizes(ents)
}

// KeepFrom returns the first entry to keep when the log is truncated with
// from..upTo kept for slow followers: from, or later so that the entries
// kept up to upTo hold at most max bytes.
func (l *Log) KeepFrom(from, upTo, max uint64) uint64 {
	ents := l.held(from, upTo+1)
	var sum uint64
	for i := len(ents) - 1; i >= 0; i-- {
		if sum += EntrySize(&ents[i]); sum > max {
			return ents[i].Index + 1
		}
	}
	return from
}

// held returns the entries in [lo, hi) that the log still holds.
func (l *Log) held(lo, hi uint64) []raftpb.Entry {
	if first, err := l.mem.FirstIndex(); err == nil && lo < first {
		lo = first
	}
	if lo >= hi {
		return nil
	}
	ents, err := l.mem.Entries(lo, hi, math.MaxUint64)
	if err != nil {
		return nil
	}
	return ents
}

func sumSizes(ents []raftpb.Entry) uint64 {
	var n uint64
	for i := range ents {
		n += EntrySize(&ents[i])
	}
	return n
}

func setProto(b *pebble.Batch, key []byte, m interface{ Marshal() ([]byte, error) }) error {
	v, err := m.Marshal()
	if err != nil {
		return err
	}
	return b.Set(key, v, nil)
}

// ResetInto writes into b the changes that empty the raft log while keeping
// the term and vote: used when the state machine had to be discarded, so the
// leader sends a snapshot. db is read for the current HardState.
func ResetInto(b *pebble.Batch, db pebble.Reader) error {
	var hs raftpb.HardState
	v, closer, err := db.Get(keyHardState)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return err
	default:
		err = hs.Unmarshal(v)
		closer.Close()
		if err != nil {
			return fmt.Errorf("raftlog: HardState is damaged: %w", err)
		}
	}
	hs.Commit = 0
	if err := b.DeleteRange(entryKey(0), entryKey(1<<64-1), nil); err != nil {
		return err
	}
	if err := b.Delete(entryKey(1<<64-1), nil); err != nil {
		return err
	}
	if err := b.Delete(keySnapshot, nil); err != nil {
		return err
	}
	return setProto(b, keyHardState, &hs)
}
