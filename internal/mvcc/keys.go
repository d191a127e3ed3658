package mvcc

import (
	"encoding/binary"
	"fmt"
)

// Key prefixes owned by this package (see doc.go for the layout).
const (
	prefixCurrent byte = 'c' // "c" + enc(key)                -> latest live version
	prefixVersion byte = 'k' // "k" + enc(key) + ^mainRev     -> version or tombstone
	prefixHistory byte = 'h' // "h" + mainRev + subRev        -> event
	prefixMeta    byte = 'm' // "m" + "mvcc/..."              -> meta
)

// Escaping of user keys: 0x00 is written as 0x00 0xFF and the key ends with
// 0x00 0x01. Inside an encoded key 0x00 is always followed by 0xFF, so the
// terminator cannot occur early: encodings are prefix-free and compare like
// the raw keys (a key that is a prefix of another sorts first because the
// terminator's 0x01 sorts below both 0xFF and any escaped byte >= 0x01).
const (
	escByte   byte = 0x00
	escEscape byte = 0xFF
	escTerm   byte = 0x01
)

// revLen is the length of an encoded revision.
const revLen = 8

// Meta keys (values are 8-byte big-endian int64 unless noted).
var (
	metaFormat   = []byte("mmvcc/format")         // on-disk format version
	metaRev      = []byte("mmvcc/rev")            // current revision
	metaCompact  = []byte("mmvcc/compact")        // compacted (and scheduled) revision: reads below fail
	metaFinished = []byte("mmvcc/compact_done")   // physical compaction finished up to this revision
	metaCursor   = []byte("mmvcc/compact_cursor") // next history revision the running pass processes
	// metaKeys lists every key NewStore reads.
	metaKeys = [][]byte{metaFormat, metaRev, metaCompact, metaFinished, metaCursor}
)

// formatVersion is the version of this package's on-disk layout.
const formatVersion = 2

// appendEncodedKey appends the order-preserving encoding of key to dst.
func appendEncodedKey(dst, key []byte) []byte {
	for _, b := range key {
		if b == escByte {
			dst = append(dst, escByte, escEscape)
		} else {
			dst = append(dst, b)
		}
	}
	return append(dst, escByte, escTerm)
}

// decodeKey decodes an encoded key at the start of enc. It returns the key
// and the bytes following the terminator.
func decodeKey(enc []byte) (key, rest []byte, err error) {
	key = make([]byte, 0, len(enc))
	for i := 0; i < len(enc); i++ {
		b := enc[i]
		if b != escByte {
			key = append(key, b)
			continue
		}
		if i+1 >= len(enc) {
			return nil, nil, fmt.Errorf("%w: truncated key escape", ErrCorrupt)
		}
		switch enc[i+1] {
		case escEscape:
			key = append(key, escByte)
			i++
		case escTerm:
			return key, enc[i+2:], nil
		default:
			return nil, nil, fmt.Errorf("%w: bad key escape 0x%02x", ErrCorrupt, enc[i+1])
		}
	}
	return nil, nil, fmt.Errorf("%w: unterminated key", ErrCorrupt)
}

func currentKey(key []byte) []byte {
	return appendEncodedKey(append(make([]byte, 0, len(key)+4), prefixCurrent), key)
}

// versionPrefix is "k" + enc(key); all versions of key start with it.
func versionPrefix(key []byte) []byte {
	return appendEncodedKey(append(make([]byte, 0, len(key)+3+revLen), prefixVersion), key)
}

// appendInvRev appends ^rev, big-endian, so that newer revisions sort first.
func appendInvRev(dst []byte, rev int64) []byte {
	return binary.BigEndian.AppendUint64(dst, ^uint64(rev))
}

func versionKey(key []byte, rev int64) []byte {
	return appendInvRev(versionPrefix(key), rev)
}

// decodeInvRev decodes the trailing revision of a "k" key.
func decodeInvRev(b []byte) int64 {
	return int64(^binary.BigEndian.Uint64(b))
}

// versionKeyParts splits a "k" pebble key into the encoded user key prefix
// ("k" + enc(key)) and the revision.
func versionKeyParts(pk []byte) (prefix []byte, rev int64, err error) {
	if len(pk) < 1+2+revLen || pk[0] != prefixVersion {
		return nil, 0, fmt.Errorf("%w: bad version key %q", ErrCorrupt, pk)
	}
	return pk[:len(pk)-revLen], decodeInvRev(pk[len(pk)-revLen:]), nil
}

// afterVersions returns the smallest pebble key after every version of the
// encoded key prefix p ("k" + enc(key)): ^0 never occurs because revisions
// start at 1.
func afterVersions(p []byte) []byte {
	out := make([]byte, len(p), len(p)+revLen)
	copy(out, p)
	return appendInvRev(out, 0)
}

func historyKey(main, sub int64) []byte {
	b := make([]byte, 1, 1+2*revLen)
	b[0] = prefixHistory
	b = binary.BigEndian.AppendUint64(b, uint64(main))
	return binary.BigEndian.AppendUint64(b, uint64(sub))
}

func decodeHistoryKey(pk []byte) (main, sub int64, err error) {
	if len(pk) != 1+2*revLen || pk[0] != prefixHistory {
		return 0, 0, fmt.Errorf("%w: bad history key %q", ErrCorrupt, pk)
	}
	return int64(binary.BigEndian.Uint64(pk[1:])), int64(binary.BigEndian.Uint64(pk[1+revLen:])), nil
}

// keyBounds describes a user key interval [key, end) for a request.
type keyBounds struct {
	key    []byte
	end    []byte // nil with !single means unbounded
	single bool
	empty  bool
}

// makeBounds applies etcd's range_end rules: an empty range_end means the
// single key; "\x00" means every key >= key; a range_end <= key is empty.
func makeBounds(key, rangeEnd []byte) keyBounds {
	switch {
	case len(rangeEnd) == 0:
		return keyBounds{key: key, single: true}
	case len(rangeEnd) == 1 && rangeEnd[0] == 0:
		return keyBounds{key: key}
	case string(rangeEnd) <= string(key):
		return keyBounds{key: key, end: rangeEnd, empty: true}
	default:
		return keyBounds{key: key, end: rangeEnd}
	}
}

// contains reports whether k is in the interval.
func (kb keyBounds) contains(k []byte) bool {
	switch {
	case kb.empty:
		return false
	case kb.single:
		return string(k) == string(kb.key)
	case string(k) < string(kb.key):
		return false
	default:
		return kb.end == nil || string(k) < string(kb.end)
	}
}

// pebbleBounds returns [lower, upper) in the keyspace of prefix p
// ('c' or 'k') covering the interval; single intervals are not handled here.
func (kb keyBounds) pebbleBounds(p byte) (lower, upper []byte) {
	lower = appendEncodedKey([]byte{p}, kb.key)
	if kb.end == nil {
		upper = []byte{p + 1}
	} else {
		upper = appendEncodedKey([]byte{p}, kb.end)
	}
	return lower, upper
}
