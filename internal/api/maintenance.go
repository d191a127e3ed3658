package api

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// MaintenanceBackend is what the Maintenance service needs from the server.
type MaintenanceBackend interface {
	Status(ctx context.Context) (*pb.StatusResponse, error)
	Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error)
	HashKV(ctx context.Context, rev int64) (*pb.HashKVResponse, error)
	Hash(ctx context.Context) (*pb.HashResponse, error)
	Defragment(ctx context.Context) (*pb.DefragmentResponse, error)
	MoveLeader(ctx context.Context, target uint64) (*pb.MoveLeaderResponse, error)
	Snapshot(ctx context.Context, out interface {
		Send(*pb.SnapshotResponse) error
	}) error
	Downgrade(ctx context.Context, r *pb.DowngradeRequest) (*pb.DowngradeResponse, error)
}

type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	b MaintenanceBackend
}

// NewMaintenanceServer returns etcd's Maintenance service over b.
func NewMaintenanceServer(b MaintenanceBackend) pb.MaintenanceServer {
	return &maintenanceServer{b: b}
}

func (s *maintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	resp, err := s.b.Status(ctx)
	return resp, toGRPCError(err)
}

func (s *maintenanceServer) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	resp, err := s.b.Alarm(ctx, r)
	return resp, toGRPCError(err)
}

func (s *maintenanceServer) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	resp, err := s.b.HashKV(ctx, r.Revision)
	return resp, toGRPCError(err)
}

func (s *maintenanceServer) Hash(ctx context.Context, _ *pb.HashRequest) (*pb.HashResponse, error) {
	resp, err := s.b.Hash(ctx)
	return resp, toGRPCError(err)
}

func (s *maintenanceServer) Defragment(ctx context.Context, _ *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	resp, err := s.b.Defragment(ctx)
	return resp, toGRPCError(err)
}

func (s *maintenanceServer) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	resp, err := s.b.MoveLeader(ctx, r.TargetID)
	return resp, toGRPCError(err)
}

func (s *maintenanceServer) Snapshot(_ *pb.SnapshotRequest, stream pb.Maintenance_SnapshotServer) error {
	return toGRPCError(s.b.Snapshot(stream.Context(), stream))
}

func (s *maintenanceServer) Downgrade(ctx context.Context, r *pb.DowngradeRequest) (*pb.DowngradeResponse, error) {
	resp, err := s.b.Downgrade(ctx, r)
	return resp, toGRPCError(err)
}
