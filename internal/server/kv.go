package server

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/apply"
	"github.com/cairndb/cairn/internal/errs"
	"github.com/cairndb/cairn/internal/mvcc"
	"github.com/cairndb/cairn/internal/raftnode"
)

func (s *Server) header(rev int64) *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: s.clusterID, MemberId: s.id, Revision: rev, RaftTerm: s.node.Term()}
}

func (s *Server) fillHeader(h **pb.ResponseHeader) {
	if *h == nil {
		*h = &pb.ResponseHeader{}
	}
	(*h).ClusterId = s.clusterID
	(*h).MemberId = s.id
	(*h).RaftTerm = s.node.Term()
}

// propose sends r through raft and waits until it is applied.
func (s *Server) propose(ctx context.Context, r *pb.InternalRaftRequest) (apply.Result, error) {
	id := s.reqIDs.next()
	r.Header = &pb.RequestHeader{ID: id}
	s.stampAuth(ctx, r)
	data, err := r.Marshal()
	if err != nil {
		return apply.Result{}, err
	}
	if len(data) > s.maxReqBytes {
		return apply.Result{}, errs.ErrRequestTooLarge
	}
	ctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
	defer cancel()
	s.pending.Add(1)
	defer s.pending.Add(-1)
	ch := s.wait.register(id)
	if err := s.proposeRetry(ctx, data); err != nil {
		s.wait.cancel(id)
		s.metrics.ProposalsFailed.Inc()
		if errors.Is(err, context.DeadlineExceeded) {
			// The timeout ran out while the proposal was being handed
			// to raft (offered again while there is no leader): etcd's
			// Propose waits there too and answers the deadline itself,
			// not "timed out".
			return apply.Result{}, context.DeadlineExceeded
		}
		return apply.Result{}, s.mapProposeErr(ctx, err)
	}
	select {
	case res := <-ch:
		return res, nil
	case <-ctx.Done():
		s.wait.cancel(id)
		s.metrics.ProposalsFailed.Inc()
		return apply.Result{}, s.mapProposeErr(ctx, ctx.Err())
	case <-s.stopc:
		s.wait.cancel(id)
		return apply.Result{}, errs.ErrStopped
	}
}

// proposeRetry hands data to raft. A proposal raft drops (no leader yet, or a
// leadership transfer) never entered any log, so it is safe to offer again
// once there is a leader; this rides out elections within the request
// timeout instead of failing at once.
func (s *Server) proposeRetry(ctx context.Context, data []byte) error {
	for {
		err := s.node.Propose(ctx, data)
		if !errors.Is(err, raftnode.ErrDropped) {
			return err
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return err
		case <-s.stopc:
			return errs.ErrStopped
		}
	}
}

func (s *Server) mapProposeErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, raftnode.ErrDropped):
		// Still no leader when the request timeout ran out: etcd 3.6
		// answers a client's deadline here.
		if s.node.Leader() == 0 {
			return context.DeadlineExceeded
		}
		return errs.ErrLeaderChanged
	case errors.Is(err, raftnode.ErrStopped):
		return errs.ErrStopped
	case errors.Is(err, context.DeadlineExceeded):
		// Our own request timeout, not the client's deadline: say why as
		// etcd does.
		if s.node.Leader() == 0 {
			return errs.ErrTimeoutDueToLeaderFail
		}
		return errs.ErrTimeout
	}
	return err
}

// linearizableReadNotify returns once the local state includes every write
// acknowledged before the call.
func (s *Server) linearizableReadNotify(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
	defer cancel()
	idx, err := s.node.ReadIndex(ctx)
	if err != nil {
		return s.mapReadErr(err)
	}
	if err := s.applied.wait(ctx, idx, s.stopc); err != nil {
		return s.mapReadErr(err)
	}
	return nil
}

func (s *Server) mapReadErr(err error) error {
	switch {
	case errors.Is(err, raftnode.ErrStopped), errors.Is(err, errs.ErrStopped):
		return errs.ErrStopped
	case errors.Is(err, context.DeadlineExceeded):
		return errs.ErrTimeout
	}
	return err
}

// Range serves a read: linearizable unless the request asks otherwise.
func (s *Server) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := s.checkKeys(ctx, r.Key, r.RangeEnd, authpb.READ); err != nil {
		return nil, err
	}
	if !r.Serializable {
		if err := s.linearizableReadNotify(ctx); err != nil {
			return nil, err
		}
	}
	rt := s.readTxn()
	defer rt.Close()
	resp, err := rt.Range(r)
	if err != nil {
		return nil, err
	}
	s.fillHeader(&resp.Header)
	return resp, nil
}

// Put writes one key through raft.
func (s *Server) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := s.checkPutAuth(ctx, r); err != nil {
		return nil, err
	}
	if err := s.checkQuota(ctx, r.Size()); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, &pb.InternalRaftRequest{Put: r})
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	resp := res.Resp.(*pb.PutResponse)
	s.fillHeader(&resp.Header)
	return resp, nil
}

// DeleteRange deletes keys through raft.
func (s *Server) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := s.checkDeleteAuth(ctx, r); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, &pb.InternalRaftRequest{DeleteRange: r})
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	resp := res.Resp.(*pb.DeleteRangeResponse)
	s.fillHeader(&resp.Header)
	return resp, nil
}

// Txn serves a transaction. One that cannot write is a linearizable read
// served locally after a read index; any other goes through raft.
func (s *Server) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := s.checkTxnAuth(ctx, r); err != nil {
		return nil, err
	}
	if isTxnReadOnly(r) {
		if err := s.linearizableReadNotify(ctx); err != nil {
			return nil, err
		}
		rt := s.readTxn()
		resp, err := rt.Txn(r)
		rt.Close()
		if err == nil {
			s.fillTxnHeaders(resp)
			return resp, nil
		}
		if !errors.Is(err, mvcc.ErrTxnHasWrites) {
			return nil, err
		}
	}
	if txnPuts(r) {
		if err := s.checkQuota(ctx, r.Size()); err != nil {
			return nil, err
		}
	}
	res, err := s.propose(ctx, &pb.InternalRaftRequest{Txn: r})
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	resp := res.Resp.(*pb.TxnResponse)
	s.fillTxnHeaders(resp)
	return resp, nil
}

func (s *Server) fillTxnHeaders(resp *pb.TxnResponse) {
	s.fillHeader(&resp.Header)
}

// Compact compacts the history through raft; with physical set it waits for
// the old revisions to be removed.
func (s *Server) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	res, err := s.propose(ctx, &pb.InternalRaftRequest{Compaction: r})
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	if r.Physical && res.Compacted != nil {
		select {
		case <-res.Compacted:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.stopc:
			return nil, errs.ErrStopped
		}
	}
	resp := res.Resp.(*pb.CompactionResponse)
	s.fillHeader(&resp.Header)
	return resp, nil
}

// publish records this member's name and client URLs in the cluster, then
// marks the member ready, as etcd does before it serves clients.
func (s *Server) publish() {
	defer s.wg.Done()
	req := &pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{
		Member_ID: s.id,
		MemberAttributes: &membershippb.Attributes{
			Name:       s.cfg.Name,
			ClientUrls: urlStrings(s.cfg.AdvertiseClientURLs),
		},
	}}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), s.reqTimeout)
		go func() {
			select {
			case <-s.stopc:
				cancel()
			case <-ctx.Done():
			}
		}()
		res, err := s.propose(ctx, req)
		cancel()
		if err == nil && res.Err == nil {
			s.lg.Info("published local member to cluster through raft", zap.String("name", s.cfg.Name))
			close(s.readyc)
			return
		}
		select {
		case <-s.stopc:
			return
		default:
		}
		if err == nil {
			err = res.Err
		}
		s.lg.Warn("failed to publish local member to cluster through raft; retrying", zap.Error(err))
		select {
		case <-s.stopc:
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func isTxnReadOnly(r *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			switch o := op.Request.(type) {
			case *pb.RequestOp_RequestPut, *pb.RequestOp_RequestDeleteRange:
				return false
			case *pb.RequestOp_RequestTxn:
				if !isTxnReadOnly(o.RequestTxn) {
					return false
				}
			}
		}
	}
	return true
}

// txnPuts reports whether any branch of r puts (a txn that only deletes is
// allowed past the quota, to make room).
func txnPuts(r *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			switch o := op.Request.(type) {
			case *pb.RequestOp_RequestPut:
				return true
			case *pb.RequestOp_RequestTxn:
				if txnPuts(o.RequestTxn) {
					return true
				}
			}
		}
	}
	return false
}
