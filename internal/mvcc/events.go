package mvcc

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// maxEventScan bounds the history entries one Events call examines, so a
// watcher of a rarely written key does not walk a long history in one go.
const maxEventScan = 1 << 14

// Events returns the events with revision >= startRev on keys in
// [key, rangeEnd) (etcd's range_end rules: empty means the single key,
// "\x00" every key >= key), in (revision, sub) order, up to this view's
// revision. It returns at most limit events (limit <= 0: no limit) but
// never splits a revision, so it may return more to finish the last one.
// It also stops after examining about maxEventScan entries, at a revision
// boundary. next is the revision to continue from: the caller is caught up
// with this view when next > Rev().
//
// Kv is filled as in a watch response (a DELETE carries only the key and
// mod_revision); PrevKv is not filled: read the key at mod_revision-1.
// startRev below the compacted revision is ErrCompacted; events at exactly
// the compacted revision are kept.
func (r *ReadTxn) Events(startRev int64, key, rangeEnd []byte, limit int) (evs []mvccpb.Event, next int64, err error) {
	if r.err != nil {
		return nil, 0, r.err
	}
	if startRev < 1 {
		startRev = 1
	}
	if startRev < r.v.compactRev {
		return nil, 0, ErrCompacted
	}
	if startRev > r.v.rev {
		return nil, startRev, nil
	}
	kb := makeBounds(key, rangeEnd)
	it, err := r.sv.snap.NewIter(&pebble.IterOptions{
		LowerBound: historyKey(startRev, 0),
		UpperBound: historyKey(r.v.rev+1, 0),
	})
	if err != nil {
		return nil, 0, fmt.Errorf("mvcc: new iterator: %w", err)
	}
	next = r.v.rev + 1
	var (
		scanned int
		lastRev int64
	)
	for valid := it.First(); valid; valid = it.Next() {
		rev, _, err := decodeHistoryKey(it.Key())
		if err != nil {
			it.Close()
			return nil, 0, err
		}
		if rev != lastRev && ((limit > 0 && len(evs) >= limit) || scanned >= maxEventScan) {
			next = rev
			break
		}
		lastRev = rev
		scanned++
		val, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return nil, 0, fmt.Errorf("mvcc: read value: %w", err)
		}
		flags, k, inline, err := decodeEvent(val)
		if err != nil {
			it.Close()
			return nil, 0, err
		}
		if !kb.contains(k) {
			continue
		}
		ev, err := r.event(rev, flags, k, inline)
		if err != nil {
			it.Close()
			return nil, 0, err
		}
		evs = append(evs, ev)
	}
	if err := closeIter(it); err != nil {
		return nil, 0, err
	}
	return evs, next, nil
}

func (r *ReadTxn) event(rev int64, flags byte, key, inline []byte) (mvccpb.Event, error) {
	if flags&evDelete != 0 {
		return mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: key, ModRevision: rev}}, nil
	}
	val := inline
	if flags&evInline == 0 {
		var err error
		if val, err = get(r.sv.snap, versionKey(key, rev)); err != nil {
			return mvccpb.Event{}, err
		}
		if val == nil {
			return mvccpb.Event{}, fmt.Errorf("%w: no version of %q at %d for its event", ErrCorrupt, key, rev)
		}
	}
	kv := new(mvccpb.KeyValue)
	tomb, err := decodeVersion(key, val, kv)
	if err != nil {
		return mvccpb.Event{}, err
	}
	if tomb {
		return mvccpb.Event{}, fmt.Errorf("%w: put event of %q at %d points to a tombstone", ErrCorrupt, key, rev)
	}
	return mvccpb.Event{Type: mvccpb.PUT, Kv: kv}, nil
}
