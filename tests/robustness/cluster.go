package robustness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cairndb/cairn/tests/framework"
)

// member is one server process of the run and a gRPC connection to it.
// The connection stays open across restarts: gRPC reconnects by itself.
type member struct {
	idx  int // index in ProxiedCluster.Members
	name string
	fm   *framework.Member
	conn *grpc.ClientConn

	kv    pb.KVClient
	lease pb.LeaseClient
	watch pb.WatchClient
	maint pb.MaintenanceClient
	cl    pb.ClusterClient
}

func dialMember(idx int, fm *framework.Member) (*member, error) {
	conn, err := grpc.NewClient(fm.ClientAddr(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 2 * time.Second,
		}))
	if err != nil {
		return nil, fmt.Errorf("robustness: dial %s: %w", fm.Name, err)
	}
	return &member{
		idx: idx, name: fm.Name, fm: fm, conn: conn,
		kv: pb.NewKVClient(conn), lease: pb.NewLeaseClient(conn), watch: pb.NewWatchClient(conn),
		maint: pb.NewMaintenanceClient(conn), cl: pb.NewClusterClient(conn),
	}, nil
}

// memberSet is the set of members that belong to the cluster: clients and
// watchers pick from it. The nemesis changes it when it replaces a member.
type memberSet struct {
	mu struct {
		sync.Mutex
		active []*member
	}
}

func (s *memberSet) list() []*member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mu.active)
}

func (s *memberSet) add(m *member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.active = append(s.mu.active, m)
}

func (s *memberSet) remove(m *member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.active = slices.DeleteFunc(s.mu.active, func(x *member) bool { return x == m })
}

// pick returns a random member other than not (if another exists).
func (s *memberSet) pick(rng *rand.Rand, not *member) *member {
	ms := s.list()
	if len(ms) > 1 && not != nil {
		ms = slices.DeleteFunc(ms, func(x *member) bool { return x == not })
	}
	if len(ms) == 0 {
		return nil
	}
	return ms[rng.IntN(len(ms))]
}

// status asks one member for its status.
func (m *member) status(ctx context.Context, d time.Duration) (*pb.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return m.maint.Status(ctx, &pb.StatusRequest{})
}

// findLeader asks the members for their leader and returns the one most
// name, or nil if none is named by a majority of those answering within d.
func findLeader(ctx context.Context, ms []*member, d time.Duration) *member {
	deadline := time.Now().Add(d)
	for attempt := 0; attempt < 1000 && time.Now().Before(deadline); attempt++ {
		votes := map[uint64]int{}
		ids := map[uint64]*member{}
		for _, m := range ms {
			st, err := m.status(ctx, time.Second)
			if err != nil {
				continue
			}
			ids[st.Header.MemberId] = m
			if st.Leader != 0 {
				votes[st.Leader]++
			}
		}
		for id, n := range votes {
			if n*2 > len(ms) && ids[id] != nil {
				return ids[id]
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// converge waits until the members report the same revision, raft index
// and applied index twice in a row, half a second apart, and returns the
// revision.
func converge(ctx context.Context, ms []*member, d time.Duration) (int64, error) {
	deadline := time.Now().Add(d)
	var last string
	var lastErr error
	for attempt := 0; attempt < 10000 && time.Now().Before(deadline); attempt++ {
		var sts []*pb.StatusResponse
		lastErr = nil
		for _, m := range ms {
			st, err := m.status(ctx, 2*time.Second)
			if err != nil {
				lastErr = fmt.Errorf("status of %s: %w", m.name, err)
				break
			}
			sts = append(sts, st)
		}
		if lastErr == nil {
			same := true
			for _, st := range sts[1:] {
				same = same && st.Header.Revision == sts[0].Header.Revision && st.RaftIndex == sts[0].RaftIndex &&
					st.RaftAppliedIndex == sts[0].RaftAppliedIndex && st.RaftAppliedIndex == st.RaftIndex
			}
			key := fmt.Sprintf("%d/%d/%d", sts[0].Header.Revision, sts[0].RaftIndex, sts[0].RaftAppliedIndex)
			if same && key == last {
				return sts[0].Header.Revision, nil
			}
			if same {
				last = key
			} else {
				last = ""
				var desc []string
				for i, st := range sts {
					desc = append(desc, fmt.Sprintf("%s rev %d index %d applied %d", ms[i].name, st.Header.Revision, st.RaftIndex, st.RaftAppliedIndex))
				}
				lastErr = fmt.Errorf("members differ: %v", desc)
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if lastErr == nil {
		lastErr = errors.New("timed out")
	}
	return 0, fmt.Errorf("members did not converge within %v: %w", d, lastErr)
}

// waitReady waits until every member serves a linearizable read.
func waitReady(ctx context.Context, ms []*member, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for _, m := range ms {
		if err := m.fm.WaitReady(ctx); err != nil {
			return err
		}
	}
	return nil
}
