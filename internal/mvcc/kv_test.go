package mvcc

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestNewStoreRevision(t *testing.T) {
	e := newEnv(t)
	if e.s.Rev() != 1 || e.s.CompactRev() != -1 {
		t.Fatalf("new store: rev %d compact %d, want 1 -1", e.s.Rev(), e.s.CompactRev())
	}
	resp, err := e.rng(&pb.RangeRequest{Key: []byte("a")})
	if err != nil || !reflect.DeepEqual(resp, &pb.RangeResponse{Header: hdr(1)}) {
		t.Fatalf("range on new store: %v %v", resp, err)
	}
	if r := e.put("a", "1"); r.Header.Revision != 2 {
		t.Fatalf("first put rev %d, want 2", r.Header.Revision)
	}
	if e.s.Rev() != 2 {
		t.Fatalf("rev %d, want 2", e.s.Rev())
	}
	e.reopen()
	if e.s.Rev() != 2 || e.s.CompactRev() != -1 {
		t.Fatalf("after reopen: rev %d compact %d", e.s.Rev(), e.s.CompactRev())
	}
}

func TestPut(t *testing.T) {
	e := newEnv(t)
	e.put("foo", "1")                                                                    // rev 2
	r := e.mustPut(&pb.PutRequest{Key: []byte("foo"), Value: []byte("2"), PrevKv: true}) // rev 3
	want := &pb.PutResponse{Header: hdr(3), PrevKv: kv("foo", 2, 2, 1, "1", 0)}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("put: got %v, want %v", r, want)
	}
	r = e.mustPut(&pb.PutRequest{Key: []byte("bar"), Value: []byte("x"), PrevKv: true}) // rev 4
	if !reflect.DeepEqual(r, &pb.PutResponse{Header: hdr(4)}) {
		t.Fatalf("put new key with prev_kv: %v", r)
	}
	got, _ := e.rng(&pb.RangeRequest{Key: []byte("foo")})
	if !reflect.DeepEqual(got.Kvs, []*mvccpb.KeyValue{kv("foo", 2, 3, 2, "2", 0)}) {
		t.Fatalf("foo: %v", got.Kvs)
	}

	// Leases: attach, ignore_lease keeps it, ignore_value keeps the value.
	e.mustPut(&pb.PutRequest{Key: []byte("foo"), Value: []byte("3"), Lease: 1})          // rev 5
	e.mustPut(&pb.PutRequest{Key: []byte("foo"), Value: []byte("4"), IgnoreLease: true}) // rev 6
	e.mustPut(&pb.PutRequest{Key: []byte("foo"), IgnoreValue: true, Lease: 2})           // rev 7
	got, _ = e.rng(&pb.RangeRequest{Key: []byte("foo")})
	if !reflect.DeepEqual(got.Kvs, []*mvccpb.KeyValue{kv("foo", 2, 7, 5, "4", 2)}) {
		t.Fatalf("foo after lease puts: %v", got.Kvs)
	}
	if log := e.lessor.takeLog(); !slices.Equal(log, []string{"attach 1 foo", "detach 1 foo", "attach 2 foo"}) {
		t.Fatalf("lessor log %q", log)
	}
	e.del("foo", "")
	if log := e.lessor.takeLog(); !slices.Equal(log, []string{"detach 2 foo"}) {
		t.Fatalf("lessor log after delete %q", log)
	}

	// Failures write nothing.
	for _, tc := range []struct {
		name string
		req  *pb.PutRequest
		err  error
	}{
		{"unknown lease", &pb.PutRequest{Key: []byte("k"), Lease: 99}, ErrLeaseNotFound},
		{"ignore_value missing", &pb.PutRequest{Key: []byte("nope"), IgnoreValue: true}, ErrKeyNotFound},
		{"ignore_lease missing", &pb.PutRequest{Key: []byte("nope"), IgnoreLease: true}, ErrKeyNotFound},
		{"lease checked first", &pb.PutRequest{Key: []byte("nope"), IgnoreValue: true, Lease: 99}, ErrLeaseNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.s.Rev()
			b := e.db.NewIndexedBatch()
			defer b.Close()
			w := e.s.Write(b)
			_, err := w.Put(tc.req)
			evs := w.End()
			if !errors.Is(err, tc.err) || len(evs) != 0 || b.Count() != 0 {
				t.Fatalf("err %v (want %v), %d events, %d batch ops", err, tc.err, len(evs), b.Count())
			}
			if w.Rev() != before {
				t.Fatalf("rev moved")
			}
		})
	}

	// No lessor: any lease is unknown.
	e2 := newEnv(t)
	e2.reopenWith(Config{})
	_, err := e2.apply(func(w *WriteTxn) error {
		_, err := w.Put(&pb.PutRequest{Key: []byte("a"), Lease: 1})
		return err
	})
	if !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("nil lessor: %v", err)
	}
}

func (e *testEnv) reopenWith(cfg Config) {
	e.close()
	e.cfg = cfg
	e.open()
}

func TestPutRecreateAfterDelete(t *testing.T) {
	e := newEnv(t)
	e.put("a", "1") // 2
	e.put("a", "2") // 3
	e.del("a", "")  // 4
	e.put("a", "3") // 5
	got, _ := e.rng(&pb.RangeRequest{Key: []byte("a")})
	if !reflect.DeepEqual(got.Kvs, []*mvccpb.KeyValue{kv("a", 5, 5, 1, "3", 0)}) {
		t.Fatalf("recreated: %v", got.Kvs)
	}
	got, _ = e.rng(&pb.RangeRequest{Key: []byte("a"), Revision: 4})
	if len(got.Kvs) != 0 || got.Count != 0 || got.Header.Revision != 5 {
		t.Fatalf("at 4: %v", got)
	}
	got, _ = e.rng(&pb.RangeRequest{Key: []byte("a"), Revision: 3})
	if !reflect.DeepEqual(got.Kvs, []*mvccpb.KeyValue{kv("a", 2, 3, 2, "2", 0)}) {
		t.Fatalf("at 3: %v", got.Kvs)
	}
}

func TestDeleteRange(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"a", "b", "c", "d"} {
		e.put(k, "v"+k) // a=2 b=3 c=4 d=5
	}
	evs, err := e.apply(func(w *WriteTxn) error {
		resp, err := w.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("b"), RangeEnd: []byte("d"), PrevKv: true})
		want := &pb.DeleteRangeResponse{Header: hdr(6), Deleted: 2,
			PrevKvs: []*mvccpb.KeyValue{kv("b", 3, 3, 1, "vb", 0), kv("c", 4, 4, 1, "vc", 0)}}
		if !reflect.DeepEqual(resp, want) {
			t.Errorf("delete: got %v want %v", resp, want)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantEvs := []mvccpb.Event{
		{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte("b"), ModRevision: 6}, PrevKv: kv("b", 3, 3, 1, "vb", 0)},
		{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte("c"), ModRevision: 6}, PrevKv: kv("c", 4, 4, 1, "vc", 0)},
	}
	if !reflect.DeepEqual(evs, wantEvs) {
		t.Fatalf("events %v", evs)
	}
	// Deleting nothing does not move the revision, and writes nothing.
	r := e.del("b", "d")
	if !reflect.DeepEqual(r, &pb.DeleteRangeResponse{Header: hdr(6)}) || e.s.Rev() != 6 {
		t.Fatalf("delete of nothing: %v rev %d", r, e.s.Rev())
	}
	// Without prev_kv, no prev_kvs.
	r = e.del("a", "\x00")
	if !reflect.DeepEqual(r, &pb.DeleteRangeResponse{Header: hdr(7), Deleted: 2}) {
		t.Fatalf("delete from key: %v", r)
	}
}

func TestRangeEndRules(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"\x00", "\x00\x00", "a", "a\x00", "a\x00b", "ab", "b", "\xff"} {
		e.put(k, "v")
	}
	all := []string{"\x00", "\x00\x00", "a", "a\x00", "a\x00b", "ab", "b", "\xff"}
	e.put("zzz", "x") // rev 10
	e.del("zzz", "")  // rev 11: the same keys as at 9
	for _, tc := range []struct {
		key, end string
		want     []string
	}{
		{"a", "", []string{"a"}},
		{"zz", "", nil},
		{"a", "\x00", []string{"a", "a\x00", "a\x00b", "ab", "b", "\xff"}},
		{"\x00", "\x00", all},
		{"a", "b", []string{"a", "a\x00", "a\x00b", "ab"}},
		{"a", "a\x01", []string{"a", "a\x00", "a\x00b"}}, // prefix "a\x00"... via range end
		{"a\x00", "a\x01", []string{"a\x00", "a\x00b"}},
		{"b", "a", nil},
		{"a", "a", nil},
		{"\x00", "\x00\x01", []string{"\x00", "\x00\x00"}},
	} {
		got, err := e.rng(&pb.RangeRequest{Key: []byte(tc.key), RangeEnd: []byte(tc.end)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keysOf(got.Kvs), tc.want) || got.Count != int64(len(tc.want)) {
			t.Errorf("[%q,%q): got %q count %d, want %q", tc.key, tc.end, keysOf(got.Kvs), got.Count, tc.want)
		}
		// The same at a past revision (through "k").
		got, err = e.rng(&pb.RangeRequest{Key: []byte(tc.key), RangeEnd: []byte(tc.end), Revision: 9})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keysOf(got.Kvs), tc.want) {
			t.Errorf("[%q,%q) at 9: got %q, want %q", tc.key, tc.end, keysOf(got.Kvs), tc.want)
		}
	}
}

// rangeDataset builds the data set used against etcd 3.4 (see the expected
// values, taken from etcd's answers):
// k1{c2 m8 v3 "v3"} k2{3 3 1 "v"} k3{4 9 2 "v2"} k4{5 5 1 "v"} k5{6 6 1 "v"}.
func rangeDataset(t *testing.T) *testEnv {
	e := newEnv(t)
	for _, k := range []string{"k1", "k2", "k3", "k4", "k5"} {
		e.put(k, "v")
	}
	e.put("k1", "v2")
	e.put("k1", "v3")
	e.put("k3", "v2")
	return e
}

func TestRangeOptions(t *testing.T) {
	e := rangeDataset(t)
	k1 := kv("k1", 2, 8, 3, "v3", 0)
	k2 := kv("k2", 3, 3, 1, "v", 0)
	k3 := kv("k3", 4, 9, 2, "v2", 0)
	k4 := kv("k4", 5, 5, 1, "v", 0)
	k5 := kv("k5", 6, 6, 1, "v", 0)
	base := func(f func(r *pb.RangeRequest)) *pb.RangeRequest {
		r := &pb.RangeRequest{Key: []byte("k1"), RangeEnd: []byte("k6")}
		f(r)
		return r
	}
	for _, tc := range []struct {
		name string
		req  *pb.RangeRequest
		kvs  []*mvccpb.KeyValue
		more bool
		cnt  int64
	}{
		{"all", base(func(r *pb.RangeRequest) {}), []*mvccpb.KeyValue{k1, k2, k3, k4, k5}, false, 5},
		{"limit", base(func(r *pb.RangeRequest) { r.Limit = 2 }), []*mvccpb.KeyValue{k1, k2}, true, 5},
		{"limit exact", base(func(r *pb.RangeRequest) { r.Limit = 5 }), []*mvccpb.KeyValue{k1, k2, k3, k4, k5}, false, 5},
		{"count_only", base(func(r *pb.RangeRequest) { r.Limit = 2; r.CountOnly = true }), nil, false, 5},
		{"keys_only", base(func(r *pb.RangeRequest) { r.Limit = 1; r.KeysOnly = true }),
			[]*mvccpb.KeyValue{kv("k1", 2, 8, 3, "", 0)}, true, 5},
		// Order NONE with another target sorts ASCEND, over the limit+1
		// keys fetched in key order only (etcd: k2, k3, more).
		{"version none limit", base(func(r *pb.RangeRequest) { r.Limit = 2; r.SortTarget = pb.RangeRequest_VERSION }),
			[]*mvccpb.KeyValue{k2, k3}, true, 5},
		{"version descend limit", base(func(r *pb.RangeRequest) {
			r.Limit = 2
			r.SortTarget = pb.RangeRequest_VERSION
			r.SortOrder = pb.RangeRequest_DESCEND
		}), []*mvccpb.KeyValue{k1, k3}, true, 5},
		{"key descend", base(func(r *pb.RangeRequest) { r.Limit = 2; r.SortOrder = pb.RangeRequest_DESCEND }),
			[]*mvccpb.KeyValue{k5, k4}, true, 5},
		{"key ascend", base(func(r *pb.RangeRequest) { r.Limit = 2; r.SortOrder = pb.RangeRequest_ASCEND }),
			[]*mvccpb.KeyValue{k1, k2}, true, 5},
		{"mod ascend", base(func(r *pb.RangeRequest) { r.SortTarget = pb.RangeRequest_MOD; r.SortOrder = pb.RangeRequest_ASCEND }),
			[]*mvccpb.KeyValue{k2, k4, k5, k1, k3}, false, 5},
		{"create descend", base(func(r *pb.RangeRequest) { r.SortTarget = pb.RangeRequest_CREATE; r.SortOrder = pb.RangeRequest_DESCEND }),
			[]*mvccpb.KeyValue{k5, k4, k3, k2, k1}, false, 5},
		{"value ascend stable", base(func(r *pb.RangeRequest) { r.SortTarget = pb.RangeRequest_VALUE }),
			[]*mvccpb.KeyValue{k2, k4, k5, k3, k1}, false, 5},
		{"value descend stable", base(func(r *pb.RangeRequest) { r.SortTarget = pb.RangeRequest_VALUE; r.SortOrder = pb.RangeRequest_DESCEND }),
			[]*mvccpb.KeyValue{k1, k3, k2, k4, k5}, false, 5},
		// Filters: count ignores them; more is about the filtered list.
		{"min_mod 7 limit 1", base(func(r *pb.RangeRequest) { r.Limit = 1; r.MinModRevision = 7 }), []*mvccpb.KeyValue{k1}, true, 5},
		{"min_mod 9 limit 1", base(func(r *pb.RangeRequest) { r.Limit = 1; r.MinModRevision = 9 }), []*mvccpb.KeyValue{k3}, false, 5},
		{"count_only with filter", base(func(r *pb.RangeRequest) { r.CountOnly = true; r.MinModRevision = 9 }), nil, false, 5},
		{"max_mod 6", base(func(r *pb.RangeRequest) { r.MaxModRevision = 6 }), []*mvccpb.KeyValue{k2, k4, k5}, false, 5},
		{"max_create 4", base(func(r *pb.RangeRequest) { r.MaxCreateRevision = 4 }), []*mvccpb.KeyValue{k1, k2, k3}, false, 5},
		{"min_create 5", base(func(r *pb.RangeRequest) { r.MinCreateRevision = 5 }), []*mvccpb.KeyValue{k4, k5}, false, 5},
		{"past revision", base(func(r *pb.RangeRequest) { r.Revision = 4 }),
			[]*mvccpb.KeyValue{kv("k1", 2, 2, 1, "v", 0), kv("k2", 3, 3, 1, "v", 0), kv("k3", 4, 4, 1, "v", 0)}, false, 3},
		{"past revision limit", base(func(r *pb.RangeRequest) { r.Revision = 7; r.Limit = 1 }),
			[]*mvccpb.KeyValue{kv("k1", 2, 7, 2, "v2", 0)}, true, 5},
		{"past count_only", base(func(r *pb.RangeRequest) { r.Revision = 3; r.CountOnly = true }), nil, false, 2},
		{"negative limit", base(func(r *pb.RangeRequest) { r.Limit = -1 }), []*mvccpb.KeyValue{k1, k2, k3, k4, k5}, false, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.rng(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			want := &pb.RangeResponse{Header: hdr(9), Kvs: tc.kvs, More: tc.more, Count: tc.cnt}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
		})
	}
}

func TestRevisionRules(t *testing.T) {
	e := rangeDataset(t) // rev 9
	if err := e.compact(4, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rev  int64
		err  error
		keys []string
	}{
		{0, nil, []string{"k1", "k2", "k3", "k4", "k5"}},
		{-5, nil, []string{"k1", "k2", "k3", "k4", "k5"}},
		{9, nil, []string{"k1", "k2", "k3", "k4", "k5"}},
		{10, ErrFutureRev, nil},
		{3, ErrCompacted, nil},
		{4, nil, []string{"k1", "k2", "k3"}},
		{5, nil, []string{"k1", "k2", "k3", "k4"}},
	} {
		got, err := e.rng(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Revision: tc.rev})
		if !errors.Is(err, tc.err) {
			t.Fatalf("rev %d: err %v, want %v", tc.rev, err, tc.err)
		}
		if err == nil && (!slices.Equal(keysOf(got.Kvs), tc.keys) || got.Header.Revision != 9) {
			t.Fatalf("rev %d: %q header %d", tc.rev, keysOf(got.Kvs), got.Header.Revision)
		}
	}
}

func TestWriteTxnsShareBatch(t *testing.T) {
	e := newEnv(t)
	b := e.db.NewIndexedBatch()
	defer b.Close()
	w := e.s.Write(b)
	if _, err := w.Put(&pb.PutRequest{Key: []byte("a"), Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	w.End()
	w = e.s.Write(b)
	r, err := w.Put(&pb.PutRequest{Key: []byte("a"), Value: []byte("2"), PrevKv: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, &pb.PutResponse{Header: hdr(3), PrevKv: kv("a", 2, 2, 1, "1", 0)}) {
		t.Fatalf("second put in batch: %v", r)
	}
	rr, _ := w.Range(&pb.RangeRequest{Key: []byte("a"), Revision: 2})
	if !reflect.DeepEqual(rr.Kvs, []*mvccpb.KeyValue{kv("a", 2, 2, 1, "1", 0)}) || rr.Header.Revision != 3 {
		t.Fatalf("past read in batch: %v", rr)
	}
	w.End()
	// Not committed: readers and Rev() see nothing yet.
	if e.s.Rev() != 1 {
		t.Fatalf("Rev before commit %d", e.s.Rev())
	}
	if got, _ := e.rng(&pb.RangeRequest{Key: []byte("a")}); got.Count != 0 || got.Header.Revision != 1 {
		t.Fatalf("uncommitted visible: %v", got)
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	// Committed but not yet published: readers still get the last
	// published view, whole: revision 1 and no key "a".
	r2 := e.s.Read()
	rr2, err := r2.Range(&pb.RangeRequest{Key: []byte("a")})
	r2.Close()
	if err != nil || r2.Rev() != 1 || rr2.Count != 0 || rr2.Header.Revision != 1 {
		t.Fatalf("read view before Committed: rev %d, %v, %v; want rev 1 and no key", r2.Rev(), rr2, err)
	}
	e.s.Committed()
	r3 := e.s.Read()
	rr3, err := r3.Range(&pb.RangeRequest{Key: []byte("a")})
	r3.Close()
	if err != nil || r3.Rev() != 3 || rr3.Count != 1 || rr3.Header.Revision != 3 {
		t.Fatalf("read view after Committed: rev %d, %v, %v; want rev 3 and key a", r3.Rev(), rr3, err)
	}
	if e.s.Rev() != 3 {
		t.Fatalf("Rev after Committed %d", e.s.Rev())
	}
}

func TestDiscard(t *testing.T) {
	e := newEnv(t)
	e.put("a", "1")
	b := e.db.NewIndexedBatch()
	w := e.s.Write(b)
	w.Put(&pb.PutRequest{Key: []byte("a"), Value: []byte("2")})
	w.End()
	b.Close()
	e.s.Discard()
	if r := e.put("b", "1"); r.Header.Revision != 3 {
		t.Fatalf("after discard: rev %d, want 3", r.Header.Revision)
	}
}

// A dropped batch must not leave its writes in the writer's cache of
// current keys: the next put sees the committed version.
func TestHotCacheDiscard(t *testing.T) {
	e := newEnv(t)
	e.put("a", "1")
	b := e.db.NewIndexedBatch()
	w := e.s.Write(b)
	if _, err := w.Put(&pb.PutRequest{Key: []byte("a"), Value: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	w.End()
	b.Close()
	e.s.Discard()
	b = e.db.NewIndexedBatch()
	w = e.s.Write(b)
	r, err := w.Put(&pb.PutRequest{Key: []byte("a"), Value: []byte("3"), PrevKv: true})
	if err != nil {
		t.Fatal(err)
	}
	w.End()
	if !reflect.DeepEqual(r.PrevKv, kv("a", 2, 2, 1, "1", 0)) {
		t.Fatalf("prev_kv after a dropped batch: %v, want the committed a=1", r.PrevKv)
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	b.Close()
	e.s.Committed()
	got, _ := e.rng(&pb.RangeRequest{Key: []byte("a")})
	if len(got.Kvs) != 1 || !reflect.DeepEqual(got.Kvs[0], kv("a", 2, 3, 2, "3", 0)) {
		t.Fatalf("after the put: %v", got.Kvs)
	}
}
