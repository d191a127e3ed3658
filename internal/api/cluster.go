package api

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// ClusterBackend is what the Cluster service needs from the server.
type ClusterBackend interface {
	MemberList(ctx context.Context, linearizable bool) (*pb.MemberListResponse, error)
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
