package api

import (
	"context"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// MemberState is what the interceptors need to know about the member.
type MemberState interface {
	IsLearner() bool
	HasLeader() bool
}

// Learners serve only Status, serializable Range and the Snapshot stream, as
// in etcd.
func learnerAllowed(method string, req interface{}) bool {
	switch method {
	case "/etcdserverpb.Maintenance/Status", "/etcdserverpb.Maintenance/Snapshot":
		return true
	case "/etcdserverpb.KV/Range":
		r, ok := req.(interface{ GetSerializable() bool })
		return ok && r.GetSerializable()
	}
	return strings.HasPrefix(method, "/grpc.health.v1.")
}

// requiresLeader reports whether the client asked, through the "hasleader"
// metadata, to be refused when there is no leader.
func requiresLeader(ctx context.Context) bool {
	// ValueFromIncomingContext reads one key without copying the whole
	// metadata map, which FromIncomingContext does on every call.
	vs := metadata.ValueFromIncomingContext(ctx, rpctypes.MetadataRequireLeaderKey)
	return len(vs) > 0 && vs[0] == rpctypes.MetadataHasLeader
}

// UnaryInterceptor applies the learner and leader rules to unary calls.
func UnaryInterceptor(m MemberState) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req interface{}, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (interface{}, error) {
		if m.IsLearner() && !learnerAllowed(info.FullMethod, req) {
			return nil, rpctypes.ErrGRPCNotSupportedForLearner
		}
		if requiresLeader(ctx) && !m.HasLeader() {
			return nil, rpctypes.ErrGRPCNoLeader
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor applies the learner and leader rules to streams.
func StreamInterceptor(m MemberState) grpc.StreamServerInterceptor {
	return func(srv interface{}, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if m.IsLearner() && !learnerAllowed(info.FullMethod, nil) {
			return rpctypes.ErrGRPCNotSupportedForLearner
		}
		if requiresLeader(ss.Context()) && !m.HasLeader() {
			return rpctypes.ErrGRPCNoLeader
		}
		return handler(srv, ss)
	}
}
