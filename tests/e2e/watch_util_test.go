package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/cairndb/cairn/tests/framework"
)

// rawWatch is a Watch stream driven without clientv3, to see every
// response the server sends, in order.
type rawWatch struct {
	t      *testing.T
	s      pb.Watch_WatchClient
	cancel context.CancelFunc
	rc     chan *pb.WatchResponse
	errc   chan error
}

// rawWatch opens a Watch stream on the env's connection; it is closed when
// the test ends. Unless manual, a goroutine receives into a buffer.
func (e *env) rawWatch(t *testing.T) *rawWatch {
	t.Helper()
	return newRawWatch(t, pb.NewWatchClient(e.cli.ActiveConnection()), false)
}

func newRawWatch(t *testing.T, wc pb.WatchClient, manual bool) *rawWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := wc.Watch(ctx)
	if err != nil {
		cancel()
		t.Fatalf("open watch stream: %v", err)
	}
	w := &rawWatch{t: t, s: s, cancel: cancel, rc: make(chan *pb.WatchResponse, 1<<16), errc: make(chan error, 1)}
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		if !manual {
			<-done
		}
	})
	if manual {
		close(done)
		return w
	}
	go func() {
		defer close(done)
		for {
			r, err := s.Recv()
			if err != nil {
				w.errc <- err
				return
			}
			w.rc <- r
		}
	}()
	return w
}

func (w *rawWatch) send(r *pb.WatchRequest) {
	w.t.Helper()
	if err := w.s.Send(r); err != nil {
		w.t.Fatalf("watch send: %v", err)
	}
}

func (w *rawWatch) create(cr *pb.WatchCreateRequest) {
	w.t.Helper()
	w.send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: cr}})
}

func (w *rawWatch) cancelWatch(id int64) {
	w.t.Helper()
	w.send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: id}}})
}

func (w *rawWatch) progress() {
	w.t.Helper()
	w.send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}})
}

// next returns the next response, failing after 10s.
func (w *rawWatch) next() *pb.WatchResponse {
	w.t.Helper()
	select {
	case r := <-w.rc:
		return r
	case err := <-w.errc:
		w.t.Fatalf("watch stream ended: %v", err)
	case <-time.After(10 * time.Second):
		w.t.Fatalf("no watch response within 10s")
	}
	return nil
}

// none checks that nothing arrives for d.
func (w *rawWatch) none(d time.Duration) {
	w.t.Helper()
	select {
	case r := <-w.rc:
		w.t.Fatalf("unexpected watch response: %s", fmtWResp(r))
	case <-time.After(d):
	}
}

func fmtWResp(r *pb.WatchResponse) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id=%d rev=%d", r.WatchId, r.Header.GetRevision())
	if r.Created {
		b.WriteString(" created")
	}
	if r.Canceled {
		fmt.Fprintf(&b, " canceled(%q)", r.CancelReason)
	}
	if r.CompactRevision != 0 {
		fmt.Fprintf(&b, " compact=%d", r.CompactRevision)
	}
	if r.Fragment {
		b.WriteString(" fragment")
	}
	for _, e := range r.Events {
		fmt.Fprintf(&b, " %s", fmtWEv(e))
	}
	return b.String()
}

func fmtWEv(e *mvccpb.Event) string {
	s := fmt.Sprintf("%s %s@%d", e.Type, e.Kv.Key, e.Kv.ModRevision)
	if e.Type == mvccpb.PUT {
		s += fmt.Sprintf("=%s(c%d,v%d)", e.Kv.Value, e.Kv.CreateRevision, e.Kv.Version)
	}
	if e.PrevKv != nil {
		s += fmt.Sprintf("[prev %s@%d]", e.PrevKv.Value, e.PrevKv.ModRevision)
	}
	return s
}

// checkEvents compares event sequences: type, key-value and prev key-value.
func checkEvents(t *testing.T, what string, got, want []*mvccpb.Event) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Type == want[i].Type && kvEqual(got[i].Kv, want[i].Kv) && kvEqual(got[i].PrevKv, want[i].PrevKv)
	}
	if ok {
		return
	}
	var g, w []string
	for _, e := range got {
		g = append(g, fmtWEv(e))
	}
	for _, e := range want {
		w = append(w, fmtWEv(e))
	}
	n := 0
	for n < len(g) && n < len(w) && g[n] == w[n] {
		n++
	}
	lo := max(0, n-2)
	t.Fatalf("%s: events differ from index %d (got %d, want %d):\n got  %v\n want %v", what, n, len(g), len(w),
		g[lo:min(len(g), n+3)], w[lo:min(len(w), n+3)])
}

func putEv(k, v string, create, mod, ver int64) *mvccpb.Event {
	return &mvccpb.Event{Type: mvccpb.PUT, Kv: kv(k, v, create, mod, ver)}
}

func delEv(k string, mod int64) *mvccpb.Event {
	return &mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(k), ModRevision: mod}}
}

func withPrev(e *mvccpb.Event, prev *mvccpb.KeyValue) *mvccpb.Event {
	c := *e
	c.PrevKv = prev
	return &c
}

// memberPID finds the process of m, a child of this test process, by its
// data dir on its command line.
func memberPID(t *testing.T, m *framework.Member) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	me := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmd, []byte("--data-dir="+m.DataDir+"\x00")) {
			continue
		}
		if ppid(pid) == me {
			return pid
		}
	}
	t.Fatalf("no process found for member %s", m.Name)
	return 0
}

func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// pid (comm) state ppid ...
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return -1
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// rssBytes is the resident set size of pid.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read status of %d: %v", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS for %d", pid)
	return 0
}

// ctlWatch is a running "etcdctl watch" whose output is collected.
type ctlWatch struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (c *ctlWatch) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *ctlWatch) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// startCtlWatch starts Debian's etcdctl with the args against e's member;
// it is killed when the test ends.
func startCtlWatch(t *testing.T, e *env, args ...string) *ctlWatch {
	t.Helper()
	if _, err := os.Stat("/usr/bin/etcdctl"); err != nil {
		t.Skip("Debian's etcdctl (etcd-client) is not installed")
	}
	c := &ctlWatch{done: make(chan struct{})}
	c.cmd = exec.Command("/usr/bin/etcdctl", append([]string{"--endpoints=" + e.m.ClientAddr()}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			c.cmd.Env = append(c.cmd.Env, kv)
		}
	}
	c.cmd.Env = append(c.cmd.Env, "ETCDCTL_API=3")
	c.cmd.Stdout, c.cmd.Stderr = c, c
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start etcdctl: %v", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// waitStarted gives etcdctl time to connect and create its watch: it
// prints nothing until the first event, so there is nothing to wait on.
func (c *ctlWatch) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
		t.Fatalf("etcdctl exited: %s", c.output())
	case <-time.After(time.Second):
	}
}

// waitOutput waits until the output is at least as long as want (or 10s)
// and returns it.
func (c *ctlWatch) waitOutput(t *testing.T, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := c.output()
		if len(out) >= len(want) || time.Now().After(deadline) {
			return out
		}
		select {
		case <-c.done:
			return c.output()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a process's output and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
