package server

import (
	"context"

	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/errs"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairndb/cairn/internal/version"
)

// Status reports this member's view: version, sizes, leader, raft indices.
func (s *Server) Status(ctx context.Context) (*pb.StatusResponse, error) {
	st := s.node.Status()
	size, inUse := s.dbSizes()
	resp := &pb.StatusResponse{
		Header:           s.header(s.rev()),
		Version:          version.Etcd,
		DbSize:           size,
		DbSizeInUse:      inUse,
		Leader:           st.Lead,
		RaftIndex:        st.Commit,
		RaftTerm:         st.Term,
		RaftAppliedIndex: s.applied.applied.Load(),
		IsLearner:        st.IsLearner,
		StorageVersion:   version.Storage,
		DbSizeQuota:      s.quotaBytes(),
		DowngradeInfo:    s.downgradeInfo(),
	}
	if st.Lead == 0 {
		resp.Errors = append(resp.Errors, "etcdserver: no leader")
	}
	return resp, nil
}

func (s *Server) quotaBytes() int64 {
	if s.cfg.QuotaBackendBytes > 0 {
		return s.cfg.QuotaBackendBytes
	}
	return 2 << 30
}

// Alarm lists, raises or clears alarms; changes go through raft.
func (s *Server) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	if r.Action == pb.AlarmRequest_GET {
		return &pb.AlarmResponse{Header: s.header(s.rev()), Alarms: s.alarms.List(r.MemberID, r.Alarm)}, nil
	}
	res, err := s.propose(ctx, &pb.InternalRaftRequest{Alarm: r})
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	resp := res.Resp.(*pb.AlarmResponse)
	s.fillHeader(&resp.Header)
	resp.Header.Revision = s.rev()
	return resp, nil
}

// checkQuota refuses a write that would grow the data past
// --quota-backend-bytes, raising the NOSPACE alarm as etcd does. Deletes,
// reads and compactions stay allowed so an operator can make room.
func (s *Server) checkQuota(ctx context.Context, cost int) error {
	if s.alarms.Has(pb.AlarmType_NOSPACE) {
		return errs.ErrNoSpace
	}
	_, inUse := s.dbSizes()
	if inUse+int64(cost) <= s.quotaBytes() {
		return nil
	}
	s.lg.Warn("database space exceeded; raising the NOSPACE alarm", zap.Int64("in-use-bytes", inUse), zap.Int64("quota-bytes", s.quotaBytes()))
	_, _ = s.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: s.id, Alarm: pb.AlarmType_NOSPACE})
	return errs.ErrNoSpace
}

// HashKV hashes the key-value history up to rev.
func (s *Server) HashKV(ctx context.Context, rev int64) (*pb.HashKVResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	rt := s.readTxn()
	defer rt.Close()
	h, hashRev, compactRev, err := rt.HashKV(rev)
	if err != nil {
		return nil, err
	}
	return &pb.HashKVResponse{Header: s.header(rt.Rev()), Hash: h, CompactRevision: compactRev, HashRevision: hashRev}, nil
}

// Hash hashes the whole key-value history (testing only in etcd).
func (s *Server) Hash(ctx context.Context) (*pb.HashResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	rt := s.readTxn()
	defer rt.Close()
	h, _, _, err := rt.HashKV(0)
	if err != nil {
		return nil, err
	}
	return &pb.HashResponse{Header: s.header(rt.Rev()), Hash: h}, nil
}

// Defragment asks the engine to compact its files: Pebble needs no
// stop-the-world defragmentation, so this is a full manual compaction.
func (s *Server) Defragment(ctx context.Context) (*pb.DefragmentResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	if err := s.db.Compact(ctx, []byte{0}, []byte{0xff, 0xff, 0xff}, true); err != nil {
		return nil, err
	}
	return &pb.DefragmentResponse{Header: s.header(0)}, nil
}

// MemberList lists the cluster's members.
func (s *Server) MemberList(ctx context.Context, linearizable bool) (*pb.MemberListResponse, error) {
	if linearizable {
		if err := s.linearizableReadNotify(ctx); err != nil {
			return nil, err
		}
	}
	return s.memberListResponse(), nil
}
