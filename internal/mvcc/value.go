package mvcc

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Encoding of a version ("c" and "k" values):
//
//	put:       0x01 uvarint(mod) uvarint(create) uvarint(version) varint(lease) value...
//	tombstone: 0x02
//	reference: 0x03 uvarint(mod) uvarint(create) uvarint(version) varint(lease)
//
// The user key is not stored: it is in the pebble key. A reference is only
// found in "c": the current version of a key whose value is refMinValue
// bytes or more, whose value is read from "k" + enc(key) + ^mod (always
// present while the key is live: compaction keeps a key's newest version).
// So a large value is written once into the state, not twice (format 2).
const (
	kindPut       byte = 1
	kindTombstone byte = 2
	kindPutRef    byte = 3
)

// refMinValue is the smallest value "c" holds by reference. Smaller values
// are inline: a read at the current revision then costs no second lookup.
const refMinValue = 1024

// currentEncoding returns the "c" value of kv, whose version encodes as
// enc: enc itself, or a reference to its "k" entry when the value is large.
func currentEncoding(enc []byte, kv *mvccpb.KeyValue) []byte {
	if len(kv.Value) < refMinValue {
		return enc
	}
	return appendVersionHeader(nil, kindPutRef, kv)
}

// refModRevision returns the revision of the "k" entry a reference names,
// or ok=false if val is not a reference.
func refModRevision(val []byte) (mod int64, ok bool, err error) {
	if len(val) == 0 || val[0] != kindPutRef {
		return 0, false, nil
	}
	v, n := binary.Uvarint(val[1:])
	if n <= 0 {
		return 0, true, fmt.Errorf("%w: bad version reference", ErrCorrupt)
	}
	return int64(v), true, nil
}

var tombstoneValue = []byte{kindTombstone}

func appendVersion(dst []byte, kv *mvccpb.KeyValue) []byte {
	return append(appendVersionHeader(dst, kindPut, kv), kv.Value...)
}

// appendVersionHeader appends kind and kv's revisions, version and lease:
// a put without its value, or a whole reference.
func appendVersionHeader(dst []byte, kind byte, kv *mvccpb.KeyValue) []byte {
	dst = append(dst, kind)
	dst = binary.AppendUvarint(dst, uint64(kv.ModRevision))
	dst = binary.AppendUvarint(dst, uint64(kv.CreateRevision))
	dst = binary.AppendUvarint(dst, uint64(kv.Version))
	return binary.AppendVarint(dst, kv.Lease)
}

// decodeVersion decodes a version value. It reports tombstone=true for a
// tombstone (kv untouched). The value bytes are copied; kv.Key is set to key
// (not copied).
func decodeVersion(key, val []byte, kv *mvccpb.KeyValue) (tombstone bool, err error) {
	if len(val) == 0 {
		return false, fmt.Errorf("%w: empty version value for key %q", ErrCorrupt, key)
	}
	switch val[0] {
	case kindTombstone:
		return true, nil
	case kindPut:
	case kindPutRef:
		return false, fmt.Errorf("%w: unresolved version reference for key %q", ErrCorrupt, key)
	default:
		return false, fmt.Errorf("%w: bad version kind %d for key %q", ErrCorrupt, val[0], key)
	}
	b := val[1:]
	var fields [3]uint64
	for i := range fields {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return false, fmt.Errorf("%w: bad version value for key %q", ErrCorrupt, key)
		}
		fields[i] = v
		b = b[n:]
	}
	lease, n := binary.Varint(b)
	if n <= 0 {
		return false, fmt.Errorf("%w: bad version lease for key %q", ErrCorrupt, key)
	}
	b = b[n:]
	*kv = mvccpb.KeyValue{
		Key:            key,
		ModRevision:    int64(fields[0]),
		CreateRevision: int64(fields[1]),
		Version:        int64(fields[2]),
		Lease:          lease,
	}
	if len(b) > 0 {
		kv.Value = append([]byte(nil), b...)
	}
	return false, nil
}

// isTombstoneValue reports whether a version value is a tombstone, without
// decoding it.
func isTombstoneValue(val []byte) bool { return len(val) > 0 && val[0] == kindTombstone }

// Encoding of an event ("h" values):
//
//	flags uvarint(len(key)) key [version]
//
// flags bit 0 is set for a delete; bit 1 when the put's version is stored
// inline (only when the key was written more than once in the same main
// revision, so that "k" + enc(key) + ^rev holds only the last write).
// Otherwise a put's KeyValue is read from "k" + enc(key) + ^rev.
const (
	evDelete byte = 1 << 0
	evInline byte = 1 << 1
)

func appendEvent(dst []byte, flags byte, key []byte, inline *mvccpb.KeyValue) []byte {
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	if inline != nil {
		dst = appendVersion(dst, inline)
	}
	return dst
}

// decodeEvent returns the flags, a copy of the key and the inline version
// bytes (nil unless evInline).
func decodeEvent(val []byte) (flags byte, key, inline []byte, err error) {
	if len(val) < 2 {
		return 0, nil, nil, fmt.Errorf("%w: short event", ErrCorrupt)
	}
	flags = val[0]
	l, n := binary.Uvarint(val[1:])
	if n <= 0 || uint64(len(val)-1-n) < l {
		return 0, nil, nil, fmt.Errorf("%w: bad event key", ErrCorrupt)
	}
	start := 1 + n
	key = append([]byte(nil), val[start:start+int(l)]...)
	if flags&evInline != 0 {
		inline = val[start+int(l):]
	}
	return flags, key, inline, nil
}

func encodeInt64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func decodeInt64(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: bad meta value length %d", ErrCorrupt, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}
