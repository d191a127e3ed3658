package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cairndb/cairn/internal/api/lockpb"
)

// The v3lock and v3election gRPC services, called the way a client built
// from etcd's protos calls them.

func invoke(t *testing.T, ctx context.Context, cc *grpc.ClientConn, method string, req, resp interface{}) error {
	t.Helper()
	return cc.Invoke(ctx, method, req, resp)
}

func TestLockService(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cc := e.cli.ActiveConnection()
	lease, err := e.cli.Grant(e.ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	var lr lockpb.LockResponse
	if err := invoke(t, e.ctx, cc, "/v3lockpb.Lock/Lock", &lockpb.LockRequest{Name: []byte("mylock"), Lease: int64(lease.ID)}, &lr); err != nil {
		t.Fatal(err)
	}
	if want := "mylock/"; !strings.HasPrefix(string(lr.Key), want) || lr.Header == nil || lr.Header.Revision == 0 {
		t.Fatalf("lock response key %q header %+v, want a key under %q", lr.Key, lr.Header, want)
	}
	got, err := e.cli.Get(e.ctx, string(lr.Key))
	if err != nil || len(got.Kvs) != 1 || got.Kvs[0].Lease != int64(lease.ID) {
		t.Fatalf("lock key in the store: %+v, %v", got, err)
	}

	// A second locker waits until the first unlocks.
	lease2, err := e.cli.Grant(e.ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan lockpb.LockResponse, 1)
	go func() {
		var r lockpb.LockResponse
		if err := cc.Invoke(e.ctx, "/v3lockpb.Lock/Lock", &lockpb.LockRequest{Name: []byte("mylock"), Lease: int64(lease2.ID)}, &r); err == nil {
			done <- r
		}
	}()
	select {
	case <-done:
		t.Fatal("second Lock returned while the lock was held")
	case <-time.After(500 * time.Millisecond):
	}
	var ur lockpb.UnlockResponse
	if err := invoke(t, e.ctx, cc, "/v3lockpb.Lock/Unlock", &lockpb.UnlockRequest{Key: lr.Key}, &ur); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if string(r.Key) == string(lr.Key) || !strings.HasPrefix(string(r.Key), "mylock/") {
			t.Fatalf("second lock key %q", r.Key)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second Lock did not get the lock after Unlock")
	}
}

func TestElectionService(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cc := e.cli.ActiveConnection()
	lease, err := e.cli.Grant(e.ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	var cr lockpb.CampaignResponse
	if err := invoke(t, e.ctx, cc, "/v3electionpb.Election/Campaign", &lockpb.CampaignRequest{Name: []byte("elec"), Lease: int64(lease.ID), Value: []byte("v1")}, &cr); err != nil {
		t.Fatal(err)
	}
	if cr.Leader == nil || string(cr.Leader.Name) != "elec" || cr.Leader.Lease != int64(lease.ID) || cr.Leader.Rev == 0 || !strings.HasPrefix(string(cr.Leader.Key), "elec/") {
		t.Fatalf("campaign leader %+v", cr.Leader)
	}
	var lr lockpb.LeaderResponse
	if err := invoke(t, e.ctx, cc, "/v3electionpb.Election/Leader", &lockpb.LeaderRequest{Name: []byte("elec")}, &lr); err != nil {
		t.Fatal(err)
	}
	if lr.Kv == nil || string(lr.Kv.Value) != "v1" || string(lr.Kv.Key) != string(cr.Leader.Key) {
		t.Fatalf("leader kv %+v", lr.Kv)
	}

	// Observe sees the proclaimed value.
	octx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	stream, err := cc.NewStream(octx, &grpc.StreamDesc{ServerStreams: true}, "/v3electionpb.Election/Observe")
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(&lockpb.LeaderRequest{Name: []byte("elec")}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var first lockpb.LeaderResponse
	if err := stream.RecvMsg(&first); err != nil {
		t.Fatal(err)
	}
	if string(first.Kv.Value) != "v1" {
		t.Fatalf("observe first value %q", first.Kv.Value)
	}
	var pr lockpb.ProclaimResponse
	if err := invoke(t, e.ctx, cc, "/v3electionpb.Election/Proclaim", &lockpb.ProclaimRequest{Leader: cr.Leader, Value: []byte("v2")}, &pr); err != nil {
		t.Fatal(err)
	}
	var second lockpb.LeaderResponse
	if err := stream.RecvMsg(&second); err != nil {
		t.Fatal(err)
	}
	if string(second.Kv.Value) != "v2" {
		t.Fatalf("observe after proclaim %q", second.Kv.Value)
	}

	// A request without its leader key gets etcd's plain error.
	err = invoke(t, e.ctx, cc, "/v3electionpb.Election/Resign", &lockpb.ResignRequest{}, &lockpb.ResignResponse{})
	if err == nil || !strings.Contains(err.Error(), `"leader" field must be provided`) {
		t.Fatalf("resign without leader: %v", err)
	}
	var rr lockpb.ResignResponse
	if err := invoke(t, e.ctx, cc, "/v3electionpb.Election/Resign", &lockpb.ResignRequest{Leader: cr.Leader}, &rr); err != nil {
		t.Fatal(err)
	}
	got, err := e.cli.Get(e.ctx, string(cr.Leader.Key))
	if err != nil || len(got.Kvs) != 0 {
		t.Fatalf("leader key after resign: %+v %v", got, err)
	}
}
