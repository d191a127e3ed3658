package api

import (
	"context"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func opPut(k string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte("v")}}}
}

func opDel(k, end string) *pb.RequestOp {
	r := &pb.DeleteRangeRequest{Key: []byte(k)}
	if end != "" {
		r.RangeEnd = []byte(end)
	}
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: r}}
}

func opRange(k, end string) *pb.RequestOp {
	r := &pb.RangeRequest{Key: []byte(k)}
	if end != "" {
		r.RangeEnd = []byte(end)
	}
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: r}}
}

func opTxn(then, els []*pb.RequestOp) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: then, Failure: els}}}
}

func ops(o ...*pb.RequestOp) []*pb.RequestOp { return o }

func cmp(k string) *pb.Compare {
	return &pb.Compare{Key: []byte(k), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL}
}

// TestCheckTxnIntervals follows etcd's checkIntervals: a put may not meet
// another put or a delete in the same branch, nested txns included; the two
// branches of a nested txn are alternatives.
func TestCheckTxnIntervals(t *testing.T) {
	dup := rpctypes.ErrGRPCDuplicateKey
	tests := []struct {
		name    string
		success []*pb.RequestOp
		failure []*pb.RequestOp
		want    error
	}{
		{name: "distinct puts", success: ops(opPut("a"), opPut("b"))},
		{name: "put put", success: ops(opPut("a"), opPut("a")), want: dup},
		{name: "put put in failure", failure: ops(opPut("a"), opPut("a")), want: dup},
		{name: "put then delete", success: ops(opPut("a"), opDel("a", "")), want: dup},
		{name: "delete then put", success: ops(opDel("a", ""), opPut("a")), want: dup},
		{name: "put inside deleted range", success: ops(opDel("a", "c"), opPut("b")), want: dup},
		{name: "put at range start", success: ops(opDel("a", "c"), opPut("a")), want: dup},
		{name: "put at range end (exclusive)", success: ops(opDel("a", "c"), opPut("c"))},
		{name: "put before range", success: ops(opDel("b", "c"), opPut("a"))},
		{name: "delete delete same key", success: ops(opDel("a", ""), opDel("a", ""))},
		{name: "overlapping deletes", success: ops(opDel("a", "c"), opDel("b", "d"))},
		{name: "ranges do not count", success: ops(opRange("a", ""), opPut("a"), opRange("a", "z"))},
		{name: "same key in both branches", success: ops(opPut("a")), failure: ops(opPut("a"), opDel("b", ""))},
		{name: "put in success, delete in failure", success: ops(opPut("a")), failure: ops(opDel("a", ""))},
		// A from-key delete (range_end "\x00") is compared literally, as
		// etcd's interval tree does: it overlaps no put.
		{name: "from-key delete and put", success: ops(opDel("a", "\x00"), opPut("b"))},
		{name: "from-key delete and put of its key", success: ops(opDel("a", "\x00"), opPut("a"))},
		{name: "backwards range overlaps nothing", success: ops(opDel("c", "a"), opPut("b"))},
		// Nested txns.
		{name: "nested put vs outer put", success: ops(opTxn(ops(opPut("a")), nil), opPut("a")), want: dup},
		{name: "outer put vs nested failure put", success: ops(opPut("a"), opTxn(nil, ops(opPut("a")))), want: dup},
		{name: "nested branches are alternatives", success: ops(opTxn(ops(opPut("a")), ops(opPut("a"))))},
		{name: "nested then put vs else delete", success: ops(opTxn(ops(opPut("a")), ops(opDel("a", ""))))},
		{name: "nested put vs outer delete", success: ops(opDel("a", "b"), opTxn(ops(opPut("a")), nil)), want: dup},
		{name: "nested else put vs outer delete", success: ops(opDel("a", ""), opTxn(nil, ops(opPut("a")))), want: dup},
		{name: "nested delete vs outer put", success: ops(opTxn(ops(opDel("a", "z")), nil), opPut("m")), want: dup},
		{name: "two nested txns put the same key", success: ops(opTxn(ops(opPut("a")), nil), opTxn(ops(opPut("a")), nil)), want: dup},
		{name: "two nested txns, then and else", success: ops(opTxn(ops(opPut("a")), nil), opTxn(nil, ops(opPut("a")))), want: dup},
		{name: "nested delete then later nested put", success: ops(opTxn(ops(opDel("a", "")), nil), opTxn(ops(opPut("a")), nil)), want: dup},
		// etcd checks a nested txn's puts only against deletes collected
		// before it, so a later nested delete of an earlier nested put passes.
		{name: "nested put then later nested delete", success: ops(opTxn(ops(opPut("a")), nil), opTxn(ops(opDel("a", "")), nil))},
		{name: "deep nesting", success: ops(opTxn(ops(opTxn(ops(opTxn(ops(opPut("deep")), nil)), nil)), nil), opPut("deep")), want: dup},
		{name: "deep nesting, distinct", success: ops(opTxn(ops(opTxn(ops(opPut("x")), nil)), nil), opPut("y"))},
		{name: "duplicate inside a nested branch", success: ops(opTxn(ops(opPut("a"), opPut("a")), nil)), want: dup},
		{name: "failure branch nested dup", failure: ops(opTxn(nil, ops(opPut("q"))), opPut("q")), want: dup},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &pb.TxnRequest{Success: tc.success, Failure: tc.failure}
			if err := checkTxn(r, 128); err != nil {
				t.Fatalf("checkTxn = %v, want nil (the ops are valid)", err)
			}
			if got := checkTxnIntervals(r); got != tc.want {
				t.Fatalf("checkTxnIntervals = %v, want %v", got, tc.want)
			}
		})
	}
}

func nOps(n int, f func(i int) *pb.RequestOp) []*pb.RequestOp {
	out := make([]*pb.RequestOp, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func TestCheckTxn(t *testing.T) {
	put := func(i int) *pb.RequestOp { return opPut(string(rune('a' + i))) }
	tests := []struct {
		name   string
		r      *pb.TxnRequest
		maxOps int
		want   error
	}{
		{name: "empty txn", r: &pb.TxnRequest{}, maxOps: 128},
		{name: "at the limit", r: &pb.TxnRequest{Success: nOps(3, put)}, maxOps: 3},
		{name: "success over", r: &pb.TxnRequest{Success: nOps(4, put)}, maxOps: 3, want: rpctypes.ErrGRPCTooManyOps},
		{name: "failure over", r: &pb.TxnRequest{Failure: nOps(4, put)}, maxOps: 3, want: rpctypes.ErrGRPCTooManyOps},
		{name: "compares over", r: &pb.TxnRequest{Compare: []*pb.Compare{cmp("a"), cmp("b"), cmp("c"), cmp("d")}}, maxOps: 3, want: rpctypes.ErrGRPCTooManyOps},
		{name: "max of the three, not the sum", r: &pb.TxnRequest{Compare: []*pb.Compare{cmp("a"), cmp("b")}, Success: nOps(3, put), Failure: nOps(3, put)}, maxOps: 3},
		{name: "compare with empty key", r: &pb.TxnRequest{Compare: []*pb.Compare{cmp("")}}, maxOps: 128, want: rpctypes.ErrGRPCEmptyKey},
		{name: "put with empty key", r: &pb.TxnRequest{Success: ops(opPut(""))}, maxOps: 128, want: rpctypes.ErrGRPCEmptyKey},
		{name: "range with empty key", r: &pb.TxnRequest{Failure: ops(opRange("", ""))}, maxOps: 128, want: rpctypes.ErrGRPCEmptyKey},
		{name: "delete with empty key", r: &pb.TxnRequest{Success: ops(opDel("", ""))}, maxOps: 128, want: rpctypes.ErrGRPCEmptyKey},
		{name: "empty RequestOp", r: &pb.TxnRequest{Success: ops(&pb.RequestOp{})}, maxOps: 128, want: rpctypes.ErrGRPCKeyNotFound},
		{name: "bad sort option inside", r: &pb.TxnRequest{Success: ops(&pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), SortOrder: 9}}})}, maxOps: 128, want: rpctypes.ErrGRPCInvalidSortOption},
		{name: "ignore_value with value inside", r: &pb.TxnRequest{Success: ops(&pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("a"), Value: []byte("v"), IgnoreValue: true}}})}, maxOps: 128, want: rpctypes.ErrGRPCValueProvided},
		// Nested txns get what is left of the budget: maxOps minus the
		// outer txn's own op count.
		{name: "nested within budget", r: &pb.TxnRequest{Success: ops(opPut("x"), opTxn(nOps(3, put), nil))}, maxOps: 5},
		{name: "nested over budget", r: &pb.TxnRequest{Success: ops(opPut("x"), opTxn(nOps(4, put), nil))}, maxOps: 5, want: rpctypes.ErrGRPCTooManyOps},
		{name: "nested failure over budget", r: &pb.TxnRequest{Failure: ops(opPut("x"), opPut("y"), opTxn(nil, nOps(2, put)))}, maxOps: 4, want: rpctypes.ErrGRPCTooManyOps},
		{name: "nested compares count", r: &pb.TxnRequest{Success: ops(opPut("x"), &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Compare: []*pb.Compare{cmp("a"), cmp("b")}}}})}, maxOps: 3, want: rpctypes.ErrGRPCTooManyOps},
		{name: "doubly nested budget shrinks", r: &pb.TxnRequest{Success: ops(opPut("x"), opTxn(ops(opPut("y"), opTxn(nOps(2, put), nil)), nil))}, maxOps: 4, want: rpctypes.ErrGRPCTooManyOps},
		{name: "doubly nested fits", r: &pb.TxnRequest{Success: ops(opPut("x"), opTxn(ops(opPut("y"), opTxn(nOps(2, put), nil)), nil))}, maxOps: 6},
		{name: "nested empty key", r: &pb.TxnRequest{Success: ops(opTxn(nil, ops(opPut(""))))}, maxOps: 128, want: rpctypes.ErrGRPCEmptyKey},
		{name: "nested empty op", r: &pb.TxnRequest{Success: ops(opTxn(ops(&pb.RequestOp{}), nil))}, maxOps: 128, want: rpctypes.ErrGRPCKeyNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkTxn(tc.r, tc.maxOps); got != tc.want {
				t.Fatalf("checkTxn = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckRange(t *testing.T) {
	tests := []struct {
		name string
		r    *pb.RangeRequest
		want error
	}{
		{"plain", &pb.RangeRequest{Key: []byte("a")}, nil},
		{"empty key", &pb.RangeRequest{}, rpctypes.ErrGRPCEmptyKey},
		{"ascend by mod", &pb.RangeRequest{Key: []byte("a"), SortOrder: pb.RangeRequest_ASCEND, SortTarget: pb.RangeRequest_MOD}, nil},
		{"descend by value", &pb.RangeRequest{Key: []byte("a"), SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_VALUE}, nil},
		{"every target", &pb.RangeRequest{Key: []byte("a"), SortTarget: pb.RangeRequest_CREATE}, nil},
		{"version target", &pb.RangeRequest{Key: []byte("a"), SortTarget: pb.RangeRequest_VERSION}, nil},
		{"sort order 3", &pb.RangeRequest{Key: []byte("a"), SortOrder: 3}, rpctypes.ErrGRPCInvalidSortOption},
		{"negative sort order", &pb.RangeRequest{Key: []byte("a"), SortOrder: -1}, rpctypes.ErrGRPCInvalidSortOption},
		{"sort target 5", &pb.RangeRequest{Key: []byte("a"), SortTarget: 5}, rpctypes.ErrGRPCInvalidSortOption},
		{"empty key wins over sort", &pb.RangeRequest{SortOrder: 7}, rpctypes.ErrGRPCEmptyKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkRange(tc.r); got != tc.want {
				t.Fatalf("checkRange = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckPut(t *testing.T) {
	tests := []struct {
		name string
		r    *pb.PutRequest
		want error
	}{
		{"plain", &pb.PutRequest{Key: []byte("a"), Value: []byte("v")}, nil},
		{"empty value", &pb.PutRequest{Key: []byte("a")}, nil},
		{"empty key", &pb.PutRequest{Value: []byte("v")}, rpctypes.ErrGRPCEmptyKey},
		{"ignore_value without value", &pb.PutRequest{Key: []byte("a"), IgnoreValue: true}, nil},
		{"ignore_value with value", &pb.PutRequest{Key: []byte("a"), Value: []byte("v"), IgnoreValue: true}, rpctypes.ErrGRPCValueProvided},
		{"ignore_lease without lease", &pb.PutRequest{Key: []byte("a"), IgnoreLease: true}, nil},
		{"ignore_lease with lease", &pb.PutRequest{Key: []byte("a"), Lease: 7, IgnoreLease: true}, rpctypes.ErrGRPCLeaseProvided},
		{"both ignores, value first", &pb.PutRequest{Key: []byte("a"), Value: []byte("v"), Lease: 7, IgnoreValue: true, IgnoreLease: true}, rpctypes.ErrGRPCValueProvided},
		{"lease without ignore", &pb.PutRequest{Key: []byte("a"), Lease: 7}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkPut(tc.r); got != tc.want {
				t.Fatalf("checkPut = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckDelete(t *testing.T) {
	if got := checkDelete(&pb.DeleteRangeRequest{}); got != rpctypes.ErrGRPCEmptyKey {
		t.Fatalf("checkDelete(empty) = %v", got)
	}
	if got := checkDelete(&pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("\x00")}); got != nil {
		t.Fatalf("checkDelete(from key) = %v", got)
	}
}

// fakeKV records whether the backend was reached.
type fakeKV struct {
	calls int
	err   error
}

func (f *fakeKV) Range(context.Context, *pb.RangeRequest) (*pb.RangeResponse, error) {
	f.calls++
	return &pb.RangeResponse{}, f.err
}
func (f *fakeKV) Put(context.Context, *pb.PutRequest) (*pb.PutResponse, error) {
	f.calls++
	return &pb.PutResponse{}, f.err
}
func (f *fakeKV) DeleteRange(context.Context, *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	f.calls++
	return &pb.DeleteRangeResponse{}, f.err
}
func (f *fakeKV) Txn(context.Context, *pb.TxnRequest) (*pb.TxnResponse, error) {
	f.calls++
	return &pb.TxnResponse{}, f.err
}
func (f *fakeKV) Compact(context.Context, *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	f.calls++
	return &pb.CompactionResponse{}, f.err
}

// The KV service validates before it calls the backend, with the limits it
// was given.
func TestKVServerValidates(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func(s pb.KVServer) error
		want error
	}{
		{"range", func(s pb.KVServer) error { _, err := s.Range(ctx, &pb.RangeRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"put", func(s pb.KVServer) error {
			_, err := s.Put(ctx, &pb.PutRequest{Key: []byte("a"), Lease: 1, IgnoreLease: true})
			return err
		}, rpctypes.ErrGRPCLeaseProvided},
		{"delete", func(s pb.KVServer) error { _, err := s.DeleteRange(ctx, &pb.DeleteRangeRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"txn too many ops", func(s pb.KVServer) error {
			_, err := s.Txn(ctx, &pb.TxnRequest{Success: ops(opPut("a"), opPut("b"), opPut("c"))})
			return err
		}, rpctypes.ErrGRPCTooManyOps},
		{"txn duplicate", func(s pb.KVServer) error {
			_, err := s.Txn(ctx, &pb.TxnRequest{Failure: ops(opPut("a"), opDel("a", ""))})
			return err
		}, rpctypes.ErrGRPCDuplicateKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeKV{}
			s := NewKVServer(b, Limits{MaxTxnOps: 2})
			if got := tc.call(s); got != tc.want {
				t.Fatalf("err = %v, want %v", got, tc.want)
			}
			if b.calls != 0 {
				t.Fatalf("the backend was called for an invalid request")
			}
		})
	}
	// A valid request reaches the backend, and its error is mapped.
	b := &fakeKV{err: errWrap("range", errCompacted())}
	s := NewKVServer(b, Limits{MaxTxnOps: 2})
	if _, err := s.Range(ctx, &pb.RangeRequest{Key: []byte("a")}); err != rpctypes.ErrGRPCCompacted {
		t.Fatalf("Range err = %v, want ErrGRPCCompacted", err)
	}
	if b.calls != 1 {
		t.Fatalf("backend calls = %d, want 1", b.calls)
	}
}
