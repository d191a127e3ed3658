package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseTimingArgs are etcd's default raft timings, spelled out because the
// minimum lease TTL derives from them: ceil(1.5 × 1 s) = 2 s.
var leaseTimingArgs = []string{"--election-timeout=1000", "--heartbeat-interval=100"}

const (
	leaseMinTTL = 2
	// leaseExpirySlack is how late after its deadline a lease may be
	// revoked: the leader looks every 500 ms, then proposes.
	leaseExpirySlack = 2 * time.Second
)

// leases is a raw gRPC Lease client on the env's connection, for requests
// clientv3 cannot make (a client-chosen ID) or rewrites (keep-alive of an
// unknown lease).
func (e *env) leases() pb.LeaseClient { return pb.NewLeaseClient(e.cli.ActiveConnection()) }

// leaseGrantID grants a lease with a client-chosen ID and checks the answer.
func leaseGrantID(t *testing.T, ctx context.Context, lc pb.LeaseClient, id, ttl, wantTTL int64) *pb.LeaseGrantResponse {
	t.Helper()
	resp, err := lc.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: id, TTL: ttl})
	if err != nil {
		t.Fatalf("grant ID %x TTL %d: %v", id, ttl, err)
	}
	if resp.ID != id || resp.TTL != wantTTL || resp.Error != "" {
		t.Fatalf("grant ID %x TTL %d = ID %x TTL %d error %q, want ID %x TTL %d", id, ttl, resp.ID, resp.TTL, resp.Error, id, wantTTL)
	}
	return resp
}

// leaseCheckTTL asks cli for lease id's time to live with its keys and checks
// the granted TTL, that the remaining TTL is in [minRem, maxRem], and the
// attached keys in any order (etcd lists them in map order).
func leaseCheckTTL(t *testing.T, ctx context.Context, cli *clientv3.Client, what string, id clientv3.LeaseID, granted, minRem, maxRem int64, keys ...string) *clientv3.LeaseTimeToLiveResponse {
	t.Helper()
	resp, err := cli.TimeToLive(ctx, id, clientv3.WithAttachedKeys())
	if err != nil {
		t.Fatalf("%s: TimeToLive(%x): %v", what, id, err)
	}
	var got []string
	for _, k := range resp.Keys {
		got = append(got, string(k))
	}
	sort.Strings(got)
	sort.Strings(keys)
	if resp.ID != id || resp.GrantedTTL != granted || resp.TTL < minRem || resp.TTL > maxRem || strings.Join(got, ",") != strings.Join(keys, ",") {
		t.Errorf("%s: TimeToLive(%x) = ID %x granted %d remaining %d keys %q; want granted %d, remaining in [%d,%d], keys %q",
			what, id, resp.ID, resp.GrantedTTL, resp.TTL, got, granted, minRem, maxRem, keys)
	}
	return resp
}

// leaseCheckGone checks that cli reports lease id as unknown: TimeToLive gives
// TTL -1 and granted TTL 0, without an error.
func leaseCheckGone(t *testing.T, ctx context.Context, cli *clientv3.Client, what string, id clientv3.LeaseID) {
	t.Helper()
	resp, err := cli.TimeToLive(ctx, id, clientv3.WithAttachedKeys())
	if err != nil {
		t.Fatalf("%s: TimeToLive(%x): %v", what, id, err)
	}
	if resp.ID != id || resp.TTL != -1 || resp.GrantedTTL != 0 || len(resp.Keys) != 0 {
		t.Errorf("%s: TimeToLive(%x) = ID %x TTL %d granted %d keys %q, want TTL -1, granted 0, no keys", what, id, resp.ID, resp.TTL, resp.GrantedTTL, resp.Keys)
	}
}

// leaseCheckList checks the lease list, in any order.
func leaseCheckList(t *testing.T, ctx context.Context, cli *clientv3.Client, what string, want ...clientv3.LeaseID) {
	t.Helper()
	resp, err := cli.Leases(ctx)
	if err != nil {
		t.Fatalf("%s: Leases: %v", what, err)
	}
	var got []string
	for _, l := range resp.Leases {
		got = append(got, fmt.Sprintf("%x", l.ID))
	}
	var ws []string
	for _, id := range want {
		ws = append(ws, fmt.Sprintf("%x", id))
	}
	sort.Strings(got)
	sort.Strings(ws)
	if strings.Join(got, ",") != strings.Join(ws, ",") {
		t.Errorf("%s: Leases = %v, want %v", what, got, ws)
	}
}

// kvLease builds an expected key-value with a lease.
func kvLease(k, v string, create, mod, version int64, lease clientv3.LeaseID) *mvccpb.KeyValue {
	x := kv(k, v, create, mod, version)
	x.Lease = int64(lease)
	return x
}

// leaseWatchEvents collects events from wch until it has n of them or ctx
// ends, and returns them with the index of the response each came in.
func leaseWatchEvents(t *testing.T, ctx context.Context, wch clientv3.WatchChan, n int) ([]*clientv3.Event, []int) {
	t.Helper()
	var evs []*clientv3.Event
	var resp []int
	for i := 0; len(evs) < n; i++ {
		select {
		case wr, ok := <-wch:
			if !ok {
				t.Fatalf("watch channel closed after %d of %d events", len(evs), n)
			}
			if err := wr.Err(); err != nil {
				t.Fatalf("watch: %v after %d of %d events", err, len(evs), n)
			}
			for _, ev := range wr.Events {
				evs = append(evs, ev)
				resp = append(resp, i)
			}
		case <-ctx.Done():
			t.Fatalf("watch: %d of %d events before %v", len(evs), n, ctx.Err())
		}
	}
	return evs, resp
}

// Grant (server-chosen and client-chosen IDs, the TTL limits, an ID taken
// twice), TimeToLive and Leases, attaching keys by Put and Txn, moving a
// key to another lease, ignore_lease, detaching by a put without a lease
// and by delete, and Revoke deleting the keys in one revision that a
// watcher sees. Header revisions are exact: lease calls that delete
// nothing do not make a revision.
func TestLeaseGrantRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t, leaseTimingArgs...)
	lc := e.leases()
	wctx, wcancel := context.WithCancel(e.ctx)
	defer wcancel()
	wch := e.cli.Watch(wctx, "", clientv3.WithPrefix(), clientv3.WithRev(2), clientv3.WithPrevKV())

	g, err := e.cli.Grant(e.ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID == 0 || g.TTL != 10 || g.Error != "" {
		t.Errorf("Grant(10) = ID %x TTL %d error %q, want a non-zero ID and TTL 10", g.ID, g.TTL, g.Error)
	}
	e.checkHeader(t, "grant", g.ResponseHeader, 1)
	g2, err := e.cli.Grant(e.ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if g2.ID == g.ID || g2.ID == 0 {
		t.Errorf("second Grant got ID %x, the first got %x", g2.ID, g.ID)
	}

	const A, B, Max = clientv3.LeaseID(0x1234), clientv3.LeaseID(0x2000), clientv3.LeaseID(0x2001)
	r := leaseGrantID(t, e.ctx, lc, int64(A), 20, 20)
	e.checkHeader(t, "grant with an ID", r.Header, 1)
	_, err = lc.LeaseGrant(e.ctx, &pb.LeaseGrantRequest{ID: int64(A), TTL: 5})
	wantErr(t, err, rpctypes.ErrGRPCLeaseExist)
	leaseGrantID(t, e.ctx, lc, int64(B), 30, 30)
	leaseGrantID(t, e.ctx, lc, int64(Max), 9_000_000_000, 9_000_000_000)
	_, err = lc.LeaseGrant(e.ctx, &pb.LeaseGrantRequest{ID: 0x2002, TTL: 9_000_000_001})
	wantErr(t, err, rpctypes.ErrGRPCLeaseTTLTooLarge)
	_, err = e.cli.Grant(e.ctx, 9_000_000_001)
	wantErr(t, err, rpctypes.ErrGRPCLeaseTTLTooLarge)
	// TTLs under the minimum, zero and negative ones are raised to it.
	for i, ttl := range []int64{1, 0, -5} {
		leaseGrantID(t, e.ctx, lc, int64(0x3000+i), ttl, leaseMinTTL)
	}
	for i := range 3 {
		if _, err := e.cli.Revoke(e.ctx, clientv3.LeaseID(0x3000+i)); err != nil {
			t.Fatal(err)
		}
	}

	leaseCheckList(t, e.ctx, e.cli, "after grants", g.ID, g2.ID, A, B, Max)
	leaseCheckTTL(t, e.ctx, e.cli, "fresh lease", A, 20, 18, 20)
	leaseCheckTTL(t, e.ctx, e.cli, "largest TTL", Max, 9_000_000_000, 9_000_000_000-2, 9_000_000_000)
	leaseCheckGone(t, e.ctx, e.cli, "lease refused as too large", 0x2002)
	un, err := e.cli.TimeToLive(e.ctx, 0x7777, clientv3.WithAttachedKeys())
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "TimeToLive of an unknown lease", un.ResponseHeader, 1)
	leaseCheckGone(t, e.ctx, e.cli, "unknown lease", 0x7777)

	// Attach, move, keep, detach.
	mustPut := func(what string, wantRev int64, k, v string, opts ...clientv3.OpOption) {
		t.Helper()
		p, err := e.cli.Put(e.ctx, k, v, opts...)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		e.checkHeader(t, what, p.Header, wantRev)
	}
	mustPut("put a with A", 2, "a", "1", clientv3.WithLease(A))
	mustPut("put b with A", 3, "b", "1", clientv3.WithLease(A))
	mustPut("put c with B", 4, "c", "1", clientv3.WithLease(B))
	leaseCheckTTL(t, e.ctx, e.cli, "A after puts", A, 20, 1, 20, "a", "b")
	leaseCheckTTL(t, e.ctx, e.cli, "B after puts", B, 30, 1, 30, "c")
	mustPut("move b to B", 5, "b", "2", clientv3.WithLease(B))
	leaseCheckTTL(t, e.ctx, e.cli, "A after moving b", A, 20, 1, 20, "a")
	leaseCheckTTL(t, e.ctx, e.cli, "B after moving b", B, 30, 1, 30, "b", "c")
	mustPut("put a with ignore_lease", 6, "a", "2", clientv3.WithIgnoreLease())
	leaseCheckTTL(t, e.ctx, e.cli, "A after ignore_lease", A, 20, 1, 20, "a")
	mustPut("put c without a lease", 7, "c", "2")
	d, err := e.cli.Delete(e.ctx, "b")
	if err != nil || d.Deleted != 1 {
		t.Fatalf("delete b: %v %v", d, err)
	}
	leaseCheckTTL(t, e.ctx, e.cli, "B after the put without lease and the delete", B, 30, 1, 30)
	tx, err := e.cli.Txn(e.ctx).Then(clientv3.OpPut("d", "1", clientv3.WithLease(B))).Commit()
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "txn put d with B", tx.Header, 9)
	mustPut("put e with A", 10, "e", "1", clientv3.WithLease(A))
	leaseCheckTTL(t, e.ctx, e.cli, "A before revoke", A, 20, 1, 20, "a", "e")
	leaseCheckTTL(t, e.ctx, e.cli, "B before revoke", B, 30, 1, 30, "d")
	all, err := e.cli.Get(e.ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "before revoke", all.Kvs, []*mvccpb.KeyValue{
		kvLease("a", "2", 2, 6, 2, A), kv("c", "2", 4, 7, 2), kvLease("d", "1", 9, 9, 1, B), kvLease("e", "1", 10, 10, 1, A),
	})

	// Revoke A: a and e go in revision 11.
	rv, err := e.cli.Revoke(e.ctx, A)
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "revoke A", rv.Header, 11)
	leaseCheckGone(t, e.ctx, e.cli, "revoked A", A)
	leaseCheckList(t, e.ctx, e.cli, "after revoking A", g.ID, g2.ID, B, Max)
	_, err = e.cli.Revoke(e.ctx, A)
	wantErr(t, err, rpctypes.ErrGRPCLeaseNotFound)
	_, err = e.cli.Put(e.ctx, "f", "1", clientv3.WithLease(A))
	wantErr(t, err, rpctypes.ErrGRPCLeaseNotFound)
	// A lease without keys: no revision.
	rv, err = e.cli.Revoke(e.ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "revoke a lease without keys", rv.Header, 11)
	// B: d goes in revision 12.
	rv, err = e.cli.Revoke(e.ctx, B)
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "revoke B", rv.Header, 12)
	leaseCheckList(t, e.ctx, e.cli, "after revoking B", g2.ID, Max)

	all, err = e.cli.Get(e.ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "get after revokes", all.Header, 12)
	checkKVs(t, "after revokes", all.Kvs, []*mvccpb.KeyValue{kv("c", "2", 4, 7, 2)})
	at10, err := e.cli.Get(e.ctx, "", clientv3.WithPrefix(), clientv3.WithRev(10))
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "at revision 10", at10.Kvs, []*mvccpb.KeyValue{
		kvLease("a", "2", 2, 6, 2, A), kv("c", "2", 4, 7, 2), kvLease("d", "1", 9, 9, 1, B), kvLease("e", "1", 10, 10, 1, A),
	})
	at11, err := e.cli.Get(e.ctx, "", clientv3.WithPrefix(), clientv3.WithRev(11))
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "at revision 11", at11.Kvs, []*mvccpb.KeyValue{kv("c", "2", 4, 7, 2), kvLease("d", "1", 9, 9, 1, B)})

	// The watcher saw every write, and each revoke's deletes together.
	evs, in := leaseWatchEvents(t, e.ctx, wch, 12)
	type ev struct {
		typ   mvccpb.Event_EventType
		key   string
		mod   int64
		lease clientv3.LeaseID
	}
	want := []ev{
		{mvccpb.PUT, "a", 2, A}, {mvccpb.PUT, "b", 3, A}, {mvccpb.PUT, "c", 4, B}, {mvccpb.PUT, "b", 5, B},
		{mvccpb.PUT, "a", 6, A}, {mvccpb.PUT, "c", 7, 0}, {mvccpb.DELETE, "b", 8, 0}, {mvccpb.PUT, "d", 9, B},
		{mvccpb.PUT, "e", 10, A}, {mvccpb.DELETE, "a", 11, 0}, {mvccpb.DELETE, "e", 11, 0}, {mvccpb.DELETE, "d", 12, 0},
	}
	for i, w := range want {
		x := evs[i]
		got := ev{x.Type, string(x.Kv.Key), x.Kv.ModRevision, clientv3.LeaseID(x.Kv.Lease)}
		if got != w {
			t.Errorf("watch event %d = %+v, want %+v", i, got, w)
		}
	}
	if in[9] != in[10] {
		t.Errorf("the deletes of revoking A came in two watch responses (%d, %d), want one", in[9], in[10])
	}
	if pk := evs[9].PrevKv; pk == nil || !kvEqual(pk, kvLease("a", "2", 2, 6, 2, A)) {
		t.Errorf("revoke's delete of a: prev_kv %s", fmtKV(pk))
	}
}

// LeaseKeepAlive on the raw stream: a known lease gets its granted TTL, an
// unknown one TTL 0 and no error, and the stream goes on; clientv3's
// KeepAliveOnce turns TTL 0 into ErrLeaseNotFound. A renewal resets the
// countdown to the full TTL.
func TestLeaseKeepAlive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, leaseTimingArgs...)
	lc := e.leases()
	const A, B = clientv3.LeaseID(0x10), clientv3.LeaseID(0x11)
	leaseGrantID(t, e.ctx, lc, int64(A), 10, 10)
	leaseGrantID(t, e.ctx, lc, int64(B), 4, 4)
	e.put(t, "k", "v", 2)
	if _, err := e.cli.Put(e.ctx, "ka", "v", clientv3.WithLease(A)); err != nil {
		t.Fatal(err)
	}

	stream, err := lc.LeaseKeepAlive(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ka := func(what string, id, wantTTL int64) {
		t.Helper()
		if err := stream.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
			t.Fatalf("%s: send: %v", what, err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("%s: recv: %v", what, err)
		}
		if resp.ID != id || resp.TTL != wantTTL {
			t.Errorf("%s: keep-alive = ID %x TTL %d, want ID %x TTL %d", what, resp.ID, resp.TTL, id, wantTTL)
		}
		e.checkHeader(t, what, resp.Header, 3)
	}
	ka("known lease", int64(A), 10)
	ka("unknown lease", 0x99, 0)
	ka("known lease after an unknown one", int64(A), 10)
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("recv after CloseSend: %v, want EOF", err)
	}

	r, err := e.cli.KeepAliveOnce(e.ctx, A)
	if err != nil || r.ID != A || r.TTL != 10 {
		t.Errorf("KeepAliveOnce(A) = %+v, %v; want TTL 10", r, err)
	}
	_, err = e.cli.KeepAliveOnce(e.ctx, 0x99)
	if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		t.Errorf("KeepAliveOnce(unknown) error = %v, want %v", err, rpctypes.ErrLeaseNotFound)
	}

	// B (TTL 4): after 2.2 s at most 1 s is left (etcd truncates); a
	// renewal brings it back to the full TTL.
	time.Sleep(2200 * time.Millisecond)
	leaseCheckTTL(t, e.ctx, e.cli, "B before renewal", B, 4, 0, 1)
	r, err = e.cli.KeepAliveOnce(e.ctx, B)
	if err != nil || r.ID != B || r.TTL != 4 {
		t.Fatalf("KeepAliveOnce(B) = %+v, %v; want TTL 4", r, err)
	}
	leaseCheckTTL(t, e.ctx, e.cli, "B after renewal", B, 4, 3, 4)

	// A revoked lease: TTL 0 on a new stream.
	if _, err := e.cli.Revoke(e.ctx, A); err != nil {
		t.Fatal(err)
	}
	stream, err = lc.LeaseKeepAlive(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.LeaseKeepAliveRequest{ID: int64(A)}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.ID != int64(A) || resp.TTL != 0 {
		t.Errorf("keep-alive of a revoked lease = %v, %v; want TTL 0", resp, err)
	}
	_ = stream.CloseSend()
}

// The minimum TTL is ceil(1.5 × election timeout) seconds, with the
// election timeout counted in whole heartbeat ticks and 1.5 × ticks
// rounded down, as etcd computes it: 1400/200 ms is 7 ticks, 10 ticks ×
// 200 ms = 2 s (not 2.1 s, which would give 3).
func TestLeaseMinTTL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		election, heartbeat int
		min                 int64
	}{
		{1000, 100, 2},
		{1400, 200, 2},
		{1500, 150, 3},
	} {
		t.Run(fmt.Sprintf("%d-%d", c.election, c.heartbeat), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "--election-timeout="+strconv.Itoa(c.election), "--heartbeat-interval="+strconv.Itoa(c.heartbeat))
			lc := e.leases()
			for i, ttl := range []int64{-1, 0, 1, c.min - 1, c.min, c.min + 1, 100} {
				want := max(ttl, c.min)
				leaseGrantID(t, e.ctx, lc, int64(i+1), ttl, want)
				leaseCheckTTL(t, e.ctx, e.cli, fmt.Sprintf("grant of %d", ttl), clientv3.LeaseID(i+1), want, 0, want)
			}
			g, err := e.cli.Grant(e.ctx, 1)
			if err != nil || g.TTL != c.min {
				t.Errorf("clientv3 Grant(1) = %+v, %v; want TTL %d", g, err, c.min)
			}
		})
	}
}

// leasePollKeys reads prefix every 100 ms until count keys or fewer are left,
// or until deadline. It fails the test if a read that completed before
// notBefore saw fewer than full keys (the lease expired early). It returns
// the time the read that saw count keys completed, or the zero time.
func leasePollKeys(t *testing.T, ctx context.Context, cli *clientv3.Client, prefix string, full, count int64, notBefore, deadline time.Time) time.Time {
	t.Helper()
	for {
		r, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		done := time.Now()
		if err != nil {
			t.Fatalf("get %s: %v", prefix, err)
		}
		if r.Count < full && done.Before(notBefore) {
			t.Fatalf("%d of %d keys under %s left %v before the lease could expire", r.Count, full, prefix, notBefore.Sub(done))
		}
		if r.Count <= count {
			return done
		}
		if done.After(deadline) {
			return time.Time{}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// An expired lease's keys are deleted within TTL + 2 s of the grant, all
// in one revision that the watcher sees in one response, never before the
// TTL; an expiring lease without keys makes no revision.
func TestLeaseExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, leaseTimingArgs...)
	e.put(t, "other", "1", 2)
	wch := e.cli.Watch(e.ctx, "exp/", clientv3.WithPrefix(), clientv3.WithRev(3))

	start := time.Now()
	l, err := e.cli.Grant(e.ctx, leaseMinTTL)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := e.cli.Grant(e.ctx, leaseMinTTL)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"exp/a", "exp/b", "exp/c"} {
		p, err := e.cli.Put(e.ctx, k, "v", clientv3.WithLease(l.ID))
		if err != nil {
			t.Fatal(err)
		}
		e.checkHeader(t, "put "+k, p.Header, int64(3+i))
	}
	ttl := time.Duration(leaseMinTTL) * time.Second
	gone := leasePollKeys(t, e.ctx, e.cli, "exp/", 3, 0, start.Add(ttl), start.Add(ttl+leaseExpirySlack))
	if gone.IsZero() {
		t.Fatalf("the keys of a %v lease still exist %v after the grant", ttl, time.Since(start))
	}
	t.Logf("keys gone %v after the grant", gone.Sub(start))

	evs, in := leaseWatchEvents(t, e.ctx, wch, 6)
	for i, k := range []string{"exp/a", "exp/b", "exp/c"} {
		p, d := evs[i], evs[3+i]
		if p.Type != mvccpb.PUT || string(p.Kv.Key) != k || p.Kv.Lease != int64(l.ID) {
			t.Errorf("event %d = %v %s lease %x, want PUT %s lease %x", i, p.Type, p.Kv.Key, p.Kv.Lease, k, l.ID)
		}
		if d.Type != mvccpb.DELETE || string(d.Kv.Key) != k || d.Kv.ModRevision != 6 {
			t.Errorf("event %d = %v %s mod %d, want DELETE %s mod 6", 3+i, d.Type, d.Kv.Key, d.Kv.ModRevision, k)
		}
	}
	if in[3] != in[4] || in[4] != in[5] {
		t.Errorf("the expiry's deletes came in responses %v, want one", in[3:])
	}

	// Wait for the lease without keys, then check the revisions.
	deadline := start.Add(ttl + leaseExpirySlack)
	for {
		r, err := e.cli.TimeToLive(e.ctx, empty.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.TTL == -1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a %v lease without keys is still there %v after the grant", ttl, time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	leaseCheckGone(t, e.ctx, e.cli, "expired lease", l.ID)
	leaseCheckList(t, e.ctx, e.cli, "after expiry")
	all, err := e.cli.Get(e.ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "get after expiry", all.Header, 6)
	checkKVs(t, "after expiry", all.Kvs, []*mvccpb.KeyValue{kv("other", "1", 2, 2, 1)})
	at5, err := e.cli.Get(e.ctx, "exp/", clientv3.WithPrefix(), clientv3.WithRev(5))
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "at revision 5", at5.Kvs, []*mvccpb.KeyValue{
		kvLease("exp/a", "v", 3, 3, 1, l.ID), kvLease("exp/b", "v", 4, 4, 1, l.ID), kvLease("exp/c", "v", 5, 5, 1, l.ID),
	})
}

// 200 leases kept alive by clientv3's KeepAlive for 2 × TTL: none expires
// and every keep-alive channel stays open. Once the keep-alives stop,
// each lease expires in its own revision.
func TestLeaseKeepAliveMany(t *testing.T) {
	t.Parallel()
	e := newEnv(t, leaseTimingArgs...)
	const n, ttlSec = 200, 3
	ttl := time.Duration(ttlSec) * time.Second

	ids := make([]clientv3.LeaseID, n)
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				g, err := e.cli.Grant(e.ctx, ttlSec)
				if err != nil {
					errc <- err
					return
				}
				ids[i] = g.ID
				if _, err := e.cli.Put(e.ctx, fmt.Sprintf("many/%03d", i), "v", clientv3.WithLease(g.ID)); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}

	kctx, kcancel := context.WithCancel(e.ctx)
	defer kcancel()
	var mu sync.Mutex
	count := make([]int, n)
	closed := make([]bool, n)
	var drain sync.WaitGroup
	for i, id := range ids {
		ch, err := e.cli.KeepAlive(kctx, id)
		if err != nil {
			t.Fatal(err)
		}
		drain.Add(1)
		go func() {
			defer drain.Done()
			for r := range ch {
				mu.Lock()
				if r.TTL == ttlSec {
					count[i]++
				}
				mu.Unlock()
			}
			if kctx.Err() == nil {
				mu.Lock()
				closed[i] = true
				mu.Unlock()
			}
		}()
	}
	time.Sleep(2 * ttl)

	r, err := e.cli.Get(e.ctx, "many/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != n {
		t.Errorf("%d of %d kept-alive leases' keys left after %v", r.Count, n, 2*ttl)
	}
	e.checkHeader(t, "get after keep-alives", r.Header, 1+n)
	mu.Lock()
	for i := range n {
		// First keep-alive at once, then every TTL/3: about 6 in 2 × TTL.
		if closed[i] || count[i] < 3 {
			t.Errorf("lease %d (%x): keep-alive channel closed %v after %d renewals with TTL %d", i, ids[i], closed[i], count[i], ttlSec)
		}
	}
	mu.Unlock()
	for _, i := range []int{0, n / 2, n - 1} {
		leaseCheckTTL(t, e.ctx, e.cli, "kept-alive lease", ids[i], ttlSec, 1, ttlSec, fmt.Sprintf("many/%03d", i))
	}

	kcancel()
	drain.Wait()
	stopped := time.Now()
	if leasePollKeys(t, e.ctx, e.cli, "many/", n, 0, time.Time{}, stopped.Add(ttl+leaseExpirySlack)).IsZero() {
		t.Fatalf("leases still alive %v after their keep-alives stopped", time.Since(stopped))
	}
	leaseCheckList(t, e.ctx, e.cli, "after expiry")
	g, err := e.cli.Get(e.ctx, "many/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "get after expiry", g.Header, 1+2*n)
}

// A lease survives a graceful restart with its keys; the restart gives it
// a fresh TTL (it does not expire before restart + TTL) and it still
// expires afterwards, deleting its keys in one revision.
func TestLeaseRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, leaseTimingArgs...)
	const ttlSec = 10
	ttl := time.Duration(ttlSec) * time.Second
	lc := e.leases()
	const A, B, C = clientv3.LeaseID(0xa), clientv3.LeaseID(0xb), clientv3.LeaseID(0xc)
	start := time.Now()
	leaseGrantID(t, e.ctx, lc, int64(A), ttlSec, ttlSec)
	leaseGrantID(t, e.ctx, lc, int64(B), ttlSec, ttlSec)
	leaseGrantID(t, e.ctx, lc, int64(C), ttlSec, ttlSec)
	for _, k := range []string{"rk/1", "rk/2"} {
		if _, err := e.cli.Put(e.ctx, k, "v", clientv3.WithLease(A)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.cli.Revoke(e.ctx, C); err != nil {
		t.Fatal(err)
	}

	e.m.Stop(t)
	relaunch := time.Now()
	e.m.Start(t)
	t.Logf("restarted %v after the grant", time.Since(start))

	leaseCheckList(t, e.ctx, e.cli, "after restart", A, B)
	leaseCheckTTL(t, e.ctx, e.cli, "A after restart", A, ttlSec, 1, ttlSec+1, "rk/1", "rk/2")
	leaseCheckGone(t, e.ctx, e.cli, "C, revoked before the restart", C)
	g, err := e.cli.Get(e.ctx, "rk/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "get after restart", g.Header, 3)
	checkKVs(t, "after restart", g.Kvs, []*mvccpb.KeyValue{kvLease("rk/1", "v", 2, 2, 1, A), kvLease("rk/2", "v", 3, 3, 1, A)})
	r, err := e.cli.KeepAliveOnce(e.ctx, B)
	if err != nil || r.TTL != ttlSec {
		t.Errorf("KeepAliveOnce(B) after restart = %+v, %v; want TTL %d", r, err, ttlSec)
	}

	// The new deadline is set when the restarted member leads: after
	// relaunch, plus the TTL (and etcd adds an election timeout).
	gone := leasePollKeys(t, e.ctx, e.cli, "rk/", 2, 0, relaunch.Add(ttl), time.Now().Add(ttl+time.Second+leaseExpirySlack))
	if gone.IsZero() {
		t.Fatalf("lease A still alive %v after the restart", time.Since(relaunch))
	}
	t.Logf("keys gone %v after the relaunch", gone.Sub(relaunch))
	leaseCheckGone(t, e.ctx, e.cli, "A after expiry", A)
	g, err = e.cli.Get(e.ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "get after expiry", g.Header, 4)
	if len(g.Kvs) != 0 {
		t.Errorf("keys after expiry: %s", fmtKVs(g.Kvs))
	}
}

// Debian's etcdctl (3.4) lease commands and put --lease, with the output
// etcd gives.
func TestLeaseEtcdctl(t *testing.T) {
	if _, err := os.Stat(etcdctlPath); err != nil {
		t.Skipf("%s not installed (apt-get install etcd-client)", etcdctlPath)
	}
	t.Parallel()
	e := newEnv(t, leaseTimingArgs...)
	granted := regexp.MustCompile(`^lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)\n$`)
	grant := func(ttl string, want int64) clientv3.LeaseID {
		t.Helper()
		r := e.etcdctl(t, "", "lease", "grant", ttl)
		m := granted.FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil || m[2] != strconv.FormatInt(want, 10) {
			t.Fatalf("lease grant %s: exit %d stdout %q stderr %q, want TTL(%ds)", ttl, r.code, r.stdout, r.stderr, want)
		}
		id, _ := strconv.ParseUint(m[1], 16, 64)
		return clientv3.LeaseID(id)
	}
	short := grant("1", leaseMinTTL)
	l := grant("60", 60)
	m := grant("120", 120)
	lx, mx := fmt.Sprintf("%016x", l), fmt.Sprintf("%016x", m)
	hx := fmt.Sprintf("%x", l) // etcdctl takes the ID in hex

	e.ctlOK(t, "OK\n", "put", "--lease="+hx, "ctl/a", "1")
	e.ctlOK(t, "OK\n", "put", "--lease="+hx, "ctl/b", "2")
	g, err := e.cli.Get(e.ctx, "ctl/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "put --lease", g.Kvs, []*mvccpb.KeyValue{kvLease("ctl/a", "1", 2, 2, 1, l), kvLease("ctl/b", "2", 3, 3, 1, l)})

	ttlLine := func(out, id string, granted int, tail string) bool {
		for rem := granted; rem >= granted-15; rem-- { // slack for a loaded machine
			if out == fmt.Sprintf("lease %s granted with TTL(%ds), remaining(%ds)%s\n", id, granted, rem, tail) {
				return true
			}
		}
		return false
	}
	r := e.etcdctl(t, "", "lease", "timetolive", hx)
	if r.code != 0 || !ttlLine(r.stdout, lx, 60, "") {
		t.Errorf("lease timetolive: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = e.etcdctl(t, "", "lease", "timetolive", "--keys", hx)
	if r.code != 0 || !(ttlLine(r.stdout, lx, 60, ", attached keys([ctl/a ctl/b])") || ttlLine(r.stdout, lx, 60, ", attached keys([ctl/b ctl/a])")) {
		t.Errorf("lease timetolive --keys: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = e.etcdctl(t, "", "lease", "timetolive", "--keys", fmt.Sprintf("%x", m))
	if r.code != 0 || !ttlLine(r.stdout, mx, 120, ", attached keys([])") {
		t.Errorf("lease timetolive --keys of a lease without keys: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	e.ctlOK(t, "lease "+lx+" keepalived with TTL(60)\n", "lease", "keep-alive", "--once", hx)

	// Let the short lease expire, then list.
	deadline := time.Now().Add(time.Duration(leaseMinTTL)*time.Second + leaseExpirySlack + time.Second)
	for {
		tr, err := e.cli.TimeToLive(e.ctx, short)
		if err != nil {
			t.Fatal(err)
		}
		if tr.TTL == -1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease %x (TTL %d) did not expire", short, leaseMinTTL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.ctlOK(t, fmt.Sprintf("lease %016x already expired\n", short), "lease", "timetolive", fmt.Sprintf("%x", short))
	r = e.etcdctl(t, "", "lease", "list")
	if r.code != 0 || (r.stdout != "found 2 leases\n"+lx+"\n"+mx+"\n" && r.stdout != "found 2 leases\n"+mx+"\n"+lx+"\n") {
		t.Errorf("lease list: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}

	e.ctlOK(t, "lease "+lx+" revoked\n", "lease", "revoke", hx)
	e.ctlOK(t, "lease "+lx+" already expired\n", "lease", "timetolive", "--keys", hx)
	e.ctlOK(t, "", "get", "ctl/", "--prefix")
	e.ctlFails(t, "failed to revoke lease (etcdserver: requested lease not found)", "lease", "revoke", hx)
	r = e.etcdctl(t, "", "lease", "keep-alive", "--once", hx)
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if r.code != 2 || r.stdout != "" || lines[len(lines)-1] != "Error: etcdserver: requested lease not found" {
		t.Errorf("lease keep-alive --once of a revoked lease: exit %d stdout %q stderr %q, want exit 2 and etcd's error", r.code, r.stdout, r.stderr)
	}
	e.ctlFails(t, "etcdserver: requested lease not found", "put", "--lease="+hx, "ctl/c", "3")
	e.ctlFails(t, "failed to grant lease (etcdserver: too large lease TTL)", "lease", "grant", "9000000001")
	e.ctlOK(t, "lease "+mx+" revoked\n", "lease", "revoke", fmt.Sprintf("%x", m))
	e.ctlOK(t, "found 0 leases\n", "lease", "list")
}
