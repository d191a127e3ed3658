package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/apply"
	"github.com/cairndb/cairn/internal/mvcc"
	"github.com/cairndb/cairn/internal/raftlog"
	"github.com/cairndb/cairn/internal/storage"
)

// A state snapshot on the wire is a stream of records, each
//
//	uvarint(len(key)) key uvarint(len(value)) value
//
// covering storage.StateSpans in key order, then a record with an empty key
// and the 8-byte count of records before it as its value, so a cut stream is
// never mistaken for a whole one.

var keyInstalling = []byte("\x00installing")

// snapshotter adapts the server to transport.Snapshotter.
type snapshotter Server

// WriteSnapshot streams the current state from a consistent Pebble view.
func (sn *snapshotter) WriteSnapshot(ctx context.Context, w io.Writer) error {
	s := (*Server)(sn)
	snap := s.db.NewSnapshot()
	defer snap.Close()
	bw := bufio.NewWriterSize(w, 1<<20)
	var n uint64
	var hdr [binary.MaxVarintLen64]byte
	for _, span := range storage.StateSpans {
		it, err := snap.NewIter(&pebble.IterOptions{LowerBound: span[0], UpperBound: span[1]})
		if err != nil {
			return err
		}
		for it.First(); it.Valid(); it.Next() {
			if n%4096 == 0 && ctx.Err() != nil {
				it.Close()
				return ctx.Err()
			}
			v, err := it.ValueAndErr()
			if err != nil {
				it.Close()
				return err
			}
			for _, b := range [][]byte{it.Key(), v} {
				k := binary.PutUvarint(hdr[:], uint64(len(b)))
				if _, err := bw.Write(hdr[:k]); err != nil {
					it.Close()
					return err
				}
				if _, err := bw.Write(b); err != nil {
					it.Close()
					return err
				}
			}
			n++
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	var cnt [8]byte
	binary.BigEndian.PutUint64(cnt[:], n)
	bw.WriteByte(0)
	k := binary.PutUvarint(hdr[:], 8)
	bw.Write(hdr[:k])
	bw.Write(cnt[:])
	return bw.Flush()
}

// Receiving a snapshot. The leader's stream is spooled to a file named by
// the snapshot's index and made durable, and only then is the message
// stepped into raft. Raft decides: it ignores a snapshot at or below its
// commit index (entries got there first), and otherwise persists the
// snapshot's metadata, drops its log and hands the apply goroutine an
// EntrySnapshot, which installs the file's state before any later entry.
// So the state machine is never replaced behind raft's back, and a crash
// between raft taking the snapshot and the install finds the file at the
// next start (installPendingSnapshot).

const snapSuffix = ".snap.recv"

// snapshotPath is where the snapshot at index is spooled.
func (s *Server) snapshotPath(index uint64) string {
	return filepath.Join(s.cfg.DataDir, "member", fmt.Sprintf("%016x%s", index, snapSuffix))
}

// InstallSnapshot spools the stream to its file; the transport then steps
// m into raft.
func (sn *snapshotter) InstallSnapshot(ctx context.Context, r io.Reader, m raftpb.Message) error {
	s := (*Server)(sn)
	index := m.Snapshot.Metadata.Index
	removeSpooled(s.cfg.DataDir, s.applied.applied.Load(), s.lg)
	path := s.snapshotPath(index)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("receive snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	// Renamed into place, so an install reading an earlier copy of the same
	// snapshot keeps reading its own.
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	s.lg.Info("received snapshot from the leader", zap.Uint64("snapshot-index", index), zap.Uint64("applied-index", s.applied.applied.Load()))
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeSpooled deletes spooled snapshots at or below index: raft ignores
// those, or they were installed.
func removeSpooled(dataDir string, index uint64, lg *zap.Logger) {
	dir := filepath.Join(dataDir, "member")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), snapSuffix)
		if !ok {
			continue
		}
		if i, err := strconv.ParseUint(name, 16, 64); err == nil && i <= index {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				lg.Warn("removing a spooled snapshot", zap.Error(err))
			}
		}
	}
}

// installSnapshot runs on the apply goroutine when raft has taken the
// snapshot at index. Readers are held off while the state is replaced.
func (s *Server) installSnapshot(index uint64) error {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	s.kv.Close()
	if err := loadSnapshotFile(s.db, s.snapshotPath(index)); err != nil {
		return err
	}
	if err := s.reloadState(); err != nil {
		return err
	}
	s.lg.Info("installed snapshot from the leader", zap.Uint64("snapshot-index", index),
		zap.Uint64("applied-index", s.applier.AppliedIndex()))
	removeSpooled(s.cfg.DataDir, index, s.lg)
	return nil
}

// loadSnapshotFile replaces the state in db by the spooled snapshot at
// path. The file is checked whole before anything is touched; a crash
// midway leaves keyInstalling set, and the next start loads the file again.
func loadSnapshotFile(db *pebble.DB, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	if err := scanSnapshot(br, nil); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	br.Reset(f)
	if err := db.Set(keyInstalling, nil, pebble.Sync); err != nil {
		return err
	}
	b := db.NewBatch()
	for _, span := range storage.StateSpans {
		if err := b.DeleteRange(span[0], span[1], nil); err != nil {
			b.Close()
			return err
		}
	}
	err = scanSnapshot(br, func(k, v []byte) error {
		if err := b.Set(k, v, nil); err != nil {
			return err
		}
		if b.Len() > 4<<20 {
			if err := b.Commit(pebble.NoSync); err != nil {
				return err
			}
			b.Close()
			b = db.NewBatch()
		}
		return nil
	})
	if err == nil {
		err = b.Delete(keyInstalling, nil)
	}
	if err == nil {
		err = b.Commit(pebble.Sync)
	}
	b.Close()
	if err != nil {
		return fmt.Errorf("install snapshot: %w", err)
	}
	return nil
}

// reloadState rebuilds the in-memory views of the state after it changed
// underneath them.
func (s *Server) reloadState() error {
	if err := s.lessor.Reload(); err != nil {
		return err
	}
	kv, err := mvcc.NewStore(s.db, s.mvccConfig())
	if err != nil {
		return err
	}
	if err := s.members.Reload(s.db); err != nil {
		return err
	}
	if err := s.alarms.Reload(s.db); err != nil {
		return err
	}
	if err := s.downgrade.Reload(s.db); err != nil {
		return err
	}
	applier, err := apply.New(s.db, kv, s.members, s.lessor, s.alarms, s.lg.Named("apply"))
	if err != nil {
		return err
	}
	if err := s.auth.Reload(s.db); err != nil {
		return err
	}
	applier.OnEmptyEntry = s.onTermStart
	applier.Auth = s.auth
	applier.Downgrade = s.downgrade
	s.kv, s.applier = kv, applier
	s.applied.set(applier.AppliedIndex())
	s.node.SetApplied(applier.AppliedIndex())
	return nil
}

var errSnapshotCut = errors.New("snapshot stream is incomplete")

// scanSnapshot reads records, calling fn for each (when non-nil), and checks
// the trailer.
func scanSnapshot(r *bufio.Reader, fn func(k, v []byte) error) error {
	var n uint64
	var k, v []byte
	for {
		kl, err := binary.ReadUvarint(r)
		if err != nil {
			return errSnapshotCut
		}
		if uint64(cap(k)) < kl {
			k = make([]byte, kl)
		}
		k = k[:kl]
		if _, err := io.ReadFull(r, k); err != nil {
			return errSnapshotCut
		}
		vl, err := binary.ReadUvarint(r)
		if err != nil || vl > 1<<31 {
			return errSnapshotCut
		}
		if uint64(cap(v)) < vl {
			v = make([]byte, vl)
		}
		v = v[:vl]
		if _, err := io.ReadFull(r, v); err != nil {
			return errSnapshotCut
		}
		if kl == 0 {
			if vl != 8 || binary.BigEndian.Uint64(v) != n {
				return errSnapshotCut
			}
			return nil
		}
		if fn != nil {
			if err := fn(k, v); err != nil {
				return err
			}
		}
		n++
	}
}

// installPendingSnapshot finishes a snapshot install that a stop cut
// short: raft took the snapshot at snapIndex (its metadata is saved and its
// log starts after it) but the state is older, or an install was
// interrupted. The spooled file is loaded again. Without the file (a data
// dir from a build that installed before raft decided) the partial state
// and the raft log are discarded, the term and vote kept, and the leader
// sends a new snapshot. Called at start, before anything reads the state.
func installPendingSnapshot(db *pebble.DB, rlog *raftlog.Log, dataDir string, lg *zap.Logger) error {
	snapIndex := rlog.SnapshotMeta().Index
	installing := false
	if _, closer, err := db.Get(keyInstalling); err == nil {
		closer.Close()
		installing = true
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	applied, err := apply.ReadAppliedIndex(db)
	if err != nil {
		return err
	}
	if !installing && applied >= snapIndex {
		removeSpooled(dataDir, applied, lg)
		return nil
	}
	path := filepath.Join(dataDir, "member", fmt.Sprintf("%016x%s", snapIndex, snapSuffix))
	if _, err := os.Stat(path); err == nil {
		lg.Warn("finishing the install of a snapshot from the leader", zap.Uint64("snapshot-index", snapIndex), zap.Uint64("applied-index", applied), zap.Bool("interrupted", installing))
		if err := loadSnapshotFile(db, path); err != nil {
			return err
		}
		removeSpooled(dataDir, snapIndex, lg)
		return nil
	}
	if !installing {
		return fmt.Errorf("the state is at index %d but the raft log starts after a snapshot at %d whose file %s is missing (the data dir is damaged; restore it from a backup or remove the member and add it again)", applied, snapIndex, path)
	}
	lg.Warn("a snapshot install was interrupted; discarding the partial state and waiting for a new snapshot from the leader")
	// The log first: a crash before the state is dropped finds the
	// install still marked and does this again.
	if err := rlog.Reset(); err != nil {
		return err
	}
	b := db.NewBatch()
	defer b.Close()
	for _, span := range storage.StateSpans {
		if err := b.DeleteRange(span[0], span[1], nil); err != nil {
			return err
		}
	}
	if err := b.Delete(keyInstalling, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}
