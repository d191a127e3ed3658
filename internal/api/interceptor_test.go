package api

import (
	"context"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

type memberState struct{ learner, leader bool }

func (m memberState) IsLearner() bool { return m.learner }
func (m memberState) HasLeader() bool { return m.leader }

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }

func TestInterceptors(t *testing.T) {
	hasLeaderCtx := metadata.NewIncomingContext(context.Background(),
		metadata.Pairs(rpctypes.MetadataRequireLeaderKey, rpctypes.MetadataHasLeader))
	tests := []struct {
		name   string
		state  memberState
		ctx    context.Context
		method string
		req    interface{}
		want   error
	}{
		{"voter put", memberState{leader: true}, context.Background(), "/etcdserverpb.KV/Put", &pb.PutRequest{}, nil},
		{"learner put", memberState{learner: true, leader: true}, context.Background(), "/etcdserverpb.KV/Put", &pb.PutRequest{}, rpctypes.ErrGRPCNotSupportedForLearner},
		{"learner linearizable range", memberState{learner: true, leader: true}, context.Background(), "/etcdserverpb.KV/Range", &pb.RangeRequest{}, rpctypes.ErrGRPCNotSupportedForLearner},
		{"learner serializable range", memberState{learner: true, leader: true}, context.Background(), "/etcdserverpb.KV/Range", &pb.RangeRequest{Serializable: true}, nil},
		{"learner status", memberState{learner: true}, context.Background(), "/etcdserverpb.Maintenance/Status", &pb.StatusRequest{}, nil},
		{"learner health", memberState{learner: true}, context.Background(), "/grpc.health.v1.Health/Check", nil, nil},
		{"no leader, not required", memberState{}, context.Background(), "/etcdserverpb.KV/Put", &pb.PutRequest{}, nil},
		{"no leader, required", memberState{}, hasLeaderCtx, "/etcdserverpb.KV/Put", &pb.PutRequest{}, rpctypes.ErrGRPCNoLeader},
		{"leader, required", memberState{leader: true}, hasLeaderCtx, "/etcdserverpb.KV/Put", &pb.PutRequest{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			_, err := UnaryInterceptor(tc.state)(tc.ctx, tc.req, &grpc.UnaryServerInfo{FullMethod: tc.method},
				func(context.Context, interface{}) (interface{}, error) { called = true; return nil, nil })
			if err != tc.want {
				t.Fatalf("unary err = %v, want %v", err, tc.want)
			}
			if called != (tc.want == nil) {
				t.Fatalf("handler called = %v with err %v", called, err)
			}
		})
	}

	streamTests := []struct {
		name   string
		state  memberState
		ctx    context.Context
		method string
		want   error
	}{
		{"voter watch", memberState{leader: true}, context.Background(), "/etcdserverpb.Watch/Watch", nil},
		{"learner watch", memberState{learner: true, leader: true}, context.Background(), "/etcdserverpb.Watch/Watch", rpctypes.ErrGRPCNotSupportedForLearner},
		{"learner snapshot", memberState{learner: true}, context.Background(), "/etcdserverpb.Maintenance/Snapshot", nil},
		{"watch requires leader", memberState{}, hasLeaderCtx, "/etcdserverpb.Watch/Watch", rpctypes.ErrGRPCNoLeader},
	}
	for _, tc := range streamTests {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			err := StreamInterceptor(tc.state)(nil, fakeStream{ctx: tc.ctx}, &grpc.StreamServerInfo{FullMethod: tc.method},
				func(interface{}, grpc.ServerStream) error { called = true; return nil })
			if err != tc.want {
				t.Fatalf("stream err = %v, want %v", err, tc.want)
			}
			if called != (tc.want == nil) {
				t.Fatalf("handler called = %v with err %v", called, err)
			}
		})
	}
}
