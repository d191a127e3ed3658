package e2e

import (
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
)

func TestCompact(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i, v := range []string{"1", "2", "3", "4", "5"} {
		e.put(t, "a", v, int64(i+2)) // revisions 2..6
	}
	e.put(t, "b", "1", 7)
	if _, err := e.cli.Delete(e.ctx, "b"); err != nil { // revision 8
		t.Fatal(err)
	}

	c, err := e.cli.Compact(e.ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "compact", c.Header, 8)
	// Compaction writes no revision.
	if got := e.rev(t); got != 8 {
		t.Errorf("revision %d after compact, want 8", got)
	}

	for _, rev := range []int64{1, 2, 3} {
		_, err = e.cli.Get(e.ctx, "a", clientv3.WithRev(rev))
		wantErr(t, err, rpctypes.ErrGRPCCompacted)
		_, err = e.cli.Get(e.ctx, "a", clientv3.WithRev(rev), clientv3.WithSerializable())
		wantErr(t, err, rpctypes.ErrGRPCCompacted)
	}
	// Reading at the compaction revision itself is allowed.
	g, err := e.cli.Get(e.ctx, "a", clientv3.WithRev(4))
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "a at the compact revision", g.Kvs, []*mvccpb.KeyValue{kv("a", "3", 2, 4, 3)})
	g, err = e.cli.Get(e.ctx, "a", clientv3.WithRev(5))
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "a after the compact revision", g.Kvs, []*mvccpb.KeyValue{kv("a", "4", 2, 5, 4)})
	g, err = e.cli.Get(e.ctx, "b", clientv3.WithRev(7))
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "b before its delete", g.Kvs, []*mvccpb.KeyValue{kv("b", "1", 7, 7, 1)})
	// A txn reading a compacted revision fails as a whole.
	_, err = e.cli.Txn(e.ctx).Then(clientv3.OpPut("c", "1"), clientv3.OpGet("a", clientv3.WithRev(2))).Commit()
	wantErr(t, err, rpctypes.ErrGRPCCompacted)

	// Compacting again at or below the compacted revision fails.
	_, err = e.cli.Compact(e.ctx, 4)
	wantErr(t, err, rpctypes.ErrGRPCCompacted)
	_, err = e.cli.Compact(e.ctx, 3)
	wantErr(t, err, rpctypes.ErrGRPCCompacted)
	_, err = e.cli.Compact(e.ctx, 9)
	wantErr(t, err, rpctypes.ErrGRPCFutureRev)
	_, err = e.cli.Compact(e.ctx, 1000)
	wantErr(t, err, rpctypes.ErrGRPCFutureRev)

	// Physical compaction up to the current revision, which stays readable.
	c, err = e.cli.Compact(e.ctx, 8, clientv3.WithCompactPhysical())
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "physical compact", c.Header, 8)
	_, err = e.cli.Get(e.ctx, "a", clientv3.WithRev(7))
	wantErr(t, err, rpctypes.ErrGRPCCompacted)
	g, err = e.cli.Get(e.ctx, "", clientv3.WithPrefix(), clientv3.WithRev(8))
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "all at revision 8", g.Kvs, []*mvccpb.KeyValue{kv("a", "5", 2, 6, 5)})
	// Writes go on, and the history after the compaction is kept.
	e.put(t, "a", "6", 9)
	g, err = e.cli.Get(e.ctx, "a", clientv3.WithRev(8))
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "a at revision 8", g.Kvs, []*mvccpb.KeyValue{kv("a", "5", 2, 6, 5)})
	if _, err := e.cli.Compact(e.ctx, 9); err != nil {
		t.Fatal(err)
	}
	g, err = e.cli.Get(e.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "a after compacting everything", g.Kvs, []*mvccpb.KeyValue{kv("a", "6", 2, 9, 6)})
}

// Requests above --max-request-bytes are refused by the server; requests
// above that plus gRPC's 512 KiB allowance are refused by gRPC itself.
func TestRequestTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "--max-request-bytes=1024")

	e.put(t, "small", strings.Repeat("s", 512), 2)
	_, err := e.cli.Put(e.ctx, "big", strings.Repeat("b", 2048))
	wantErr(t, err, rpctypes.ErrGRPCRequestTooLarge)
	_, err = e.cli.Txn(e.ctx).Then(clientv3.OpPut("t1", strings.Repeat("b", 600)), clientv3.OpPut("t2", strings.Repeat("b", 600))).Commit()
	wantErr(t, err, rpctypes.ErrGRPCRequestTooLarge)

	const grpcLimit = 1024 + 512*1024
	req := &pb.PutRequest{Key: []byte("huge"), Value: []byte(strings.Repeat("h", grpcLimit))}
	_, err = e.kv.Put(e.ctx, req)
	wantStatusErr(t, err, codes.ResourceExhausted,
		"grpc: received message larger than max ("+itoa(req.Size())+" vs. "+itoa(grpcLimit)+")")

	if got := e.rev(t); got != 2 {
		t.Errorf("revision %d, want 2", got)
	}
	// Reads are not limited by the request size.
	g, err := e.cli.Get(e.ctx, "small")
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "small", g.Kvs, []*mvccpb.KeyValue{kv("small", strings.Repeat("s", 512), 2, 2, 1)})
}
