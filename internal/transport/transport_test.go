package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// failAfter bounds how long a test waits for something that must happen.
// It only turns a hang into a failure; nothing is timed.
const failAfter = 5 * time.Second

// fakeRaft records what the transport hands to raft.
type fakeRaft struct {
	stepc       chan raftpb.Message
	unreachable chan uint64
	snapReports chan snapReport
	stepErr     error

	mu       sync.Mutex
	removed  map[uint64]bool
	nUnreach atomic.Int64
}

type snapReport struct {
	id uint64
	ok bool
}

func newFakeRaft() *fakeRaft {
	return &fakeRaft{
		stepc:       make(chan raftpb.Message, 10000),
		unreachable: make(chan uint64, 10000),
		snapReports: make(chan snapReport, 100),
		removed:     map[uint64]bool{},
	}
}

func (r *fakeRaft) Step(_ context.Context, m raftpb.Message) error {
	if r.stepErr != nil {
		return r.stepErr
	}
	r.stepc <- m
	return nil
}

func (r *fakeRaft) ReportUnreachable(id uint64) {
	r.nUnreach.Add(1)
	select {
	case r.unreachable <- id:
	default:
	}
}

func (r *fakeRaft) ReportSnapshot(id uint64, ok bool) { r.snapReports <- snapReport{id, ok} }

func (r *fakeRaft) IsRemoved(id uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.removed[id]
}

func (r *fakeRaft) setRemoved(id uint64) {
	r.mu.Lock()
	r.removed[id] = true
	r.mu.Unlock()
}

// fakeSnapshotter streams a fixed state and records what it installs.
type fakeSnapshotter struct {
	state      []byte
	installErr error
	installed  chan installed
}

type installed struct {
	data []byte
	m    raftpb.Message
}

func newFakeSnapshotter(state string) *fakeSnapshotter {
	return &fakeSnapshotter{state: []byte(state), installed: make(chan installed, 10)}
}

func (s *fakeSnapshotter) WriteSnapshot(_ context.Context, w io.Writer) error {
	_, err := w.Write(s.state)
	return err
}

func (s *fakeSnapshotter) InstallSnapshot(_ context.Context, r io.Reader, m raftpb.Message) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.installErr != nil {
		return s.installErr
	}
	s.installed <- installed{data, m}
	return nil
}

// member is one Transport serving its handler on a loopback httptest server.
type member struct {
	id      uint64
	tr      *Transport
	srv     *httptest.Server
	raft    *fakeRaft
	snap    *fakeSnapshotter
	logs    *observer.ObservedLogs
	logc    chan string // messages of warnings and errors, as they are logged
	removed chan struct{}
}

func newMember(t *testing.T, id, clusterID uint64) *member {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	m := &member{id: id, raft: newFakeRaft(), snap: newFakeSnapshotter("state-of-" + strconv.FormatUint(id, 16)),
		logs: logs, logc: make(chan string, 1000), removed: make(chan struct{}, 10)}
	hooked := zapcore.RegisterHooks(core, func(e zapcore.Entry) error {
		if e.Level >= zapcore.WarnLevel {
			select {
			case m.logc <- e.Message:
			default:
			}
		}
		return nil
	})
	m.tr = New(Config{
		ID: id, ClusterID: clusterID, Raft: m.raft, Snapshotter: m.snap,
		Logger:    zap.New(hooked),
		OnRemoved: func() { m.removed <- struct{}{} },
	})
	m.srv = httptest.NewServer(m.tr.Handler())
	t.Cleanup(func() {
		m.tr.Stop()
		// Streams from other members' transports may still be open: drop
		// them, as the server's Shutdown-then-Close does.
		m.srv.CloseClientConnections()
		m.srv.Close()
	})
	return m
}

func waitLog(t *testing.T, m *member, want string) {
	t.Helper()
	deadline := time.After(failAfter)
	for {
		select {
		case msg := <-m.logc:
			if msg == want {
				return
			}
		case <-deadline:
			t.Fatalf("member %x never logged %q; logged: %v", m.id, want, m.logs.All())
		}
	}
}

func app(from, to, index uint64) raftpb.Message {
	return raftpb.Message{Type: raftpb.MsgApp, From: from, To: to, Term: 1, Index: index,
		Entries: []raftpb.Entry{{Term: 1, Index: index + 1, Data: []byte("payload-" + strconv.FormatUint(index, 10))}}}
}

func TestMessagesArriveInOrder(t *testing.T) {
	a, b := newMember(t, 1, 0xc1), newMember(t, 2, 0xc1)
	a.tr.AddPeer(2, []string{b.srv.URL})
	b.tr.AddPeer(1, []string{a.srv.URL})

	const n = 2000
	// Several Sends, the way raft's Ready loop calls it.
	for i := 0; i < n; i += 100 {
		var batch []raftpb.Message
		for j := i; j < i+100; j++ {
			batch = append(batch, app(1, 2, uint64(j)))
		}
		a.tr.Send(batch)
	}
	for i := 0; i < n; i++ {
		select {
		case m := <-b.raft.stepc:
			if m.Index != uint64(i) || m.From != 1 || m.To != 2 || string(m.Entries[0].Data) != "payload-"+strconv.Itoa(i) {
				t.Fatalf("message %d arrived as %+v", i, m)
			}
		case <-time.After(failAfter):
			t.Fatalf("only %d of %d messages arrived", i, n)
		}
	}
	// And back the other way, on its own stream.
	b.tr.Send([]raftpb.Message{app(2, 1, 7)})
	select {
	case m := <-a.raft.stepc:
		if m.Index != 7 || m.From != 2 {
			t.Fatalf("reply arrived as %+v", m)
		}
	case <-time.After(failAfter):
		t.Fatal("reply never arrived")
	}
	if d := a.tr.Stats().Dropped(); d != 0 {
		t.Fatalf("dropped %d messages", d)
	}
	if a.tr.ActiveSince(2).IsZero() {
		t.Fatal("ActiveSince(2) is zero with a stream open")
	}
	if !a.tr.ActiveSince(99).IsZero() {
		t.Fatal("ActiveSince of an unknown peer is not zero")
	}
}

func TestSendSkipsUnknownAndSelf(t *testing.T) {
	a, b := newMember(t, 1, 0xc1), newMember(t, 2, 0xc1)
	a.tr.AddPeer(2, []string{b.srv.URL})
	a.tr.AddPeer(1, []string{a.srv.URL}) // self: ignored
	a.tr.Send([]raftpb.Message{
		app(1, 0, 1), // no recipient
		app(1, 1, 2), // self
		app(1, 9, 3), // unknown peer
		app(1, 2, 4),
	})
	select {
	case m := <-b.raft.stepc:
		if m.Index != 4 {
			t.Fatalf("got %+v, want only the message to 2", m)
		}
	case <-time.After(failAfter):
		t.Fatal("message to 2 never arrived")
	}
	if got := a.raft.nUnreach.Load(); got != 0 {
		t.Fatalf("%d unreachable reports for skipped messages", got)
	}
}

func TestWrongClusterRefused(t *testing.T) {
	a, b := newMember(t, 1, 0xaaaa), newMember(t, 2, 0xbbbb)
	a.tr.AddPeer(2, []string{b.srv.URL})
	a.tr.Send([]raftpb.Message{app(1, 2, 1)})

	waitLog(t, b, "refused a peer of another cluster: request cluster ID mismatch")
	select {
	case id := <-a.raft.unreachable:
		if id != 2 {
			t.Fatalf("unreachable reported for %x", id)
		}
	case <-time.After(failAfter):
		t.Fatal("the sender never reported the refusing peer unreachable")
	}
	select {
	case m := <-b.raft.stepc:
		t.Fatalf("a message of another cluster reached raft: %+v", m)
	default:
	}
	entries := b.logs.FilterMessage("refused a peer of another cluster: request cluster ID mismatch").All()
	if len(entries) == 0 {
		t.Fatal("no refusal logged")
	}
	fields := entries[0].ContextMap()
	if fields["local-member-cluster-id"] != "bbbb" || fields["remote-peer-cluster-id"] != "aaaa" {
		t.Fatalf("log fields = %v", fields)
	}
}

// request builds a raw peer request, for checking refusals exactly.
func request(path, cluster, from, to string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if cluster != "" {
		r.Header.Set(headerClusterID, cluster)
	}
	if from != "" {
		r.Header.Set(headerFrom, from)
	}
	if to != "" {
		r.Header.Set(headerTo, to)
	}
	return r
}

func frame(t *testing.T, ms ...raftpb.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	var scratch []byte
	for i := range ms {
		var err error
		if scratch, err = writeFrame(w, &ms[i], scratch); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHandlerRefusals(t *testing.T) {
	b := newMember(t, 2, 0xbbbb)
	b.raft.setRemoved(5)
	body := frame(t, app(1, 2, 1))
	tests := []struct {
		name   string
		req    *http.Request
		want   int
		logged string
	}{
		{"wrong cluster", request(pathRaft, "aaaa", "1", "2", body), http.StatusPreconditionFailed, "refused a peer of another cluster: request cluster ID mismatch"},
		{"no cluster", request(pathRaft, "", "1", "2", body), http.StatusPreconditionFailed, "refused a peer of another cluster: request cluster ID mismatch"},
		{"wrong cluster on snapshot", request(pathSnapshot, "aaaa", "1", "2", nil), http.StatusPreconditionFailed, "refused a peer of another cluster: request cluster ID mismatch"},
		{"removed sender", request(pathRaft, "bbbb", "5", "2", body), http.StatusGone, "refused a removed member"},
		{"removed sender's snapshot", request(pathSnapshot, "bbbb", "5", "2", nil), http.StatusGone, "refused a removed member"},
		{"for another member", request(pathRaft, "bbbb", "1", "3", body), http.StatusPreconditionFailed, "refused a message for another member ID"},
		{"no sender", request(pathRaft, "bbbb", "", "2", body), http.StatusBadRequest, ""},
		{"bad snapshot header", request(pathSnapshot, "bbbb", "1", "2", nil), http.StatusBadRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := b.logs.FilterMessage(tc.logged).Len()
			rec := httptest.NewRecorder()
			b.tr.Handler().ServeHTTP(rec, tc.req)
			if rec.Code != tc.want {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tc.want, rec.Body)
			}
			if tc.logged != "" && b.logs.FilterMessage(tc.logged).Len() != before+1 {
				t.Fatalf("refusal not logged as %q", tc.logged)
			}
			select {
			case m := <-b.raft.stepc:
				t.Fatalf("a refused request reached raft: %+v", m)
			default:
			}
		})
	}
	rec := httptest.NewRecorder()
	b.tr.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, pathRaft, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET status = %d, want 405", rec.Code)
	}

	// A well-formed request is stepped, in order.
	rec = httptest.NewRecorder()
	b.tr.Handler().ServeHTTP(rec, request(pathRaft, "bbbb", "1", "2", frame(t, app(1, 2, 1), app(1, 2, 2))))
	for _, want := range []uint64{1, 2} {
		select {
		case m := <-b.raft.stepc:
			if m.Index != want {
				t.Fatalf("stepped %d, want %d", m.Index, want)
			}
		default:
			t.Fatalf("message %d not stepped", want)
		}
	}
}

func TestRemovedSenderIsTold(t *testing.T) {
	a, b := newMember(t, 1, 0xc1), newMember(t, 2, 0xc1)
	b.raft.setRemoved(1)
	a.tr.AddPeer(2, []string{b.srv.URL})
	a.tr.Send([]raftpb.Message{app(1, 2, 1)})
	select {
	case <-a.removed:
	case <-time.After(failAfter):
		t.Fatal("OnRemoved never fired on the removed sender")
	}
	waitLog(t, b, "refused a removed member")
	waitLog(t, a, "this member was removed from the cluster; it must not run any more")
	select {
	case m := <-b.raft.stepc:
		t.Fatalf("a removed member's message reached raft: %+v", m)
	default:
	}
}

// With the queue full, Send drops and reports the peer unreachable instead
// of blocking raft. The peer's sender is not started, so nothing drains the
// queue.
func TestFullQueueDrops(t *testing.T) {
	a := newMember(t, 1, 0xc1)
	p := newPeer(a.tr, 2, []string{"http://127.0.0.1:1"})
	a.tr.mu.Lock()
	a.tr.mu.peers[2] = p
	a.tr.mu.Unlock()
	defer func() {
		a.tr.mu.Lock()
		delete(a.tr.mu.peers, 2)
		a.tr.mu.Unlock()
	}()

	const extra = 7
	msgs := make([]raftpb.Message, queueSize+extra)
	for i := range msgs {
		msgs[i] = app(1, 2, uint64(i))
	}
	a.tr.Send(msgs) // must return
	if got := a.tr.Stats().Dropped(); got != extra {
		t.Fatalf("dropped = %d, want %d", got, extra)
	}
	if got := a.raft.nUnreach.Load(); got != extra {
		t.Fatalf("unreachable reports = %d, want %d", got, extra)
	}
	if got := len(p.queue); got != queueSize {
		t.Fatalf("queue holds %d, want %d", got, queueSize)
	}
	// The oldest messages are the ones kept.
	if m := <-p.queue; m.Index != 0 {
		t.Fatalf("head of the queue is %d, want 0", m.Index)
	}
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// blackHole accepts connections and never reads or answers, like a
// SIGSTOPped peer whose kernel still completes handshakes.
type blackHole struct {
	ln       net.Listener
	accepted chan struct{}
	mu       sync.Mutex
	conns    []net.Conn
	done     chan struct{}
}

func newBlackHole(t *testing.T) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &blackHole{ln: ln, accepted: make(chan struct{}, 100), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			h.accepted <- struct{}{}
		}
	}()
	t.Cleanup(h.close)
	return h
}

func (h *blackHole) close() {
	h.ln.Close()
	<-h.done
	h.mu.Lock()
	for _, c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
}

func (h *blackHole) url() string { return "http://" + h.ln.Addr().String() }

// returns runs f and fails if it has not returned within failAfter.
func returns(t *testing.T, what string, f func()) bool {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return true
	case <-time.After(failAfter):
		t.Errorf("%s did not return: it blocks on an unresponsive peer", what)
		return false
	}
}

func TestStopWithUnreachablePeer(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		a := newMember(t, 1, 0xc1)
		a.tr.AddPeer(2, []string{"http://" + freeAddr(t)})
		a.tr.Send([]raftpb.Message{app(1, 2, 1)})
		select {
		case <-a.raft.unreachable:
		case <-time.After(failAfter):
			t.Fatal("a refused connection was never reported unreachable")
		}
		returns(t, "Stop", a.tr.Stop)
	})
	t.Run("peer accepts but never answers", func(t *testing.T) {
		a := newMember(t, 1, 0xc1)
		h := newBlackHole(t)
		a.tr.AddPeer(2, []string{h.url()})
		a.tr.Send([]raftpb.Message{app(1, 2, 1)})
		select {
		case <-h.accepted:
		case <-time.After(failAfter):
			t.Fatal("the sender never connected")
		}
		returns(t, "Stop", a.tr.Stop)
	})
	t.Run("peer never sent to", func(t *testing.T) {
		a := newMember(t, 1, 0xc1)
		a.tr.AddPeer(2, []string{"http://" + freeAddr(t)})
		returns(t, "Stop", a.tr.Stop)
	})
}

// RemovePeer is called from the apply loop when a member is removed; the
// removed member may well be the one that hangs (SIGSTOP, dead host whose
// connection is still open). RemovePeer must not wait for that peer to
// answer, or apply stops.
func TestRemovePeerWithUnresponsivePeer(t *testing.T) {
	a := newMember(t, 1, 0xc1)
	h := newBlackHole(t)
	a.tr.AddPeer(2, []string{h.url()})
	a.tr.Send([]raftpb.Message{app(1, 2, 1)})
	select {
	case <-h.accepted:
	case <-time.After(failAfter):
		t.Fatal("the sender never connected")
	}
	// On failure the blocked RemovePeer is released by the Stop of the
	// cleanup (it cancels every request), so nothing leaks.
	returns(t, "RemovePeer", func() { a.tr.RemovePeer(2) })
}

func TestRemovePeerStopsSending(t *testing.T) {
	a, b := newMember(t, 1, 0xc1), newMember(t, 2, 0xc1)
	a.tr.AddPeer(2, []string{b.srv.URL})
	a.tr.Send([]raftpb.Message{app(1, 2, 1)})
	select {
	case <-b.raft.stepc:
	case <-time.After(failAfter):
		t.Fatal("first message never arrived")
	}
	returns(t, "RemovePeer", func() { a.tr.RemovePeer(2) })
	a.tr.Send([]raftpb.Message{app(1, 2, 2)}) // unknown now: dropped silently
	if got := a.raft.nUnreach.Load(); got != 0 {
		t.Fatalf("%d unreachable reports after RemovePeer", got)
	}
	// Re-adding works.
	a.tr.AddPeer(2, []string{b.srv.URL})
	a.tr.Send([]raftpb.Message{app(1, 2, 3)})
	select {
	case m := <-b.raft.stepc:
		if m.Index != 3 {
			t.Fatalf("got %d, want 3", m.Index)
		}
	case <-time.After(failAfter):
		t.Fatal("message after re-adding never arrived")
	}
}

func TestAddPeerUpdatesURLs(t *testing.T) {
	a, b := newMember(t, 1, 0xc1), newMember(t, 2, 0xc1)
	a.tr.AddPeer(2, []string{"http://" + freeAddr(t)})
	a.tr.Send([]raftpb.Message{app(1, 2, 1)})
	select {
	case <-a.raft.unreachable:
	case <-time.After(failAfter):
		t.Fatal("dead URL never reported unreachable")
	}
	a.tr.AddPeer(2, []string{b.srv.URL})
	// Messages queued while the sender backs off are dropped (raft
	// retransmits), so keep sending, as raft's heartbeats do, until one
	// arrives.
	resend := time.NewTicker(10 * time.Millisecond)
	defer resend.Stop()
	deadline := time.After(failAfter)
	for i := uint64(2); ; i++ {
		a.tr.Send([]raftpb.Message{app(1, 2, i)})
		select {
		case <-b.raft.stepc:
			return
		case <-deadline:
			t.Fatal("no message reached the updated URL")
		case <-resend.C:
		}
	}
}

func TestSnapshot(t *testing.T) {
	snapMsg := func(index uint64) raftpb.Message {
		return raftpb.Message{Type: raftpb.MsgSnap, From: 1, To: 2, Term: 3,
			Snapshot: &raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: index, Term: 3, ConfState: raftpb.ConfState{Voters: []uint64{1, 2}}}}}
	}
	t.Run("installed and reported", func(t *testing.T) {
		a, b := newMember(t, 1, 0xc1), newMember(t, 2, 0xc1)
		a.tr.AddPeer(2, []string{b.srv.URL})
		a.tr.Send([]raftpb.Message{snapMsg(42)})
		select {
		case in := <-b.snap.installed:
			if string(in.data) != "state-of-1" {
				t.Fatalf("installed %q, want the sender's state", in.data)
			}
			if in.m.Type != raftpb.MsgSnap || in.m.Snapshot.Metadata.Index != 42 || in.m.From != 1 {
				t.Fatalf("installed with message %+v", in.m)
			}
		case <-time.After(failAfter):
			t.Fatal("snapshot never installed")
		}
		select {
		case m := <-b.raft.stepc:
			if m.Type != raftpb.MsgSnap || m.Snapshot.Metadata.Index != 42 {
				t.Fatalf("stepped %+v, want the MsgSnap", m)
			}
		case <-time.After(failAfter):
			t.Fatal("MsgSnap never stepped after the install")
		}
		select {
		case r := <-a.raft.snapReports:
			if r != (snapReport{2, true}) {
				t.Fatalf("snapshot report = %+v, want {2 true}", r)
			}
		case <-time.After(failAfter):
			t.Fatal("snapshot outcome never reported")
		}
	})
	t.Run("install fails", func(t *testing.T) {
		a, b := newMember(t, 1, 0xc1), newMember(t, 2, 0xc1)
		b.snap.installErr = errors.New("disk full")
		a.tr.AddPeer(2, []string{b.srv.URL})
		a.tr.Send([]raftpb.Message{snapMsg(43)})
		select {
		case r := <-a.raft.snapReports:
			if r != (snapReport{2, false}) {
				t.Fatalf("snapshot report = %+v, want {2 false}", r)
			}
		case <-time.After(failAfter):
			t.Fatal("snapshot failure never reported")
		}
		select {
		case m := <-b.raft.stepc:
			t.Fatalf("a failed install was stepped: %+v", m)
		default:
		}
	})
	t.Run("peer unreachable", func(t *testing.T) {
		a := newMember(t, 1, 0xc1)
		a.tr.AddPeer(2, []string{"http://" + freeAddr(t)})
		a.tr.Send([]raftpb.Message{snapMsg(44)})
		select {
		case r := <-a.raft.snapReports:
			if r != (snapReport{2, false}) {
				t.Fatalf("snapshot report = %+v, want {2 false}", r)
			}
		case <-time.After(failAfter):
			t.Fatal("snapshot failure never reported")
		}
	})
}

func TestFrameRoundTrip(t *testing.T) {
	msgs := []raftpb.Message{app(1, 2, 1), {Type: raftpb.MsgHeartbeat, From: 1, To: 2}, app(1, 2, 1<<40)}
	r := bufio.NewReader(bytes.NewReader(frame(t, msgs...)))
	var buf []byte
	for i, want := range msgs {
		var err error
		if buf, err = readFrame(r, buf); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		var got raftpb.Message
		if err := got.Unmarshal(buf); err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || got.Index != want.Index {
			t.Fatalf("frame %d = %+v, want %+v", i, got, want)
		}
	}
	if _, err := readFrame(r, buf); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame err = %v, want EOF", err)
	}
	// A length above the limit is refused before allocating.
	huge := bufio.NewReader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}))
	if _, err := readFrame(huge, nil); !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("huge frame err = %v, want errFrameTooLarge", err)
	}
}
