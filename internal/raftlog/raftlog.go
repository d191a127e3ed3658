// Package raftlog keeps a member's raft log, HardState and snapshot metadata
// in segment files of its own (see segment.go) and serves them to raft.
//
// The log is written and fsynced by the raft goroutine itself: an fsync
// carries the new entries and HardState alone, not the state they produced.
// The state lives in the Pebble database, written without fsync by the
// apply goroutine: after a crash the entries the database lost are applied
// again from the log. Before the log drops entries (Compact), the database
// is synced, so the state they produced is durable first.
//
// The database also holds, under "\x00raftlog", the seq of the newest
// segment, so that a data dir whose newest segments (or whole log) went
// missing is refused instead of starting on an older log.
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
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/cairndb/cairn/internal/storage"
)

// keyNewest holds the seq of the newest segment (8 bytes big-endian).
var keyNewest = []byte("\x00raftlog")

// Options locate and tune a Log.
type Options struct {
	// Dir holds the segment files (storage.RaftDir of the data dir).
	Dir string
	// FS is the file system of Dir; nil means the OS's.
	FS vfs.FS
	// DB is the member's database: synced before entries are dropped, and
	// the keeper of the newest segment's seq and of a log to upgrade.
	DB *pebble.DB
	// NoSync disables fsync (unsafe-no-fsync; tests only).
	NoSync bool
	// Fatal, when set, is told when the log cannot be written (a full or
	// failed disk) before the error is returned; the server exits there,
	// as etcd does on a failed WAL write.
	Fatal func(msg string)
}

// Log is the durable raft log of one member.
type Log struct {
	o      Options
	fs     vfs.FS
	mem    *raft.MemoryStorage
	fresh  bool
	hs     raftpb.HardState
	snap   raftpb.Snapshot
	segs   []segmentName // every segment on disk, oldest first; the last is active
	active *segmentFile
	buf    []byte
	// upgrade says the database still needs the old log's keys deleted
	// and the format stamped (done with the next record of the newest
	// segment).
	upgrade bool
	// err is the first write failure: the log takes no write after it
	// (what the OS did with the failed pages is unknown).
	err error
	// hsHeld says hs moved (its commit index only) since it was last
	// written: it goes out with the next record written.
	hsHeld bool
	// beforeSync, when set (tests), runs between a Save's write and its
	// fsync: where a crash leaves a write partly on disk.
	beforeSync func()
	// bytes counts the entries after the snapshot (EntrySize each). It is
	// approximate: a suffix replaced by a new leader's entries is not
	// taken off.
	bytes uint64
}

// EntrySize is what an entry counts toward the log's size.
func EntrySize(e *raftpb.Entry) uint64 { return uint64(len(e.Data)) + 48 }

// Open loads the raft log, creating an empty one for a new member and
// moving a log kept in the database by an older version into segments.
func Open(o Options) (*Log, error) {
	l := &Log{o: o, fs: o.FS, mem: raft.NewMemoryStorage()}
	if l.fs == nil {
		l.fs = vfs.Default
	}
	var newest uint64
	v, closer, err := o.DB.Get(keyNewest)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("raftlog: read the newest segment's number: %w", err)
	default:
		if len(v) == 8 {
			newest = binary.BigEndian.Uint64(v)
		}
		closer.Close()
	}
	_, err = l.fs.Stat(o.Dir)
	switch {
	case oserrorNotExist(err) && newest > 0:
		return nil, fmt.Errorf("%w: its directory %s is missing (the data dir is damaged; restore it from a backup or remove the member and add it again)", ErrDamaged, o.Dir)
	case oserrorNotExist(err):
		if err := l.create(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	segs, err := listSegments(l.fs, o.Dir)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 && newest == 0 {
		// An empty directory no segment was ever recorded in: left by a
		// version that made it before its first segment. Start over.
		if err := l.fs.RemoveAll(o.Dir); err != nil {
			return nil, fmt.Errorf("raftlog: %w", err)
		}
		if err := l.create(); err != nil {
			return nil, err
		}
		if segs, err = listSegments(l.fs, o.Dir); err != nil {
			return nil, err
		}
	}
	if len(segs) == 0 || segs[len(segs)-1].seq < newest {
		return nil, fmt.Errorf("%w: segment %016x is missing from %s (the data dir is damaged; restore it from a backup or remove the member and add it again)", ErrDamaged, newest, o.Dir)
	}
	l.segs = segs
	sealed, end, err := l.replay()
	if err != nil {
		return nil, err
	}
	if l.upgrade, err = needsUpgrade(o.DB); err != nil {
		return nil, err
	}
	if err := l.openActive(sealed, end); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// needsUpgrade reports whether the database still holds a raft log of the
// old layout or lacks the current format stamp.
func needsUpgrade(db *pebble.DB) (bool, error) {
	if has, err := hasLegacyKeys(db); err != nil || has {
		return has, err
	}
	return storage.NeedsStamp(db)
}

func oserrorNotExist(err error) bool { return err != nil && errors.Is(err, os.ErrNotExist) }

// create makes the log's directory with its first segment, which holds the
// log an older version kept in the database, if any. The directory is
// built whole under a temporary name, then renamed: a crash leaves either
// no log (and the database's keys) or all of it.
func (l *Log) create() error {
	old, err := loadLegacy(l.o.DB)
	if err != nil {
		return err
	}
	tmpDir := l.o.Dir + tmpSuffix
	if err := l.fs.RemoveAll(tmpDir); err != nil {
		return fmt.Errorf("raftlog: remove %s: %w", tmpDir, err)
	}
	if err := l.fs.MkdirAll(tmpDir, 0o700); err != nil {
		return fmt.Errorf("raftlog: create %s: %w", tmpDir, err)
	}
	name := segmentName{seq: 1, first: old.snap.Index + 1}
	var buf []byte
	if !raft.IsEmptyHardState(old.hs) {
		buf = appendRecord(buf, name.seq, recHardState, mustMarshal(&old.hs))
	}
	if old.snap.Index > 0 {
		buf = appendRecord(buf, name.seq, recSnapshot, mustMarshal(&raftpb.Snapshot{Metadata: old.snap}))
	}
	for i := range old.ents {
		buf = appendRecord(buf, name.seq, recEntry, mustMarshal(&old.ents[i]))
	}
	f, err := l.fs.Create(l.fs.PathJoin(tmpDir, name.String()), vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("raftlog: %w", err)
	}
	_, err = f.Write(buf)
	if err == nil && !l.o.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.syncDir(tmpDir)
	}
	if err == nil {
		err = l.fs.Rename(tmpDir, l.o.Dir)
	}
	if err == nil {
		err = l.syncDir(l.fs.PathDir(l.o.Dir))
	}
	if err != nil {
		return fmt.Errorf("raftlog: create the first segment in %s: %w", l.o.Dir, err)
	}
	return nil
}

func (l *Log) syncDir(dir string) error {
	if l.o.NoSync {
		return nil
	}
	d, err := l.fs.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// replay reads every segment into the in-memory log. It reports whether
// the newest segment is sealed and where its records end.
//
// It reads the segments twice: first for the last snapshot metadata only,
// then for everything, decoding only the entries after that snapshot. A
// restart thus does not decode the entries a truncation already covers:
// after a load of 1M keys, 2,168 of the ~140,000 entries in a 41 MiB
// segment (the load took 173 ms, most of a 200 ms start, decoding all).
func (l *Log) replay() (sealed bool, end int64, err error) {
	var final uint64 // the index of the last snapshot the log records
	for _, s := range l.segs {
		path := l.fs.PathJoin(l.o.Dir, s.String())
		if _, _, err := readSegment(l.fs, path, s.seq, func(r record) error {
			if r.typ != recSnapshot && r.typ != recSnapReset {
				return nil
			}
			var m raftpb.Snapshot
			if err := m.Unmarshal(r.payload); err != nil {
				return fmt.Errorf("%w: %s: snapshot metadata at offset %d: %v", ErrDamaged, path, r.off, err)
			}
			final = m.Metadata.Index
			return nil
		}); err != nil {
			return false, 0, err
		}
	}
	var ents []raftpb.Entry
	var snap raftpb.SnapshotMetadata
	foundHS := false
	for i, s := range l.segs {
		path := l.fs.PathJoin(l.o.Dir, s.String())
		recEnd, recSealed, err := readSegment(l.fs, path, s.seq, func(r record) error {
			switch r.typ {
			case recHardState:
				if err := l.hs.Unmarshal(r.payload); err != nil {
					return fmt.Errorf("%w: %s: HardState at offset %d: %v", ErrDamaged, path, r.off, err)
				}
				foundHS = true
			case recSnapshot, recSnapReset:
				var m raftpb.Snapshot
				if err := m.Unmarshal(r.payload); err != nil {
					return fmt.Errorf("%w: %s: snapshot metadata at offset %d: %v", ErrDamaged, path, r.off, err)
				}
				snap = m.Metadata
				if r.typ == recSnapReset {
					ents = nil
				} else if kept := dropThrough(ents, snap.Index); len(kept) < len(ents) {
					// A copy, so the dropped entries' data can go.
					ents = append(make([]raftpb.Entry, 0, len(kept)), kept...)
				}
			case recEntry:
				index, ok := entryIndex(r.payload)
				var e raftpb.Entry
				if !ok {
					if err := e.Unmarshal(r.payload); err != nil {
						return fmt.Errorf("%w: %s: entry at offset %d: %v", ErrDamaged, path, r.off, err)
					}
					index = e.Index
				}
				// The entry replaces any at its index or after, whether
				// it is kept or not.
				if n := len(ents); n > 0 {
					first, last := ents[0].Index, ents[n-1].Index
					switch {
					case index < first:
						ents = ents[:0]
					case index <= last:
						ents = ents[:index-first]
					case index > last+1:
						return fmt.Errorf("%w: %s: entry %d follows entry %d (offset %d)", ErrDamaged, path, index, last, r.off)
					}
				}
				if len(ents) == 0 && index <= max(snap.Index, final) {
					return nil // covered by a snapshot
				}
				if ok {
					// Unmarshal copies the data out of the payload.
					if err := e.Unmarshal(r.payload); err != nil {
						return fmt.Errorf("%w: %s: entry at offset %d: %v", ErrDamaged, path, r.off, err)
					}
					if e.Index != index {
						return fmt.Errorf("%w: %s: entry at offset %d has index %d, read %d", ErrDamaged, path, r.off, e.Index, index)
					}
				}
				ents = append(ents, e)
			}
			return nil
		})
		if err != nil {
			return false, 0, err
		}
		if i < len(l.segs)-1 && !recSealed {
			return false, 0, fmt.Errorf("%w: %s ends at offset %d without its seal, and later segments follow", ErrDamaged, path, recEnd)
		}
		sealed, end = recSealed, recEnd
	}
	ents = dropThrough(ents, snap.Index)
	if len(ents) > 0 && ents[0].Index != snap.Index+1 {
		return false, 0, fmt.Errorf("%w: it has a gap: want entry %d after the snapshot, found %d (in %s)", ErrDamaged, snap.Index+1, ents[0].Index, l.o.Dir)
	}
	if foundHS {
		last := snap.Index
		if n := len(ents); n > 0 {
			last = ents[n-1].Index
		}
		if l.hs.Commit > last {
			return false, 0, fmt.Errorf("%w: the HardState commits entry %d but the log ends at %d (in %s)", ErrDamaged, l.hs.Commit, last, l.o.Dir)
		}
		// A snapshot is committed state, whatever the commit index
		// written before it said.
		l.hs.Commit = max(l.hs.Commit, snap.Index)
	}
	l.snap = raftpb.Snapshot{Metadata: snap}
	if snap.Index > 0 {
		if err := l.mem.ApplySnapshot(l.snap); err != nil {
			return false, 0, fmt.Errorf("raftlog: load snapshot %d: %w", snap.Index, err)
		}
	}
	if len(ents) > 0 {
		if err := l.mem.Append(ents); err != nil {
			return false, 0, fmt.Errorf("raftlog: load entries: %w", err)
		}
	}
	l.bytes = sumSizes(ents)
	if foundHS {
		if err := l.mem.SetHardState(l.hs); err != nil {
			return false, 0, err
		}
	}
	l.fresh = !foundHS && snap.Index == 0 && len(ents) == 0
	return sealed, end, nil
}

// entryIndex reads the Index field (3) of a marshalled raftpb.Entry
// without decoding the rest; ok is false if it cannot.
func entryIndex(p []byte) (index uint64, ok bool) {
	for len(p) > 0 {
		tag, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		switch tag & 7 {
		case 0: // varint
			v, n := binary.Uvarint(p)
			if n <= 0 {
				return 0, false
			}
			if tag>>3 == 3 {
				return v, true
			}
			p = p[n:]
		case 2: // length-delimited
			l, n := binary.Uvarint(p)
			if n <= 0 || l > uint64(len(p)-n) {
				return 0, false
			}
			p = p[n+int(l):]
		default:
			return 0, false
		}
	}
	return 0, false
}

// dropThrough removes the entries at or below index.
func dropThrough(ents []raftpb.Entry, index uint64) []raftpb.Entry {
	if len(ents) == 0 || ents[0].Index > index {
		return ents
	}
	if ents[len(ents)-1].Index <= index {
		return ents[:0]
	}
	return ents[index+1-ents[0].Index:]
}

// openActive makes the newest segment writable from the end of its
// records: what lies after them (a write a crash cut short, never synced
// and never acknowledged) is overwritten with zeros first, so it can never
// read as records once new ones are written before it. A sealed newest
// segment (a crash while starting the next one) gets a successor.
func (l *Log) openActive(sealed bool, end int64) error {
	name := l.segs[len(l.segs)-1]
	if sealed {
		return l.startSegment(name.seq + 1)
	}
	path := l.fs.PathJoin(l.o.Dir, name.String())
	f, err := l.fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("raftlog: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("raftlog: %w", err)
	}
	s := &segmentFile{name: name, f: f, off: end, reserved: st.Size()}
	if s.reserved > end {
		err := storage.WriteZeros(f, end, s.reserved)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("raftlog: clear the tail of %s: %w", path, err)
		}
	}
	l.active = s
	return l.recordNewest()
}

// startSegment starts segment seq (the previous one is sealed) with the
// current HardState and snapshot metadata.
func (l *Log) startSegment(seq uint64) error {
	last, _ := l.mem.LastIndex()
	name := segmentName{seq: seq, first: last + 1}
	path := l.fs.PathJoin(l.o.Dir, name.String())
	f, err := l.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return l.fail("start a segment", err)
	}
	s := &segmentFile{name: name, f: f}
	var buf []byte
	if !raft.IsEmptyHardState(l.hs) {
		buf = appendRecord(buf, seq, recHardState, mustMarshal(&l.hs))
	}
	if l.snap.Metadata.Index > 0 {
		buf = appendRecord(buf, seq, recSnapshot, mustMarshal(&l.snap))
	}
	err = s.write(buf)
	if err == nil && !l.o.NoSync {
		err = f.Sync()
	}
	if err == nil {
		err = l.syncDir(l.o.Dir)
	}
	if err != nil {
		f.Close()
		return l.fail("start a segment", err)
	}
	l.active = s
	l.segs = append(l.segs, name)
	l.hsHeld = false
	return l.recordNewest()
}

// recordNewest saves the newest segment's seq in the database, deletes a
// log an older version kept there, and stamps the data dir's format.
func (l *Log) recordNewest() error {
	b := l.o.DB.NewBatch()
	defer b.Close()
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], l.active.name.seq)
	if err := b.Set(keyNewest, v[:], nil); err != nil {
		return err
	}
	if l.upgrade {
		if err := b.DeleteRange(legacyStart, legacyEnd, nil); err != nil {
			return err
		}
		if err := storage.StampFormat(b); err != nil {
			return err
		}
	}
	if err := b.Commit(storage.WriteSync(l.o.NoSync)); err != nil {
		return l.fail("record the newest segment", err)
	}
	l.upgrade = false
	return nil
}

// fail reports a write failure: to Fatal, then as an error, which every
// later write returns too.
func (l *Log) fail(what string, err error) error {
	err = fmt.Errorf("raftlog: %s: %w", what, err)
	if l.err == nil {
		l.err = err
	}
	if l.o.Fatal != nil {
		l.o.Fatal(err.Error())
	}
	return err
}

// Close writes a held HardState and closes the segment being written.
// Records written since the last sync are left to the OS: only
// commit-index updates are written unsynced, and raft learns those again.
func (l *Log) Close() error {
	if l.active == nil {
		return nil
	}
	var err error
	if l.hsHeld {
		err = l.active.write(appendRecord(nil, l.active.name.seq, recHardState, mustMarshal(&l.hs)))
		l.hsHeld = false
	}
	if cerr := l.active.f.Close(); err == nil {
		err = cerr
	}
	l.active = nil
	return err
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
	if l.err != nil {
		return false, l.err
	}
	// Only new entries, a new term or a new vote must reach the disk before
	// raft goes on; a HardState that only moves the commit index may be
	// lost in a crash (raft learns it again). Alone, it is not even
	// written: it goes out with the next write (at the latest Close).
	sync := !l.o.NoSync && (!raft.IsEmptySnap(snap) || raft.MustSync(hs, l.hs, len(ents)))
	if raft.IsEmptySnap(snap) && len(ents) == 0 && !raft.IsEmptyHardState(hs) && !raft.MustSync(hs, l.hs, 0) {
		l.hs, l.hsHeld = hs, true
		return false, l.mem.SetHardState(hs)
	}
	if raft.IsEmptyHardState(hs) && l.hsHeld {
		hs = l.hs
	}
	seq := l.active.name.seq
	buf := l.buf[:0]
	size := sumSizes(ents)
	if need := int(size) + len(ents)*(recHeader+16) + 256; cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	if !raft.IsEmptySnap(snap) {
		// Raft drops its whole log when it takes a snapshot: entries at or
		// below it are covered by it, and a stored tail above it belongs to
		// the log that was replaced (it may carry older terms).
		buf = appendRecord(buf, seq, recSnapReset, mustMarshal(&raftpb.Snapshot{Metadata: snap.Metadata}))
	}
	if len(ents) > 0 {
		first := ents[0].Index
		for i := range ents {
			e := &ents[i]
			if e.Index != first+uint64(i) {
				panic(fmt.Sprintf("raftlog: non-contiguous entries %d then %d", first+uint64(i)-1, e.Index))
			}
			var err error
			buf, err = appendRecordFunc(buf, seq, recEntry, e.Size(), func(p []byte) error {
				_, err := e.MarshalTo(p)
				return err
			})
			if err != nil {
				return false, err
			}
		}
	}
	if !raft.IsEmptyHardState(hs) {
		buf = appendRecord(buf, seq, recHardState, mustMarshal(&hs))
	}
	if cap(buf) <= 1<<20 {
		l.buf = buf
	}
	if len(buf) == 0 {
		return false, nil
	}
	if err := l.active.write(buf); err != nil {
		return false, l.fail("write", err)
	}
	if l.beforeSync != nil {
		l.beforeSync()
	}
	if sync {
		if err := l.active.f.SyncData(); err != nil {
			return false, l.fail("sync", err)
		}
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
		l.hs, l.hsHeld = hs, false
		if err := l.mem.SetHardState(hs); err != nil {
			return false, err
		}
	}
	if l.active.off >= segmentBytes {
		if err := l.cut(); err != nil {
			return sync, err
		}
	}
	return sync, nil
}

// cut seals the active segment and starts the next one.
func (l *Log) cut() error {
	s := l.active
	seal := appendRecord(nil, s.name.seq, recSeal, nil)
	err := s.write(seal)
	if err == nil && !l.o.NoSync {
		err = s.f.Sync()
	}
	if err != nil {
		return l.fail("seal a segment", err)
	}
	if err := s.f.Close(); err != nil {
		return l.fail("seal a segment", err)
	}
	l.active = nil
	return l.startSegment(s.name.seq + 1)
}

// Compact records a snapshot at index (whose state the caller has already
// committed to the database) and drops the entries before keepFrom. The
// database is synced first, so the applied state that the snapshot stands
// for is durable before the entries that could rebuild it are gone.
func (l *Log) Compact(index uint64, cs raftpb.ConfState, keepFrom uint64) error {
	if l.err != nil {
		return l.err
	}
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
	if err := l.recordNewest(); err != nil { // a synced write: the state before it is durable
		return err
	}
	meta := raftpb.Snapshot{Metadata: snap.Metadata}
	buf := l.buf[:0]
	if l.hsHeld {
		// The HardState after a restart must commit at least the snapshot.
		buf = appendRecord(buf, l.active.name.seq, recHardState, mustMarshal(&l.hs))
	}
	buf = appendRecord(buf, l.active.name.seq, recSnapshot, mustMarshal(&meta))
	if err := l.active.write(buf); err != nil {
		return l.fail("write", err)
	}
	l.hsHeld = false
	if !l.o.NoSync {
		if err := l.active.f.SyncData(); err != nil {
			return l.fail("sync", err)
		}
	}
	l.snap = meta
	if keepFrom > 1 {
		if first, _ := l.mem.FirstIndex(); keepFrom-1 >= first {
			if err := l.mem.Compact(keepFrom - 1); err != nil && !errors.Is(err, raft.ErrCompacted) {
				return err
			}
		}
	}
	// A segment is no longer needed once the next one started at or
	// before keepFrom: every entry from there on was written after it.
	removed := false
	for len(l.segs) > 1 && l.segs[1].first <= keepFrom {
		if err := l.fs.Remove(l.fs.PathJoin(l.o.Dir, l.segs[0].String())); err != nil && !oserrorNotExist(err) {
			return fmt.Errorf("raftlog: remove %s: %w", l.segs[0], err)
		}
		l.segs = l.segs[1:]
		removed = true
	}
	if removed {
		// The oldest segments go first; a start must not find a later
		// one gone and an earlier one still there.
		if err := l.syncDir(l.o.Dir); err != nil {
			return fmt.Errorf("raftlog: sync %s: %w", l.o.Dir, err)
		}
	}
	last, _ := l.mem.LastIndex()
	l.bytes = l.BytesBetween(index+1, last+1)
	return nil
}

// Reset empties the log while keeping the term and vote: used at start when
// the state machine had to be discarded, so the leader sends a snapshot.
func (l *Log) Reset() error {
	if l.err != nil {
		return l.err
	}
	hs := raftpb.HardState{Term: l.hs.Term, Vote: l.hs.Vote}
	seq := l.active.name.seq
	buf := appendRecord(nil, seq, recSnapReset, mustMarshal(&raftpb.Snapshot{}))
	buf = appendRecord(buf, seq, recHardState, mustMarshal(&hs))
	if err := l.active.write(buf); err != nil {
		return l.fail("write", err)
	}
	if !l.o.NoSync {
		if err := l.active.f.SyncData(); err != nil {
			return l.fail("sync", err)
		}
	}
	l.mem = raft.NewMemoryStorage()
	l.hs, l.snap, l.bytes, l.hsHeld = hs, raftpb.Snapshot{}, 0, false
	return l.mem.SetHardState(hs)
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

func mustMarshal(m interface{ Marshal() ([]byte, error) }) []byte {
	v, err := m.Marshal()
	if err != nil {
		panic(fmt.Sprintf("raftlog: marshal %T: %v", m, err))
	}
	return v
}
