package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// reader is what reads need from pebble: a *pebble.Snapshot for ReadTxn, an
// indexed *pebble.Batch (which sees its own writes) for WriteTxn.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

var (
	_ reader = (*pebble.Snapshot)(nil)
	_ reader = (*pebble.Batch)(nil)
)

// view is a point-in-time state: "c" holds the state at rev, and versions
// above compactRev are complete.
type view struct {
	r          reader
	rev        int64
	compactRev int64
}

// resolveRev applies etcd's revision rules: <= 0 means the view's revision;
// above it is ErrFutureRev; below the compacted revision is ErrCompacted.
func (v *view) resolveRev(rev int64) (int64, error) {
	switch {
	case rev > v.rev:
		return 0, ErrFutureRev
	case rev <= 0:
		return v.rev, nil
	case rev < v.compactRev:
		return 0, ErrCompacted
	}
	return rev, nil
}

// get returns the pebble value at k (copied), or nil if absent.
func get(r reader, k []byte) ([]byte, error) {
	val, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mvcc: get %q: %w", k, err)
	}
	out := append([]byte(nil), val...)
	closer.Close()
	return out, nil
}

// getCurrent returns the live KeyValue of key at the view's revision.
func (v *view) getCurrent(key []byte) (*mvccpb.KeyValue, error) {
	ck := currentKey(key)
	val, err := get(v.r, ck)
	if err != nil || val == nil {
		return nil, err
	}
	if val, err = v.currentValue(ck[1:], val); err != nil {
		return nil, err
	}
	kv := new(mvccpb.KeyValue)
	tomb, err := decodeVersion(append([]byte(nil), key...), val, kv)
	if err != nil {
		return nil, err
	}
	if tomb {
		return nil, fmt.Errorf("%w: tombstone in current keyspace for %q", ErrCorrupt, key)
	}
	return kv, nil
}

// currentValue returns the version a "c" value stands for: val itself, or
// for a reference (value.go) the "k" entry it names. enc is the encoded user
// key (terminator included).
func (v *view) currentValue(enc, val []byte) ([]byte, error) {
	mod, ref, err := refModRevision(val)
	if err != nil || !ref {
		return val, err
	}
	full, err := get(v.r, appendInvRev(append([]byte{prefixVersion}, enc...), mod))
	if err != nil {
		return nil, err
	}
	if full == nil || full[0] != kindPut {
		return nil, fmt.Errorf("%w: current version of %q refers to revision %d, which holds no value", ErrCorrupt, enc, mod)
	}
	return full, nil
}

// scanFunc is called for each live key: enc is the encoded user key
// (terminator included) and val the version value, which may be a
// reference (resolve it with view.currentValue before decoding); both are
// valid only during the call. It returns false to stop the scan.
type scanFunc func(enc, val []byte) (bool, error)

// scan visits the keys live at rev within kb in key order. At the view's
// revision it reads "c" (one seek, then one Next per key); at a past
// revision it reads "k", positioning on each key's newest version <= rev
// with a few Nexts or one seek, then skipping the key's older versions.
func (v *view) scan(kb keyBounds, rev int64, fn scanFunc) error {
	if kb.empty {
		return nil
	}
	if rev == v.rev {
		return v.scanCurrent(kb, fn)
	}
	return v.scanPast(kb, rev, fn)
}

func (v *view) scanCurrent(kb keyBounds, fn scanFunc) error {
	if kb.single {
		ck := currentKey(kb.key)
		val, err := get(v.r, ck)
		if err != nil || val == nil {
			return err
		}
		_, err = fn(ck[1:], val)
		return err
	}
	lo, hi := kb.pebbleBounds(prefixCurrent)
	it, err := v.r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("mvcc: new iterator: %w", err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		val, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("mvcc: read value: %w", err)
		}
		cont, err := fn(it.Key()[1:], val)
		if err != nil || !cont {
			it.Close()
			return err
		}
	}
	return closeIter(it)
}

// maxNexts is how many Next calls are tried before falling back to a seek
// when stepping over versions of one key.
const maxNexts = 4

func (v *view) scanPast(kb keyBounds, rev int64, fn scanFunc) error {
	var lo, hi []byte
	if kb.single {
		lo = versionPrefix(kb.key)
		hi = afterVersions(lo)
	} else {
		lo, hi = kb.pebbleBounds(prefixVersion)
	}
	it, err := v.r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("mvcc: new iterator: %w", err)
	}
	var cur []byte // copy of the current key's "k" + enc(key)
	valid := it.SeekGE(appendInvRev(append([]byte(nil), lo...), rev))
	for valid {
		prefix, r, err := versionKeyParts(it.Key())
		if err != nil {
			it.Close()
			return err
		}
		cur = append(cur[:0], prefix...)
		if r > rev {
			valid = seekVersion(it, cur, rev)
			continue // re-examine: same key at <= rev, or the next key
		}
		val, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("mvcc: read value: %w", err)
		}
		if !isTombstoneValue(val) {
			cont, err := fn(cur[1:], val)
			if err != nil || !cont {
				it.Close()
				return err
			}
		}
		valid = skipKey(it, cur)
	}
	return closeIter(it)
}

// seekVersion moves it from a version of cur newer than rev to cur's newest
// version <= rev, or to the next key if there is none.
func seekVersion(it *pebble.Iterator, cur []byte, rev int64) bool {
	for i := 0; i < maxNexts; i++ {
		if !it.Next() {
			return false
		}
		prefix, r, err := versionKeyParts(it.Key())
		if err != nil || !bytes.Equal(prefix, cur) || r <= rev {
			return true
		}
	}
	return it.SeekGE(appendInvRev(append([]byte(nil), cur...), rev))
}

// skipKey moves it past every version of cur.
func skipKey(it *pebble.Iterator, cur []byte) bool {
	for i := 0; i < maxNexts; i++ {
		if !it.Next() {
			return false
		}
		k := it.Key()
		if len(k) < revLen || !bytes.Equal(k[:len(k)-revLen], cur) {
			return true
		}
	}
	return it.SeekGE(afterVersions(cur))
}

func closeIter(it *pebble.Iterator) error {
	if err := it.Error(); err != nil {
		it.Close()
		return fmt.Errorf("mvcc: iterate: %w", err)
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("mvcc: close iterator: %w", err)
	}
	return nil
}

// collect returns the live KeyValues at rev within kb, at most limit of them
// decoded (limit <= 0: all), and the number of live keys in kb (which
// ignores limit). With countOnly nothing is decoded.
func (v *view) collect(kb keyBounds, rev, limit int64, countOnly bool) ([]mvccpb.KeyValue, int64, error) {
	var (
		kvs   []mvccpb.KeyValue
		count int64
	)
	err := v.scan(kb, rev, func(enc, val []byte) (bool, error) {
		count++
		if countOnly || (limit > 0 && int64(len(kvs)) >= limit) {
			return true, nil
		}
		key, _, err := decodeKey(enc)
		if err != nil {
			return false, err
		}
		if val, err = v.currentValue(enc, val); err != nil {
			return false, err
		}
		var kv mvccpb.KeyValue
		if _, err := decodeVersion(key, val, &kv); err != nil {
			return false, err
		}
		kvs = append(kvs, kv)
		return true, nil
	})
	if err != nil {
		return nil, 0, err
	}
	return kvs, count, nil
}
