package mvcc

import (
	"errors"
	"reflect"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func opRange(r *pb.RangeRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: r}}
}
func opPut(r *pb.PutRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: r}}
}
func opDel(r *pb.DeleteRangeRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: r}}
}
func opTxn(r *pb.TxnRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: r}}
}

func (e *testEnv) txn(req *pb.TxnRequest) (*pb.TxnResponse, []mvccpb.Event, error) {
	var resp *pb.TxnResponse
	evs, err := e.apply(func(w *WriteTxn) (err error) {
		resp, err = w.Txn(req)
		return err
	})
	return resp, evs, err
}

func TestCompare(t *testing.T) {
	e := newEnv(t)
	e.put("k", "v1")                                                           // 2
	e.mustPut(&pb.PutRequest{Key: []byte("k"), Value: []byte("v2"), Lease: 1}) // 3: create 2 mod 3 ver 2
	e.put("k2", "v9")                                                          // 4
	cmp := func(key, end string, target pb.Compare_CompareTarget, res pb.Compare_CompareResult, u any) *pb.Compare {
		c := &pb.Compare{Key: []byte(key), RangeEnd: []byte(end), Target: target, Result: res}
		switch v := u.(type) {
		case string:
			c.TargetUnion = &pb.Compare_Value{Value: []byte(v)}
		case int64:
			switch target {
			case pb.Compare_VERSION:
				c.TargetUnion = &pb.Compare_Version{Version: v}
			case pb.Compare_CREATE:
				c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: v}
			case pb.Compare_MOD:
				c.TargetUnion = &pb.Compare_ModRevision{ModRevision: v}
			case pb.Compare_LEASE:
				c.TargetUnion = &pb.Compare_Lease{Lease: v}
			}
		}
		return c
	}
	const (
		EQ = pb.Compare_EQUAL
		NE = pb.Compare_NOT_EQUAL
		GT = pb.Compare_GREATER
		LT = pb.Compare_LESS
	)
	for _, tc := range []struct {
		name string
		c    *pb.Compare
		want bool
	}{
		{"value eq", cmp("k", "", pb.Compare_VALUE, EQ, "v2"), true},
		{"value ne", cmp("k", "", pb.Compare_VALUE, NE, "v2"), false},
		{"value gt", cmp("k", "", pb.Compare_VALUE, GT, "v1"), true},
		{"value lt", cmp("k", "", pb.Compare_VALUE, LT, "v3"), true},
		{"version eq", cmp("k", "", pb.Compare_VERSION, EQ, int64(2)), true},
		{"version gt", cmp("k", "", pb.Compare_VERSION, GT, int64(2)), false},
		{"create eq", cmp("k", "", pb.Compare_CREATE, EQ, int64(2)), true},
		{"create lt", cmp("k", "", pb.Compare_CREATE, LT, int64(3)), true},
		{"mod eq", cmp("k", "", pb.Compare_MOD, EQ, int64(3)), true},
		{"mod ne", cmp("k", "", pb.Compare_MOD, NE, int64(3)), false},
		{"lease eq", cmp("k", "", pb.Compare_LEASE, EQ, int64(1)), true},
		{"lease gt", cmp("k", "", pb.Compare_LEASE, GT, int64(0)), true},
		// Missing key: VALUE is always false, others compare against 0.
		{"missing value eq empty", cmp("x", "", pb.Compare_VALUE, EQ, ""), false},
		{"missing value ne", cmp("x", "", pb.Compare_VALUE, NE, "a"), false},
		{"missing version eq 0", cmp("x", "", pb.Compare_VERSION, EQ, int64(0)), true},
		{"missing create eq 0", cmp("x", "", pb.Compare_CREATE, EQ, int64(0)), true},
		{"missing mod lt 1", cmp("x", "", pb.Compare_MOD, LT, int64(1)), true},
		{"missing lease eq 0", cmp("x", "", pb.Compare_LEASE, EQ, int64(0)), true},
		// Ranges: every key must satisfy.
		{"range mod gt 1", cmp("k", "l", pb.Compare_MOD, GT, int64(1)), true},
		{"range mod eq 3", cmp("k", "l", pb.Compare_MOD, EQ, int64(3)), false},
		{"range value ne x", cmp("k", "\x00", pb.Compare_VALUE, NE, "x"), true},
		{"empty range version eq 0", cmp("x", "y", pb.Compare_VERSION, EQ, int64(0)), true},
		{"empty range value", cmp("x", "y", pb.Compare_VALUE, NE, "q"), false},
		// A target_union not matching the target compares against zero.
		{"mismatched union", &pb.Compare{Key: []byte("k"), Target: pb.Compare_MOD, Result: GT,
			TargetUnion: &pb.Compare_Version{Version: 100}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.s.Read()
			defer r.Close()
			resp, err := r.Txn(&pb.TxnRequest{Compare: []*pb.Compare{tc.c}})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Succeeded != tc.want {
				t.Fatalf("succeeded %v, want %v", resp.Succeeded, tc.want)
			}
		})
	}
}

// TestTxnResponsesLikeEtcd replays a txn checked against etcd's JSON
// gateway: inner headers carry the revision when the op ran, a nested
// txn's header is empty.
func TestTxnResponsesLikeEtcd(t *testing.T) {
	e := newEnv(t)
	e.put("a", "1") // 2
	resp, evs, err := e.txn(&pb.TxnRequest{Success: []*pb.RequestOp{
		opRange(&pb.RangeRequest{Key: []byte("a")}),
		opPut(&pb.PutRequest{Key: []byte("b"), Value: []byte("x"), PrevKv: true}),
		opDel(&pb.DeleteRangeRequest{Key: []byte("z")}),
		opRange(&pb.RangeRequest{Key: []byte("a"), Revision: 2}),
		opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut(&pb.PutRequest{Key: []byte("c"), Value: []byte("x")})}}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	a := kv("a", 2, 2, 1, "1", 0)
	want := &pb.TxnResponse{Header: hdr(3), Succeeded: true, Responses: []*pb.ResponseOp{
		{Response: &pb.ResponseOp_ResponseRange{ResponseRange: &pb.RangeResponse{Header: hdr(2), Kvs: []*mvccpb.KeyValue{a}, Count: 1}}},
		{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{Header: hdr(3)}}},
		{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: &pb.DeleteRangeResponse{Header: hdr(3)}}},
		{Response: &pb.ResponseOp_ResponseRange{ResponseRange: &pb.RangeResponse{Header: hdr(3), Kvs: []*mvccpb.KeyValue{a}, Count: 1}}},
		{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: true,
			Responses: []*pb.ResponseOp{{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{Header: hdr(3)}}}}}}},
	}}
	if !reflect.DeepEqual(resp, want) {
		t.Fatalf("got  %v\nwant %v", resp, want)
	}
	wantEvs := []mvccpb.Event{
		{Type: mvccpb.PUT, Kv: kv("b", 3, 3, 1, "x", 0)},
		{Type: mvccpb.PUT, Kv: kv("c", 3, 3, 1, "x", 0)},
	}
	if !reflect.DeepEqual(evs, wantEvs) {
		t.Fatalf("events %v", evs)
	}
	// Sub revisions: "h" 3/0 and 3/1.
	if got := e.rawKeys(prefixHistory); len(got) != 3 || got[1] != string(historyKey(3, 0)) || got[2] != string(historyKey(3, 1)) {
		t.Fatalf("history keys %q", got)
	}
	// A txn that writes nothing keeps the revision.
	resp, _, err = e.txn(&pb.TxnRequest{Success: []*pb.RequestOp{
		opDel(&pb.DeleteRangeRequest{Key: []byte("z")}),
		opRange(&pb.RangeRequest{Key: []byte("a")}),
	}})
	if err != nil || resp.Header.Revision != 3 || e.s.Rev() != 3 {
		t.Fatalf("no-op txn: %v %v rev %d", resp, err, e.s.Rev())
	}
	if r := resp.Responses[0].GetResponseDeleteRange(); !reflect.DeepEqual(r, &pb.DeleteRangeResponse{Header: hdr(3)}) {
		t.Fatalf("delete of nothing in txn: %v", r)
	}
}

func TestTxnSeesOwnWrites(t *testing.T) {
	e := newEnv(t)
	e.put("a", "1") // 2
	resp, evs, err := e.txn(&pb.TxnRequest{Success: []*pb.RequestOp{
		opPut(&pb.PutRequest{Key: []byte("a"), Value: []byte("2")}),
		opRange(&pb.RangeRequest{Key: []byte("a")}),
		opDel(&pb.DeleteRangeRequest{Key: []byte("a"), PrevKv: true}),
		opRange(&pb.RangeRequest{Key: []byte("a"), CountOnly: true}),
		opPut(&pb.PutRequest{Key: []byte("a"), Value: []byte("3")}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Responses[1].GetResponseRange().Kvs; !reflect.DeepEqual(got, []*mvccpb.KeyValue{kv("a", 2, 3, 2, "2", 0)}) {
		t.Fatalf("range after put: %v", got)
	}
	if got := resp.Responses[2].GetResponseDeleteRange(); !reflect.DeepEqual(got.PrevKvs, []*mvccpb.KeyValue{kv("a", 2, 3, 2, "2", 0)}) {
		t.Fatalf("delete prev: %v", got)
	}
	if got := resp.Responses[3].GetResponseRange(); got.Count != 0 {
		t.Fatalf("range after delete: %v", got)
	}
	cur, _ := e.rng(&pb.RangeRequest{Key: []byte("a")})
	if !reflect.DeepEqual(cur.Kvs, []*mvccpb.KeyValue{kv("a", 3, 3, 1, "3", 0)}) {
		t.Fatalf("after txn: %v", cur.Kvs)
	}
	if len(evs) != 3 || evs[0].Type != mvccpb.PUT || evs[1].Type != mvccpb.DELETE || evs[2].Type != mvccpb.PUT {
		t.Fatalf("events %v", evs)
	}
	// The key was written three times at revision 3: the watch history
	// still has each event's own value.
	r := e.s.Read()
	defer r.Close()
	hist, next, err := r.Events(3, []byte("a"), nil, 0)
	if err != nil || next != 4 {
		t.Fatal(err, next)
	}
	want := []mvccpb.Event{
		{Type: mvccpb.PUT, Kv: kv("a", 2, 3, 2, "2", 0)},
		{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte("a"), ModRevision: 3}},
		{Type: mvccpb.PUT, Kv: kv("a", 3, 3, 1, "3", 0)},
	}
	if !reflect.DeepEqual(hist, want) {
		t.Fatalf("history %v", hist)
	}
}

func TestNestedTxnComparesSeeStateBeforeTxn(t *testing.T) {
	e := newEnv(t)
	e.put("other", "1") // 2
	exists := &pb.Compare{Key: []byte("x"), Target: pb.Compare_VERSION, Result: pb.Compare_GREATER,
		TargetUnion: &pb.Compare_Version{Version: 0}}
	resp, _, err := e.txn(&pb.TxnRequest{
		Compare: []*pb.Compare{exists},
		Failure: []*pb.RequestOp{
			opPut(&pb.PutRequest{Key: []byte("x"), Value: []byte("1")}),
			opTxn(&pb.TxnRequest{
				Compare: []*pb.Compare{exists}, // x did not exist before the txn
				Success: []*pb.RequestOp{opPut(&pb.PutRequest{Key: []byte("y"), Value: []byte("s")})},
				Failure: []*pb.RequestOp{opPut(&pb.PutRequest{Key: []byte("z"), Value: []byte("f")})},
			}),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Succeeded || resp.Responses[1].GetResponseTxn().Succeeded {
		t.Fatalf("branches: %v", resp)
	}
	got, _ := e.rng(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("\x00")})
	if k := keysOf(got.Kvs); !reflect.DeepEqual(k, []string{"other", "x", "z"}) {
		t.Fatalf("keys %q", k)
	}
}

func TestTxnFailureWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []*pb.RequestOp
		err  error
	}{
		{"third op ignore_value on missing key", []*pb.RequestOp{
			opPut(&pb.PutRequest{Key: []byte("a"), Value: []byte("1")}),
			opDel(&pb.DeleteRangeRequest{Key: []byte("e")}),
			opPut(&pb.PutRequest{Key: []byte("c"), IgnoreValue: true}),
		}, ErrKeyNotFound},
		{"ignore_value on key put earlier in the txn", []*pb.RequestOp{
			opPut(&pb.PutRequest{Key: []byte("new"), Value: []byte("1")}),
			opPut(&pb.PutRequest{Key: []byte("new"), IgnoreValue: true}),
		}, ErrKeyNotFound},
		{"ignore_lease on key deleted earlier in the txn", []*pb.RequestOp{
			opDel(&pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("f")}),
			opPut(&pb.PutRequest{Key: []byte("e"), IgnoreLease: true}),
		}, ErrKeyNotFound},
		{"nested unknown lease", []*pb.RequestOp{
			opPut(&pb.PutRequest{Key: []byte("a"), Value: []byte("1")}),
			opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut(&pb.PutRequest{Key: []byte("b"), Lease: 42})}}),
		}, ErrLeaseNotFound},
		{"future range", []*pb.RequestOp{
			opPut(&pb.PutRequest{Key: []byte("a"), Value: []byte("1")}),
			opRange(&pb.RangeRequest{Key: []byte("a"), Revision: 4}),
		}, ErrFutureRev},
		{"compacted range", []*pb.RequestOp{
			opPut(&pb.PutRequest{Key: []byte("a"), Value: []byte("1")}),
			opRange(&pb.RangeRequest{Key: []byte("a"), Revision: 1}),
		}, ErrCompacted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.put("e", "v") // 2
			e.put("f", "v") // 3
			if err := e.compact(2, false); err != nil {
				t.Fatal(err)
			}
			b := e.db.NewIndexedBatch()
			defer b.Close()
			w := e.s.Write(b)
			_, err := w.Txn(&pb.TxnRequest{Success: tc.ops})
			evs := w.End()
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if b.Count() != 0 || len(evs) != 0 {
				t.Fatalf("failed txn wrote %d ops, %d events", b.Count(), len(evs))
			}
		})
	}
}

func TestReadTxnTxn(t *testing.T) {
	e := newEnv(t)
	e.put("a", "1") // 2
	isOne := &pb.Compare{Key: []byte("a"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL,
		TargetUnion: &pb.Compare_Value{Value: []byte("1")}}
	r := e.s.Read()
	defer r.Close()
	// Writes only in the branch not taken: served.
	resp, err := r.Txn(&pb.TxnRequest{
		Compare: []*pb.Compare{isOne},
		Success: []*pb.RequestOp{opRange(&pb.RangeRequest{Key: []byte("a")})},
		Failure: []*pb.RequestOp{opPut(&pb.PutRequest{Key: []byte("a")})},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.TxnResponse{Header: hdr(2), Succeeded: true, Responses: []*pb.ResponseOp{
		{Response: &pb.ResponseOp_ResponseRange{ResponseRange: &pb.RangeResponse{Header: hdr(2),
			Kvs: []*mvccpb.KeyValue{kv("a", 2, 2, 1, "1", 0)}, Count: 1}}},
	}}
	if !reflect.DeepEqual(resp, want) {
		t.Fatalf("got %v", resp)
	}
	// Writes in the taken branch, even nested: refused.
	_, err = r.Txn(&pb.TxnRequest{
		Compare: []*pb.Compare{isOne},
		Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opDel(&pb.DeleteRangeRequest{Key: []byte("a")})}})},
	})
	if !errors.Is(err, ErrTxnHasWrites) {
		t.Fatalf("err %v", err)
	}
	_, err = r.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{opRange(&pb.RangeRequest{Key: []byte("a"), Revision: 3})}})
	if !errors.Is(err, ErrFutureRev) {
		t.Fatalf("err %v", err)
	}
}
