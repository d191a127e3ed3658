package watch

import (
	"errors"
	"fmt"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

var errCompacted = errors.New("mvcc: required revision has been compacted")

// memStore is a deliberately simple store: the whole history in a slice,
// every read a scan. It stands in for mvcc in the hub's tests and is the
// model their results are checked against.
type memStore struct {
	mu      sync.Mutex
	rev     int64
	compact int64
	hist    []mvccpb.Event // append-only; readers keep a prefix
	cur     map[string]*mvccpb.KeyValue
	hub     *Hub // notified after each write, as apply does
}

func newMemStore() *memStore {
	return &memStore{rev: 1, compact: -1, cur: map[string]*mvccpb.KeyValue{}}
}

type op struct {
	key, val string
	del      bool
}

// write applies ops as one revision (a txn) and notifies the hub.
func (m *memStore) write(ops ...op) int64 {
	m.mu.Lock()
	rev := m.rev + 1
	var evs []mvccpb.Event
	for _, o := range ops {
		prev := m.cur[o.key]
		if o.del {
			if prev == nil {
				continue
			}
			delete(m.cur, o.key)
			evs = append(evs, mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(o.key), ModRevision: rev}, PrevKv: prev})
			continue
		}
		kv := &mvccpb.KeyValue{Key: []byte(o.key), Value: []byte(o.val), CreateRevision: rev, ModRevision: rev, Version: 1}
		if prev != nil {
			kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
		}
		m.cur[o.key] = kv
		evs = append(evs, mvccpb.Event{Type: mvccpb.PUT, Kv: kv, PrevKv: prev})
	}
	defer m.mu.Unlock()
	if len(evs) == 0 {
		return m.rev
	}
	m.rev = rev
	m.hist = append(m.hist, evs...)
	if m.hub != nil {
		// Like apply: in commit order, and the hub gets its own copy.
		m.hub.Notify(append([]mvccpb.Event(nil), evs...), rev)
	}
	return rev
}

func (m *memStore) put(k, v string) int64 { return m.write(op{key: k, val: v}) }
func (m *memStore) del(k string) int64    { return m.write(op{key: k, del: true}) }

func (m *memStore) compactAt(rev int64) {
	m.mu.Lock()
	m.compact = rev
	m.mu.Unlock()
}

func (m *memStore) CompactRev() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.compact
}

func (m *memStore) Read() Reader {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &memReader{rev: m.rev, compact: m.compact, hist: m.hist[:len(m.hist):len(m.hist)]}
}

// history returns the events with revision >= from on keys in b, with or
// without prev_kv: what a watcher from there must receive.
func (m *memStore) history(from int64, b bounds, prev bool, noPut, noDelete bool) []mvccpb.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mvccpb.Event
	for _, ev := range m.hist {
		if ev.Kv.ModRevision < from || !b.contains(ev.Kv.Key) {
			continue
		}
		if (ev.Type == mvccpb.PUT && noPut) || (ev.Type == mvccpb.DELETE && noDelete) {
			continue
		}
		if !prev {
			ev.PrevKv = nil
		}
		out = append(out, ev)
	}
	return out
}

type memReader struct {
	rev, compact int64
	hist         []mvccpb.Event
	closed       bool
}

func (r *memReader) Rev() int64        { return r.rev }
func (r *memReader) CompactRev() int64 { return r.compact }
func (r *memReader) Close()            { r.closed = true }

func (r *memReader) Events(start int64, key, end []byte, limit int) ([]mvccpb.Event, int64, error) {
	if r.closed {
		panic("memReader used after Close")
	}
	if start < r.compact {
		return nil, 0, errCompacted
	}
	b, ok := makeBounds(key, end)
	if !ok {
		return nil, r.rev + 1, nil
	}
	var out []mvccpb.Event
	last := int64(0)
	for _, ev := range r.hist {
		rev := ev.Kv.ModRevision
		if rev < start {
			continue
		}
		if rev != last && limit > 0 && len(out) >= limit {
			return out, rev, nil
		}
		last = rev
		if b.contains(ev.Kv.Key) {
			ev.PrevKv = nil
			out = append(out, ev)
		}
	}
	return out, r.rev + 1, nil
}

func (r *memReader) Range(req *pb.RangeRequest) (*pb.RangeResponse, error) {
	if req.Revision < r.compact {
		return nil, errCompacted
	}
	if req.RangeEnd != nil {
		return nil, fmt.Errorf("memReader: only single keys")
	}
	var kv *mvccpb.KeyValue
	for _, ev := range r.hist {
		if ev.Kv.ModRevision > req.Revision {
			break
		}
		if string(ev.Kv.Key) != string(req.Key) {
			continue
		}
		if ev.Type == mvccpb.DELETE {
			kv = nil
		} else {
			kv = ev.Kv
		}
	}
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: r.rev}}
	if kv != nil {
		resp.Kvs = []*mvccpb.KeyValue{kv}
	}
	return resp, nil
}
