package robustness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"
)

// The key set every client works on: small, so that operations collide.
const (
	keyPrefix = "rb/"
	keyEnd    = "rb0" // keyPrefix with its last byte incremented
	numKeys   = 8
	// leaseTTL is long enough that no lease expires during a run: leases
	// end by revocation only, which the clients record.
	leaseTTL = 3600
	// opTimeout bounds one client request.
	opTimeout = 4 * time.Second
)

func keyName(i int) string { return fmt.Sprintf("%sk%d", keyPrefix, i) }

// trafficConfig sets the clients of a round.
type trafficConfig struct {
	clients  int
	leaseIDs *atomic.Int64 // makes lease IDs unique in a run
	values   *atomic.Int64 // makes every written value unique in a run
	start    time.Time     // time origin of the recorded operations
	seed     uint64
	round    int
}

// traffic is the clients of one round.
type traffic struct {
	cfg     trafficConfig
	members *memberSet
	stopc   chan struct{}
	wg      sync.WaitGroup
	// lastRev is the highest revision any client saw: late watchers start
	// below it.
	lastRev atomic.Int64

	mu struct {
		sync.Mutex
		ops []Op
	}
}

func startTraffic(cfg trafficConfig, members *memberSet, deadline time.Time) *traffic {
	tr := &traffic{cfg: cfg, members: members, stopc: make(chan struct{})}
	for c := 0; c < cfg.clients; c++ {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			tr.client(c, deadline)
		}()
	}
	return tr
}

// stop ends the clients and waits for their last requests.
func (tr *traffic) stop() []Op {
	select {
	case <-tr.stopc:
	default:
		close(tr.stopc)
	}
	tr.wg.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.mu.ops
}

func (tr *traffic) now() int64 { return int64(time.Since(tr.cfg.start)) }

// clientState is what one client believes, used only to pick requests
// that are likely to matter (a compare-and-swap with a revision it saw, a
// put with a lease it holds); correctness never depends on it.
type clientState struct {
	modRev map[string]int64
	leases []int64
}

// client issues random requests until the deadline or stop. It sticks to
// one member and moves to another after an error.
func (tr *traffic) client(id int, deadline time.Time) {
	rng := rand.New(rand.NewPCG(tr.cfg.seed, uint64(tr.cfg.round)<<16|uint64(id)))
	cs := &clientState{modRev: map[string]int64{}}
	var m *member
	var ops []Op
	defer func() {
		tr.mu.Lock()
		tr.mu.ops = append(tr.mu.ops, ops...)
		tr.mu.Unlock()
	}()
	for n := 0; n < 1_000_000 && time.Now().Before(deadline); n++ {
		select {
		case <-tr.stopc:
			return
		default:
		}
		if m == nil {
			if m = tr.members.pick(rng, nil); m == nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		in := tr.nextInput(rng, cs)
		op := tr.do(m, id, in)
		ops = append(ops, op)
		tr.learn(cs, op)
		if op.Out.Unknown {
			// Move on to another member after a short pause, so that a
			// client does not hammer a member that is down.
			m = tr.members.pick(rng, m)
			select {
			case <-tr.stopc:
				return
			case <-time.After(time.Duration(20+rng.IntN(200)) * time.Millisecond):
			}
		}
	}
}

// nextInput picks a random request.
func (tr *traffic) nextInput(rng *rand.Rand, cs *clientState) Input {
	key := keyName(rng.IntN(numKeys))
	newValue := func() string {
		return fmt.Sprintf("v%d-r%d", tr.cfg.values.Add(1), tr.cfg.round)
	}
	for {
		switch p := rng.IntN(100); {
		case p < 12:
			return Input{Kind: OpGet, Key: key}
		case p < 22:
			return Input{Kind: OpGet}
		case p < 32:
			return Input{Kind: OpSerialGet}
		case p < 55:
			return Input{Kind: OpPut, Key: key, Value: newValue()}
		case p < 61:
			if len(cs.leases) == 0 {
				continue
			}
			return Input{Kind: OpPut, Key: key, Value: newValue(), Lease: cs.leases[rng.IntN(len(cs.leases))]}
		case p < 69:
			return Input{Kind: OpDelete, Key: key}
		case p < 86:
			expect := cs.modRev[key]
			if rng.IntN(5) == 0 {
				expect = 0
			}
			return Input{Kind: OpTxn, Key: key, Value: newValue(), Expect: expect}
		case p < 93:
			if len(cs.leases) >= 2 {
				continue
			}
			return Input{Kind: OpGrant, Lease: 0x10000 + tr.cfg.leaseIDs.Add(1)}
		default:
			if len(cs.leases) == 0 {
				continue
			}
			i := rng.IntN(len(cs.leases))
			l := cs.leases[i]
			cs.leases = append(cs.leases[:i], cs.leases[i+1:]...)
			return Input{Kind: OpRevoke, Lease: l}
		}
	}
}

func (tr *traffic) learn(cs *clientState, op Op) {
	if op.Out.Unknown || op.Out.LeaseNotFound {
		if op.In.Kind == OpPut && op.Out.LeaseNotFound {
			for i, l := range cs.leases {
				if l == op.In.Lease {
					cs.leases = append(cs.leases[:i], cs.leases[i+1:]...)
					break
				}
			}
		}
		return
	}
	for {
		cur := tr.lastRev.Load()
		if op.Out.Rev <= cur || tr.lastRev.CompareAndSwap(cur, op.Out.Rev) {
			break
		}
	}
	switch op.In.Kind {
	case OpGet, OpSerialGet:
		for _, kv := range op.Out.KVs {
			cs.modRev[kv.Key] = kv.ModRev
		}
	case OpPut:
		cs.modRev[op.In.Key] = op.Out.Rev
	case OpTxn:
		if op.Out.Succeeded {
			cs.modRev[op.In.Key] = op.Out.Rev
		} else if len(op.Out.KVs) == 1 {
			cs.modRev[op.In.Key] = op.Out.KVs[0].ModRev
		} else {
			cs.modRev[op.In.Key] = 0
		}
	case OpDelete:
		cs.modRev[op.In.Key] = 0
	case OpGrant:
		cs.leases = append(cs.leases, op.In.Lease)
	}
}

// do sends one request to m and records it.
func (tr *traffic) do(m *member, client int, in Input) Op {
	op := Op{Client: client, Target: m.name, In: in}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	op.Call = tr.now()
	hdr, out, err := send(ctx, m, in)
	op.Return = tr.now()
	op.Out = out
	if hdr != nil {
		op.Member = hdr.MemberId
	}
	if err != nil {
		op.Err = err.Error()
		if isLeaseNotFound(err) && (in.Kind == OpPut || in.Kind == OpRevoke) {
			op.Out = Output{LeaseNotFound: true}
		} else {
			op.Out = Output{Unknown: true}
			op.Return = infinity
		}
	}
	return op
}

func isLeaseNotFound(err error) bool {
	s, ok := status.FromError(err)
	want := status.Convert(rpctypes.ErrGRPCLeaseNotFound)
	return ok && s.Code() == want.Code() && s.Message() == want.Message()
}

// send makes the request for in.
func send(ctx context.Context, m *member, in Input) (*pb.ResponseHeader, Output, error) {
	switch in.Kind {
	case OpGet, OpSerialGet:
		r := &pb.RangeRequest{Key: []byte(in.Key), Serializable: in.Kind == OpSerialGet}
		if in.Key == "" {
			r.Key, r.RangeEnd = []byte(keyPrefix), []byte(keyEnd)
		}
		resp, err := m.kv.Range(ctx, r)
		if err != nil {
			return nil, Output{}, err
		}
		return resp.Header, Output{Rev: resp.Header.Revision, KVs: kvsFromPB(resp.Kvs)}, nil
	case OpPut:
		resp, err := m.kv.Put(ctx, &pb.PutRequest{Key: []byte(in.Key), Value: []byte(in.Value), Lease: in.Lease})
		if err != nil {
			return nil, Output{}, err
		}
		return resp.Header, Output{Rev: resp.Header.Revision}, nil
	case OpDelete:
		resp, err := m.kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte(in.Key)})
		if err != nil {
			return nil, Output{}, err
		}
		return resp.Header, Output{Rev: resp.Header.Revision, Deleted: resp.Deleted}, nil
	case OpTxn:
		resp, err := m.kv.Txn(ctx, &pb.TxnRequest{
			Compare: []*pb.Compare{{
				Key: []byte(in.Key), Target: pb.Compare_MOD, Result: pb.Compare_EQUAL,
				TargetUnion: &pb.Compare_ModRevision{ModRevision: in.Expect},
			}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(in.Key), Value: []byte(in.Value)}}}},
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(in.Key)}}}},
		})
		if err != nil {
			return nil, Output{}, err
		}
		out := Output{Rev: resp.Header.Revision, Succeeded: resp.Succeeded}
		if !resp.Succeeded {
			if len(resp.Responses) != 1 || resp.Responses[0].GetResponseRange() == nil {
				return resp.Header, Output{}, fmt.Errorf("robustness: txn failure branch answered %v", resp.Responses)
			}
			out.KVs = kvsFromPB(resp.Responses[0].GetResponseRange().Kvs)
		}
		return resp.Header, out, nil
	case OpGrant:
		resp, err := m.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: in.Lease, TTL: leaseTTL})
		if err != nil {
			return nil, Output{}, err
		}
		if resp.Error != "" {
			return resp.Header, Output{}, errors.New(resp.Error)
		}
		return resp.Header, Output{Rev: resp.Header.Revision}, nil
	case OpRevoke:
		resp, err := m.lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: in.Lease})
		if err != nil {
			return nil, Output{}, err
		}
		return resp.Header, Output{Rev: resp.Header.Revision}, nil
	}
	return nil, Output{}, fmt.Errorf("robustness: unknown op %v", in.Kind)
}
