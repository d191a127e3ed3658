// Package cluster holds fault and membership tests of multi-member
// clusters: 3 and 5 server processes on loopback whose peer traffic passes
// through framework.Proxy, so partitions are real cuts of TCP traffic.
//
// Every scenario ends by checking that the members, once they agree on the
// revision and the raft applied index, report the same HashKV at that
// revision, and, where clients wrote during the faults, that every
// acknowledged write is on every member.
//
// Run against etcd itself with CAIRN_TEST_BINARY=/usr/bin/etcd. Debian's
// etcd is 3.4: it lacks --max-learners and the snapshot catch-up flag, so
// the tests drop those flags (and the asserts that need them) when the
// server is 3.4, saying so where they do.
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cairndb/cairn/tests/framework"
)

func TestMain(m *testing.M) { framework.RunMain(m) }

// Raft timing of every test cluster: short, so faults resolve fast.
const (
	heartbeatMs = 50
	electionMs  = 500
	election    = electionMs * time.Millisecond
	// reqTimeout is the server's request timeout, as etcd computes it:
	// 5 s plus two election timeouts.
	reqTimeout = 5*time.Second + 2*election
	// leaderWithin bounds how long a cluster may go without a leader after
	// losing one: "a few election timeouts".
	leaderWithin = 5 * election
)

var timingArgs = []string{
	"--heartbeat-interval=" + strconv.Itoa(heartbeatMs),
	"--election-timeout=" + strconv.Itoa(electionMs),
	"--pre-vote=true", // etcd 3.6's default; etcd 3.4's is false
}

// env is one cluster behind proxies and per-member clients.
type env struct {
	t    *testing.T
	pc   *framework.ProxiedCluster
	ctx  context.Context
	is34 bool // the server is etcd 3.4

	mu   sync.Mutex
	clis map[int]*clientv3.Client
}

// newEnv starts a cluster of size members with the timing flags and args.
func newEnv(t *testing.T, size int, args ...string) *env {
	t.Helper()
	pc := framework.NewProxiedCluster(t, framework.ClusterConfig{
		Size:  size,
		Token: "tok-" + strings.ReplaceAll(t.Name(), "/", "-"),
		Args:  append(append([]string(nil), timingArgs...), args...),
	})
	e := &env{t: t, pc: pc, ctx: framework.Context(t, 3*time.Minute), clis: map[int]*clientv3.Client{}}
	e.is34 = strings.HasPrefix(framework.ServerVersion(t, e.cli(0), pc.Members[0].ClientURL), "3.4.")
	return e
}

// serverIs34 tells, before any cluster starts, whether the binary under test
// is etcd 3.4, which lacks some flags.
func serverIs34(t *testing.T) bool {
	out, err := exec.Command(framework.BinaryPath(t), "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", framework.BinaryPath(t), err)
	}
	return strings.HasPrefix(string(out), "etcd Version: 3.4.")
}

// cli is a client of member i only, made once.
func (e *env) cli(i int) *clientv3.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.clis[i]; ok {
		return c
	}
	c := framework.NewClient(e.t, e.pc.Members[i].ClientURL)
	e.clis[i] = c
	return c
}

// grpcConn is a plain gRPC connection to member i, without clientv3's
// retries, for checking the error a single request gets.
func (e *env) grpcConn(i int) *grpc.ClientConn {
	e.t.Helper()
	conn, err := grpc.NewClient(e.pc.Members[i].ClientAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return conn
}

func (e *env) name(i int) string { return e.pc.Members[i].Name }

// indexOf maps a member ID to its index.
func (e *env) indexOf(id uint64) int {
	for i, x := range e.pc.IDs {
		if x == id && id != 0 {
			return i
		}
	}
	return -1
}

func (e *env) all() []int {
	var idx []int
	for i := range e.pc.Members {
		idx = append(idx, i)
	}
	return idx
}

// others lists the indexes in idx except the excluded ones.
func others(idx []int, except ...int) []int {
	var out []int
	for _, i := range idx {
		skip := false
		for _, x := range except {
			skip = skip || i == x
		}
		if !skip {
			out = append(out, i)
		}
	}
	return out
}

func (e *env) status(i int, d time.Duration) (*clientv3.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(e.ctx, d)
	defer cancel()
	return e.cli(i).Status(ctx, e.pc.Members[i].ClientURL)
}

// poll calls f every 25 ms until it returns nil or d passes, and returns
// its last error.
func poll(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitLeader waits up to d until every member in idx reports the same
// leader and that leader is one of idx, and returns the leader's index.
func (e *env) waitLeader(idx []int, d time.Duration) int {
	e.t.Helper()
	lead := -1
	err := poll(d, func() error {
		var id uint64
		for _, i := range idx {
			st, err := e.status(i, time.Second)
			if err != nil {
				return fmt.Errorf("status of %s: %w", e.name(i), err)
			}
			if st.Leader == 0 {
				return fmt.Errorf("%s has no leader", e.name(i))
			}
			if id != 0 && st.Leader != id {
				return fmt.Errorf("members disagree on the leader: %x and %x", id, st.Leader)
			}
			id = st.Leader
		}
		lead = e.indexOf(id)
		for _, i := range idx {
			if i == lead {
				return nil
			}
		}
		return fmt.Errorf("leader %x is not among %v", id, idx)
	})
	if err != nil {
		e.t.Fatalf("no common leader among %v within %v: %v", idx, d, err)
	}
	return lead
}

// converge waits until the members in idx report the same revision, raft
// index and raft applied index, and returns the revision.
func (e *env) converge(idx []int) int64 {
	e.t.Helper()
	var rev int64
	err := poll(30*time.Second, func() error {
		var sts []*clientv3.StatusResponse
		for _, i := range idx {
			st, err := e.status(i, time.Second)
			if err != nil {
				return fmt.Errorf("status of %s: %w", e.name(i), err)
			}
			sts = append(sts, st)
		}
		for k, st := range sts {
			if st.Header.Revision != sts[0].Header.Revision || st.RaftIndex != sts[0].RaftIndex || st.RaftAppliedIndex != sts[0].RaftAppliedIndex {
				return fmt.Errorf("%s at revision %d raft index %d applied %d, %s at %d %d %d",
					e.name(idx[0]), sts[0].Header.Revision, sts[0].RaftIndex, sts[0].RaftAppliedIndex,
					e.name(idx[k]), st.Header.Revision, st.RaftIndex, st.RaftAppliedIndex)
			}
		}
		rev = sts[0].Header.Revision
		return nil
	})
	if err != nil {
		e.t.Fatalf("members %v did not converge: %v", idx, err)
	}
	return rev
}

// checkHashKV waits for the members in idx to converge, then checks that
// their HashKV at the common revision are equal.
func (e *env) checkHashKV(idx []int) {
	e.t.Helper()
	rev := e.converge(idx)
	var first *clientv3.HashKVResponse
	for _, i := range idx {
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		h, err := e.cli(i).HashKV(ctx, e.pc.Members[i].ClientURL, rev)
		cancel()
		if err != nil {
			e.t.Fatalf("HashKV(%d) on %s: %v", rev, e.name(i), err)
		}
		if h.HashRevision != rev && !e.is34 { // etcd 3.4 has no hash_revision
			e.t.Errorf("HashKV(%d) on %s: hash_revision %d", rev, e.name(i), h.HashRevision)
		}
		if first == nil {
			first = h
			continue
		}
		if h.Hash != first.Hash || h.CompactRevision != first.CompactRevision {
			e.t.Errorf("HashKV(%d): %s has hash %d compact %d, %s has %d %d", rev,
				e.name(idx[0]), first.Hash, first.CompactRevision, e.name(i), h.Hash, h.CompactRevision)
		}
	}
}

// put writes k=v through member i.
func (e *env) put(i int, k, v string) *clientv3.PutResponse {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 15*time.Second)
	defer cancel()
	resp, err := e.cli(i).Put(ctx, k, v)
	if err != nil {
		e.t.Fatalf("put %q through %s: %v", k, e.name(i), err)
	}
	return resp
}

// putMany writes n keys prefix<000i>=v<i> through member i, 8 at a time.
func (e *env) putMany(i int, prefix string, n int) {
	e.t.Helper()
	var wg sync.WaitGroup
	errc := make(chan error, n)
	sem := make(chan struct{}, 8)
	for k := 0; k < n; k++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(e.ctx, 15*time.Second)
			defer cancel()
			if _, err := e.cli(i).Put(ctx, fmt.Sprintf("%s%04d", prefix, k), fmt.Sprintf("v%d", k)); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		e.t.Fatalf("writing %d keys through %s: %v", n, e.name(i), err)
	}
}

// getLocal reads the keys under prefix from member i's own state.
func (e *env) getLocal(i int, prefix string) map[string]string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	resp, err := e.cli(i).Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		e.t.Fatalf("serializable get %q on %s: %v", prefix, e.name(i), err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

// writer writes keys in a loop from two goroutines and remembers which
// writes were acknowledged. Each goroutine sticks to one member and moves
// on to the next one after a failed write, so it ends up at a member that
// works however the cluster is cut.
type writer struct {
	clis   []*clientv3.Client
	stopc  chan struct{}
	wg     sync.WaitGroup
	prefix string

	mu struct {
		sync.Mutex
		acked     map[string]string
		attempted map[string]string
		failures  int
	}
}

// writerWorkers is how many goroutines write concurrently.
const writerWorkers = 2

// startWriter starts writing through the members in idx until stop, or for
// at most two minutes.
func (e *env) startWriter(prefix string, idx []int) *writer {
	w := &writer{stopc: make(chan struct{}), prefix: prefix}
	for _, i := range idx {
		w.clis = append(w.clis, e.cli(i))
	}
	w.mu.acked = map[string]string{}
	w.mu.attempted = map[string]string{}
	for g := 0; g < writerWorkers; g++ {
		w.wg.Add(1)
		go w.run(g)
	}
	e.t.Cleanup(w.stop)
	return w
}

func (w *writer) run(g int) {
	defer w.wg.Done()
	deadline := time.Now().Add(2 * time.Minute)
	cur := g % len(w.clis)
	for n := 0; time.Now().Before(deadline); n++ {
		select {
		case <-w.stopc:
			return
		default:
		}
		k, v := fmt.Sprintf("%s%d/%06d", w.prefix, g, n), strconv.Itoa(n)
		w.mu.Lock()
		w.mu.attempted[k] = v
		w.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := w.clis[cur].Put(ctx, k, v)
		cancel()
		w.mu.Lock()
		if err == nil {
			w.mu.acked[k] = v
		} else {
			w.mu.failures++
		}
		w.mu.Unlock()
		if err != nil {
			cur = (cur + 1) % len(w.clis)
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (w *writer) stop() {
	select {
	case <-w.stopc:
	default:
		close(w.stopc)
	}
	w.wg.Wait()
}

func (w *writer) acked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.mu.acked)
}

// waitMore waits until n more writes than now are acknowledged.
func (w *writer) waitMore(t *testing.T, n int, d time.Duration) {
	t.Helper()
	want := w.acked() + n
	if err := poll(d, func() error {
		if got := w.acked(); got < want {
			return fmt.Errorf("%d acknowledged writes, want %d", got, want)
		}
		return nil
	}); err != nil {
		t.Fatalf("writes did not progress within %v: %v", d, err)
	}
}

// check stops the writer and checks that every acknowledged write is on
// every member in idx, and that nothing else is there.
func (w *writer) check(e *env, idx []int) {
	e.t.Helper()
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.mu.acked) == 0 {
		e.t.Fatal("no write was acknowledged")
	}
	for _, i := range idx {
		got := e.getLocal(i, w.prefix)
		lost := 0
		for k, v := range w.mu.acked {
			if got[k] != v {
				if lost < 5 {
					e.t.Errorf("%s: acknowledged write %s=%s reads %q", e.name(i), k, v, got[k])
				}
				lost++
			}
		}
		if lost > 0 {
			e.t.Errorf("%s lost %d of %d acknowledged writes", e.name(i), lost, len(w.mu.acked))
		}
		for k, v := range got {
			if w.mu.attempted[k] != v {
				e.t.Errorf("%s holds %s=%s, which no client wrote", e.name(i), k, v)
			}
		}
	}
	e.t.Logf("writer: %d acknowledged, %d failed, %d attempted", len(w.mu.acked), w.mu.failures, len(w.mu.attempted))
}

// wantErr checks that err carries the gRPC code and exact message of want,
// one of rpctypes' ErrGRPC* values.
func wantErr(t *testing.T, what string, err error, want error) {
	t.Helper()
	ws := status.Convert(want)
	code, msg, ok := errCodeMsg(err)
	if !ok || code != ws.Code() || msg != ws.Message() {
		t.Errorf("%s: error = %v, want %v %q", what, err, ws.Code(), ws.Message())
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

// isErr reports whether err is the etcd error want.
func isErr(err error, want error) bool {
	ws := status.Convert(want)
	code, msg, ok := errCodeMsg(err)
	return ok && code == ws.Code() && msg == ws.Message()
}

// logSinceLaunch is member m's log from its latest start on.
func logSinceLaunch(m *framework.Member) string {
	b, _ := os.ReadFile(m.LogPath)
	if i := bytes.LastIndex(b, []byte("=== framework: launch #")); i >= 0 {
		b = b[i:]
	}
	return string(b)
}

// waitLog waits until member m's log (from its latest start) contains s.
func waitLog(t *testing.T, m *framework.Member, s string, d time.Duration) {
	t.Helper()
	if err := poll(d, func() error {
		if !strings.Contains(logSinceLaunch(m), s) {
			return fmt.Errorf("no %q in the log of %s", s, m.Name)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// fmtMember prints a member list entry for comparison.
func fmtMember(m *pb.Member) string {
	return fmt.Sprintf("{ID:%x Name:%q PeerURLs:%q ClientURLs:%q IsLearner:%v}", m.ID, m.Name, m.PeerURLs, m.ClientURLs, m.IsLearner)
}

func fmtMembers(ms []*pb.Member) string {
	var s []string
	for _, m := range ms {
		s = append(s, fmtMember(m))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// wantMember builds the member list entry of member i once it started;
// name empty means not started yet.
func (e *env) wantMember(i int, started, learner bool) *pb.Member {
	m := e.pc.Members[i]
	pm := &pb.Member{ID: e.pc.IDs[i], PeerURLs: []string{m.PeerURL}, IsLearner: learner}
	if started {
		pm.Name = m.Name
		pm.ClientURLs = []string{m.ClientURL}
	}
	return pm
}

// checkMembers compares member lists, in etcd's order (by ID).
func checkMembers(t *testing.T, what string, got, want []*pb.Member) {
	t.Helper()
	want = append([]*pb.Member(nil), want...)
	sort.Slice(want, func(i, j int) bool { return want[i].ID < want[j].ID })
	if fmtMembers(got) != fmtMembers(want) {
		t.Errorf("%s: members\n got  %s\n want %s", what, fmtMembers(got), fmtMembers(want))
	}
}

// timeout is a context of the test ending after d.
func (e *env) timeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, d)
}

// waitNoLeader waits until every member in idx reports no leader.
func (e *env) waitNoLeader(idx []int, d time.Duration) {
	e.t.Helper()
	if err := poll(d, func() error {
		for _, i := range idx {
			st, err := e.status(i, time.Second)
			if err != nil {
				return fmt.Errorf("status of %s: %w", e.name(i), err)
			}
			if st.Leader != 0 {
				return fmt.Errorf("%s still follows %x", e.name(i), st.Leader)
			}
		}
		return nil
	}); err != nil {
		e.t.Fatalf("members %v kept a leader: %v", idx, err)
	}
}

// checkSameData waits for the members in idx to converge, then compares
// every key-value they hold, read from their own state (a learner serves
// no HashKV).
func (e *env) checkSameData(idx []int) {
	e.t.Helper()
	rev := e.converge(idx)
	var first string
	for _, i := range idx {
		ctx, cancel := e.timeout(10 * time.Second)
		resp, err := e.cli(i).Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithSerializable())
		cancel()
		if err != nil {
			e.t.Fatalf("serializable get of everything on %s: %v", e.name(i), err)
		}
		if resp.Header.Revision != rev {
			e.t.Errorf("%s read at revision %d, want %d", e.name(i), resp.Header.Revision, rev)
		}
		var b strings.Builder
		for _, kv := range resp.Kvs {
			fmt.Fprintf(&b, "%q=%q c%d m%d v%d l%d\n", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
		}
		if first == "" {
			first = b.String()
		} else if b.String() != first {
			e.t.Errorf("%s holds other key-values than %s at revision %d", e.name(i), e.name(idx[0]), rev)
		}
	}
}

// checkOneSnapshot checks that member m, since its latest start, installed
// exactly one snapshot from the leader, and that no member logged raft's
// "should never happen".
func (e *env) checkOneSnapshot(m *framework.Member) {
	e.t.Helper()
	if n := strings.Count(logSinceLaunch(m), "installed snapshot from the leader"); n != 1 {
		e.t.Errorf("%s installed %d snapshots from the leader, want 1", m.Name, n)
	}
	for _, x := range e.pc.Members {
		if x.LogContains("should never happen") {
			e.t.Errorf("%s logged raft's \"should never happen\"", x.Name)
		}
	}
}
