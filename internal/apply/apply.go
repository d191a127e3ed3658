// Package apply turns committed raft entries into state: MVCC changes,
// membership changes and the applied index, all in the one Pebble batch the
// caller commits. It is deterministic: no clock, no randomness, no map
// iteration order, no goroutines and no network. Every member applying the
// same entries computes the same state.
package apply

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/auth"
	"github.com/cairndb/cairn/internal/lease"
	"github.com/cairndb/cairn/internal/membership"
	"github.com/cairndb/cairn/internal/mvcc"
	"github.com/cairndb/cairn/internal/raftnode"
)

var keyApplied = []byte("m/apply/index")

// AppliedIndexKey is the key of the applied index (a backup restore leaves
// it out).
func AppliedIndexKey() []byte { return append([]byte(nil), keyApplied...) }

// ReadAppliedIndex reads the applied index stored in db (0 when none).
func ReadAppliedIndex(db pebble.Reader) (uint64, error) {
	v, closer, err := db.Get(keyApplied)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("apply: applied index has %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// ErrUnsupported is the result of a request kind this build cannot apply.
var ErrUnsupported = errors.New("apply: unsupported request")

// Result is the outcome of one request, delivered to whoever proposed it.
type Result struct {
	Resp interface{}
	Err  error
	// Compacted is closed when a compaction's physical removal is done.
	Compacted <-chan struct{}
}

// Applier applies entries. Only the apply goroutine calls it.
type Applier struct {
	lg      *zap.Logger
	kv      *mvcc.Store
	members *membership.Store
	lessor  *lease.Lessor
	alarms  *Alarms
	applied uint64
	// Auth, when set, applies auth changes and refuses requests whose
	// permission was checked at an older auth revision.
	Auth *auth.Store
	// Downgrade, when set, applies downgrade job changes (DowngradeInfoSet).
	Downgrade *Downgrade
	// OnEmptyEntry, when set, is called for each applied empty entry: a new
	// leader appends one at the start of its term (the server promotes its
	// lessor there, as etcd does). It must not change replicated state.
	OnEmptyEntry func(term uint64)
}

// New loads the applied index from db.
func New(db pebble.Reader, kv *mvcc.Store, members *membership.Store, lessor *lease.Lessor, alarms *Alarms, lg *zap.Logger) (*Applier, error) {
	a := &Applier{lg: lg, kv: kv, members: members, lessor: lessor, alarms: alarms}
	v, closer, err := db.Get(keyApplied)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("apply: read applied index: %w", err)
	default:
		if len(v) != 8 {
			closer.Close()
			return nil, fmt.Errorf("apply: applied index record is damaged (%d bytes)", len(v))
		}
		a.applied = binary.BigEndian.Uint64(v)
		closer.Close()
	}
	return a, nil
}

// AppliedIndex is the last raft index applied (possibly not yet committed
// to the database by the caller).
func (a *Applier) AppliedIndex() uint64 { return a.applied }

// Apply applies ents into b in order, skipping entries already applied. For
// each request it calls done(requestID, result); it returns the watch events
// the entries produced, in revision order. The caller commits b, then calls
// kv.Committed, then delivers results and events.
func (a *Applier) Apply(b *pebble.Batch, ents []raftnode.Entry, done func(id uint64, r Result)) []mvccpb.Event {
	var events []mvccpb.Event
	last := a.applied
	a.lessor.SetBatch(b)
	defer a.lessor.SetBatch(nil)
	for i := range ents {
		e := &ents[i]
		if e.Index <= a.applied {
			continue
		}
		switch e.Kind {
		case raftnode.EntryNormal:
			if len(e.Data) > 0 {
				events = a.applyNormal(b, e, done, events)
			} else if a.OnEmptyEntry != nil {
				a.OnEmptyEntry(e.Term)
			}
		case raftnode.EntryConfChange:
			a.applyConfChange(b, e, done)
		}
		last = e.Index
	}
	if last != a.applied {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], last)
		if err := b.Set(keyApplied, v[:], nil); err != nil {
			panic(fmt.Sprintf("apply: write applied index: %v", err))
		}
		a.applied = last
	}
	return events
}

func (a *Applier) applyNormal(b *pebble.Batch, e *raftnode.Entry, done func(uint64, Result), events []mvccpb.Event) []mvccpb.Event {
	var r pb.InternalRaftRequest
	if err := r.Unmarshal(e.Data); err != nil {
		// A committed entry that does not decode is a bug or corruption; every
		// member would fail the same way, so refuse to go on.
		panic(fmt.Sprintf("apply: entry %d does not decode: %v", e.Index, err))
	}
	var id uint64
	if r.Header != nil {
		id = r.Header.ID
	}
	var res Result
	if a.Auth != nil && r.Header != nil && a.Auth.Enabled() && r.Header.AuthRevision < a.Auth.Revision() && needsAuthCheck(&r) {
		res.Err = auth.ErrAuthOldRevision
		if id != 0 {
			done(id, res)
		}
		return events
	}
	switch {
	case r.Put != nil:
		w := a.kv.Write(b)
		res.Resp, res.Err = w.Put(r.Put)
		events = append(events, w.End()...)
	case r.DeleteRange != nil:
		w := a.kv.Write(b)
		res.Resp, res.Err = w.DeleteRange(r.DeleteRange)
		events = append(events, w.End()...)
	case r.Txn != nil:
		w := a.kv.Write(b)
		res.Resp, res.Err = w.Txn(r.Txn)
		events = append(events, w.End()...)
	case r.Compaction != nil:
		w := a.kv.Write(b)
		var ch <-chan struct{}
		res.Resp, ch, res.Err = w.Compact(r.Compaction.Revision)
		res.Compacted = ch
		events = append(events, w.End()...)
	case r.LeaseGrant != nil:
		res.Resp, res.Err = a.leaseGrant(b, r.LeaseGrant)
	case r.LeaseRevoke != nil:
		var evs []mvccpb.Event
		res.Resp, evs, res.Err = a.leaseRevoke(b, r.LeaseRevoke.ID)
		events = append(events, evs...)
	case r.LeaseCheckpoint != nil:
		for _, c := range r.LeaseCheckpoint.Checkpoints {
			a.lessor.Checkpoint(c.ID, c.Remaining_TTL)
		}
		res.Resp = &pb.LeaseCheckpointResponse{Header: &pb.ResponseHeader{Revision: a.pendingRev(b)}}
	case r.Alarm != nil:
		res.Resp = &pb.AlarmResponse{Header: &pb.ResponseHeader{}, Alarms: a.alarms.apply(b, r.Alarm)}
	case a.Auth != nil && isAuthRequest(&r):
		res.Resp, res.Err = a.applyAuth(b, &r)
	case a.Downgrade != nil && r.DowngradeInfoSet != nil:
		a.Downgrade.apply(b, r.DowngradeInfoSet)
	case r.ClusterMemberAttrSet != nil:
		ms := r.ClusterMemberAttrSet
		var clientURLs []string
		name := ""
		if ms.MemberAttributes != nil {
			clientURLs = ms.MemberAttributes.ClientUrls
			name = ms.MemberAttributes.Name
		}
		res.Err = a.members.SetAttributes(b, ms.Member_ID, name, clientURLs)
	default:
		res.Err = ErrUnsupported
	}
	if id != 0 {
		done(id, res)
	}
	return events
}

func (a *Applier) applyConfChange(b *pebble.Batch, e *raftnode.Entry, done func(uint64, Result)) {
	var reqID uint64
	for _, ch := range e.Changes {
		if id := decodeReqID(ch.Context); id != 0 {
			reqID = id
		}
		var err error
		switch ch.Kind {
		case raftnode.ConfAddNode:
			if m, ok := a.members.Member(ch.NodeID); ok && m.IsLearner {
				err = a.members.Promote(b, ch.NodeID)
			} else if !ok {
				err = a.members.Add(b, ch.Context, false)
			}
		case raftnode.ConfAddLearner:
			if _, ok := a.members.Member(ch.NodeID); !ok {
				err = a.members.Add(b, ch.Context, true)
			}
		case raftnode.ConfRemoveNode:
			err = a.members.Remove(b, ch.NodeID)
		case raftnode.ConfUpdateNode:
			var m membership.Member
			if m2, derr := decodeMember(ch.Context); derr == nil {
				m = m2
				err = a.members.UpdatePeerURLs(b, ch.NodeID, m.PeerURLs)
			} else {
				err = derr
			}
		}
		if err != nil {
			a.lg.Warn("membership change not applied", zap.Uint64("index", e.Index), zap.Error(err))
		}
	}
	if reqID != 0 {
		done(reqID, Result{})
	}
}

// pendingRev is the store's revision including this batch's earlier writes.
func (a *Applier) pendingRev(b *pebble.Batch) int64 {
	w := a.kv.Write(b)
	rev := w.Rev()
	w.End()
	return rev
}

func (a *Applier) leaseGrant(b *pebble.Batch, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	ls, err := a.lessor.Grant(r.ID, r.TTL)
	if err != nil {
		return nil, err
	}
	return &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{Revision: a.pendingRev(b)}, ID: ls.ID, TTL: ls.TTL}, nil
}

// leaseRevoke deletes the lease's keys in one revision, then the lease.
func (a *Applier) leaseRevoke(b *pebble.Batch, id int64) (*pb.LeaseRevokeResponse, []mvccpb.Event, error) {
	keys, err := a.lessor.Revoke(id)
	if err != nil {
		return nil, nil, err
	}
	w := a.kv.Write(b)
	for _, k := range keys {
		if _, err := w.DeleteRange(&pb.DeleteRangeRequest{Key: k}); err != nil {
			panic(fmt.Sprintf("apply: revoke lease %x: delete %q: %v", id, k, err))
		}
	}
	rev := w.Rev()
	evs := w.End()
	a.lessor.Forget(id)
	return &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: rev}}, evs, nil
}
