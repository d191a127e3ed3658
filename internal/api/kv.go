package api

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// KVBackend is what the KV service needs from the server.
type KVBackend interface {
	Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error)
	Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error)
	DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error)
	Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error)
	Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error)
}

type kvServer struct {
	pb.UnimplementedKVServer
	b      KVBackend
	limits Limits
}

// NewKVServer returns etcd's KV service over b.
func NewKVServer(b KVBackend, l Limits) pb.KVServer { return &kvServer{b: b, limits: l} }

func (s *kvServer) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := checkRange(r); err != nil {
		return nil, err
	}
	resp, err := s.b.Range(ctx, r)
	return resp, toGRPCError(err)
}

func (s *kvServer) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := checkPut(r); err != nil {
		return nil, err
	}
	resp, err := s.b.Put(ctx, r)
	return resp, toGRPCError(err)
}

func (s *kvServer) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := checkDelete(r); err != nil {
		return nil, err
	}
	resp, err := s.b.DeleteRange(ctx, r)
	return resp, toGRPCError(err)
}

func (s *kvServer) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := checkTxn(r, s.limits.MaxTxnOps); err != nil {
		return nil, err
	}
	if err := checkTxnIntervals(r); err != nil {
		return nil, err
	}
	resp, err := s.b.Txn(ctx, r)
	return resp, toGRPCError(err)
}

func (s *kvServer) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	resp, err := s.b.Compact(ctx, r)
	return resp, toGRPCError(err)
}
