package api

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// ClusterBackend is what the Cluster service needs from the server.
type ClusterBackend interface {
	MemberList(ctx context.Context, linearizable bool) (*pb.MemberListResponse, error)
	MemberAdd(ctx context.Context, peerURLs []string, learner bool) (*pb.MemberAddResponse, error)
	MemberRemove(ctx context.Context, id uint64) (*pb.MemberRemoveResponse, error)
	MemberUpdate(ctx context.Context, id uint64, peerURLs []string) (*pb.MemberUpdateResponse, error)
	MemberPromote(ctx context.Context, id uint64) (*pb.MemberPromoteResponse, error)
}

type clusterServer struct {
	pb.UnimplementedClusterServer
	b ClusterBackend
}

// NewClusterServer returns etcd's Cluster service over b.
func NewClusterServer(b ClusterBackend) pb.ClusterServer { return &clusterServer{b: b} }

func (s *clusterServer) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	resp, err := s.b.MemberList(ctx, r.Linearizable)
	return resp, toGRPCError(err)
}

func (s *clusterServer) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	resp, err := s.b.MemberAdd(ctx, r.PeerURLs, r.IsLearner)
	return resp, toGRPCError(err)
}

func (s *clusterServer) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	resp, err := s.b.MemberRemove(ctx, r.ID)
	return resp, toGRPCError(err)
}

func (s *clusterServer) MemberUpdate(ctx context.Context, r *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	resp, err := s.b.MemberUpdate(ctx, r.ID, r.PeerURLs)
	return resp, toGRPCError(err)
}

func (s *clusterServer) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	resp, err := s.b.MemberPromote(ctx, r.ID)
	return resp, toGRPCError(err)
}
