package api

import (
	"context"
	"errors"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairndb/cairn/internal/lease"
)

// LeaseBackend is what the Lease service needs from the server.
type LeaseBackend interface {
	LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error)
	LeaseRevoke(ctx context.Context, id int64) (*pb.LeaseRevokeResponse, error)
	// LeaseRenew keeps a lease alive and returns its TTL.
	LeaseRenew(ctx context.Context, id int64) (int64, error)
	LeaseTimeToLive(ctx context.Context, id int64, keys bool) (*pb.LeaseTimeToLiveResponse, error)
	LeaseLeases(ctx context.Context) (*pb.LeaseLeasesResponse, error)
	// Header returns a response header at the current revision.
	Header() *pb.ResponseHeader
}

type leaseServer struct {
	pb.UnimplementedLeaseServer
	b LeaseBackend
}

// NewLeaseServer returns etcd's Lease service over b.
func NewLeaseServer(b LeaseBackend) pb.LeaseServer { return &leaseServer{b: b} }

func (s *leaseServer) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	resp, err := s.b.LeaseGrant(ctx, r)
	return resp, toGRPCError(err)
}

func (s *leaseServer) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	resp, err := s.b.LeaseRevoke(ctx, r.ID)
	return resp, toGRPCError(err)
}

// LeaseTimeToLive answers TTL -1 for an unknown lease, not an error, as etcd.
func (s *leaseServer) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	resp, err := s.b.LeaseTimeToLive(ctx, r.ID, r.Keys)
	if errors.Is(err, lease.ErrNotFound) {
		return &pb.LeaseTimeToLiveResponse{Header: s.b.Header(), ID: r.ID, TTL: -1}, nil
	}
	return resp, toGRPCError(err)
}

func (s *leaseServer) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	resp, err := s.b.LeaseLeases(ctx)
	return resp, toGRPCError(err)
}

// LeaseKeepAlive renews leases as the client asks; an unknown lease gets
// TTL 0, not an error, as etcd.
func (s *leaseServer) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		ttl, err := s.b.LeaseRenew(ctx, req.ID)
		if errors.Is(err, lease.ErrNotFound) {
			ttl, err = 0, nil
		}
		if err != nil {
			return toGRPCError(err)
		}
		if err := stream.Send(&pb.LeaseKeepAliveResponse{Header: s.b.Header(), ID: req.ID, TTL: ttl}); err != nil {
			return err
		}
	}
}
