package e2e

import (
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// txnData: a = "2" (create 2, mod 3, version 2), b = "x" (create 4, mod 4,
// version 1); revision 4.
func txnData(t *testing.T, e *env) {
	e.put(t, "a", "1", 2)
	e.put(t, "a", "2", 3)
	e.put(t, "b", "x", 4)
}

func TestTxnCompare(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	txnData(t, e)

	V, C, M, L, Val := clientv3.Version, clientv3.CreateRevision, clientv3.ModRevision, clientv3.LeaseValue, clientv3.Value
	cases := []struct {
		cmp  clientv3.Cmp
		want bool
	}{
		{clientv3.Compare(Val("a"), "=", "2"), true},
		{clientv3.Compare(Val("a"), "=", "1"), false},
		{clientv3.Compare(Val("a"), "!=", "1"), true},
		{clientv3.Compare(Val("a"), "!=", "2"), false},
		{clientv3.Compare(Val("a"), "<", "3"), true},
		{clientv3.Compare(Val("a"), "<", "2"), false},
		{clientv3.Compare(Val("a"), ">", "1"), true},
		{clientv3.Compare(Val("a"), ">", "10"), true}, // bytewise
		{clientv3.Compare(Val("a"), ">", "2"), false},
		{clientv3.Compare(Val("a"), "=", ""), false},
		// A value compare on a missing key is always false.
		{clientv3.Compare(Val("zz"), "=", ""), false},
		{clientv3.Compare(Val("zz"), "!=", "x"), false},
		{clientv3.Compare(Val("zz"), "<", "x"), false},
		{clientv3.Compare(Val("zz"), ">", ""), false},

		{clientv3.Compare(V("a"), "=", 2), true},
		{clientv3.Compare(V("a"), "!=", 2), false},
		{clientv3.Compare(V("a"), "<", 3), true},
		{clientv3.Compare(V("a"), "<", 2), false},
		{clientv3.Compare(V("a"), ">", 1), true},
		{clientv3.Compare(V("a"), ">", 2), false},
		// Other targets compare a missing key as zero.
		{clientv3.Compare(V("zz"), "=", 0), true},
		{clientv3.Compare(V("zz"), "<", 1), true},
		{clientv3.Compare(V("zz"), "!=", 0), false},

		{clientv3.Compare(C("a"), "=", 2), true},
		{clientv3.Compare(C("a"), "!=", 2), false},
		{clientv3.Compare(C("a"), "<", 3), true},
		{clientv3.Compare(C("a"), ">", 2), false},
		{clientv3.Compare(C("zz"), "=", 0), true},

		{clientv3.Compare(M("a"), "=", 3), true},
		{clientv3.Compare(M("a"), "!=", 3), false},
		{clientv3.Compare(M("a"), "<", 4), true},
		{clientv3.Compare(M("a"), "<", 3), false},
		{clientv3.Compare(M("a"), ">", 2), true},
		{clientv3.Compare(M("a"), ">", 3), false},
		{clientv3.Compare(M("zz"), "=", 0), true},

		{clientv3.Compare(L("a"), "=", 0), true},
		{clientv3.Compare(L("a"), "!=", 0), false},
		{clientv3.Compare(L("a"), "<", 1), true},
		{clientv3.Compare(L("a"), ">", 0), false},
		{clientv3.Compare(L("zz"), "=", 0), true},

		// Over a range every key must satisfy the compare.
		{clientv3.Compare(V("a"), ">", 0).WithRange("c"), true},
		{clientv3.Compare(V("a"), "=", 2).WithRange("c"), false},
		{clientv3.Compare(M("a"), "<", 5).WithRange("c"), true},
		{clientv3.Compare(M("a"), ">", 3).WithRange("c"), false},
		{clientv3.Compare(C("a"), ">", 1).WithRange("\x00"), true},
		{clientv3.Compare(Val("a"), "!=", "y").WithRange("c"), true},
		{clientv3.Compare(Val("a"), "<", "3").WithRange("c"), false},
		// An empty range compares like a missing key.
		{clientv3.Compare(V("x"), "=", 0).WithRange("z"), true},
		{clientv3.Compare(Val("x"), "=", "").WithRange("z"), false},
		{clientv3.Compare(V("b"), "=", 1).WithRange("\x00"), true},
	}
	for i, c := range cases {
		what := fmt.Sprintf("case %d: %v %v %q range_end %q", i, c.cmp.Target, c.cmp.Result, c.cmp.Key, c.cmp.RangeEnd)
		resp, err := e.cli.Txn(e.ctx).If(c.cmp).Then(clientv3.OpGet("a")).Else(clientv3.OpGet("b")).Commit()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		if resp.Succeeded != c.want {
			t.Errorf("%s: succeeded %v, want %v", what, resp.Succeeded, c.want)
		}
		want := kv("a", "2", 2, 3, 2)
		if !c.want {
			want = kv("b", "x", 4, 4, 1)
		}
		if len(resp.Responses) != 1 || resp.Responses[0].GetResponseRange() == nil {
			t.Errorf("%s: responses %v, want one range", what, resp.Responses)
			continue
		}
		checkKVs(t, what, resp.Responses[0].GetResponseRange().Kvs, []*mvccpb.KeyValue{want})
	}

	// Several compares: all must hold.
	resp, err := e.cli.Txn(e.ctx).If(clientv3.Compare(Val("a"), "=", "2"), clientv3.Compare(V("b"), "=", 1)).Commit()
	if err != nil || !resp.Succeeded {
		t.Errorf("two true compares: succeeded %v err %v", resp != nil && resp.Succeeded, err)
	}
	resp, err = e.cli.Txn(e.ctx).If(clientv3.Compare(Val("a"), "=", "2"), clientv3.Compare(V("b"), "=", 2)).Commit()
	if err != nil || resp.Succeeded {
		t.Errorf("true and false compares: succeeded %v err %v", resp != nil && resp.Succeeded, err)
	}
	if got := e.rev(t); got != 4 {
		t.Errorf("read-only txns moved the revision to %d", got)
	}
}

func TestTxnBranches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	txnData(t, e)

	// An empty txn succeeds and writes nothing.
	resp, err := e.kv.Txn(e.ctx, &pb.TxnRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Succeeded || len(resp.Responses) != 0 {
		t.Errorf("empty txn: succeeded %v responses %d, want true 0", resp.Succeeded, len(resp.Responses))
	}
	e.checkHeader(t, "empty txn", resp.Header, 4)

	// Success branch: a put, a get of it, and more, all at one revision.
	resp, err = e.kv.Txn(e.ctx, &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte("2")}}},
		Success: ops(opGet("c", ""), opPut("c", "1"), opGet("c", ""), opPut("d", "1"),
			&pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a"), Value: []byte("3"), PrevKv: true}}},
			&pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("b"), PrevKv: true}}},
			opGet("a", "e")),
		Failure: ops(opPut("never", "1")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Succeeded || len(resp.Responses) != 7 {
		t.Fatalf("success branch: succeeded %v, %d responses, want true 7", resp.Succeeded, len(resp.Responses))
	}
	e.checkHeader(t, "success branch", resp.Header, 5)
	// A get before the first write reads the revision before the txn.
	r0 := resp.Responses[0].GetResponseRange()
	checkKVs(t, "get before put", r0.Kvs, nil)
	if r0.Header.Revision != 4 || r0.Count != 0 {
		t.Errorf("get before put: header revision %d count %d, want 4 0", r0.Header.Revision, r0.Count)
	}
	if p := resp.Responses[1].GetResponsePut(); p == nil || p.Header.Revision != 5 || p.PrevKv != nil {
		t.Errorf("put c response = %v, want revision 5 and no prev_kv", p)
	}
	// A get after a put in the same txn sees it.
	r2 := resp.Responses[2].GetResponseRange()
	checkKVs(t, "get after put", r2.Kvs, []*mvccpb.KeyValue{kv("c", "1", 5, 5, 1)})
	if r2.Header.Revision != 5 || r2.Count != 1 {
		t.Errorf("get after put: header revision %d count %d, want 5 1", r2.Header.Revision, r2.Count)
	}
	checkKVs(t, "put a prev_kv", []*mvccpb.KeyValue{resp.Responses[4].GetResponsePut().PrevKv}, []*mvccpb.KeyValue{kv("a", "2", 2, 3, 2)})
	d := resp.Responses[5].GetResponseDeleteRange()
	if d.Deleted != 1 || d.Header.Revision != 5 {
		t.Errorf("delete b: deleted %d revision %d, want 1 5", d.Deleted, d.Header.Revision)
	}
	checkKVs(t, "delete b prev_kvs", d.PrevKvs, []*mvccpb.KeyValue{kv("b", "x", 4, 4, 1)})
	checkKVs(t, "get [a, e) at the end", resp.Responses[6].GetResponseRange().Kvs,
		[]*mvccpb.KeyValue{kv("a", "3", 2, 5, 3), kv("c", "1", 5, 5, 1), kv("d", "1", 5, 5, 1)})
	// Inner responses carry only a revision in their header.
	if h := resp.Responses[1].GetResponsePut().Header; h.ClusterId != 0 || h.MemberId != 0 || h.RaftTerm != 0 {
		t.Errorf("inner put header = %v, want only the revision", h)
	}

	// Failure branch.
	tx, err := e.cli.Txn(e.ctx).If(clientv3.Compare(clientv3.Version("b"), ">", 0)).
		Then(clientv3.OpPut("never", "1")).
		Else(clientv3.OpPut("e", "1"), clientv3.OpGet("e"), clientv3.OpDelete("c")).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if tx.Succeeded || len(tx.Responses) != 3 {
		t.Fatalf("failure branch: succeeded %v, %d responses, want false 3", tx.Succeeded, len(tx.Responses))
	}
	e.checkHeader(t, "failure branch", tx.Header, 6)
	checkKVs(t, "failure branch get", tx.Responses[1].GetResponseRange().Kvs, []*mvccpb.KeyValue{kv("e", "1", 6, 6, 1)})
	if d := tx.Responses[2].GetResponseDeleteRange(); d.Deleted != 1 {
		t.Errorf("failure branch delete: %d deleted, want 1", d.Deleted)
	}

	// A txn that writes nothing does not bump the revision, even when a
	// delete matches nothing.
	tx, err = e.cli.Txn(e.ctx).Then(clientv3.OpGet("a"), clientv3.OpDelete("nothing")).Commit()
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "txn without writes", tx.Header, 6)
	if d := tx.Responses[1].GetResponseDeleteRange(); d.Deleted != 0 || d.Header.Revision != 6 {
		t.Errorf("no-op delete in txn: deleted %d revision %d, want 0 6", d.Deleted, d.Header.Revision)
	}
	// A failed compare with an empty branch writes nothing.
	tx, err = e.cli.Txn(e.ctx).If(clientv3.Compare(clientv3.Version("a"), "=", 100)).Then(clientv3.OpPut("never", "1")).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if tx.Succeeded || len(tx.Responses) != 0 {
		t.Errorf("failed compare, empty else: succeeded %v responses %d", tx.Succeeded, len(tx.Responses))
	}
	e.checkHeader(t, "failed compare, empty else", tx.Header, 6)

	g, err := e.cli.Get(e.ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "final", g.Kvs, []*mvccpb.KeyValue{kv("a", "3", 2, 5, 3), kv("d", "1", 5, 5, 1), kv("e", "1", 6, 6, 1)})
}

func TestTxnNested(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	txnData(t, e)

	vEq := func(k string, v int64) *pb.Compare {
		return &pb.Compare{Key: []byte(k), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Version{Version: v}}
	}
	resp, err := e.kv.Txn(e.ctx, &pb.TxnRequest{
		Compare: []*pb.Compare{vEq("a", 2)},
		Success: ops(
			opPut("n", "outer"),
			// Every compare of the txn tree is evaluated before any of its
			// writes: this one sees n missing although the put above ran.
			opTxn([]*pb.Compare{vEq("n", 0)},
				ops(opPut("m", "saw-old-n"), opGet("n", "")),
				ops(opPut("m", "saw-new-n"))),
			opTxn([]*pb.Compare{vEq("b", 5)},
				ops(opPut("never", "1")),
				ops(opTxn(nil, ops(opPut("deep", "1"), opGet("deep", "")), nil))),
			opGet("\x00", "\x00"),
		),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "nested txn", resp.Header, 5)
	if !resp.Succeeded || len(resp.Responses) != 4 {
		t.Fatalf("nested txn: succeeded %v responses %d, want true 4", resp.Succeeded, len(resp.Responses))
	}
	t1 := resp.Responses[1].GetResponseTxn()
	if t1 == nil || !t1.Succeeded || len(t1.Responses) != 2 {
		t.Fatalf("first nested txn response = %v, want succeeded with 2 responses", t1)
	}
	checkKVs(t, "get inside nested txn", t1.Responses[1].GetResponseRange().Kvs, []*mvccpb.KeyValue{kv("n", "outer", 5, 5, 1)})
	// A nested txn's own header is empty: only the outer one is filled.
	if t1.Header == nil || t1.Header.Revision != 0 || t1.Header.ClusterId != 0 {
		t.Errorf("nested txn header = %v, want empty", t1.Header)
	}
	t2 := resp.Responses[2].GetResponseTxn()
	if t2 == nil || t2.Succeeded || len(t2.Responses) != 1 {
		t.Fatalf("second nested txn response = %v, want failed with 1 response", t2)
	}
	t3 := t2.Responses[0].GetResponseTxn()
	if t3 == nil || !t3.Succeeded || len(t3.Responses) != 2 {
		t.Fatalf("doubly nested txn response = %v", t3)
	}
	checkKVs(t, "doubly nested get", t3.Responses[1].GetResponseRange().Kvs, []*mvccpb.KeyValue{kv("deep", "1", 5, 5, 1)})
	checkKVs(t, "all keys at the end of the txn", resp.Responses[3].GetResponseRange().Kvs, []*mvccpb.KeyValue{
		kv("a", "2", 2, 3, 2), kv("b", "x", 4, 4, 1), kv("deep", "1", 5, 5, 1), kv("m", "saw-old-n", 5, 5, 1), kv("n", "outer", 5, 5, 1),
	})
}

func TestTxnDuplicateKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	txnData(t, e)

	cases := []struct {
		name       string
		then, els  []*pb.RequestOp
		duplicated bool
	}{
		{"put put", ops(opPut("a", "1"), opPut("a", "2")), nil, true},
		{"put put in else", nil, ops(opPut("a", "1"), opPut("a", "2")), true},
		{"put delete", ops(opPut("a", "1"), opDel("a", "")), nil, true},
		{"delete put", ops(opDel("a", ""), opPut("a", "1")), nil, true},
		{"delete range over put", ops(opDel("a", "c"), opPut("b", "1")), nil, true},
		// etcd's overlap check takes a range_end of "\x00" literally, as an
		// empty interval, so a from-key delete conflicts with no put.
		{"delete from key and put", ops(opDel("a", "\x00"), opPut("zzz", "1")), nil, false},
		{"put and delete of other keys", ops(opPut("a", "1"), opDel("b", "c")), nil, false},
		{"put after range end", ops(opDel("a", "c"), opPut("c", "1")), nil, false},
		{"delete delete", ops(opDel("a", ""), opDel("a", "c")), nil, false},
		{"get put", ops(opGet("a", ""), opPut("a", "1"), opGet("a", "")), nil, false},
		{"put in then and in else", ops(opPut("a", "1")), ops(opPut("a", "2")), false},
		{"put then nested put", ops(opPut("a", "1"), opTxn(nil, ops(opPut("a", "2")), nil)), nil, true},
		{"nested put then put", ops(opTxn(nil, ops(opPut("a", "2")), nil), opPut("a", "1")), nil, true},
		{"put then nested else put", ops(opPut("a", "1"), opTxn(nil, nil, ops(opPut("a", "2")))), nil, true},
		{"two nested puts", ops(opTxn(nil, ops(opPut("a", "1")), nil), opTxn(nil, ops(opPut("a", "2")), nil)), nil, true},
		{"nested then and else put", ops(opTxn(nil, ops(opPut("a", "1")), ops(opPut("a", "2")))), nil, false},
		{"delete then nested put", ops(opDel("a", "c"), opTxn(nil, ops(opPut("b", "1")), nil)), nil, true},
		{"nested delete then put", ops(opTxn(nil, ops(opDel("a", "c")), nil), opPut("b", "1")), nil, true},
		{"nested delete and nested put", ops(opTxn(nil, ops(opDel("a", "c")), nil), opTxn(nil, ops(opPut("b", "1")), nil)), nil, true},
		{"deeply nested put", ops(opPut("a", "1"), opTxn(nil, ops(opTxn(nil, ops(opPut("a", "2")), nil)), nil)), nil, true},
		{"nested put and delete of other keys", ops(opPut("a", "1"), opTxn(nil, ops(opDel("b", "")), nil)), nil, false},
	}
	for _, c := range cases {
		before := e.rev(t)
		_, err := e.kv.Txn(e.ctx, &pb.TxnRequest{Success: c.then, Failure: c.els})
		if c.duplicated {
			wantErr(t, err, rpctypes.ErrGRPCDuplicateKey)
			if after := e.rev(t); after != before {
				t.Errorf("%s: rejected txn moved the revision from %d to %d", c.name, before, after)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// The duplicate check covers both branches, whichever runs.
	before := e.rev(t)
	_, err := e.cli.Txn(e.ctx).If(clientv3.Compare(clientv3.Version("a"), "=", 1000)).
		Then(clientv3.OpPut("x", "1"), clientv3.OpPut("x", "2")).Else(clientv3.OpGet("a")).Commit()
	wantErr(t, err, rpctypes.ErrGRPCDuplicateKey)
	if got := e.rev(t); got != before {
		t.Errorf("revision %d, want %d", got, before)
	}
}

func TestTxnLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "--max-txn-ops=4")
	e.put(t, "a", "1", 2)

	puts := func(n int) []*pb.RequestOp {
		var o []*pb.RequestOp
		for i := 0; i < n; i++ {
			o = append(o, opPut(fmt.Sprintf("k%d", i), "v"))
		}
		return o
	}
	cmps := func(n int) []*pb.Compare {
		var c []*pb.Compare
		for i := 0; i < n; i++ {
			c = append(c, &pb.Compare{Key: []byte("a"), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Version{Version: 1}})
		}
		return c
	}
	// Four of each is the limit.
	resp, err := e.kv.Txn(e.ctx, &pb.TxnRequest{Compare: cmps(4), Success: puts(4), Failure: puts(4)})
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "txn at the limit", resp.Header, 3)
	for _, req := range []*pb.TxnRequest{
		{Success: puts(5)},
		{Failure: puts(5)},
		{Compare: cmps(5)},
		{Compare: cmps(5), Success: puts(1)},
		{Success: ops(opTxn(nil, puts(5), nil))},
		{Success: ops(opTxn(nil, nil, ops(opTxn(cmps(5), nil, nil))))},
		// A nested txn gets the budget its parent level leaves: max-txn-ops
		// minus the longest of the parent's compare, success and failure
		// lists (here 4 - 2).
		{Success: ops(opPut("x0", "1"), opTxn(nil, puts(3), nil))},
		{Compare: cmps(3), Failure: ops(opTxn(cmps(2), nil, nil))},
	} {
		_, err := e.kv.Txn(e.ctx, req)
		wantErr(t, err, rpctypes.ErrGRPCTooManyOps)
	}
	// Within the budget: 2 ops at the top, 2 in the nested txn.
	_, err = e.kv.Txn(e.ctx, &pb.TxnRequest{Success: ops(opPut("x1", "1"), opTxn(nil, puts(2), nil))})
	if err != nil {
		t.Errorf("nested txns within the limit: %v", err)
	}
	if got := e.rev(t); got != 4 {
		t.Errorf("revision %d, want 4", got)
	}
}

func TestTxnInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(t, "a", "1", 2)

	for _, c := range []struct {
		name string
		req  *pb.TxnRequest
		err  error
	}{
		{"put with empty key", &pb.TxnRequest{Success: ops(opPut("", "1"))}, rpctypes.ErrGRPCEmptyKey},
		{"get with empty key", &pb.TxnRequest{Success: ops(opGet("", ""))}, rpctypes.ErrGRPCEmptyKey},
		{"delete with empty key", &pb.TxnRequest{Failure: ops(opDel("", ""))}, rpctypes.ErrGRPCEmptyKey},
		{"compare with empty key", &pb.TxnRequest{Compare: []*pb.Compare{{Target: pb.Compare_VERSION, TargetUnion: &pb.Compare_Version{}}}}, rpctypes.ErrGRPCEmptyKey},
		{"nested empty key", &pb.TxnRequest{Success: ops(opTxn(nil, nil, ops(opPut("", "1"))))}, rpctypes.ErrGRPCEmptyKey},
		{"empty request op", &pb.TxnRequest{Success: ops(&pb.RequestOp{})}, rpctypes.ErrGRPCKeyNotFound},
		{"ignore_value with value", &pb.TxnRequest{Success: ops(&pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a"), Value: []byte("x"), IgnoreValue: true}}})}, rpctypes.ErrGRPCValueProvided},
		{"ignore_value on a missing key", &pb.TxnRequest{Success: ops(&pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("zz"), IgnoreValue: true}}})}, rpctypes.ErrGRPCKeyNotFound},
		{"invalid sort in a get (etcd 3.6)", &pb.TxnRequest{Success: ops(&pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), SortOrder: 7}}})}, rpctypes.ErrGRPCInvalidSortOption},
		{"get at a future revision", &pb.TxnRequest{Success: ops(opPut("b", "1"), &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: 3}}})}, rpctypes.ErrGRPCFutureRev},
	} {
		if e.is34 && c.err == rpctypes.ErrGRPCInvalidSortOption {
			continue // etcd 3.4 does not validate sort enums
		}
		_, err := e.kv.Txn(e.ctx, c.req)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		wantErr(t, err, c.err)
	}
	if got := e.rev(t); got != 2 {
		t.Errorf("revision %d after invalid txns, want 2", got)
	}
}
