package ctl

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/cairndb/cairn/internal/version"
)

// A Cairn snapshot file, as the server streams it for Maintenance.Snapshot
// (internal/server/backup.go), is
//
//	"cairn-backup/1\n"
//	records: uvarint(len(key)) key uvarint(len(value)) value
//	an end record: empty key, 8-byte big-endian count of records
//	zero padding to a multiple of 512 bytes
//	sha256 of everything above (32 bytes)
//
// The trailing sha256 and the size (a multiple of 512, plus 32) are what
// etcd's clients check after `snapshot save`.
var snapshotMagic = []byte("cairn-backup/1\n")

// snapshotRevKey holds the store's revision (8 bytes, big-endian) inside a
// snapshot: internal/mvcc's "mmvcc/rev".
var snapshotRevKey = []byte("mmvcc/rev")

// ErrNotSnapshot is returned for a file that is not a whole Cairn snapshot.
var ErrNotSnapshot = errors.New("not a Cairn snapshot")

// CheckSnapshotSize checks what etcd's clients check of a saved snapshot:
// a size that is a multiple of 512 plus a 32-byte sha256.
func CheckSnapshotSize(size int64) error {
	if size%512 != sha256.Size {
		return fmt.Errorf("sha256 checksum not found (snapshot size %d is not a multiple of 512 plus 32)", size)
	}
	return nil
}

// ReadSnapshotStatus checks a snapshot file's sha256 and reads its hash
// (CRC-32C of every key and value, as etcd hashes its buckets), revision,
// number of keys and size.
func ReadSnapshotStatus(path string) (SnapshotStatus, error) {
	f, err := os.Open(path)
	if err != nil {
		return SnapshotStatus{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return SnapshotStatus{}, err
	}
	size := st.Size()
	head := make([]byte, 64)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if isBoltFile(head) {
		return SnapshotStatus{}, fmt.Errorf("%w: %s is an etcd (bbolt) snapshot; read it with etcdutl snapshot status", ErrNotSnapshot, path)
	}
	if !bytes.HasPrefix(head, snapshotMagic) {
		return SnapshotStatus{}, fmt.Errorf("%w: %s does not start with %q", ErrNotSnapshot, path, snapshotMagic)
	}
	if err := CheckSnapshotSize(size); err != nil {
		return SnapshotStatus{}, fmt.Errorf("%w: %s: %v", ErrNotSnapshot, path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return SnapshotStatus{}, err
	}
	sum := sha256.New()
	if _, err := io.CopyN(sum, f, size-sha256.Size); err != nil {
		return SnapshotStatus{}, err
	}
	want := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, want); err != nil {
		return SnapshotStatus{}, err
	}
	if !bytes.Equal(sum.Sum(nil), want) {
		return SnapshotStatus{}, fmt.Errorf("%w: %s fails its sha256 check (damaged or cut)", ErrNotSnapshot, path)
	}
	if _, err := f.Seek(int64(len(snapshotMagic)), io.SeekStart); err != nil {
		return SnapshotStatus{}, err
	}
	out := SnapshotStatus{TotalSize: size, Version: version.Storage}
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	err = scanSnapshotRecords(bufio.NewReaderSize(io.LimitReader(f, size-sha256.Size), 1<<20), func(k, v []byte) {
		h.Write(k)
		h.Write(v)
		out.TotalKey++
		if bytes.Equal(k, snapshotRevKey) && len(v) == 8 {
			out.Revision = int64(binary.BigEndian.Uint64(v))
		}
	})
	if err != nil {
		return SnapshotStatus{}, fmt.Errorf("%w: %s: %v", ErrNotSnapshot, path, err)
	}
	out.Hash = h.Sum32()
	return out, nil
}

func scanSnapshotRecords(r *bufio.Reader, fn func(k, v []byte)) error {
	var n uint64
	var k, v []byte
	read := func(buf []byte) ([]byte, error) {
		l, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, errors.New("record stream is cut")
		}
		if l > 1<<31 {
			return nil, errors.New("record too long")
		}
		if uint64(cap(buf)) < l {
			buf = make([]byte, l)
		}
		buf = buf[:l]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, errors.New("record stream is cut")
		}
		return buf, nil
	}
	for {
		var err error
		if k, err = read(k); err != nil {
			return err
		}
		if v, err = read(v); err != nil {
			return err
		}
		if len(k) == 0 {
			if len(v) != 8 || binary.BigEndian.Uint64(v) != n {
				return errors.New("record count does not match")
			}
			return nil
		}
		fn(k, v)
		n++
	}
}

// isBoltFile reports whether head starts a bbolt database (etcd's backend):
// its first meta page carries the magic 0xED0CDAED after the page header.
func isBoltFile(head []byte) bool {
	return len(head) >= 20 && binary.LittleEndian.Uint32(head[16:20]) == 0xED0CDAED
}
