package mvcc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// ReadTxn is a consistent point-in-time view of the store, backed by a
// pebble snapshot shared with other readers. It may be used concurrently
// with the writer, but by one goroutine at a time. Close releases it.
type ReadTxn struct {
	sv  *sharedView
	v   view
	err error // returned by every method
}

// Rev returns the revision of this view.
func (r *ReadTxn) Rev() int64 { return r.v.rev }

// CompactRev returns the compacted revision of this view (-1 if never).
func (r *ReadTxn) CompactRev() int64 { return r.v.compactRev }

// Close releases the view.
func (r *ReadTxn) Close() {
	if r.sv != nil {
		r.sv.release()
		r.sv = nil
	}
}

func (r *ReadTxn) curView() *view { return &r.v }

func (r *ReadTxn) put(*pb.PutRequest) (*pb.PutResponse, error) { return nil, ErrTxnHasWrites }

func (r *ReadTxn) deleteRange(*pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	return nil, ErrTxnHasWrites
}

// Range serves a RangeRequest with etcd 3.6 semantics (see range.go).
// revision <= 0 reads the view's revision; above it is ErrFutureRev; below
// the compacted revision is ErrCompacted (equal is allowed). The header
// revision is the view's revision.
func (r *ReadTxn) Range(req *pb.RangeRequest) (*pb.RangeResponse, error) {
	if r.err != nil {
		return nil, r.err
	}
	return r.v.rangeResponse(req)
}

// Txn serves a txn whose taken branch (nested txns included) only reads.
// If the taken branch writes it returns ErrTxnHasWrites and has done
// nothing: the caller then sends the txn through the apply path.
func (r *ReadTxn) Txn(req *pb.TxnRequest) (*pb.TxnResponse, error) {
	if r.err != nil {
		return nil, r.err
	}
	path, err := buildPath(&r.v, req)
	if err != nil {
		return nil, err
	}
	if pathHasWrites(req, path) {
		return nil, ErrTxnHasWrites
	}
	c := txnChecker{v: &r.v}
	if err := c.check(req, path); err != nil {
		return nil, err
	}
	resp, err := execTxn(r, req, path)
	if err != nil {
		return nil, err
	}
	resp.Header.Revision = r.v.rev
	return resp, nil
}
