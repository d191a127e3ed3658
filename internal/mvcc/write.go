package mvcc

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// WriteTxn applies one request to a pebble batch. Every write of a WriteTxn
// gets main revision Rev()+1 and the next sub revision; the revision moves
// only if something was written.
//
// Contract: only the apply goroutine uses WriteTxns; one WriteTxn per
// request, ended with End before the next Write. Several WriteTxns may
// share one indexed batch; the batch must be committed (then Committed
// called) or dropped (then Discard called) before a WriteTxn on another
// batch starts. A method that returns one of this package's sentinel
// errors has written nothing to the batch. Any other error (I/O,
// corruption) may leave partial writes: drop the batch.
type WriteTxn struct {
	s        *Store
	b        *pebble.Batch
	v        view // state as this txn sees it: rev is beginRev, or beginRev+1 once it wrote
	beginRev int64
	dirty    bool

	events   []mvccpb.Event // sub revision == index
	inlined  []bool         // events[i]'s version is stored inline in its "h" value
	keyEvent map[string][]int
	compact  bool // Compact moved the compaction revision
}

// Write starts a WriteTxn on b, an indexed batch (db.NewIndexedBatch()).
func (s *Store) Write(b *pebble.Batch) *WriteTxn {
	if !b.Indexed() {
		panic("mvcc: Write needs an indexed batch")
	}
	if s.w.open {
		panic("mvcc: Write called before the previous WriteTxn ended")
	}
	s.w.open = true
	return &WriteTxn{
		s:        s,
		b:        b,
		v:        view{r: b, rev: s.w.rev, compactRev: s.w.compactRev},
		beginRev: s.w.rev,
	}
}

// Rev returns the revision this txn's reads see: the starting revision, or
// the one it writes once it wrote.
func (w *WriteTxn) Rev() int64 { return w.v.rev }

func (w *WriteTxn) curView() *view { return &w.v }

// Range reads the state including this txn's earlier writes (see
// ReadTxn.Range for the semantics).
func (w *WriteTxn) Range(req *pb.RangeRequest) (*pb.RangeResponse, error) {
	return w.v.rangeResponse(req)
}

// Put writes a key. It keeps create_revision and bumps version for an
// existing key; a new key gets create = mod = the new revision, version 1.
// Checks, in etcd's order: the lease exists (ErrLeaseNotFound), then
// ignore_value/ignore_lease need the key (ErrKeyNotFound).
func (w *WriteTxn) Put(req *pb.PutRequest) (*pb.PutResponse, error) {
	if req.Lease != 0 && !w.s.leaseExists(req.Lease) {
		return nil, ErrLeaseNotFound
	}
	return w.put(req)
}

func (w *WriteTxn) put(req *pb.PutRequest) (*pb.PutResponse, error) {
	prev, cached := w.s.hot.get(req.Key)
	if !cached {
		var err error
		if prev, err = w.v.getCurrent(req.Key); err != nil {
			return nil, err
		}
	}
	if (req.IgnoreValue || req.IgnoreLease) && prev == nil {
		return nil, ErrKeyNotFound
	}
	rev := w.beginRev + 1
	kv := &mvccpb.KeyValue{
		Key:            append([]byte(nil), req.Key...),
		CreateRevision: rev,
		ModRevision:    rev,
		Version:        1,
		Lease:          req.Lease,
	}
	value := req.Value
	if req.IgnoreValue {
		value = prev.Value
	}
	if len(value) > 0 {
		kv.Value = append([]byte(nil), value...)
	}
	if req.IgnoreLease {
		kv.Lease = prev.Lease
	}
	if prev != nil {
		kv.CreateRevision = prev.CreateRevision
		kv.Version = prev.Version + 1
	}
	enc := appendVersion(nil, kv)
	if err := w.b.Set(currentKey(kv.Key), currentEncoding(enc, kv), nil); err != nil {
		return nil, fmt.Errorf("mvcc: batch set: %w", err)
	}
	if err := w.b.Set(versionKey(kv.Key, rev), enc, nil); err != nil {
		return nil, fmt.Errorf("mvcc: batch set: %w", err)
	}
	if err := w.addEvent(mvccpb.Event{Type: mvccpb.PUT, Kv: kv, PrevKv: prev}); err != nil {
		return nil, err
	}
	var prevLease int64
	if prev != nil {
		prevLease = prev.Lease
	}
	if w.s.lessor != nil && prevLease != kv.Lease {
		if prevLease != 0 {
			w.s.lessor.Detach(prevLease, kv.Key)
		}
		if kv.Lease != 0 {
			w.s.lessor.Attach(kv.Lease, kv.Key)
		}
	}
	w.markDirty()
	w.s.hot.set(kv.Key, kv)
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: rev}}
	if req.PrevKv && prev != nil {
		resp.PrevKv = cloneKV(prev)
	}
	return resp, nil
}

// DeleteRange deletes the keys in [key, range_end) (etcd's range_end
// rules). Deleting nothing writes nothing and does not move the revision.
func (w *WriteTxn) DeleteRange(req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	return w.deleteRange(req)
}

func (w *WriteTxn) deleteRange(req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	kvs, _, err := w.v.collect(makeBounds(req.Key, req.RangeEnd), w.v.rev, 0, false)
	if err != nil {
		return nil, err
	}
	rev := w.beginRev + 1
	for i := range kvs {
		prev := &kvs[i]
		prev.Key = append([]byte(nil), prev.Key...)
		if err := w.b.Delete(currentKey(prev.Key), nil); err != nil {
			return nil, fmt.Errorf("mvcc: batch delete: %w", err)
		}
		if err := w.b.Set(versionKey(prev.Key, rev), tombstoneValue, nil); err != nil {
			return nil, fmt.Errorf("mvcc: batch set: %w", err)
		}
		ev := mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: prev.Key, ModRevision: rev}, PrevKv: prev}
		if err := w.addEvent(ev); err != nil {
			return nil, err
		}
		if w.s.lessor != nil && prev.Lease != 0 {
			w.s.lessor.Detach(prev.Lease, prev.Key)
		}
		w.s.hot.set(prev.Key, nil)
	}
	if len(kvs) > 0 {
		w.markDirty()
	}
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{Revision: w.v.rev}, Deleted: int64(len(kvs))}
	if req.PrevKv && len(kvs) > 0 {
		resp.PrevKvs = make([]*mvccpb.KeyValue, len(kvs))
		for i := range kvs {
			resp.PrevKvs[i] = cloneKV(&kvs[i])
		}
	}
	return resp, nil
}

// Txn applies a txn (see txn.go for the order of evaluation). If a check
// fails nothing is written. The header revision is the new revision if the
// txn wrote, else the current one; inner responses carry the revision as
// it was when each op ran, like etcd.
func (w *WriteTxn) Txn(req *pb.TxnRequest) (*pb.TxnResponse, error) {
	path, err := buildPath(&w.v, req)
	if err != nil {
		return nil, err
	}
	c := txnChecker{v: &w.v, leaseOK: w.s.leaseExists}
	if err := c.check(req, path); err != nil {
		return nil, err
	}
	resp, err := execTxn(w, req, path)
	if err != nil {
		return nil, err
	}
	resp.Header.Revision = w.v.rev
	return resp, nil
}

// Compact compacts the store at rev: reads below rev fail with ErrCompacted
// as soon as the batch commits, and the versions and events no read can
// need any more are removed in the background. The channel is closed when
// that physical compaction up to rev is done. It fails with ErrCompacted if
// rev <= the compacted revision and ErrFutureRev if rev > the current one.
// The revision does not move.
func (w *WriteTxn) Compact(rev int64) (*pb.CompactionResponse, <-chan struct{}, error) {
	if rev <= w.v.compactRev {
		return nil, nil, ErrCompacted
	}
	if rev > w.v.rev {
		return nil, nil, ErrFutureRev
	}
	if err := w.b.Set(metaCompact, encodeInt64(rev), nil); err != nil {
		return nil, nil, fmt.Errorf("mvcc: batch set: %w", err)
	}
	w.v.compactRev = rev
	w.compact = true
	ch := make(chan struct{})
	w.s.w.waiters = append(w.s.w.waiters, compactWaiter{rev: rev, ch: ch})
	return &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: w.v.rev}}, ch, nil
}

// End finishes the WriteTxn: it writes the new revision into the batch if
// anything was written and returns the events in (revision, sub) order,
// with PrevKv set when the key existed before. The events are the
// caller's; the Store keeps no reference.
func (w *WriteTxn) End() []mvccpb.Event {
	if w.dirty {
		if err := w.b.Set(metaRev, encodeInt64(w.v.rev), nil); err != nil {
			// A batch only refuses writes when it is closed or committed,
			// which the contract forbids.
			panic(fmt.Sprintf("mvcc: write revision %d into the batch: %v", w.v.rev, err))
		}
		w.s.w.rev = w.v.rev
	}
	if w.compact {
		w.s.w.compactRev = w.v.compactRev
	}
	w.s.w.open = false
	return w.events
}

func (w *WriteTxn) markDirty() {
	if !w.dirty {
		w.dirty = true
		w.v.rev = w.beginRev + 1
	}
}

// addEvent records an event and writes its "h" entry. If the key was
// already written in this revision, the "k" entry of this revision now
// belongs to the new write, so earlier put events of the key are rewritten
// to carry their version inline.
func (w *WriteTxn) addEvent(ev mvccpb.Event) error {
	rev, sub := w.beginRev+1, int64(len(w.events))
	if w.keyEvent == nil {
		w.keyEvent = make(map[string][]int)
	}
	k := string(ev.Kv.Key)
	for _, i := range w.keyEvent[k] {
		if w.events[i].Type != mvccpb.PUT || w.inlined[i] {
			continue
		}
		val := appendEvent(nil, evInline, w.events[i].Kv.Key, w.events[i].Kv)
		if err := w.b.Set(historyKey(rev, int64(i)), val, nil); err != nil {
			return fmt.Errorf("mvcc: batch set: %w", err)
		}
		w.inlined[i] = true
	}
	var flags byte
	if ev.Type == mvccpb.DELETE {
		flags = evDelete
	}
	if err := w.b.Set(historyKey(rev, sub), appendEvent(nil, flags, ev.Kv.Key, nil), nil); err != nil {
		return fmt.Errorf("mvcc: batch set: %w", err)
	}
	w.events = append(w.events, ev)
	w.inlined = append(w.inlined, false)
	w.keyEvent[k] = append(w.keyEvent[k], int(sub))
	return nil
}

func cloneKV(kv *mvccpb.KeyValue) *mvccpb.KeyValue {
	c := *kv
	return &c
}
