package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// model is a deliberately dumb in-memory version of the store: every
// version of every key in a list, the state at a revision found by walking
// it. Failed txns are undone by truncating the lists (the store instead
// validates before writing).
type model struct {
	rev     int64
	compact int64
	hist    map[string][]mver
	events  []mevent
	leases  map[int64]bool
}

type mver struct {
	rev int64
	kv  *mvccpb.KeyValue // nil: deleted
}

type mevent struct {
	rev int64
	ev  mvccpb.Event
}

func newModel() *model {
	return &model{rev: 1, compact: -1, hist: map[string][]mver{}, leases: map[int64]bool{1: true, 2: true, 3: true}}
}

func (m *model) at(key string, rev int64) *mvccpb.KeyValue {
	var cur *mvccpb.KeyValue
	for _, v := range m.hist[key] {
		if v.rev <= rev {
			cur = v.kv
		}
	}
	return cur
}

func inRange(k, key, end string) bool {
	switch end {
	case "":
		return k == key
	case "\x00":
		return k >= key
	}
	return k >= key && k < end
}

func (m *model) live(rev int64, key, end string) []mvccpb.KeyValue {
	var keys []string
	for k := range m.hist {
		if inRange(k, key, end) && m.at(k, rev) != nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []mvccpb.KeyValue
	for _, k := range keys {
		out = append(out, *m.at(k, rev))
	}
	return out
}

// mtx is one request being applied to the model.
type mtx struct {
	m      *model
	wrote  bool
	preRev int64 // revision before the request
	evs    []mvccpb.Event
}

func (m *model) begin() *mtx { return &mtx{m: m, preRev: m.rev} }

func (x *mtx) viewRev() int64 {
	if x.wrote {
		return x.m.rev + 1
	}
	return x.m.rev
}

// end finishes the request, like WriteTxn.End.
func (x *mtx) end() []mvccpb.Event {
	if x.wrote {
		x.m.rev++
		for _, ev := range x.evs {
			x.m.events = append(x.m.events, mevent{x.m.rev, mvccpb.Event{Type: ev.Type, Kv: ev.Kv}})
		}
	}
	return x.evs
}

func (x *mtx) rng(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	cur := x.viewRev()
	rev := r.Revision
	switch {
	case rev > cur:
		return nil, ErrFutureRev
	case rev <= 0:
		rev = cur
	case rev < x.m.compact:
		return nil, ErrCompacted
	}
	all := x.m.live(rev, string(r.Key), string(r.RangeEnd))
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: cur}, Count: int64(len(all))}
	if r.CountOnly {
		return resp, nil
	}
	sorted := r.SortOrder != pb.RangeRequest_NONE && !(r.SortTarget == pb.RangeRequest_KEY && r.SortOrder == pb.RangeRequest_ASCEND)
	filtered := r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0
	kvs := all
	if !sorted && !filtered && r.Limit > 0 && int64(len(kvs)) > r.Limit+1 {
		kvs = kvs[:r.Limit+1]
	}
	var keep []mvccpb.KeyValue
	for _, kv := range kvs {
		if (r.MinModRevision != 0 && kv.ModRevision < r.MinModRevision) ||
			(r.MaxModRevision != 0 && kv.ModRevision > r.MaxModRevision) ||
			(r.MinCreateRevision != 0 && kv.CreateRevision < r.MinCreateRevision) ||
			(r.MaxCreateRevision != 0 && kv.CreateRevision > r.MaxCreateRevision) {
			continue
		}
		keep = append(keep, kv)
	}
	order := r.SortOrder
	if order == pb.RangeRequest_NONE && r.SortTarget != pb.RangeRequest_KEY {
		order = pb.RangeRequest_ASCEND
	}
	less := func(a, b mvccpb.KeyValue) bool {
		switch r.SortTarget {
		case pb.RangeRequest_VERSION:
			return a.Version < b.Version
		case pb.RangeRequest_CREATE:
			return a.CreateRevision < b.CreateRevision
		case pb.RangeRequest_MOD:
			return a.ModRevision < b.ModRevision
		case pb.RangeRequest_VALUE:
			return bytes.Compare(a.Value, b.Value) < 0
		}
		return bytes.Compare(a.Key, b.Key) < 0
	}
	switch order {
	case pb.RangeRequest_ASCEND:
		sort.SliceStable(keep, func(i, j int) bool { return less(keep[i], keep[j]) })
	case pb.RangeRequest_DESCEND:
		sort.SliceStable(keep, func(i, j int) bool { return less(keep[j], keep[i]) })
	}
	if r.Limit > 0 && int64(len(keep)) > r.Limit {
		keep = keep[:r.Limit]
		resp.More = true
	}
	for i := range keep {
		kv := keep[i]
		if r.KeysOnly {
			kv.Value = nil
		}
		resp.Kvs = append(resp.Kvs, &kv)
	}
	return resp, nil
}

func (x *mtx) put(r *pb.PutRequest, checkLeaseFirst bool) (*pb.PutResponse, error) {
	if checkLeaseFirst && r.Lease != 0 && !x.m.leases[r.Lease] {
		return nil, ErrLeaseNotFound
	}
	k := string(r.Key)
	prev := x.m.at(k, x.viewRev())
	if (r.IgnoreValue || r.IgnoreLease) && (prev == nil || x.m.at(k, x.preRev) == nil) {
		return nil, ErrKeyNotFound
	}
	if r.Lease != 0 && !x.m.leases[r.Lease] {
		return nil, ErrLeaseNotFound
	}
	rev := x.m.rev + 1
	kv := &mvccpb.KeyValue{Key: []byte(k), Value: r.Value, Lease: r.Lease, ModRevision: rev, CreateRevision: rev, Version: 1}
	if r.IgnoreValue {
		kv.Value = prev.Value
	}
	if len(kv.Value) == 0 {
		kv.Value = nil
	}
	if r.IgnoreLease {
		kv.Lease = prev.Lease
	}
	if prev != nil {
		kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
	}
	x.m.hist[k] = append(x.m.hist[k], mver{rev, kv})
	x.wrote = true
	x.evs = append(x.evs, mvccpb.Event{Type: mvccpb.PUT, Kv: kv, PrevKv: prev})
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: rev}}
	if r.PrevKv && prev != nil {
		resp.PrevKv = prev
	}
	return resp, nil
}

func (x *mtx) del(r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	kvs := x.m.live(x.viewRev(), string(r.Key), string(r.RangeEnd))
	rev := x.m.rev + 1
	resp := &pb.DeleteRangeResponse{Deleted: int64(len(kvs))}
	for i := range kvs {
		prev := kvs[i]
		x.m.hist[string(prev.Key)] = append(x.m.hist[string(prev.Key)], mver{rev, nil})
		x.wrote = true
		x.evs = append(x.evs, mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: prev.Key, ModRevision: rev}, PrevKv: &prev})
		if r.PrevKv {
			resp.PrevKvs = append(resp.PrevKvs, &prev)
		}
	}
	resp.Header = &pb.ResponseHeader{Revision: x.viewRev()}
	return resp, nil
}

func (m *model) cmp(c *pb.Compare) bool {
	kvs := m.live(m.rev, string(c.Key), string(c.RangeEnd))
	if len(kvs) == 0 {
		if c.Target == pb.Compare_VALUE {
			return false
		}
		kvs = []mvccpb.KeyValue{{}}
	}
	for _, kv := range kvs {
		var a, b int64
		var res int
		switch c.Target {
		case pb.Compare_VALUE:
			res = bytes.Compare(kv.Value, c.GetValue())
		case pb.Compare_VERSION:
			a, b = kv.Version, c.GetVersion()
		case pb.Compare_CREATE:
			a, b = kv.CreateRevision, c.GetCreateRevision()
		case pb.Compare_MOD:
			a, b = kv.ModRevision, c.GetModRevision()
		case pb.Compare_LEASE:
			a, b = kv.Lease, c.GetLease()
		}
		if c.Target != pb.Compare_VALUE {
			res = map[bool]int{true: -1, false: 0}[a < b]
			if a > b {
				res = 1
			}
		}
		ok := map[pb.Compare_CompareResult]bool{
			pb.Compare_EQUAL: res == 0, pb.Compare_NOT_EQUAL: res != 0,
			pb.Compare_GREATER: res > 0, pb.Compare_LESS: res < 0,
		}[c.Result]
		if !ok {
			return false
		}
	}
	return true
}

// branch returns the ops a txn takes, judged on the state before the
// request (nested txns too).
func (m *model) branch(r *pb.TxnRequest) (bool, []*pb.RequestOp) {
	for _, c := range r.Compare {
		if !m.cmp(c) {
			return false, r.Failure
		}
	}
	return true, r.Success
}

func (m *model) txnWrites(r *pb.TxnRequest) bool {
	_, ops := m.branch(r)
	for _, op := range ops {
		switch tv := op.Request.(type) {
		case *pb.RequestOp_RequestPut, *pb.RequestOp_RequestDeleteRange:
			return true
		case *pb.RequestOp_RequestTxn:
			if m.txnWrites(tv.RequestTxn) {
				return true
			}
		}
	}
	return false
}

func (x *mtx) txn(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	// Undo on failure: the lists only grow during a request.
	lens := map[string]int{}
	for k, v := range x.m.hist {
		lens[k] = len(v)
	}
	wrote, nevs := x.wrote, len(x.evs)
	resp, err := x.txnRec(r)
	if err != nil {
		for k := range x.m.hist {
			if n, ok := lens[k]; ok {
				x.m.hist[k] = x.m.hist[k][:n]
			} else {
				delete(x.m.hist, k)
			}
		}
		x.wrote, x.evs = wrote, x.evs[:nevs]
		return nil, err
	}
	resp.Header.Revision = x.viewRev()
	return resp, nil
}

func (x *mtx) txnRec(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	// Compares see the state before the request: at preRev.
	saved := x.m.rev
	x.m.rev = x.preRev
	ok, ops := x.m.branch(r)
	x.m.rev = saved
	resp := &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: ok}
	for _, op := range ops {
		ro := &pb.ResponseOp{}
		switch tv := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			if tv.RequestRange.Revision > x.preRev {
				return nil, ErrFutureRev
			}
			rr, err := x.rng(tv.RequestRange)
			if err != nil {
				return nil, err
			}
			ro.Response = &pb.ResponseOp_ResponseRange{ResponseRange: rr}
		case *pb.RequestOp_RequestPut:
			pr, err := x.put(tv.RequestPut, false)
			if err != nil {
				return nil, err
			}
			ro.Response = &pb.ResponseOp_ResponsePut{ResponsePut: pr}
		case *pb.RequestOp_RequestDeleteRange:
			dr, _ := x.del(tv.RequestDeleteRange)
			ro.Response = &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: dr}
		case *pb.RequestOp_RequestTxn:
			tr, err := x.txnRec(tv.RequestTxn)
			if err != nil {
				return nil, err
			}
			ro.Response = &pb.ResponseOp_ResponseTxn{ResponseTxn: tr}
		}
		resp.Responses = append(resp.Responses, ro)
	}
	if resp.Responses == nil {
		resp.Responses = []*pb.ResponseOp{}
	}
	return resp, nil
}

func (m *model) compactAt(rev int64) (*pb.CompactionResponse, error) {
	if rev <= m.compact {
		return nil, ErrCompacted
	}
	if rev > m.rev {
		return nil, ErrFutureRev
	}
	m.compact = rev
	return &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: m.rev}}, nil
}

func (m *model) eventsFrom(start int64, key, end string, limit int) ([]mvccpb.Event, int64, error) {
	if start < 1 {
		start = 1
	}
	if start < m.compact {
		return nil, 0, ErrCompacted
	}
	if start > m.rev {
		return nil, start, nil
	}
	var out []mvccpb.Event
	var last int64
	for _, e := range m.events {
		if e.rev < start {
			continue
		}
		if e.rev != last && limit > 0 && len(out) >= limit {
			return out, e.rev, nil
		}
		last = e.rev
		if inRange(string(e.ev.Kv.Key), key, end) {
			out = append(out, e.ev)
		}
	}
	return out, m.rev + 1, nil
}

// --- random requests ---

var (
	modelKeys = []string{"\x00", "a", "a\x00", "a\x00b", "ab", "b", "b\xff", "c", "\xff"}
	// The last two are held in "c" by reference (refMinValue and more).
	modelValues = []string{"", "v1", "v2", "x\x00y", strings.Repeat("L", refMinValue), strings.Repeat("M\x00", 2500)}
)

type gen struct {
	r *rand.Rand
	m *model
}

func (g *gen) key() []byte { return []byte(modelKeys[g.r.Intn(len(modelKeys))]) }

func (g *gen) end(key []byte) []byte {
	switch g.r.Intn(5) {
	case 0, 1:
		return nil
	case 2:
		return []byte{0}
	case 3:
		return append(append([]byte(nil), key...), 0)
	}
	return g.key()
}

func (g *gen) rev() int64 { return g.m.compact - 1 + g.r.Int63n(g.m.rev-g.m.compact+3) }

func (g *gen) value() []byte {
	v := modelValues[g.r.Intn(len(modelValues))]
	if v == "" {
		return nil
	}
	return []byte(v)
}

func (g *gen) lease() int64 {
	if g.r.Intn(3) == 0 {
		return []int64{1, 2, 9}[g.r.Intn(3)]
	}
	return 0
}

func (g *gen) put() *pb.PutRequest {
	r := &pb.PutRequest{Key: g.key(), Value: g.value(), Lease: g.lease(), PrevKv: g.r.Intn(2) == 0}
	if g.r.Intn(8) == 0 {
		r.IgnoreValue, r.Value = true, nil
	}
	if g.r.Intn(8) == 0 {
		r.IgnoreLease, r.Lease = true, 0
	}
	return r
}

func (g *gen) del() *pb.DeleteRangeRequest {
	k := g.key()
	return &pb.DeleteRangeRequest{Key: k, RangeEnd: g.end(k), PrevKv: g.r.Intn(2) == 0}
}

func (g *gen) rng() *pb.RangeRequest {
	k := g.key()
	r := &pb.RangeRequest{Key: k, RangeEnd: g.end(k)}
	if g.r.Intn(2) == 0 {
		r.Revision = g.rev()
	}
	if g.r.Intn(2) == 0 {
		r.Limit = g.r.Int63n(4)
	}
	if g.r.Intn(3) == 0 {
		r.SortOrder = pb.RangeRequest_SortOrder(g.r.Intn(3))
		r.SortTarget = pb.RangeRequest_SortTarget(g.r.Intn(5))
	}
	r.KeysOnly = g.r.Intn(8) == 0
	r.CountOnly = g.r.Intn(8) == 0
	if g.r.Intn(4) == 0 {
		f := []*int64{&r.MinModRevision, &r.MaxModRevision, &r.MinCreateRevision, &r.MaxCreateRevision}
		*f[g.r.Intn(4)] = g.r.Int63n(g.m.rev + 2)
	}
	return r
}

func (g *gen) compare() *pb.Compare {
	k := g.key()
	c := &pb.Compare{Key: k, Result: pb.Compare_CompareResult(g.r.Intn(4)), Target: pb.Compare_CompareTarget(g.r.Intn(5))}
	if g.r.Intn(4) == 0 {
		c.RangeEnd = g.end(k)
	}
	n := g.r.Int63n(g.m.rev + 2)
	switch c.Target {
	case pb.Compare_VERSION:
		c.TargetUnion = &pb.Compare_Version{Version: g.r.Int63n(4)}
	case pb.Compare_CREATE:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: n}
	case pb.Compare_MOD:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: n}
	case pb.Compare_VALUE:
		c.TargetUnion = &pb.Compare_Value{Value: g.value()}
	case pb.Compare_LEASE:
		c.TargetUnion = &pb.Compare_Lease{Lease: g.r.Int63n(3)}
	}
	return c
}

func (g *gen) ops(depth int) []*pb.RequestOp {
	var ops []*pb.RequestOp
	for i := g.r.Intn(4); i > 0; i-- {
		switch n := g.r.Intn(10); {
		case n < 3:
			ops = append(ops, opRange(g.rng()))
		case n < 7:
			ops = append(ops, opPut(g.put()))
		case n < 9:
			ops = append(ops, opDel(g.del()))
		case depth < 2:
			ops = append(ops, opTxn(g.txn(depth+1)))
		}
	}
	return ops
}

func (g *gen) txn(depth int) *pb.TxnRequest {
	t := &pb.TxnRequest{Success: g.ops(depth), Failure: g.ops(depth)}
	for i := g.r.Intn(3); i > 0; i-- {
		t.Compare = append(t.Compare, g.compare())
	}
	return t
}

// --- the stores under test ---

// storeUnderTest applies requests to a Store, committing batches at
// random boundaries (or after every request when batchy is false).
type storeUnderTest struct {
	e       *testEnv
	batchy  bool
	b       *pebble.Batch
	waiters []<-chan struct{}
}

func (s *storeUnderTest) write(fn func(w *WriteTxn) (any, error), r *rand.Rand) (any, []mvccpb.Event, error) {
	if s.b == nil {
		s.b = s.e.db.NewIndexedBatch()
	}
	w := s.e.s.Write(s.b)
	resp, err := fn(w)
	evs := w.End()
	if !s.batchy || r.Intn(3) == 0 {
		s.commit()
	}
	return resp, evs, err
}

func (s *storeUnderTest) commit() {
	if s.b == nil {
		return
	}
	if err := s.b.Commit(pebble.NoSync); err != nil {
		s.e.t.Fatal(err)
	}
	s.b.Close()
	s.b = nil
	s.e.s.Committed()
}

func (s *storeUnderTest) read(fn func(r *ReadTxn) (any, error)) (any, error) {
	s.commit()
	r := s.e.s.Read()
	defer r.Close()
	return fn(r)
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return errors.Is(a, b)
}

func nilIfErr(v any, err error) any {
	if err != nil {
		return nil
	}
	return v
}

func TestModel(t *testing.T) {
	seeds := []int64{1, 2, 3, 4, 5, 6}
	if testing.Short() {
		seeds = seeds[:2]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed, 400) })
	}
}

func runModel(t *testing.T, seed int64, steps int) {
	r := rand.New(rand.NewSource(seed))
	m := newModel()
	g := &gen{r: r, m: m}
	ea := newEnv(t)
	ea.cfg.CompactionBatchLimit = 1 + r.Intn(3)
	ea.reopen()
	eb := newEnv(t)
	eb.cfg.HotCacheBytes = 600 // a few entries: the writer's cache evicts all the time
	eb.reopen()
	a := &storeUnderTest{e: ea, batchy: true}
	b := &storeUnderTest{e: eb}
	stores := []*storeUnderTest{a, b}
	check := func(step int, what string, req any, got, want any, gotErr, wantErr error) {
		t.Helper()
		if !sameErr(gotErr, wantErr) || !reflect.DeepEqual(nilIfErr(got, gotErr), nilIfErr(want, wantErr)) {
			t.Fatalf("seed %d step %d %s %v:\n got  %v (%v)\n want %v (%v)", seed, step, what, req, got, gotErr, want, wantErr)
		}
	}
	applyWrite := func(step int, what string, req any, fn func(w *WriteTxn) (any, error), mfn func(x *mtx) (any, error)) {
		x := m.begin()
		want, wantErr := mfn(x)
		wantEvs := x.end()
		if wantErr != nil {
			wantEvs = nil
		}
		for i, s := range stores {
			got, evs, err := s.write(fn, r)
			check(step, fmt.Sprintf("%s on store %d", what, i), req, got, want, err, wantErr)
			if len(evs) == 0 {
				evs = nil
			}
			check(step, fmt.Sprintf("%s events on store %d", what, i), req, evs, wantEvs, nil, nil)
		}
	}
	for step := 0; step < steps; step++ {
		switch n := r.Intn(100); {
		case n < 30:
			req := g.put()
			applyWrite(step, "put", req,
				func(w *WriteTxn) (any, error) { return w.Put(req) },
				func(x *mtx) (any, error) { return x.put(req, true) })
		case n < 40:
			req := g.del()
			applyWrite(step, "delete", req,
				func(w *WriteTxn) (any, error) { return w.DeleteRange(req) },
				func(x *mtx) (any, error) { return x.del(req) })
		case n < 60:
			req := g.txn(0)
			applyWrite(step, "txn", req,
				func(w *WriteTxn) (any, error) { return w.Txn(req) },
				func(x *mtx) (any, error) { return x.txn(req) })
		case n < 64:
			rev := g.rev()
			want, wantErr := m.compactAt(rev)
			for i, s := range stores {
				var ch <-chan struct{}
				got, _, err := s.write(func(w *WriteTxn) (resp any, err error) {
					resp, ch, err = w.Compact(rev)
					return resp, err
				}, r)
				check(step, fmt.Sprintf("compact on store %d", i), rev, got, want, err, wantErr)
				if err == nil && r.Intn(2) == 0 {
					s.waiters = append(s.waiters, ch)
				}
			}
		case n < 78:
			req := g.rng()
			x := m.begin()
			want, wantErr := x.rng(req)
			for i, s := range stores {
				got, err := s.read(func(rt *ReadTxn) (any, error) { return rt.Range(req) })
				check(step, fmt.Sprintf("range on store %d", i), req, got, want, err, wantErr)
			}
			// Through the pending batch of the batching store.
			got, _, err := a.write(func(w *WriteTxn) (any, error) { return w.Range(req) }, r)
			check(step, "range in write txn", req, got, want, err, wantErr)
		case n < 86:
			req := g.txn(0)
			var want any
			var wantErr error
			if m.txnWrites(req) {
				wantErr = ErrTxnHasWrites
			} else {
				x := m.begin()
				want, wantErr = x.txn(req)
				x.end()
			}
			for i, s := range stores {
				got, err := s.read(func(rt *ReadTxn) (any, error) { return rt.Txn(req) })
				check(step, fmt.Sprintf("read txn on store %d", i), req, got, want, err, wantErr)
			}
		case n < 94:
			start := g.rev() + 1
			k := g.key()
			end := g.end(k)
			limit := r.Intn(4)
			evs, next, wantErr := m.eventsFrom(start, string(k), string(end), limit)
			want := fmt.Sprint(evs, next)
			for i, s := range stores {
				got, err := s.read(func(rt *ReadTxn) (any, error) {
					evs, next, err := rt.Events(start, k, end, limit)
					return fmt.Sprint(evs, next), err
				})
				check(step, fmt.Sprintf("events on store %d", i), []any{start, k, end, limit}, got, want, err, wantErr)
			}
		case n < 97:
			// Same hash on both stores whatever their batching and
			// physical compaction progress.
			rev := g.rev()
			var hashes [2]any
			var errs [2]error
			for i, s := range stores {
				hashes[i], errs[i] = s.read(func(rt *ReadTxn) (any, error) {
					h, hr, cr, err := rt.HashKV(rev)
					return [3]int64{int64(h), hr, cr}, err
				})
			}
			check(step, "hash", rev, hashes[0], hashes[1], errs[0], errs[1])
		case n < 99:
			a.commit()
			for _, ch := range a.waiters {
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
					t.Fatalf("seed %d step %d: compaction did not finish", seed, step)
				}
			}
			a.waiters = nil
		default:
			a.commit()
			a.waiters = nil
			ea.reopen()
		}
	}
	// The stores agree with the model on everything at every revision
	// still readable.
	for rev := max(m.compact, 1); rev <= m.rev; rev++ {
		req := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev}
		x := m.begin()
		want, _ := x.rng(req)
		for i, s := range stores {
			got, err := s.read(func(rt *ReadTxn) (any, error) { return rt.Range(req) })
			check(-1, fmt.Sprintf("final range on store %d", i), req, got, want, err, nil)
		}
	}
}
