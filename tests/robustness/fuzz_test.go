package robustness

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cairndb/cairn/tests/framework"
)

// FuzzGRPC sends random and mutated requests to every gRPC method of a
// running server (one member, the real binary) and checks that it never
// panics or exits, that every request is answered in time (methods that
// wait by design, such as Campaign, Lock and the streams, get a short
// deadline instead), and that a request the server rejects changes
// nothing: the revision, the leases, the members, the alarms and the auth
// state are the same after it as before. One exception, inherited from
// etcd: Campaign, Proclaim, Resign and Lock with lease 0 first grant a
// 60 s session lease, which outlives the request when it then fails; for
// them the lease set is not compared (testdata/fuzz holds the input that
// found it).
//
// An input is a short program: frames of [method byte][uvarint length]
// [request bytes], sent in order. The request bytes go to the server as
// they are, valid protobuf or not. The seed corpus below (a few valid and
// invalid requests for every method) runs as a plain test in CI:
//
//	go test ./tests/robustness -run FuzzGRPC
//
// and fuzzing proper with
//
//	go test ./tests/robustness -run '^$' -fuzz FuzzGRPC -fuzztime 10m
//
// After every input the harness resets the server (leases, alarms,
// members, auth, downgrade, keys), or wipes and restarts it when it
// cannot, so inputs do not depend on each other.
func FuzzGRPC(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	fz := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fz.run(t, data)
	})
}

// fuzzMethod is one gRPC method of the server.
type fuzzMethod struct {
	name string
	kind int // unary, serverStream or bidiStream
	// waits: the method may block by design (an election or lock held by
	// someone else, a stream that stays open), so it gets a short deadline
	// and running into it is not a hang.
	waits bool
}

const (
	unary = iota
	serverStream
	bidiStream
)

// fuzzMethods is every method the server serves; the seed corpus calls
// each, and fails if the server does not know one.
var fuzzMethods = []fuzzMethod{
	{"/etcdserverpb.KV/Range", unary, false},
	{"/etcdserverpb.KV/Put", unary, false},
	{"/etcdserverpb.KV/DeleteRange", unary, false},
	{"/etcdserverpb.KV/Txn", unary, false},
	{"/etcdserverpb.KV/Compact", unary, false},
	{"/etcdserverpb.Watch/Watch", bidiStream, true},
	{"/etcdserverpb.Lease/LeaseGrant", unary, false},
	{"/etcdserverpb.Lease/LeaseRevoke", unary, false},
	{"/etcdserverpb.Lease/LeaseKeepAlive", bidiStream, true},
	{"/etcdserverpb.Lease/LeaseTimeToLive", unary, false},
	{"/etcdserverpb.Lease/LeaseLeases", unary, false},
	{"/etcdserverpb.Cluster/MemberAdd", unary, false},
	{"/etcdserverpb.Cluster/MemberRemove", unary, false},
	{"/etcdserverpb.Cluster/MemberUpdate", unary, false},
	{"/etcdserverpb.Cluster/MemberList", unary, false},
	{"/etcdserverpb.Cluster/MemberPromote", unary, false},
	{"/etcdserverpb.Maintenance/Alarm", unary, false},
	{"/etcdserverpb.Maintenance/Status", unary, false},
	{"/etcdserverpb.Maintenance/Defragment", unary, false},
	{"/etcdserverpb.Maintenance/Hash", unary, false},
	{"/etcdserverpb.Maintenance/HashKV", unary, false},
	{"/etcdserverpb.Maintenance/Snapshot", serverStream, false},
	{"/etcdserverpb.Maintenance/MoveLeader", unary, false},
	{"/etcdserverpb.Maintenance/Downgrade", unary, false},
	{"/etcdserverpb.Auth/AuthEnable", unary, false},
	{"/etcdserverpb.Auth/AuthDisable", unary, false},
	{"/etcdserverpb.Auth/AuthStatus", unary, false},
	{"/etcdserverpb.Auth/Authenticate", unary, false},
	{"/etcdserverpb.Auth/UserAdd", unary, false},
	{"/etcdserverpb.Auth/UserGet", unary, false},
	{"/etcdserverpb.Auth/UserList", unary, false},
	{"/etcdserverpb.Auth/UserDelete", unary, false},
	{"/etcdserverpb.Auth/UserChangePassword", unary, false},
	{"/etcdserverpb.Auth/UserGrantRole", unary, false},
	{"/etcdserverpb.Auth/UserRevokeRole", unary, false},
	{"/etcdserverpb.Auth/RoleAdd", unary, false},
	{"/etcdserverpb.Auth/RoleGet", unary, false},
	{"/etcdserverpb.Auth/RoleList", unary, false},
	{"/etcdserverpb.Auth/RoleDelete", unary, false},
	{"/etcdserverpb.Auth/RoleGrantPermission", unary, false},
	{"/etcdserverpb.Auth/RoleRevokePermission", unary, false},
	{"/v3electionpb.Election/Campaign", unary, true},
	{"/v3electionpb.Election/Proclaim", unary, false},
	{"/v3electionpb.Election/Leader", unary, false},
	{"/v3electionpb.Election/Resign", unary, false},
	{"/v3electionpb.Election/Observe", serverStream, true},
	{"/v3lockpb.Lock/Lock", unary, true},
	{"/v3lockpb.Lock/Unlock", unary, false},
	{"/grpc.health.v1.Health/Check", unary, false},
	{"/grpc.health.v1.Health/Watch", serverStream, true},
}

func methodIndex(name string) byte {
	for i, m := range fuzzMethods {
		if strings.HasSuffix(m.name, "/"+name) {
			return byte(i)
		}
	}
	panic("robustness: no method " + name)
}

// Limits of one input.
const (
	maxFrames      = 6
	maxFrameBytes  = 64 << 10
	unaryTimeout   = 10 * time.Second // an answer later than this is a hang
	waitingTimeout = 500 * time.Millisecond
)

type fuzzFrame struct {
	m       fuzzMethod
	payload []byte
}

// decodeFrames cuts an input into frames; a truncated frame takes what is
// left.
func decodeFrames(data []byte) []fuzzFrame {
	var out []fuzzFrame
	for len(data) > 0 && len(out) < maxFrames {
		m := fuzzMethods[int(data[0])%len(fuzzMethods)]
		data = data[1:]
		n, k := binary.Uvarint(data)
		if k <= 0 || n > uint64(len(data)-k) {
			n, k = uint64(len(data)), 0
		}
		data = data[k:]
		p := data[:min(n, maxFrameBytes)]
		data = data[n:]
		out = append(out, fuzzFrame{m: m, payload: p})
	}
	return out
}

func encodeFrame(method string, payload []byte) []byte {
	b := []byte{methodIndex(method)}
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...)
}

// rawCodec sends and receives message bytes as they are.
type rawCodec struct{}

type rawMsg struct{ b []byte }

func (rawCodec) Marshal(v any) ([]byte, error) { return v.(*rawMsg).b, nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	v.(*rawMsg).b = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// fuzzServer is the server under fuzzing and typed clients for checking
// and resetting it.
type fuzzServer struct {
	m       *framework.Member
	bin     string
	conn    *grpc.ClientConn
	kv      pb.KVClient
	lease   pb.LeaseClient
	maint   pb.MaintenanceClient
	cl      pb.ClusterClient
	auth    pb.AuthClient
	peerURL string
	logOff  int64 // how much of the log has been checked for panics

	rootPassword string // the password root was last given, if known
}

func newFuzzServer(f *testing.F) *fuzzServer {
	m := framework.NewMember(f, framework.MemberConfig{
		Name: "fuzz",
		// A long election timeout makes the minimum lease TTL 5 s, so no
		// lease an input grants expires while the input runs (expiry would
		// change the revision behind a rejected request's back).
		Args: []string{"--heartbeat-interval=100", "--election-timeout=3000"},
	})
	fz := &fuzzServer{m: m, bin: framework.BinaryPath(f), peerURL: m.PeerURL}
	if err := fz.start(); err != nil {
		f.Fatal(err)
	}
	conn, err := grpc.NewClient(m.ClientAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close() })
	fz.conn = conn
	fz.kv, fz.lease, fz.maint = pb.NewKVClient(conn), pb.NewLeaseClient(conn), pb.NewMaintenanceClient(conn)
	fz.cl, fz.auth = pb.NewClusterClient(conn), pb.NewAuthClient(conn)
	return fz
}

func (fz *fuzzServer) start() error {
	if err := fz.m.Launch(fz.bin); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return fz.m.WaitReady(ctx)
}

// wipe kills the server, deletes its data and starts it afresh.
func (fz *fuzzServer) wipe() error {
	if fz.m.Running() {
		_ = fz.m.Signal(syscall.SIGKILL)
		if _, err := fz.m.WaitExit(framework.DefaultStopTimeout); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(fz.m.DataDir); err != nil {
		return err
	}
	fz.rootPassword = ""
	return fz.start()
}

// run sends one input and checks the server after every frame.
func (fz *fuzzServer) run(t *testing.T, data []byte) {
	if !fz.m.Running() {
		// An earlier input killed it (and failed); start again so that
		// minimizing that input works.
		if err := fz.wipe(); err != nil {
			t.Fatal(err)
		}
	}
	fz.logOff = logSize(fz.m.LogPath)
	for i, fr := range decodeFrames(data) {
		before := fz.fingerprint()
		err := fz.send(fr)
		what := fmt.Sprintf("frame %d: %s(%x)", i, fr.m.name, truncateBytes(fr.payload, 64))
		fz.checkAlive(t, what)
		t.Logf("%s: %v", what, err)
		if err == nil {
			fz.learn(fr)
			continue
		}
		code := status.Code(err)
		msg := status.Convert(err).Message()
		switch {
		case code == codes.Unimplemented && (strings.Contains(msg, "unknown service") || strings.Contains(msg, "unknown method")):
			t.Errorf("%s: the server does not serve this method: %v", what, err)
		case code == codes.DeadlineExceeded && !fr.m.waits:
			t.Fatalf("%s: no answer within %v: %v", what, unaryTimeout, err)
		}
		if code == codes.DeadlineExceeded || code == codes.Canceled || code == codes.Unavailable {
			continue // outcome unknown: not a rejection
		}
		after := fz.fingerprint()
		if grantsSession(fr.m) {
			// As in etcd, Campaign, Proclaim, Resign and Lock run
			// client/v3/concurrency inside the server: a request whose
			// lease is 0 gets a new 60 s session lease first, which stays
			// (until it expires) when the request then fails.
			before.leases, after.leases = "", ""
		}
		if after != before {
			t.Errorf("%s was rejected (%v) but changed the server's state:\n before %s\n after  %s", what, err, before, after)
		}
	}
	if err := fz.reset(); err != nil {
		t.Logf("reset failed (%v); wiping the server", err)
		if err := fz.wipe(); err != nil {
			t.Fatal(err)
		}
	}
	fz.checkAlive(t, "reset")
}

func truncateBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func logSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// checkAlive fails the test if the server exited or logged a panic.
func (fz *fuzzServer) checkAlive(t *testing.T, what string) {
	if !fz.m.Running() {
		t.Fatalf("the server exited (%v) after %s; its log ends:\n%s", fz.m.ProcessState(), what, fz.m.LogTail(40))
	}
	f, err := os.Open(fz.m.LogPath)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(fz.logOff, io.SeekStart); err != nil {
		return
	}
	b, _ := io.ReadAll(f)
	fz.logOff += int64(len(b))
	if i := bytes.Index(b, []byte("panic")); i >= 0 {
		t.Fatalf("the server logged a panic after %s:\n%s", what, truncateBytes(b[i:], 4000))
	}
}

// send makes one request, as unary call or stream, with raw bytes.
func (fz *fuzzServer) send(fr fuzzFrame) error {
	timeout := unaryTimeout
	if fr.m.waits {
		timeout = waitingTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	codec := grpc.ForceCodec(rawCodec{})
	if fr.m.kind == unary {
		return fz.conn.Invoke(ctx, fr.m.name, &rawMsg{fr.payload}, &rawMsg{}, codec)
	}
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: fr.m.kind == bidiStream}
	st, err := fz.conn.NewStream(ctx, desc, fr.m.name, codec)
	if err != nil {
		return err
	}
	if err := st.SendMsg(&rawMsg{fr.payload}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if fr.m.kind == serverStream {
		if err := st.CloseSend(); err != nil {
			return err
		}
	}
	for i := 0; i < 100000; i++ {
		if err := st.RecvMsg(&rawMsg{}); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if fr.m.waits && status.Code(err) == codes.DeadlineExceeded {
				return nil // the stream stayed open, as it may
			}
			return err
		}
	}
	return nil
}

// learn remembers root's password when a request that set it succeeded.
func (fz *fuzzServer) learn(fr fuzzFrame) {
	switch {
	case strings.HasSuffix(fr.m.name, "/UserAdd"):
		var r pb.AuthUserAddRequest
		if r.Unmarshal(fr.payload) == nil && r.Name == "root" {
			fz.rootPassword = r.Password
			if r.HashedPassword != "" || (r.Options != nil && r.Options.NoPassword) {
				fz.rootPassword = ""
			}
		}
	case strings.HasSuffix(fr.m.name, "/UserChangePassword"):
		var r pb.AuthUserChangePasswordRequest
		if r.Unmarshal(fr.payload) == nil && r.Name == "root" {
			fz.rootPassword = r.Password
			if r.HashedPassword != "" {
				fz.rootPassword = ""
			}
		}
	}
}

// fingerprint is the state a rejected request must not change.
type fingerprint struct {
	rev, leases, members, alarms, auth string
}

func (f fingerprint) String() string {
	return fmt.Sprintf("revision %s; leases %s; members %s; alarms %s; auth %s", f.rev, f.leases, f.members, f.alarms, f.auth)
}

// grantsSession reports whether m may grant a session lease of its own.
func grantsSession(m fuzzMethod) bool {
	for _, s := range []string{"/Campaign", "/Proclaim", "/Resign", "/v3lockpb.Lock/Lock"} {
		if strings.HasSuffix(m.name, s) {
			return true
		}
	}
	return false
}

func (fz *fuzzServer) fingerprint() fingerprint {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var f fingerprint
	if st, err := fz.maint.Status(ctx, &pb.StatusRequest{}); err == nil {
		f.rev = fmt.Sprint(st.Header.Revision)
	} else {
		f.rev = fmt.Sprintf("(%v)", err)
	}
	if ls, err := fz.lease.LeaseLeases(ctx, &pb.LeaseLeasesRequest{}); err == nil {
		var ids []int64
		for _, l := range ls.Leases {
			ids = append(ids, l.ID)
		}
		slices.Sort(ids)
		f.leases = fmt.Sprintf("%x", ids)
	}
	if ml, err := fz.cl.MemberList(ctx, &pb.MemberListRequest{Linearizable: true}); err == nil {
		for _, m := range ml.Members {
			f.members += fmt.Sprintf(" %x%v%v", m.ID, m.PeerURLs, m.IsLearner)
		}
	}
	if al, err := fz.maint.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET}); err == nil {
		f.alarms = fmt.Sprint(al.Alarms)
	}
	if as, err := fz.auth.AuthStatus(ctx, &pb.AuthStatusRequest{}); err == nil {
		f.auth = fmt.Sprintf("%v revision %d", as.Enabled, as.AuthRevision)
	}
	return f
}

// reset undoes what an input may have left behind.
func (fz *fuzzServer) reset() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	as, err := fz.auth.AuthStatus(ctx, &pb.AuthStatusRequest{})
	if err != nil {
		return fmt.Errorf("auth status: %w", err)
	}
	if as.Enabled {
		if fz.rootPassword == "" {
			return errors.New("auth is enabled and root's password is not known")
		}
		tok, err := fz.auth.Authenticate(ctx, &pb.AuthenticateRequest{Name: "root", Password: fz.rootPassword})
		if err != nil {
			return fmt.Errorf("authenticate as root: %w", err)
		}
		actx := metadata.AppendToOutgoingContext(ctx, rpctypes.TokenFieldNameGRPC, tok.Token)
		if _, err := fz.auth.AuthDisable(actx, &pb.AuthDisableRequest{}); err != nil {
			return fmt.Errorf("auth disable: %w", err)
		}
	}
	if ls, err := fz.lease.LeaseLeases(ctx, &pb.LeaseLeasesRequest{}); err == nil {
		for _, l := range ls.Leases {
			if _, err := fz.lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: l.ID}); err != nil && !isLeaseNotFound(err) {
				return fmt.Errorf("revoke %x: %w", l.ID, err)
			}
		}
	}
	if al, err := fz.maint.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET}); err == nil {
		for _, a := range al.Alarms {
			if _, err := fz.maint.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: a.MemberID, Alarm: a.Alarm}); err != nil {
				return fmt.Errorf("deactivate alarm: %w", err)
			}
		}
	}
	_, _ = fz.maint.Downgrade(ctx, &pb.DowngradeRequest{Action: pb.DowngradeRequest_CANCEL})
	ml, err := fz.cl.MemberList(ctx, &pb.MemberListRequest{Linearizable: true})
	if err != nil {
		return fmt.Errorf("member list: %w", err)
	}
	for _, m := range ml.Members {
		if m.ID == ml.Header.MemberId {
			if !slices.Equal(m.PeerURLs, []string{fz.peerURL}) {
				if _, err := fz.cl.MemberUpdate(ctx, &pb.MemberUpdateRequest{ID: m.ID, PeerURLs: []string{fz.peerURL}}); err != nil {
					return fmt.Errorf("restore peer URL: %w", err)
				}
			}
			continue
		}
		if _, err := fz.cl.MemberRemove(ctx, &pb.MemberRemoveRequest{ID: m.ID}); err != nil {
			return fmt.Errorf("remove member %x: %w", m.ID, err)
		}
	}
	if ul, err := fz.auth.UserList(ctx, &pb.AuthUserListRequest{}); err == nil {
		for _, u := range ul.Users {
			_, _ = fz.auth.UserDelete(ctx, &pb.AuthUserDeleteRequest{Name: u})
		}
	}
	if rl, err := fz.auth.RoleList(ctx, &pb.AuthRoleListRequest{}); err == nil {
		for _, r := range rl.Roles {
			_, _ = fz.auth.RoleDelete(ctx, &pb.AuthRoleDeleteRequest{Role: r})
		}
	}
	fz.rootPassword = ""
	if _, err := fz.kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}); err != nil {
		return fmt.Errorf("delete all keys: %w", err)
	}
	return nil
}

// marshaler is a gogo-generated etcd message.
type marshaler interface{ Marshal() ([]byte, error) }

func mustMarshal(tb testing.TB, m marshaler) []byte {
	b, err := m.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Hand-encoded messages of the election and lock services (their types
// live in etcd's server module).
func pbBytes(field protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, field, protowire.BytesType), v)
}

func pbVarint(field protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, field, protowire.VarintType), v)
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func manyCompares(n int) []*pb.Compare {
	var cs []*pb.Compare
	for i := 0; i < n; i++ {
		cs = append(cs, &pb.Compare{Key: []byte{'c', byte(i)}, Target: pb.Compare_VERSION})
	}
	return cs
}

// fuzzSeeds returns the seed corpus: for every method a valid request, and
// requests the server must refuse, alone or in short programs.
func fuzzSeeds(tb testing.TB) [][]byte {
	mm := func(m marshaler) []byte { return mustMarshal(tb, m) }
	k := []byte("fuzz/k")
	leader := cat(pbBytes(1, []byte("e")), pbBytes(2, []byte("e/1")), pbVarint(3, 5), pbVarint(4, 0x77))
	single := map[string][][]byte{
		"Range": {mm(&pb.RangeRequest{Key: k}), mm(&pb.RangeRequest{}), mm(&pb.RangeRequest{Key: k, Revision: 1 << 40}),
			mm(&pb.RangeRequest{Key: k, SortOrder: 7}), mm(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Limit: -5, Revision: -3})},
		"Put": {mm(&pb.PutRequest{Key: k, Value: []byte("v")}), mm(&pb.PutRequest{Value: []byte("v")}),
			mm(&pb.PutRequest{Key: k, Lease: 12345}), mm(&pb.PutRequest{Key: k, IgnoreValue: true, Value: []byte("x")}),
			mm(&pb.PutRequest{Key: []byte("fuzz/missing"), IgnoreLease: true})},
		"DeleteRange": {mm(&pb.DeleteRangeRequest{Key: k}), mm(&pb.DeleteRangeRequest{}), mm(&pb.DeleteRangeRequest{Key: []byte("b"), RangeEnd: []byte("a")})},
		"Txn": {
			mm(&pb.TxnRequest{Compare: []*pb.Compare{{Key: k, Target: pb.Compare_MOD, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_ModRevision{ModRevision: 0}}},
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: k, Value: []byte("t")}}}}}),
			mm(&pb.TxnRequest{Success: []*pb.RequestOp{
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: k}}},
				{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: k}}}}}),
			mm(&pb.TxnRequest{Success: []*pb.RequestOp{{}}}),
			mm(&pb.TxnRequest{Compare: []*pb.Compare{{Target: pb.Compare_VALUE}}}),
			mm(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: k, Lease: 999}}}}}}}}}),
			mm(&pb.TxnRequest{Compare: manyCompares(200)}),
		},
		"Compact":            {mm(&pb.CompactionRequest{Revision: 1}), mm(&pb.CompactionRequest{Revision: 1 << 50}), mm(&pb.CompactionRequest{Revision: -1, Physical: true})},
		"Watch":              {mm(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: k, StartRevision: -5}}}), mm(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: 42}}}), mm(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}), mm(&pb.WatchRequest{})},
		"LeaseGrant":         {mm(&pb.LeaseGrantRequest{TTL: 60, ID: 0x77}), mm(&pb.LeaseGrantRequest{TTL: 9_000_000_001}), mm(&pb.LeaseGrantRequest{TTL: -1, ID: -1})},
		"LeaseRevoke":        {mm(&pb.LeaseRevokeRequest{ID: 0x77}), mm(&pb.LeaseRevokeRequest{})},
		"LeaseKeepAlive":     {mm(&pb.LeaseKeepAliveRequest{ID: 0x77}), mm(&pb.LeaseKeepAliveRequest{ID: -9})},
		"LeaseTimeToLive":    {mm(&pb.LeaseTimeToLiveRequest{ID: 0x77, Keys: true}), mm(&pb.LeaseTimeToLiveRequest{})},
		"LeaseLeases":        {mm(&pb.LeaseLeasesRequest{})},
		"MemberAdd":          {mm(&pb.MemberAddRequest{PeerURLs: []string{"http://127.0.0.1:1"}, IsLearner: true}), mm(&pb.MemberAddRequest{PeerURLs: []string{"http://127.0.0.1:2"}}), mm(&pb.MemberAddRequest{PeerURLs: []string{"::bad"}}), mm(&pb.MemberAddRequest{})},
		"MemberRemove":       {mm(&pb.MemberRemoveRequest{ID: 0x1234}), mm(&pb.MemberRemoveRequest{})},
		"MemberUpdate":       {mm(&pb.MemberUpdateRequest{ID: 0x1234, PeerURLs: []string{"http://127.0.0.1:3"}}), mm(&pb.MemberUpdateRequest{})},
		"MemberList":         {mm(&pb.MemberListRequest{Linearizable: true}), mm(&pb.MemberListRequest{})},
		"MemberPromote":      {mm(&pb.MemberPromoteRequest{ID: 0x1234}), mm(&pb.MemberPromoteRequest{})},
		"Alarm":              {mm(&pb.AlarmRequest{Action: pb.AlarmRequest_GET}), mm(&pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, Alarm: pb.AlarmType_NOSPACE}), mm(&pb.AlarmRequest{Action: 9, Alarm: 9})},
		"Status":             {mm(&pb.StatusRequest{})},
		"Defragment":         {mm(&pb.DefragmentRequest{})},
		"Hash":               {mm(&pb.HashRequest{})},
		"HashKV":             {mm(&pb.HashKVRequest{}), mm(&pb.HashKVRequest{Revision: 1 << 40}), mm(&pb.HashKVRequest{Revision: -2})},
		"Snapshot":           {mm(&pb.SnapshotRequest{})},
		"MoveLeader":         {mm(&pb.MoveLeaderRequest{TargetID: 0x1234}), mm(&pb.MoveLeaderRequest{})},
		"Downgrade":          {mm(&pb.DowngradeRequest{Action: pb.DowngradeRequest_VALIDATE, Version: "3.5.0"}), mm(&pb.DowngradeRequest{Action: pb.DowngradeRequest_ENABLE, Version: "x"}), mm(&pb.DowngradeRequest{Action: 7})},
		"AuthEnable":         {mm(&pb.AuthEnableRequest{})},
		"AuthDisable":        {mm(&pb.AuthDisableRequest{})},
		"AuthStatus":         {mm(&pb.AuthStatusRequest{})},
		"Authenticate":       {mm(&pb.AuthenticateRequest{Name: "root", Password: "x"}), mm(&pb.AuthenticateRequest{})},
		"UserAdd":            {mm(&pb.AuthUserAddRequest{Name: "u", Password: "p"}), mm(&pb.AuthUserAddRequest{}), mm(&pb.AuthUserAddRequest{Name: "h", HashedPassword: "not-a-hash"})},
		"UserGet":            {mm(&pb.AuthUserGetRequest{Name: "u"}), mm(&pb.AuthUserGetRequest{})},
		"UserList":           {mm(&pb.AuthUserListRequest{})},
		"UserDelete":         {mm(&pb.AuthUserDeleteRequest{Name: "u"}), mm(&pb.AuthUserDeleteRequest{})},
		"UserChangePassword": {mm(&pb.AuthUserChangePasswordRequest{Name: "u", Password: "q"}), mm(&pb.AuthUserChangePasswordRequest{})},
		"UserGrantRole":      {mm(&pb.AuthUserGrantRoleRequest{User: "u", Role: "r"}), mm(&pb.AuthUserGrantRoleRequest{})},
		"UserRevokeRole":     {mm(&pb.AuthUserRevokeRoleRequest{Name: "u", Role: "r"}), mm(&pb.AuthUserRevokeRoleRequest{})},
		"RoleAdd":            {mm(&pb.AuthRoleAddRequest{Name: "r"}), mm(&pb.AuthRoleAddRequest{})},
		"RoleGet":            {mm(&pb.AuthRoleGetRequest{Role: "r"}), mm(&pb.AuthRoleGetRequest{})},
		"RoleList":           {mm(&pb.AuthRoleListRequest{})},
		"RoleDelete":         {mm(&pb.AuthRoleDeleteRequest{Role: "r"}), mm(&pb.AuthRoleDeleteRequest{Role: "root"})},
		"RoleGrantPermission": {mm(&pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: &authpb.Permission{PermType: authpb.READWRITE, Key: k}}),
			mm(&pb.AuthRoleGrantPermissionRequest{Name: "r"}), mm(&pb.AuthRoleGrantPermissionRequest{Name: "r", Perm: &authpb.Permission{PermType: 9, Key: []byte("b"), RangeEnd: []byte("a")}})},
		"RoleRevokePermission": {mm(&pb.AuthRoleRevokePermissionRequest{Role: "r", Key: k}), mm(&pb.AuthRoleRevokePermissionRequest{})},
		"Campaign":             {cat(pbBytes(1, []byte("e")), pbVarint(2, 0x77), pbBytes(3, []byte("v"))), cat(pbBytes(1, []byte("e")))},
		"Proclaim":             {cat(pbBytes(1, leader), pbBytes(2, []byte("v"))), pbBytes(2, []byte("v"))},
		"Leader":               {pbBytes(1, []byte("e")), nil},
		"Resign":               {pbBytes(1, leader), nil},
		"Observe":              {pbBytes(1, []byte("e"))},
		"Lock":                 {cat(pbBytes(1, []byte("l")), pbVarint(2, 0x77)), pbBytes(1, []byte("l"))},
		"Unlock":               {pbBytes(1, []byte("l/77")), nil},
		"Check":                {nil, pbBytes(1, []byte("no-such-service"))},
	}
	var seeds [][]byte
	for _, m := range fuzzMethods {
		name := m.name[strings.LastIndex(m.name, "/")+1:]
		reqs := single[name]
		if m.name == "/grpc.health.v1.Health/Watch" {
			reqs = [][]byte{nil}
		}
		if len(reqs) == 0 {
			tb.Fatalf("robustness: no seed for %s", m.name)
		}
		for _, r := range reqs {
			seeds = append(seeds, encodeFrame(m.name[1:], r))
		}
		// The same bytes cut short, and garbage that is not protobuf.
		if len(reqs[0]) > 2 {
			seeds = append(seeds, encodeFrame(m.name[1:], reqs[0][:len(reqs[0])-1]))
		}
		seeds = append(seeds, encodeFrame(m.name[1:], []byte{0xff, 0xff, 0xff, 0x0f, 0x08}))
	}
	lease := mm(&pb.LeaseGrantRequest{TTL: 60, ID: 0x77})
	// Short programs: state an input builds up, then requests that use it.
	seeds = append(seeds,
		cat(encodeFrame("etcdserverpb.Lease/LeaseGrant", lease),
			encodeFrame("etcdserverpb.KV/Put", mm(&pb.PutRequest{Key: k, Lease: 0x77})),
			encodeFrame("v3lockpb.Lock/Lock", cat(pbBytes(1, []byte("l")), pbVarint(2, 0x77))),
			encodeFrame("v3electionpb.Election/Campaign", cat(pbBytes(1, []byte("e")), pbVarint(2, 0x77), pbBytes(3, []byte("v")))),
			encodeFrame("etcdserverpb.Lease/LeaseGrant", lease),
			encodeFrame("etcdserverpb.Lease/LeaseRevoke", mm(&pb.LeaseRevokeRequest{ID: 0x77}))),
		cat(encodeFrame("etcdserverpb.Auth/UserAdd", mm(&pb.AuthUserAddRequest{Name: "root", Password: "pw"})),
			encodeFrame("etcdserverpb.Auth/UserGrantRole", mm(&pb.AuthUserGrantRoleRequest{User: "root", Role: "root"})),
			encodeFrame("etcdserverpb.Auth/AuthEnable", nil),
			encodeFrame("etcdserverpb.KV/Put", mm(&pb.PutRequest{Key: k, Value: []byte("no token")})),
			encodeFrame("etcdserverpb.Auth/UserAdd", mm(&pb.AuthUserAddRequest{Name: "x", Password: "y"})),
			encodeFrame("etcdserverpb.Auth/AuthDisable", nil)),
		cat(encodeFrame("etcdserverpb.Maintenance/Alarm", mm(&pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, Alarm: pb.AlarmType_NOSPACE})),
			encodeFrame("etcdserverpb.KV/Put", mm(&pb.PutRequest{Key: k, Value: []byte("no space")})),
			encodeFrame("etcdserverpb.Lease/LeaseGrant", lease)),
		cat(encodeFrame("etcdserverpb.KV/Put", mm(&pb.PutRequest{Key: k, Value: []byte("1")})),
			encodeFrame("etcdserverpb.KV/Put", mm(&pb.PutRequest{Key: k, Value: []byte("2")})),
			encodeFrame("etcdserverpb.KV/Compact", mm(&pb.CompactionRequest{Revision: 3, Physical: true})),
			encodeFrame("etcdserverpb.KV/Range", mm(&pb.RangeRequest{Key: k, Revision: 2})),
			encodeFrame("etcdserverpb.Watch/Watch", mm(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: k, StartRevision: 1}}}))),
		cat(encodeFrame("etcdserverpb.Cluster/MemberAdd", mm(&pb.MemberAddRequest{PeerURLs: []string{"http://127.0.0.1:4"}, IsLearner: true})),
			encodeFrame("etcdserverpb.Cluster/MemberAdd", mm(&pb.MemberAddRequest{PeerURLs: []string{"http://127.0.0.1:4"}})),
			encodeFrame("etcdserverpb.Maintenance/MoveLeader", mm(&pb.MoveLeaderRequest{TargetID: 1}))),
	)
	return seeds
}
