package mvcc

import (
	"bytes"
	"cmp"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Txn evaluation follows etcd 3.6 (server/etcdserver/txn/txn.go):
//  1. every compare of the txn, and of the nested txns in the taken
//     branches, is evaluated against the state before the txn writes
//     anything (txnPath);
//  2. the taken path is checked up front (check): ranges for future or
//     compacted revisions, puts for ignore_value/ignore_lease on a missing
//     key and for unknown leases. Nothing is written unless every check
//     passes, so a failing txn leaves the batch untouched;
//  3. the ops run in order; a range sees the writes before it; every write
//     shares one main revision with increasing sub revisions.

// txnPath records which branch each txn on the taken path takes.
type txnPath struct {
	succeeded bool
	nested    []*txnPath // one per RequestTxn op of the taken branch, in order
}

func (p *txnPath) branch(rt *pb.TxnRequest) []*pb.RequestOp {
	if p.succeeded {
		return rt.Success
	}
	return rt.Failure
}

func buildPath(v *view, rt *pb.TxnRequest) (*txnPath, error) {
	ok, err := applyCompares(v, rt.Compare)
	if err != nil {
		return nil, err
	}
	p := &txnPath{succeeded: ok}
	for _, op := range p.branch(rt) {
		if tv, isTxn := op.GetRequest().(*pb.RequestOp_RequestTxn); isTxn {
			np, err := buildPath(v, txnOrEmpty(tv.RequestTxn))
			if err != nil {
				return nil, err
			}
			p.nested = append(p.nested, np)
		}
	}
	return p, nil
}

func applyCompares(v *view, cs []*pb.Compare) (bool, error) {
	for _, c := range cs {
		if c == nil {
			continue
		}
		ok, err := applyCompare(v, c)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// applyCompare: every key in [key, range_end) must satisfy the compare; if
// there is none, a VALUE compare is false and other targets compare the
// zero KeyValue.
func applyCompare(v *view, c *pb.Compare) (bool, error) {
	found, result := false, true
	err := v.scan(makeBounds(c.Key, c.RangeEnd), v.rev, func(enc, val []byte) (bool, error) {
		found = true
		val, err := v.currentValue(enc, val)
		if err != nil {
			return false, err
		}
		var kv mvccpb.KeyValue
		if _, err := decodeVersion(nil, val, &kv); err != nil {
			return false, err
		}
		if !compareKV(c, &kv) {
			result = false
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return false, err
	}
	if !found {
		if c.Target == pb.Compare_VALUE {
			return false, nil
		}
		return compareKV(c, &mvccpb.KeyValue{}), nil
	}
	return result, nil
}

// compareKV compares one KeyValue. A target_union that does not match the
// target compares against the zero value, and an unknown result is true, as
// in etcd.
func compareKV(c *pb.Compare, kv *mvccpb.KeyValue) bool {
	var result int
	switch c.Target {
	case pb.Compare_VALUE:
		result = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_CREATE:
		result = cmp.Compare(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		result = cmp.Compare(kv.ModRevision, c.GetModRevision())
	case pb.Compare_VERSION:
		result = cmp.Compare(kv.Version, c.GetVersion())
	case pb.Compare_LEASE:
		result = cmp.Compare(kv.Lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return result == 0
	case pb.Compare_NOT_EQUAL:
		return result != 0
	case pb.Compare_GREATER:
		return result > 0
	case pb.Compare_LESS:
		return result < 0
	}
	return true
}

// pathHasWrites reports whether the taken path puts or deletes.
func pathHasWrites(rt *pb.TxnRequest, p *txnPath) bool {
	ni := 0
	for _, op := range p.branch(rt) {
		switch tv := op.GetRequest().(type) {
		case *pb.RequestOp_RequestPut, *pb.RequestOp_RequestDeleteRange:
			return true
		case *pb.RequestOp_RequestTxn:
			if pathHasWrites(txnOrEmpty(tv.RequestTxn), p.nested[ni]) {
				return true
			}
			ni++
		}
	}
	return false
}

// txnChecker validates the taken path before anything is written. It also
// tracks which keys the earlier ops of the path put or delete, so that an
// ignore_value/ignore_lease put is refused if its key is missing either
// before the txn (etcd's check) or at the point where it runs (where etcd
// would panic; the api layer's duplicate-key check normally prevents it).
type txnChecker struct {
	v       *view
	leaseOK func(id int64) bool
	effects []effect
}

type effect struct {
	put bool
	kb  keyBounds
}

func (c *txnChecker) check(rt *pb.TxnRequest, p *txnPath) error {
	ni := 0
	for _, op := range p.branch(rt) {
		switch tv := op.GetRequest().(type) {
		case *pb.RequestOp_RequestRange:
			if _, err := c.v.resolveRev(rangeOrEmpty(tv.RequestRange).Revision); err != nil {
				return err
			}
		case *pb.RequestOp_RequestPut:
			req := putOrEmpty(tv.RequestPut)
			if req.IgnoreValue || req.IgnoreLease {
				exists, err := c.existsNow(req.Key)
				if err != nil {
					return err
				}
				if !exists {
					return ErrKeyNotFound
				}
			}
			if req.Lease != 0 && !c.leaseOK(req.Lease) {
				return ErrLeaseNotFound
			}
			c.effects = append(c.effects, effect{put: true, kb: keyBounds{key: req.Key, single: true}})
		case *pb.RequestOp_RequestDeleteRange:
			req := deleteOrEmpty(tv.RequestDeleteRange)
			c.effects = append(c.effects, effect{kb: makeBounds(req.Key, req.RangeEnd)})
		case *pb.RequestOp_RequestTxn:
			if err := c.check(txnOrEmpty(tv.RequestTxn), p.nested[ni]); err != nil {
				return err
			}
			ni++
		}
	}
	return nil
}

// existsNow reports whether key exists both before the txn and after the
// effects recorded so far.
func (c *txnChecker) existsNow(key []byte) (bool, error) {
	kv, err := c.v.getCurrent(key)
	if err != nil || kv == nil {
		return false, err
	}
	for i := len(c.effects) - 1; i >= 0; i-- {
		if c.effects[i].kb.contains(key) {
			return c.effects[i].put, nil
		}
	}
	return true, nil
}

// txnExec runs the ops of a checked path.
type txnExec interface {
	curView() *view
	put(req *pb.PutRequest) (*pb.PutResponse, error)
	deleteRange(req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error)
}

// execTxn runs the taken branch. Nested TxnResponses get an empty, non-nil
// header, like etcd; the caller sets the top-level header.
func execTxn(x txnExec, rt *pb.TxnRequest, p *txnPath) (*pb.TxnResponse, error) {
	ops := p.branch(rt)
	resp := &pb.TxnResponse{
		Header:    &pb.ResponseHeader{},
		Succeeded: p.succeeded,
		Responses: make([]*pb.ResponseOp, len(ops)),
	}
	ni := 0
	for i, op := range ops {
		ro := &pb.ResponseOp{}
		switch tv := op.GetRequest().(type) {
		case *pb.RequestOp_RequestRange:
			r, err := x.curView().rangeResponse(rangeOrEmpty(tv.RequestRange))
			if err != nil {
				return nil, err
			}
			ro.Response = &pb.ResponseOp_ResponseRange{ResponseRange: r}
		case *pb.RequestOp_RequestPut:
			r, err := x.put(putOrEmpty(tv.RequestPut))
			if err != nil {
				return nil, err
			}
			ro.Response = &pb.ResponseOp_ResponsePut{ResponsePut: r}
		case *pb.RequestOp_RequestDeleteRange:
			r, err := x.deleteRange(deleteOrEmpty(tv.RequestDeleteRange))
			if err != nil {
				return nil, err
			}
			ro.Response = &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: r}
		case *pb.RequestOp_RequestTxn:
			r, err := execTxn(x, txnOrEmpty(tv.RequestTxn), p.nested[ni])
			if err != nil {
				return nil, err
			}
			ni++
			ro.Response = &pb.ResponseOp_ResponseTxn{ResponseTxn: r}
		}
		resp.Responses[i] = ro
	}
	return resp, nil
}

func rangeOrEmpty(r *pb.RangeRequest) *pb.RangeRequest {
	if r == nil {
		return &pb.RangeRequest{}
	}
	return r
}

func putOrEmpty(r *pb.PutRequest) *pb.PutRequest {
	if r == nil {
		return &pb.PutRequest{}
	}
	return r
}

func deleteOrEmpty(r *pb.DeleteRangeRequest) *pb.DeleteRangeRequest {
	if r == nil {
		return &pb.DeleteRangeRequest{}
	}
	return r
}

func txnOrEmpty(r *pb.TxnRequest) *pb.TxnRequest {
	if r == nil {
		return &pb.TxnRequest{}
	}
	return r
}
