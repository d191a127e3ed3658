// Package raftnode runs a member's raft state machine: it is the only importer
// of go.etcd.io/raft besides raftlog. One goroutine (run) owns the RawNode and
// the Log. Each turn of its loop it takes the proposals, read-index requests,
// peer messages and ticks that arrived, then handles one Ready:
//
//	leader: send messages while persisting   follower: persist, then send
//	persist HardState + entries (one fsync for everything in the Ready)
//	apply conf changes to raft at commit time
//	hand committed entries to the apply goroutine (in order, never dropped)
//	answer read-index requests
//	Advance
//
// Proposals from many clients that arrive during one fsync share the next one.
package raftnode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/raftlog"
)

var (
	// ErrStopped is returned to callers once the node is stopping.
	ErrStopped = errors.New("raftnode: stopped")
	// ErrDropped is returned when raft refused a proposal (no leader, or a
	// leadership transfer is in progress).
	ErrDropped = errors.New("raftnode: proposal dropped")
)

// Transport sends raft messages to peers. Send must not block on a slow peer.
type Transport interface {
	Send(msgs []raftpb.Message)
}

// Peer is a member known at bootstrap.
type Peer struct {
	ID      uint64
	Context []byte
}

// Config configures a Node. Zero values are replaced with etcd's defaults
// where one exists.
type Config struct {
	ID             uint64
	Log            *raftlog.Log
	Transport      Transport // nil for a single member without peers
	Logger         *zap.Logger
	TickInterval   time.Duration // heartbeat-interval
	ElectionTicks  int           // election-timeout / heartbeat-interval
	HeartbeatTicks int           // 1
	PreVote        bool
	CheckQuorum    bool
	// Bootstrap lists the initial members of a new cluster; nil on restart or
	// when joining an existing cluster.
	Bootstrap []Peer
	// SnapshotCount is how many applied entries trigger a log truncation.
	SnapshotCount uint64
	// CatchUpEntries are kept after a truncation for slow followers.
	CatchUpEntries uint64
	// SnapshotBytes also triggers a truncation: once the entries after the
	// last one hold this many bytes, whatever their count (default 64 MiB).
	// With large values a count alone would let the log, which raft keeps
	// in memory and a restart loads, grow to gigabytes.
	SnapshotBytes uint64
	// CatchUpBytes bounds the entries kept after a truncation by their size
	// too (default 64 MiB): a follower further behind gets a snapshot.
	CatchUpBytes uint64
	// ApplyBuffer is the number of Ready batches that may wait for apply.
	ApplyBuffer int
	// OnSave, when set, is told how long each raft log write took and
	// whether it was synced (for the fsync latency metric).
	OnSave func(d time.Duration, synced bool)
	// OnLeadership, when set, is called on the raft goroutine when this
	// member becomes leader or stops being leader. It must not block.
	OnLeadership func(isLeader bool)
}

// EntryKind tells the apply layer how to read an entry's Data.
type EntryKind int

const (
	// EntryNormal carries an application request (or nothing: raft's empty
	// entry at the start of a term).
	EntryNormal EntryKind = iota
	// EntryConfChange carries a membership change already applied to raft.
	EntryConfChange
	// EntrySnapshot says raft accepted a snapshot from the leader at Index
	// (and Term): the state machine must be replaced by that snapshot's
	// state before any later entry is applied. It always comes alone.
	EntrySnapshot
)

// ConfChangeKind mirrors raft's change types, without raft's types.
type ConfChangeKind int

const (
	ConfAddNode ConfChangeKind = iota
	ConfRemoveNode
	ConfUpdateNode
	ConfAddLearner
)

// ConfChange is one change of a membership entry.
type ConfChange struct {
	Kind    ConfChangeKind
	NodeID  uint64
	Context []byte
}

// Entry is a committed raft entry handed to apply.
type Entry struct {
	Index, Term uint64
	Kind        EntryKind
	Data        []byte       // EntryNormal
	Changes     []ConfChange // EntryConfChange
}

// Status is a snapshot of the node's raft state.
type Status struct {
	ID, Lead, Term, Commit, Applied uint64
	IsLeader, IsLearner             bool
	Voters, Learners                []uint64
}

type proposal struct {
	data []byte
	done chan error
}

type readWaiter struct {
	done chan uint64 // receives the read index
}

// Node is a running raft member.
type Node struct {
	cfg Config
	lg  *zap.Logger
	rn  *raft.RawNode
	log *raftlog.Log

	propc    chan proposal
	readc    chan readWaiter
	recvc    chan raftpb.Message
	appliedc chan uint64
	applyc   chan []Entry
	confc    chan confReq
	opc      chan func()
	stopc    chan struct{}
	donec    chan struct{}
	stopOnce sync.Once

	lead, term, commit atomic.Uint64
	applied            atomic.Uint64
	isLeader           atomic.Bool
	status             atomic.Pointer[Status]
	leaderChanges      atomic.Uint64

	// owned by run
	readSeq     uint64
	readPending map[uint64][]readWaiter // ctx seq -> waiters
	readSent    map[uint64]time.Time
	queued      []readWaiter
	confStates  []indexedConfState
	snapIndex   uint64
	ticks       int
}

type indexedConfState struct {
	index uint64
	cs    raftpb.ConfState
}

type confReq struct {
	cc   raftpb.ConfChangeV2
	done chan error
}

// Start creates the raft node and its goroutine. applied is the last raft
// index whose effects are in the state machine.
func Start(cfg Config, applied uint64) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.HeartbeatTicks == 0 {
		cfg.HeartbeatTicks = 1
	}
	if cfg.ElectionTicks == 0 {
		cfg.ElectionTicks = 10
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = 100 * time.Millisecond
	}
	if cfg.SnapshotCount == 0 {
		cfg.SnapshotCount = 10000
	}
	if cfg.CatchUpEntries == 0 {
		cfg.CatchUpEntries = 5000
	}
	if cfg.SnapshotBytes == 0 {
		cfg.SnapshotBytes = 64 << 20
	}
	if cfg.CatchUpBytes == 0 {
		cfg.CatchUpBytes = 64 << 20
	}
	if cfg.ApplyBuffer == 0 {
		cfg.ApplyBuffer = 1024
	}
	snap := cfg.Log.SnapshotMeta()
	rc := &raft.Config{
		ID:            cfg.ID,
		ElectionTick:  cfg.ElectionTicks,
		HeartbeatTick: cfg.HeartbeatTicks,
		Storage:       cfg.Log.Storage(),
		// Raft re-delivers every committed entry after the snapshot so that
		// conf changes reach raft again; apply skips what it already has.
		Applied:                   snap.Index,
		MaxSizePerMsg:             1 << 20,
		MaxCommittedSizePerReady:  64 << 20,
		MaxUncommittedEntriesSize: 1 << 30,
		MaxInflightMsgs:           4096,
		CheckQuorum:               cfg.CheckQuorum,
		PreVote:                   cfg.PreVote,
		Logger:                    newRaftLogger(cfg.Logger),
	}
	rn, err := raft.NewRawNode(rc)
	if err != nil {
		return nil, fmt.Errorf("raftnode: %w", err)
	}
	if cfg.Log.Fresh() && len(cfg.Bootstrap) > 0 {
		peers := make([]raft.Peer, len(cfg.Bootstrap))
		for i, p := range cfg.Bootstrap {
			peers[i] = raft.Peer{ID: p.ID, Context: p.Context}
		}
		if err := rn.Bootstrap(peers); err != nil {
			return nil, fmt.Errorf("raftnode: bootstrap: %w", err)
		}
	}
	n := &Node{
		cfg:         cfg,
		lg:          cfg.Logger,
		rn:          rn,
		log:         cfg.Log,
		propc:       make(chan proposal, 4096),
		readc:       make(chan readWaiter, 4096),
		recvc:       make(chan raftpb.Message, 4096),
		appliedc:    make(chan uint64, 16),
		applyc:      make(chan []Entry, cfg.ApplyBuffer),
		confc:       make(chan confReq),
		opc:         make(chan func(), 64),
		stopc:       make(chan struct{}),
		donec:       make(chan struct{}),
		readPending: make(map[uint64][]readWaiter),
		readSent:    make(map[uint64]time.Time),
		snapIndex:   snap.Index,
		// Read-index contexts of a restarted member must not repeat the
		// ones of its previous run (see readCtx).
		readSeq: uint64(time.Now().UnixNano()),
	}
	n.applied.Store(applied)
	n.confStates = []indexedConfState{{index: snap.Index, cs: snap.ConfState}}
	n.updateStatus()
	go n.run()
	return n, nil
}

// Stop ends the raft goroutine and waits for it. Pending callers get
// ErrStopped. The apply channel is closed after the last batch.
func (n *Node) Stop() {
	n.stopOnce.Do(func() { close(n.stopc) })
	<-n.donec
}

// Done is closed when the node has stopped.
func (n *Node) Done() <-chan struct{} { return n.donec }

// CommittedEntries delivers committed entries in log order to the single
// apply goroutine. It is closed when the node stops.
func (n *Node) CommittedEntries() <-chan []Entry { return n.applyc }

// Propose hands data to raft. It returns once raft accepted or refused it;
// the outcome comes later through CommittedEntries.
func (n *Node) Propose(ctx context.Context, data []byte) error {
	p := proposal{data: data, done: make(chan error, 1)}
	select {
	case n.propc <- p:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopc:
		return ErrStopped
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopc:
		return ErrStopped
	}
}

// ProposeConfChange proposes a membership change.
func (n *Node) ProposeConfChange(ctx context.Context, cc raftpb.ConfChangeV2) error {
	r := confReq{cc: cc, done: make(chan error, 1)}
	select {
	case n.confc <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopc:
		return ErrStopped
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopc:
		return ErrStopped
	}
}

// ReadIndex returns a commit index that is at least the index of every write
// acknowledged before the call: once the state machine has applied it, a
// read from local state is linearizable. Concurrent callers share one raft
// read-index round.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	w := readWaiter{done: make(chan uint64, 1)}
	select {
	case n.readc <- w:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.stopc:
		return 0, ErrStopped
	}
	select {
	case idx := <-w.done:
		return idx, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.stopc:
		return 0, ErrStopped
	}
}

// Step delivers a message from a peer.
func (n *Node) Step(ctx context.Context, m raftpb.Message) error {
	select {
	case n.recvc <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopc:
		return ErrStopped
	}
}

// SetApplied reports that the state machine has applied (and committed to the
// database) every entry up to index. It lets the node truncate its log.
func (n *Node) SetApplied(index uint64) {
	n.applied.Store(index)
	select {
	case n.appliedc <- index:
	default: // the loop reads the latest value from n.applied anyway
	}
}

// Applied returns the last index reported through SetApplied.
func (n *Node) Applied() uint64 { return n.applied.Load() }

// Status returns the latest raft status; safe from any goroutine.
func (n *Node) Status() Status { return *n.status.Load() }

// Leader returns the current leader ID, or 0.
func (n *Node) Leader() uint64 { return n.lead.Load() }

// Term returns the current term.
func (n *Node) Term() uint64 { return n.term.Load() }

// IsLeader reports whether this member is the leader.
func (n *Node) IsLeader() bool { return n.isLeader.Load() }

// LeaderChanges counts the leader changes seen since start.
func (n *Node) LeaderChanges() uint64 { return n.leaderChanges.Load() }

// do runs f on the raft goroutine and waits for it.
func (n *Node) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case n.opc <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopc:
		return ErrStopped
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopc:
		return ErrStopped
	}
}

// ReportUnreachable tells raft that a message to id was lost. It never blocks.
func (n *Node) ReportUnreachable(id uint64) {
	select {
	case n.opc <- func() { n.rn.ReportUnreachable(id) }:
	default:
	}
}

// ReportSnapshot tells raft how sending a snapshot to id ended.
func (n *Node) ReportSnapshot(id uint64, ok bool) {
	st := raft.SnapshotFailure
	if ok {
		st = raft.SnapshotFinish
	}
	select {
	case n.opc <- func() { n.rn.ReportSnapshot(id, st) }:
	case <-n.stopc:
	}
}

// TransferLeadership asks raft to hand leadership to id.
func (n *Node) TransferLeadership(ctx context.Context, id uint64) error {
	return n.do(ctx, func() { n.rn.TransferLeader(id) })
}

// Progress describes how far a member's log is, as the leader sees it.
type Progress struct {
	Match, Next uint64
	Learner     bool
}

// LeaderProgress returns the leader's view of every member's log, and the
// leader's own last index. It returns ok=false on a follower.
func (n *Node) LeaderProgress(ctx context.Context) (map[uint64]Progress, uint64, bool, error) {
	var out map[uint64]Progress
	var last uint64
	var leader bool
	err := n.do(ctx, func() {
		st := n.rn.Status()
		if st.RaftState != raft.StateLeader {
			return
		}
		leader = true
		out = make(map[uint64]Progress, len(st.Progress))
		for id, pr := range st.Progress {
			out[id] = Progress{Match: pr.Match, Next: pr.Next, Learner: pr.IsLearner}
		}
		last, _ = n.log.Storage().LastIndex()
		if pr, ok := st.Progress[n.cfg.ID]; ok && pr.Match > last {
			last = pr.Match
		}
	})
	return out, last, leader, err
}

func (n *Node) updateStatus() {
	st := n.rn.Status()
	s := &Status{
		ID:       st.ID,
		Lead:     st.Lead,
		Term:     st.Term,
		Commit:   st.Commit,
		Applied:  n.applied.Load(),
		IsLeader: st.RaftState == raft.StateLeader,
	}
	for id := range st.Config.Voters.IDs() {
		s.Voters = append(s.Voters, id)
	}
	for id := range st.Config.Learners {
		s.Learners = append(s.Learners, id)
		if id == n.cfg.ID {
			s.IsLearner = true
		}
	}
	if old := n.lead.Swap(st.Lead); old != st.Lead && st.Lead != 0 {
		n.leaderChanges.Add(1)
		n.lg.Info("raft leader changed", zap.String("leader", fmt.Sprintf("%x", st.Lead)), zap.Uint64("term", st.Term))
	}
	n.term.Store(st.Term)
	n.commit.Store(st.Commit)
	if was := n.isLeader.Swap(s.IsLeader); was != s.IsLeader && n.cfg.OnLeadership != nil {
		n.cfg.OnLeadership(s.IsLeader)
	}
	n.status.Store(s)
}

// readCtx names a read-index round: this member's ID, then its sequence
// number. The leader keeps one pending round per distinct context and
// ignores a second one with the same bytes, so contexts must differ across
// members (and across a member's restarts, hence the sequence starting
// from the clock): a follower whose context equalled another member's had
// its round dropped and waited for the retry.
func readCtx(id, seq uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, id)
	binary.BigEndian.PutUint64(b[8:], seq)
	return b
}

// readSeqOf returns the sequence number of a read-index context of this
// member's, or false for anything else.
func readSeqOf(id uint64, ctx []byte) (uint64, bool) {
	if len(ctx) != 16 || binary.BigEndian.Uint64(ctx) != id {
		return 0, false
	}
	return binary.BigEndian.Uint64(ctx[8:]), true
}
