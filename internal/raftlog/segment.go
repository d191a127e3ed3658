package raftlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"

	"github.com/cairndb/cairn/internal/storage"
)

// The log on disk is a directory of segment files, written in order and
// named "<seq>-<first>.seg" (both 16 hex digits): seq numbers the segments
// from 1 without gaps, first is the index the next entry had when the
// segment was started. Only the newest segment is written; every other one
// ends with a seal record. A segment holds records:
//
//	crc   uint32  CRC-32C of seq (8 bytes), len, type and payload
//	len   uint32  payload length
//	type  uint8   recEntry, recHardState, recSnapshot, recSnapReset, recSeal
//	payload
//
// all little-endian. The CRC covers the segment's seq, so a record copied
// from another segment does not read as one of this one. A segment starts
// with the HardState and snapshot metadata current when it was started, so
// the newest segments alone describe the whole log once older ones are
// deleted. Space ahead of the write offset is reserved with written zeros;
// an all-zero header is the end of what was written.
//
// Replay reads the segments in order and applies each record: an entry
// replaces any entry at its index or after (a new leader's log overwrites
// an uncommitted suffix), recSnapshot records a truncation (entries at or
// below it are no longer needed), recSnapReset a snapshot from the leader
// that replaced the whole log.
const (
	recEntry byte = iota + 1
	recHardState
	recSnapshot
	recSnapReset
	recSeal
)

const (
	recHeader = 9
	// reserveBytes is how far ahead of the write offset zeros are written.
	reserveBytes = 4 << 20
	segSuffix    = ".seg"
	tmpSuffix    = ".tmp"
)

// segmentBytes is the size at which a segment is sealed and the next one
// started (a variable for tests). A restart reads every segment a
// truncation has not deleted yet, and a segment goes only once the next
// one starts before the entries kept: smaller segments mean less to read
// (16 MiB: a start after a load of 1M keys read 41 MiB with 64 MiB
// segments), at the cost of a segment change, a few ms, per 16 MiB.
var segmentBytes int64 = 16 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrDamaged is wrapped by every error about a log that cannot be read.
var ErrDamaged = errors.New("raftlog: the raft log is damaged")

type segmentName struct {
	seq, first uint64
}

func (s segmentName) String() string { return fmt.Sprintf("%016x-%016x%s", s.seq, s.first, segSuffix) }

func parseSegmentName(name string) (segmentName, bool) {
	var s segmentName
	if len(name) != 33+len(segSuffix) || !strings.HasSuffix(name, segSuffix) || name[16] != '-' {
		return s, false
	}
	if _, err := fmt.Sscanf(name[:33], "%016x-%016x", &s.seq, &s.first); err != nil {
		return s, false
	}
	return s, s.String() == name
}

// listSegments returns the segments in dir in seq order, removing
// leftovers of an interrupted segment creation.
func listSegments(fs vfs.FS, dir string) ([]segmentName, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, err
	}
	var segs []segmentName
	for _, n := range names {
		if strings.HasSuffix(n, tmpSuffix) {
			_ = fs.Remove(fs.PathJoin(dir, n))
			continue
		}
		if s, ok := parseSegmentName(n); ok {
			segs = append(segs, s)
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].seq < segs[j].seq })
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return nil, fmt.Errorf("%w: segment %016x is missing from %s (found %s then %s)", ErrDamaged, segs[i-1].seq+1, dir, segs[i-1], segs[i])
		}
	}
	return segs, nil
}

// appendRecord appends one record of segment seq to buf.
func appendRecord(buf []byte, seq uint64, typ byte, payload []byte) []byte {
	buf, _ = appendRecordFunc(buf, seq, typ, len(payload), func(p []byte) error {
		copy(p, payload)
		return nil
	})
	return buf
}

// appendRecordFunc appends a record whose payload of n bytes is written by
// fill, so a marshalled entry is not copied twice.
func appendRecordFunc(buf []byte, seq uint64, typ byte, n int, fill func([]byte) error) ([]byte, error) {
	off := len(buf)
	need := off + recHeader + n
	if cap(buf) < need {
		nb := make([]byte, off, max(need, 2*cap(buf)))
		copy(nb, buf)
		buf = nb
	}
	buf = buf[:need]
	if err := fill(buf[off+recHeader:]); err != nil {
		return buf[:off], err
	}
	binary.LittleEndian.PutUint32(buf[off+4:], uint32(n))
	buf[off+8] = typ
	binary.LittleEndian.PutUint32(buf[off:], recordCRC(seq, buf[off+4:]))
	return buf, nil
}

func recordCRC(seq uint64, lenTypePayload []byte) uint32 {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], seq)
	return crc32.Update(crc32.Checksum(s[:], crcTable), crcTable, lenTypePayload)
}

// record is one record read back; payload is valid only during the call
// it is passed to.
type record struct {
	typ     byte
	payload []byte
	off     int64 // where it starts
}

// readSegment reads the records of a segment in order, up to the first one
// that is not whole, passing each to fn. It returns the offset where valid
// records end, and whether the segment was sealed. The file is read
// through a buffer, not whole: a restart reads a whole segment without
// holding it in memory.
func readSegment(fs vfs.FS, path string, seq uint64, fn func(record) error) (end int64, sealed bool, err error) {
	f, err := fs.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, false, err
	}
	size := st.Size()
	br := bufio.NewReaderSize(f, 1<<20)
	var hdr [recHeader]byte
	var payload []byte
	var off int64
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return off, false, nil
			}
			return 0, false, fmt.Errorf("raftlog: read %s: %w", path, err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[4:]))
		if n > size-off-recHeader {
			return off, false, nil
		}
		if int64(cap(payload)) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return off, false, nil
			}
			return 0, false, fmt.Errorf("raftlog: read %s: %w", path, err)
		}
		crc := crc32.Update(recordCRC(seq, hdr[4:]), crcTable, payload)
		if binary.LittleEndian.Uint32(hdr[:]) != crc {
			return off, false, nil
		}
		typ := hdr[8]
		if typ == recSeal {
			return off, true, nil
		}
		if typ < recEntry || typ > recSeal {
			return 0, false, fmt.Errorf("%w: %s has a record of unknown type %d at offset %d", ErrDamaged, path, typ, off)
		}
		if err := fn(record{typ: typ, payload: payload, off: off}); err != nil {
			return 0, false, err
		}
		off += recHeader + n
	}
}

// segmentFile is the segment being written.
type segmentFile struct {
	name     segmentName
	f        vfs.File
	off      int64 // where the next record goes
	reserved int64 // zeros written (and synced) up to here
}

// write appends buf at the write offset, first reserving room for it.
func (s *segmentFile) write(buf []byte) error {
	if end := s.off + int64(len(buf)); end > s.reserved {
		if err := s.reserve(end + min(reserveBytes, segmentBytes)); err != nil {
			return err
		}
	}
	if _, err := s.f.WriteAt(buf, s.off); err != nil {
		return err
	}
	s.off += int64(len(buf))
	return nil
}

// reserve makes room from the reserved end up to end and syncs it with the
// file size, so that each record's fdatasync afterwards flushes data only
// (not a new size as an append would). The room is allocated with
// fallocate (it reads as zeros: the end of the log), as etcd allocates its
// WAL segments; on this machine's ext4 a 150-byte write and fdatasync into
// it took 205-305 us against 245-347 us into written zeros and 308-472 us
// appending (docs/performance.md). Where fallocate is not supported the
// room is written with zeros.
func (s *segmentFile) reserve(end int64) error {
	if end <= s.reserved {
		return nil
	}
	if fd := s.f.Fd(); fd == vfs.InvalidFd || unix.Fallocate(int(fd), 0, s.reserved, end-s.reserved) != nil {
		if err := storage.WriteZeros(s.f, s.reserved, end); err != nil {
			return err
		}
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	s.reserved = end
	return nil
}
