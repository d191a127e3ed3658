package api

import (
	"context"
	"errors"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/grpc"

	"github.com/cairndb/cairn/internal/api/lockpb"
)

// The Election and Lock services run etcd's client-side recipes
// (client/v3/concurrency) inside the server over a client connected to the
// member itself, as etcd does.

// ErrMissingLeaderKey is etcd's error for a request without its leader key.
var ErrMissingLeaderKey = errors.New(`"leader" field must be provided`)

type electionServer struct{ c *clientv3.Client }

// session makes a session on an existing lease without keeping it alive:
// the lease belongs to the caller.
func session(ctx context.Context, c *clientv3.Client, lease int64) (*concurrency.Session, error) {
	s, err := concurrency.NewSession(c, concurrency.WithLease(clientv3.LeaseID(lease)), concurrency.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	s.Orphan()
	return s, nil
}

func (es *electionServer) Campaign(ctx context.Context, req *lockpb.CampaignRequest) (*lockpb.CampaignResponse, error) {
	s, err := session(ctx, es.c, req.Lease)
	if err != nil {
		return nil, err
	}
	e := concurrency.NewElection(s, string(req.Name))
	if err := e.Campaign(ctx, string(req.Value)); err != nil {
		return nil, err
	}
	return &lockpb.CampaignResponse{
		Header: e.Header(),
		Leader: &lockpb.LeaderKey{Name: req.Name, Key: []byte(e.Key()), Rev: e.Rev(), Lease: int64(s.Lease())},
	}, nil
}

func (es *electionServer) Proclaim(ctx context.Context, req *lockpb.ProclaimRequest) (*lockpb.ProclaimResponse, error) {
	if req.Leader == nil {
		return nil, ErrMissingLeaderKey
	}
	s, err := session(ctx, es.c, req.Leader.Lease)
	if err != nil {
		return nil, err
	}
	e := concurrency.ResumeElection(s, string(req.Leader.Name), string(req.Leader.Key), req.Leader.Rev)
	if err := e.Proclaim(ctx, string(req.Value)); err != nil {
		return nil, err
	}
	return &lockpb.ProclaimResponse{Header: e.Header()}, nil
}

func (es *electionServer) Leader(ctx context.Context, req *lockpb.LeaderRequest) (*lockpb.LeaderResponse, error) {
	s, err := session(ctx, es.c, -1)
	if err != nil {
		return nil, err
	}
	l, err := concurrency.NewElection(s, string(req.Name)).Leader(ctx)
	if err != nil {
		return nil, err
	}
	return &lockpb.LeaderResponse{Header: l.Header, Kv: l.Kvs[0]}, nil
}

func (es *electionServer) Resign(ctx context.Context, req *lockpb.ResignRequest) (*lockpb.ResignResponse, error) {
	if req.Leader == nil {
		return nil, ErrMissingLeaderKey
	}
	s, err := session(ctx, es.c, req.Leader.Lease)
	if err != nil {
		return nil, err
	}
	e := concurrency.ResumeElection(s, string(req.Leader.Name), string(req.Leader.Key), req.Leader.Rev)
	if err := e.Resign(ctx); err != nil {
		return nil, err
	}
	return &lockpb.ResignResponse{Header: e.Header()}, nil
}

func (es *electionServer) Observe(req *lockpb.LeaderRequest, stream grpc.ServerStream) error {
	ctx := stream.Context()
	s, err := session(ctx, es.c, -1)
	if err != nil {
		return err
	}
	ch := concurrency.NewElection(s, string(req.Name)).Observe(ctx)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case resp, ok := <-ch:
			if !ok {
				return nil
			}
			if err := stream.SendMsg(&lockpb.LeaderResponse{Header: resp.Header, Kv: resp.Kvs[0]}); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

type lockServer struct{ c *clientv3.Client }

func (ls *lockServer) Lock(ctx context.Context, req *lockpb.LockRequest) (*lockpb.LockResponse, error) {
	s, err := session(ctx, ls.c, req.Lease)
	if err != nil {
		return nil, err
	}
	m := concurrency.NewMutex(s, string(req.Name))
	if err := m.Lock(ctx); err != nil {
		return nil, err
	}
	return &lockpb.LockResponse{Header: m.Header(), Key: []byte(m.Key())}, nil
}

func (ls *lockServer) Unlock(ctx context.Context, req *lockpb.UnlockRequest) (*lockpb.UnlockResponse, error) {
	resp, err := ls.c.Delete(ctx, string(req.Key))
	if err != nil {
		return nil, err
	}
	return &lockpb.UnlockResponse{Header: resp.Header}, nil
}

func unary[Req any, Resp any](f func(context.Context, *Req) (*Resp, error), full string) grpc.MethodHandler {
	return func(_ interface{}, ctx context.Context, dec func(interface{}) error, ic grpc.UnaryServerInterceptor) (interface{}, error) {
		in := new(Req)
		if err := dec(in); err != nil {
			return nil, err
		}
		h := func(ctx context.Context, req interface{}) (interface{}, error) {
			resp, err := f(ctx, req.(*Req))
			return resp, toGRPCError(err)
		}
		if ic == nil {
			return h(ctx, in)
		}
		return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: full}, h)
	}
}

// RegisterElectionAndLock registers etcd's v3election.Election and
// v3lock.Lock services, backed by client c.
func RegisterElectionAndLock(g *grpc.Server, c *clientv3.Client) {
	es := &electionServer{c: c}
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: "v3electionpb.Election",
		HandlerType: (*interface{})(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Campaign", Handler: unary(es.Campaign, "/v3electionpb.Election/Campaign")},
			{MethodName: "Proclaim", Handler: unary(es.Proclaim, "/v3electionpb.Election/Proclaim")},
			{MethodName: "Leader", Handler: unary(es.Leader, "/v3electionpb.Election/Leader")},
			{MethodName: "Resign", Handler: unary(es.Resign, "/v3electionpb.Election/Resign")},
		},
		Streams: []grpc.StreamDesc{{
			StreamName:    "Observe",
			ServerStreams: true,
			Handler: func(_ interface{}, stream grpc.ServerStream) error {
				in := new(lockpb.LeaderRequest)
				if err := stream.RecvMsg(in); err != nil {
					return err
				}
				return toGRPCError(es.Observe(in, stream))
			},
		}},
		Metadata: "v3election.proto",
	}, es)
	ls := &lockServer{c: c}
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: "v3lockpb.Lock",
		HandlerType: (*interface{})(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Lock", Handler: unary(ls.Lock, "/v3lockpb.Lock/Lock")},
			{MethodName: "Unlock", Handler: unary(ls.Unlock, "/v3lockpb.Lock/Unlock")},
		},
		Metadata: "v3lock.proto",
	}, ls)
}
