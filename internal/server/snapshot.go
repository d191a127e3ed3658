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

type installReq struct {
	path string
	done chan error
}

// InstallSnapshot spools the stream to a file, then has the apply goroutine
// replace the state with it, so apply never sees a half-installed state.
func (sn *snapshotter) InstallSnapshot(ctx context.Context, r io.Reader, m raftpb.Message) error {
	s := (*Server)(sn)
	path := filepath.Join(s.cfg.DataDir, "member", "snapshot.recv")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("receive snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	defer os.Remove(path)
	req := installReq{path: path, done: make(chan error, 1)}
	select {
	case s.installc <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stopc:
		return errStopped
	}
	select {
	case err := <-req.done:
		if err == nil {
			s.lg.Info("installed snapshot from the leader", zap.Uint64("snapshot-index", m.Snapshot.Metadata.Index),
				zap.Uint64("applied-index", s.applied.applied.Load()))
		}
		return err
	case <-s.stopc:
		return errStopped
	}
}

// installSnapshot runs on the apply goroutine. Readers are held off while
// the state is replaced; a crash midway leaves keyInstalling set, which the
// next start repairs by discarding the state and asking for a new snapshot.
func (s *Server) installSnapshot(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	// Check the stream is whole before touching anything.
	if err := scanSnapshot(br, nil); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	br.Reset(f)

	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	s.kv.Close()
	if err := s.db.Set(keyInstalling, nil, pebble.Sync); err != nil {
		return err
	}
	b := s.db.NewBatch()
	for _, span := range storage.StateSpans {
		if err := b.DeleteRange(span[0], span[1], nil); err != nil {
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
			b = s.db.NewBatch()
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
	return s.reloadState()
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
	applier, err := apply.New(s.db, kv, s.members, s.lessor, s.alarms, s.lg.Named("apply"))
	if err != nil {
		return err
	}
	if err := s.auth.Reload(s.db); err != nil {
		return err
	}
	applier.OnEmptyEntry = s.onTermStart
	applier.Auth = s.auth
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

// repairInterruptedInstall discards a half-installed snapshot: the state and
// the raft log go, the term and vote stay, so the leader sends a new
// snapshot. Called at start, before anything reads the state.
func repairInterruptedInstall(db *pebble.DB, lg *zap.Logger) error {
	_, closer, err := db.Get(keyInstalling)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	closer.Close()
	lg.Warn("a snapshot install was interrupted; discarding the partial state and waiting for a new snapshot from the leader")
	b := db.NewBatch()
	defer b.Close()
	for _, span := range storage.StateSpans {
		if err := b.DeleteRange(span[0], span[1], nil); err != nil {
			return err
		}
	}
	if err := raftlog.ResetInto(b, db); err != nil {
		return err
	}
	if err := b.Delete(keyInstalling, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}
