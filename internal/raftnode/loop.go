package raftnode

import (
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// readRetry is how long a read-index round may stay unanswered before it is
// asked again (a leader change can lose it).
const readRetry = 500 * time.Millisecond

var closedc = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (n *Node) run() {
	defer close(n.donec)
	defer close(n.applyc)
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	// A sole voter need not wait for the first tick to lead.
	n.maybeCampaignAlone()
	for {
		// Wait for something to do; when raft already has a Ready, only look
		// at what is waiting (readyc is then a closed channel).
		var readyc <-chan struct{}
		if n.rn.HasReady() {
			readyc = closedc
		}
		select {
		case <-n.stopc:
			n.failPending()
			return
		case <-ticker.C:
			n.rn.Tick()
			n.retryReads()
			n.maybeCampaignAlone()
		case p := <-n.propc:
			n.propose(p)
		case w := <-n.readc:
			n.queued = append(n.queued, w)
		case m := <-n.recvc:
			n.step(m)
		case r := <-n.confc:
			r.done <- n.rn.ProposeConfChange(r.cc)
		case idx := <-n.appliedc:
			n.maybeCompact(idx)
		case f := <-n.opc:
			f()
		case <-readyc:
		}
		// Take everything else that is already waiting, so it shares this
		// Ready's fsync.
	drain:
		for i := 0; i < 4096; i++ {
			select {
			case p := <-n.propc:
				n.propose(p)
			case w := <-n.readc:
				n.queued = append(n.queued, w)
			case m := <-n.recvc:
				n.step(m)
			default:
				break drain
			}
		}
		if len(n.queued) > 0 {
			n.readSeq++
			n.readPending[n.readSeq] = n.queued
			n.readSent[n.readSeq] = time.Now()
			n.queued = nil
			n.rn.ReadIndex(readCtx(n.cfg.ID, n.readSeq))
		}
		if n.rn.HasReady() {
			if err := n.handleReady(); err != nil {
				n.lg.Error("raft loop stopped: persisting the raft log failed", zap.Error(err))
				n.failPending()
				return
			}
		}
	}
}

func (n *Node) propose(p proposal) {
	p.done <- mapDrop(n.rn.Propose(p.data))
}

func mapDrop(err error) error {
	if err == raft.ErrProposalDropped {
		return ErrDropped
	}
	return err
}

func (n *Node) step(m raftpb.Message) {
	if err := n.rn.Step(m); err != nil && err != raft.ErrStepPeerNotFound && err != raft.ErrStepLocalMsg {
		n.lg.Debug("raft step failed", zap.Error(err))
	}
}

func (n *Node) handleReady() error {
	rd := n.rn.Ready()
	if rd.SoftState != nil || !raft.IsEmptyHardState(rd.HardState) {
		defer n.updateStatus()
	}
	leader := n.isLeader.Load()
	if rd.SoftState != nil {
		leader = rd.SoftState.RaftState == raft.StateLeader
	}
	n.freshenSnapshots(rd.Messages)
	// A leader may send before its own write completes: followers persist in
	// parallel and the leader counts itself only after Advance.
	if leader && n.cfg.Transport != nil && len(rd.Messages) > 0 {
		n.cfg.Transport.Send(rd.Messages)
	}
	start := time.Now()
	synced, err := n.log.Save(rd.HardState, rd.Entries, rd.Snapshot)
	if err != nil {
		return err
	}
	if n.cfg.OnSave != nil && synced {
		n.cfg.OnSave(time.Since(start), synced)
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		n.snapIndex = rd.Snapshot.Metadata.Index
		n.confStates = []indexedConfState{{index: rd.Snapshot.Metadata.Index, cs: rd.Snapshot.Metadata.ConfState}}
		// Raft took the snapshot (it ignores one at or below its commit
		// index, and then nothing is installed): the state machine
		// installs it before the entries that follow it.
		snap := []Entry{{Index: rd.Snapshot.Metadata.Index, Term: rd.Snapshot.Metadata.Term, Kind: EntrySnapshot}}
		select {
		case n.applyc <- snap:
		case <-n.stopc:
			return nil
		}
	}
	if len(rd.CommittedEntries) > 0 {
		ents := make([]Entry, 0, len(rd.CommittedEntries))
		for i := range rd.CommittedEntries {
			e := &rd.CommittedEntries[i]
			ents = append(ents, n.toEntry(e))
		}
		select {
		case n.applyc <- ents:
		case <-n.stopc:
			return nil
		}
	}
	for _, rs := range rd.ReadStates {
		seq, ok := readSeqOf(n.cfg.ID, rs.RequestCtx)
		if !ok {
			continue
		}
		for _, w := range n.readPending[seq] {
			w.done <- rs.Index
		}
		delete(n.readPending, seq)
		delete(n.readSent, seq)
	}
	if !leader && n.cfg.Transport != nil && len(rd.Messages) > 0 {
		n.cfg.Transport.Send(rd.Messages)
	}
	n.rn.Advance(rd)
	return nil
}

// toEntry converts a committed raft entry, applying conf changes to raft now
// so raft's configuration follows the log as it commits.
func (n *Node) toEntry(e *raftpb.Entry) Entry {
	out := Entry{Index: e.Index, Term: e.Term, Kind: EntryNormal, Data: e.Data}
	var cc raftpb.ConfChangeI
	switch e.Type {
	case raftpb.EntryConfChange:
		var c raftpb.ConfChange
		if err := c.Unmarshal(e.Data); err != nil {
			panic(fmt.Sprintf("raftnode: committed conf change %d is damaged: %v", e.Index, err))
		}
		cc = c
	case raftpb.EntryConfChangeV2:
		var c raftpb.ConfChangeV2
		if err := c.Unmarshal(e.Data); err != nil {
			panic(fmt.Sprintf("raftnode: committed conf change %d is damaged: %v", e.Index, err))
		}
		cc = c
	default:
		return out
	}
	cs := n.rn.ApplyConfChange(cc)
	if e.Index > n.confStates[len(n.confStates)-1].index {
		n.confStates = append(n.confStates, indexedConfState{index: e.Index, cs: *cs})
	}
	out.Kind = EntryConfChange
	out.Data = nil
	v2 := cc.AsV2()
	for _, ch := range v2.Changes {
		var k ConfChangeKind
		switch ch.Type {
		case raftpb.ConfChangeAddNode:
			k = ConfAddNode
		case raftpb.ConfChangeRemoveNode:
			k = ConfRemoveNode
		case raftpb.ConfChangeUpdateNode:
			k = ConfUpdateNode
		case raftpb.ConfChangeAddLearnerNode:
			k = ConfAddLearner
		}
		out.Changes = append(out.Changes, ConfChange{Kind: k, NodeID: ch.NodeID, Context: v2.Context})
	}
	return out
}

// freshenSnapshots rewrites the metadata of outgoing snapshot messages to
// describe the state as of the last applied entry. The transport streams the
// state as it is when it sends (at or after that entry), so the metadata
// must not be older than the membership in it: a member added after the
// last log truncation must find itself in the snapshot's ConfState.
func (n *Node) freshenSnapshots(msgs []raftpb.Message) {
	for i := range msgs {
		m := &msgs[i]
		if m.Type != raftpb.MsgSnap || m.Snapshot == nil {
			continue
		}
		applied := n.applied.Load()
		if last, _ := n.log.Storage().LastIndex(); applied > last {
			applied = last
		}
		if applied <= m.Snapshot.Metadata.Index {
			continue
		}
		term, err := n.log.Storage().Term(applied)
		if err != nil {
			continue
		}
		cs := n.confStates[0].cs
		for _, ics := range n.confStates {
			if ics.index <= applied {
				cs = ics.cs
			}
		}
		snap := raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{Index: applied, Term: term, ConfState: cs}}
		m.Snapshot = &snap
	}
}

// maybeCompact truncates the raft log once enough entries were applied.
func (n *Node) maybeCompact(applied uint64) {
	if cur := n.applied.Load(); cur > applied {
		applied = cur
	}
	// The state can be ahead of the local raft log right after a snapshot
	// from the leader was installed; a snapshot can only cover the log.
	if last, _ := n.log.Storage().LastIndex(); applied > last {
		applied = last
	}
	if applied <= n.snapIndex {
		return
	}
	if applied < n.snapIndex+n.cfg.SnapshotCount {
		// Few entries, but maybe many bytes: truncate once the applied
		// ones alone hold half the bound (not while apply lags behind a
		// log that is full of entries it has yet to reach).
		if n.log.Bytes() < n.cfg.SnapshotBytes || n.log.BytesBetween(n.snapIndex+1, applied+1) < n.cfg.SnapshotBytes/2 {
			return
		}
	}
	cs := n.confStates[0].cs
	keep := 0
	for i, ics := range n.confStates {
		if ics.index <= applied {
			cs = ics.cs
			keep = i
		}
	}
	keepFrom := uint64(1)
	if applied > n.cfg.CatchUpEntries {
		keepFrom = applied - n.cfg.CatchUpEntries + 1
	}
	keepFrom = n.log.KeepFrom(keepFrom, applied, n.cfg.CatchUpBytes)
	if err := n.log.Compact(applied, cs, keepFrom); err != nil {
		n.lg.Warn("raft log truncation failed", zap.Uint64("index", applied), zap.Error(err))
		return
	}
	n.snapIndex = applied
	n.confStates = n.confStates[keep:]
	n.confStates[0].index = applied
	n.lg.Debug("raft log truncated", zap.Uint64("snapshot-index", applied), zap.Uint64("kept-from", keepFrom))
}

// maybeCampaignAlone starts an election at once when this member is the only
// voter, so a single-member cluster serves right after a restart instead of
// after a full election timeout. It only looks during the first ticks.
func (n *Node) maybeCampaignAlone() {
	if n.ticks > n.cfg.ElectionTicks {
		return
	}
	n.ticks++
	st := n.rn.Status()
	if st.Lead != 0 || st.RaftState != raft.StateFollower {
		return
	}
	voters := st.Config.Voters.IDs()
	if _, self := voters[n.cfg.ID]; len(voters) == 1 && self {
		_ = n.rn.Campaign()
	}
}

func (n *Node) retryReads() {
	now := time.Now()
	for seq, sent := range n.readSent {
		if now.Sub(sent) >= readRetry {
			n.readSent[seq] = now
			n.rn.ReadIndex(readCtx(n.cfg.ID, seq))
		}
	}
}

func (n *Node) failPending() {
	// Waiters select on stopc as well; dropping the maps is enough.
	n.readPending = nil
	n.readSent = nil
}
