package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/cockroachdb/pebble/v2"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// HashKV hashes the versions that exist logically at rev (0: the view's
// revision): for each key, in key order and newest first, every version
// with compacted < mod <= rev, plus the newest version <= compacted unless
// it is a tombstone. That is exactly what survives a finished physical
// compaction, and versions physical compaction has not removed yet are
// skipped, so the hash depends only on the applied history and the
// compacted revision: it is the same on every member. It is not etcd's
// hash (which hashes bbolt's layout), only comparable between Cairn
// members. rev below the compacted revision is ErrCompacted; above the
// view's revision ErrFutureRev.
func (r *ReadTxn) HashKV(rev int64) (hash uint32, hashRev, compactRev int64, err error) {
	if r.err != nil {
		return 0, 0, 0, r.err
	}
	compactRev = r.v.compactRev
	if rev, err = r.v.resolveRev(rev); err != nil {
		return 0, 0, compactRev, err
	}
	it, err := r.sv.snap.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixVersion},
		UpperBound: []byte{prefixVersion + 1},
	})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("mvcc: new iterator: %w", err)
	}
	h := crc32.New(castagnoli)
	var (
		cur     []byte
		scratch []byte
	)
	valid := it.First()
	for valid {
		prefix, r, err := versionKeyParts(it.Key())
		if err != nil {
			it.Close()
			return 0, 0, 0, err
		}
		if !bytes.Equal(prefix, cur) {
			cur = append(cur[:0], prefix...)
		}
		if r > rev {
			valid = seekVersion(it, cur, rev)
			continue
		}
		val, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return 0, 0, 0, fmt.Errorf("mvcc: read value: %w", err)
		}
		last := r <= compactRev // the newest version <= compacted: older ones are gone
		if !last || !isTombstoneValue(val) {
			scratch = binary.AppendUvarint(scratch[:0], uint64(len(prefix)))
			scratch = append(scratch, it.Key()...)
			scratch = binary.AppendUvarint(scratch, uint64(len(val)))
			h.Write(scratch)
			h.Write(val)
		}
		if last {
			valid = skipKey(it, cur)
		} else {
			valid = it.Next()
		}
	}
	if err := closeIter(it); err != nil {
		return 0, 0, 0, err
	}
	return h.Sum32(), rev, compactRev, nil
}
