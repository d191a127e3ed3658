package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairndb/cairn/internal/apply"
	"github.com/cairndb/cairn/internal/storage"
	"github.com/cairndb/cairn/internal/version"
)

// A backup (Maintenance.Snapshot, `etcdctl snapshot save`) is
//
//	backupMagic, the state stream of snapshot.go, zero padding to a
//	multiple of 512 bytes, then the sha256 of everything before it
//
// The padding and trailing sha256 are what etcd's clients check
// (size % 512 == 32). The content is Cairn's own format, restored with
// `cairn snapshot restore` (see docs/compatibility.md).
var backupMagic = []byte("cairn-backup/1\n")

const backupChunk = 32 * 1024

// Snapshot streams a consistent backup of the state.
func (s *Server) Snapshot(ctx context.Context, out interface {
	Send(*pb.SnapshotResponse) error
}) error {
	if err := s.checkAdmin(ctx); err != nil {
		return err
	}
	dir := filepath.Join(s.cfg.DataDir, "member")
	f, err := os.CreateTemp(dir, "backup-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	cw := &countWriter{w: w}
	if _, err := cw.Write(backupMagic); err != nil {
		return err
	}
	if err := (*snapshotter)(s).WriteSnapshot(ctx, cw); err != nil {
		return err
	}
	if pad := (512 - cw.n%512) % 512; pad > 0 {
		if _, err := cw.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	sum := h.Sum(nil)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	total := cw.n + int64(len(sum))
	hdr := s.header(s.rev())
	buf := make([]byte, backupChunk)
	sent := int64(0)
	for sent < cw.n {
		n, err := io.ReadFull(f, buf[:min(int64(len(buf)), cw.n-sent)])
		if err != nil {
			return fmt.Errorf("read backup: %w", err)
		}
		sent += int64(n)
		if err := out.Send(&pb.SnapshotResponse{Header: hdr, RemainingBytes: uint64(total - sent), Blob: buf[:n], Version: version.Etcd}); err != nil {
			return err
		}
	}
	return out.Send(&pb.SnapshotResponse{Header: hdr, RemainingBytes: 0, Blob: sum, Version: version.Etcd})
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ErrBadBackup is returned for a file that is not a whole Cairn backup.
var ErrBadBackup = errors.New("server: not a Cairn backup, or a damaged one")

// OpenBackup checks a backup file's checksum and returns a reader of its
// state stream.
func OpenBackup(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := st.Size()
	if size < int64(len(backupMagic))+sha256.Size || size%512 != sha256.Size {
		f.Close()
		return nil, fmt.Errorf("%w: %s has the wrong size (%d bytes)", ErrBadBackup, path, size)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, f, size-sha256.Size); err != nil {
		f.Close()
		return nil, err
	}
	want := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, want); err != nil {
		f.Close()
		return nil, err
	}
	if !bytes.Equal(h.Sum(nil), want) {
		f.Close()
		return nil, fmt.Errorf("%w: %s fails its sha256 check", ErrBadBackup, path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(f, magic); err != nil || !bytes.Equal(magic, backupMagic) {
		f.Close()
		return nil, fmt.Errorf("%w: %s does not start with the Cairn backup header (an etcd snapshot must be restored with etcdutl)", ErrBadBackup, path)
	}
	return f, nil
}

// RestoreBackup writes the state of a backup into a new data dir. The
// member's identity, membership and raft log are not restored: the next
// start with this data dir bootstraps a new cluster from its
// --initial-cluster flags around the restored keys, leases and revisions,
// as `etcdutl snapshot restore` does for etcd.
func RestoreBackup(path, dataDir string) error {
	if entries, err := os.ReadDir(dataDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("data dir %s already exists and is not empty; restore into a new directory", dataDir)
	}
	r, err := OpenBackup(path)
	if err != nil {
		return err
	}
	defer r.Close()
	db, err := storage.Open(dataDir, storage.Options{})
	if err != nil {
		return err
	}
	b := db.NewBatch()
	skip := [][]byte{[]byte("m/members/"), []byte("m/removed/"), apply.AppliedIndexKey()}
	err = scanSnapshot(bufio.NewReaderSize(r, 1<<20), func(k, v []byte) error {
		for _, p := range skip {
			if bytes.HasPrefix(k, p) {
				return nil
			}
		}
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
		err = b.Commit(pebble.Sync)
	}
	b.Close()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.RemoveAll(dataDir)
		return fmt.Errorf("restore %s: %w", path, err)
	}
	return nil
}
