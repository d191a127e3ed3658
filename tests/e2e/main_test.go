// Package e2e holds integration tests that start the server binary (see
// tests/framework) and assert etcd's exact client-visible behaviour.
//
// Run against etcd itself with CAIRN_TEST_BINARY=/usr/bin/etcd. The
// expectations are etcd 3.6's; where etcd 3.4 deliberately differs, the
// assert is guarded by is34 and says so in a comment.
package e2e

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairndb/cairn/tests/framework"
)

func TestMain(m *testing.M) { framework.RunMain(m) }

// env is one freshly started single-member cluster and its clients.
type env struct {
	c    *framework.Cluster
	m    *framework.Member
	cli  *clientv3.Client
	kv   pb.KVClient // raw gRPC, for requests clientv3 would rewrite
	ctx  context.Context
	is34 bool // the server is etcd 3.4: see the guarded asserts
}

// newEnv starts a one-member cluster with the extra flags. A fresh store is
// at revision 1, so the n-th write of a test gets revision n+1.
func newEnv(t *testing.T, args ...string) *env {
	t.Helper()
	c := framework.NewCluster(t, framework.ClusterConfig{Args: args})
	m := c.Members[0]
	cli := m.Client(t)
	e := &env{
		c:   c,
		m:   m,
		cli: cli,
		kv:  pb.NewKVClient(cli.ActiveConnection()),
		ctx: framework.Context(t, 30*time.Second),
	}
	e.is34 = strings.HasPrefix(framework.ServerVersion(t, cli, m.ClientURL), "3.4.")
	return e
}

// put writes k=v and checks the revision it got.
func (e *env) put(t *testing.T, k, v string, wantRev int64) {
	t.Helper()
	resp, err := e.cli.Put(e.ctx, k, v)
	if err != nil {
		t.Fatalf("put %q: %v", k, err)
	}
	if resp.Header.Revision != wantRev {
		t.Fatalf("put %q: revision %d, want %d", k, resp.Header.Revision, wantRev)
	}
}

// rev is the store's current revision, read with a linearizable Get.
func (e *env) rev(t *testing.T) int64 {
	t.Helper()
	resp, err := e.cli.Get(e.ctx, "cairn-test-rev-probe")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// kv builds an expected key-value.
func kv(k, v string, create, mod, version int64) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: []byte(k), Value: []byte(v), CreateRevision: create, ModRevision: mod, Version: version}
}

// checkKVs compares key-values field by field.
func checkKVs(t *testing.T, what string, got, want []*mvccpb.KeyValue) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d kvs, want %d:\n got  %s\n want %s", what, len(got), len(want), fmtKVs(got), fmtKVs(want))
		return
	}
	for i := range got {
		if !kvEqual(got[i], want[i]) {
			t.Errorf("%s: kv[%d]:\n got  %s\n want %s", what, i, fmtKV(got[i]), fmtKV(want[i]))
		}
	}
}

func fmtKV(kv *mvccpb.KeyValue) string {
	if kv == nil {
		return "<nil>"
	}
	return strings.TrimSpace(kv.String())
}

func fmtKVs(kvs []*mvccpb.KeyValue) string {
	var s []string
	for _, kv := range kvs {
		s = append(s, "{"+fmtKV(kv)+"}")
	}
	return "[" + strings.Join(s, " ") + "]"
}

// keys lists the keys of kvs.
func keys(kvs []*mvccpb.KeyValue) []string {
	var ks []string
	for _, kv := range kvs {
		ks = append(ks, string(kv.Key))
	}
	return ks
}

// wantErr checks that err carries the gRPC code and exact message of want,
// one of rpctypes' ErrGRPC* values, whether err came from clientv3 (which
// converts it to rpctypes.EtcdError) or from a raw gRPC client.
func wantErr(t *testing.T, err error, want error) {
	t.Helper()
	ws := status.Convert(want)
	wantStatusErr(t, err, ws.Code(), ws.Message())
}

func wantStatusErr(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	gotCode, gotMsg, ok := errCodeMsg(err)
	if !ok {
		t.Errorf("error = %v, want %v %q", err, code, msg)
		return
	}
	if gotCode != code || gotMsg != msg {
		t.Errorf("error = %v %q, want %v %q", gotCode, gotMsg, code, msg)
	}
}

func errCodeMsg(err error) (codes.Code, string, bool) {
	if err == nil {
		return 0, "", false
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code(), ee.Error(), true
	}
	if s, ok := status.FromError(err); ok {
		return s.Code(), s.Message(), true
	}
	return 0, "", false
}

// checkHeader checks the identity fields every response header carries.
func (e *env) checkHeader(t *testing.T, what string, h *pb.ResponseHeader, wantRev int64) {
	t.Helper()
	if h == nil {
		t.Errorf("%s: no header", what)
		return
	}
	if h.ClusterId != e.c.ID() || h.MemberId != e.m.ID() {
		t.Errorf("%s: header cluster_id %x member_id %x, want %x %x", what, h.ClusterId, h.MemberId, e.c.ID(), e.m.ID())
	}
	if h.RaftTerm == 0 {
		t.Errorf("%s: header raft_term 0", what)
	}
	if wantRev >= 0 && h.Revision != wantRev {
		t.Errorf("%s: header revision %d, want %d", what, h.Revision, wantRev)
	}
}

// Builders for raw requests.

func opGet(key, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key), RangeEnd: bytesOrNil(end)}}}
}

func opPut(key, val string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte(val)}}}
}

func opDel(key, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key), RangeEnd: bytesOrNil(end)}}}
}

func opTxn(cmp []*pb.Compare, then, els []*pb.RequestOp) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Compare: cmp, Success: then, Failure: els}}}
}

func ops(o ...*pb.RequestOp) []*pb.RequestOp { return o }

func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func itoa(n int) string { return strconv.Itoa(n) }

func kvEqual(a, b *mvccpb.KeyValue) bool {
	if a == nil || b == nil {
		return a == b
	}
	return string(a.Key) == string(b.Key) && string(a.Value) == string(b.Value) &&
		a.CreateRevision == b.CreateRevision && a.ModRevision == b.ModRevision &&
		a.Version == b.Version && a.Lease == b.Lease
}
