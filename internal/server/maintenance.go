package server

import (
	"context"

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
		DowngradeInfo:    &pb.DowngradeInfo{},
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

// Alarm lists, raises or clears alarms. No alarm is raised yet by this
// build, so GET answers an empty list.
func (s *Server) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	return &pb.AlarmResponse{Header: s.header(0)}, nil
}

// HashKV hashes the key-value history up to rev.
func (s *Server) HashKV(ctx context.Context, rev int64) (*pb.HashKVResponse, error) {
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
