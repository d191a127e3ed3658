package robustness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"

	"github.com/cairndb/cairn/tests/framework"
)

// FaultKind names a fault the nemesis injects.
type FaultKind string

// The faults. Each is injected while the clients run, held for a while,
// then repaired, and the nemesis waits for the cluster to serve again
// before the next one.
const (
	KillLeader        FaultKind = "kill-leader"        // SIGKILL the leader, restart it
	KillFollower      FaultKind = "kill-follower"      // SIGKILL a follower, restart it
	KillAll           FaultKind = "kill-all"           // SIGKILL every member at once, restart them
	PauseLeader       FaultKind = "pause-leader"       // SIGSTOP the leader past the election timeout, SIGCONT
	PauseFollower     FaultKind = "pause-follower"     // SIGSTOP a follower past the election timeout, SIGCONT
	PartitionLeader   FaultKind = "partition-leader"   // the leader in a minority partition
	PartitionFollower FaultKind = "partition-follower" // a follower cut off from every other member
	CutLeaderOutbound FaultKind = "cut-leader-to-follower"
	DiskFull          FaultKind = "disk-full"      // a member's data dir (on its own tmpfs) fills up
	ReplaceMember     FaultKind = "member-replace" // remove a member (the leader sometimes), add a new voter
	ReplaceByLearner  FaultKind = "member-replace-learner"
)

// AllFaults lists every fault kind.
var AllFaults = []FaultKind{
	KillLeader, KillFollower, KillAll, PauseLeader, PauseFollower, PartitionLeader,
	PartitionFollower, CutLeaderOutbound, DiskFull, ReplaceMember, ReplaceByLearner,
}

// FaultRecord is one injected fault.
type FaultRecord struct {
	Round   int
	Kind    FaultKind
	Targets []string
	Start   int64 // ns since the run started
	End     int64
	Detail  string
}

func (f FaultRecord) String() string {
	return fmt.Sprintf("round %d [%.1fs-%.1fs] %s on %s: %s", f.Round, float64(f.Start)/1e9, float64(f.End)/1e9,
		f.Kind, strings.Join(f.Targets, ","), f.Detail)
}

// Timing of the cluster the harness starts: short, so faults resolve fast.
const (
	heartbeatMs = 50
	electionMs  = 500
	election    = electionMs * time.Millisecond
	// recoverWithin bounds how long the cluster may take to serve again
	// after a fault is repaired. It is generous: the machine may be slow.
	recoverWithin = 90 * time.Second
)

// nemesis injects faults into a running cluster. It runs on the test's
// goroutine (framework methods that take a testing.TB must).
type nemesis struct {
	t         *testing.T
	r         *Runner
	rng       *rand.Rand
	queue     []FaultKind
	records   []FaultRecord
	notes     []string // behaviour worth reporting that is not a violation
	noteKeys  []string
	noteCount map[string]int
}

func (r *Runner) newNemesis() *nemesis {
	return &nemesis{t: r.t, r: r, rng: rand.New(rand.NewPCG(r.cfg.Seed, 0xfa17))}
}

// next returns the next fault kind: every kind once in a shuffled order,
// then again, so a short run sees each kind.
func (n *nemesis) next() FaultKind {
	if len(n.queue) == 0 {
		kinds := n.r.cfg.Faults
		if kinds == nil {
			kinds = AllFaults
		}
		n.queue = slices.Clone(kinds)
		n.rng.Shuffle(len(n.queue), func(i, j int) { n.queue[i], n.queue[j] = n.queue[j], n.queue[i] })
	}
	k := n.queue[0]
	n.queue = n.queue[1:]
	return k
}

// runRound injects faults one after another until the deadline.
func (n *nemesis) runRound(round int, deadline time.Time) error {
	// Let the clients start before the first fault.
	time.Sleep(time.Duration(500+n.rng.IntN(1500)) * time.Millisecond)
	for i := 0; i < 1000 && time.Until(deadline) > 3*time.Second; i++ {
		kind := n.next()
		rec := FaultRecord{Round: round, Kind: kind, Start: n.r.now()}
		err := n.inject(&rec, deadline)
		rec.End = n.r.now()
		n.records = append(n.records, rec)
		n.r.logf("fault: %v", rec)
		if err != nil {
			return fmt.Errorf("fault %s: %w", kind, err)
		}
		pause := time.Duration(500+n.rng.IntN(2000)) * time.Millisecond
		if time.Until(deadline) < pause {
			break
		}
		time.Sleep(pause)
	}
	return nil
}

// hold is how long a fault lasts: from 2 to 5 election timeouts.
func (n *nemesis) hold() time.Duration {
	return time.Duration(2*electionMs+n.rng.IntN(3*electionMs)) * time.Millisecond
}

func (n *nemesis) inject(rec *FaultRecord, deadline time.Time) error {
	ctx := context.Background()
	active := n.r.members.list()
	var leader *member
	switch rec.Kind {
	case KillLeader, PauseLeader, PartitionLeader, CutLeaderOutbound:
		if leader = findLeader(ctx, active, 15*time.Second); leader == nil {
			rec.Detail = "no leader found; fault skipped"
			return nil
		}
	}
	follower := func() *member {
		if leader == nil {
			leader = findLeader(ctx, active, 15*time.Second)
		}
		var fs []*member
		for _, m := range active {
			if m != leader {
				fs = append(fs, m)
			}
		}
		return fs[n.rng.IntN(len(fs))]
	}
	var err error
	switch rec.Kind {
	case KillLeader:
		err = n.killRestart(rec, []*member{leader})
	case KillFollower:
		err = n.killRestart(rec, []*member{follower()})
	case KillAll:
		err = n.killRestart(rec, active)
	case PauseLeader:
		err = n.pause(rec, leader)
	case PauseFollower:
		err = n.pause(rec, follower())
	case PartitionLeader:
		// The leader and, in a 5-member cluster, one follower form the
		// minority.
		minority := []*member{leader}
		for len(minority) < (len(active)-1)/2 {
			if f := follower(); !slices.Contains(minority, f) {
				minority = append(minority, f)
			}
		}
		err = n.partition(rec, minority, active)
	case PartitionFollower:
		err = n.partition(rec, []*member{follower()}, active)
	case CutLeaderOutbound:
		f := follower()
		rec.Targets = []string{leader.name, f.name}
		n.r.pc.Cut(leader.idx, f.idx)
		time.Sleep(n.hold())
		n.r.pc.Heal()
		rec.Detail = fmt.Sprintf("messages from %s to %s dropped, then healed", leader.name, f.name)
	case DiskFull:
		err = n.diskFull(rec, active[n.rng.IntN(len(active))])
	case ReplaceMember, ReplaceByLearner:
		err = n.replace(rec, active, rec.Kind == ReplaceByLearner)
	}
	if err != nil {
		return err
	}
	if err := waitReady(ctx, n.r.members.list(), recoverWithin); err != nil {
		return fmt.Errorf("the cluster did not serve again within %v after the fault was repaired: %w", recoverWithin, err)
	}
	return nil
}

func names(ms []*member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.name)
	}
	return out
}

// killRestart SIGKILLs the members, waits a little and starts them again.
func (n *nemesis) killRestart(rec *FaultRecord, ms []*member) error {
	rec.Targets = names(ms)
	for _, m := range ms {
		if err := m.fm.Signal(syscall.SIGKILL); err != nil {
			return err
		}
	}
	for _, m := range ms {
		if _, err := m.fm.WaitExit(framework.DefaultStopTimeout); err != nil {
			return err
		}
	}
	down := n.hold()
	time.Sleep(down)
	// Launch them all before waiting: one alone has no quorum.
	for _, m := range ms {
		if err := m.fm.Launch(n.r.bin); err != nil {
			return err
		}
	}
	if err := waitReady(context.Background(), ms, recoverWithin); err != nil {
		return fmt.Errorf("restarting %v: %w", names(ms), err)
	}
	rec.Detail = fmt.Sprintf("killed, restarted after %v", down.Round(time.Millisecond))
	return nil
}

func (n *nemesis) pause(rec *FaultRecord, m *member) error {
	rec.Targets = []string{m.name}
	if err := m.fm.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	d := n.hold()
	time.Sleep(d)
	if err := m.fm.Signal(syscall.SIGCONT); err != nil {
		return err
	}
	rec.Detail = fmt.Sprintf("stopped for %v (election timeout %v)", d.Round(time.Millisecond), election)
	return nil
}

func (n *nemesis) partition(rec *FaultRecord, minority, active []*member) error {
	rec.Targets = names(minority)
	var a, b []int
	for _, m := range active {
		if slices.Contains(minority, m) {
			a = append(a, m.idx)
		} else {
			b = append(b, m.idx)
		}
	}
	n.r.pc.Partition(a, b)
	d := n.hold()
	time.Sleep(d)
	n.r.pc.Heal()
	rec.Detail = fmt.Sprintf("cut off from %v for %v", b, d.Round(time.Millisecond))
	return nil
}

// replace removes one member and adds a new one, as a voter or as a
// learner it then promotes, while the clients run.
func (n *nemesis) replace(rec *FaultRecord, active []*member, learner bool) error {
	ctx := context.Background()
	victim := active[n.rng.IntN(len(active))]
	if n.rng.IntN(3) == 0 {
		if l := findLeader(ctx, active, 15*time.Second); l != nil {
			victim = l
		}
	}
	rest := slices.DeleteFunc(slices.Clone(active), func(m *member) bool { return m == victim })
	id := n.r.pc.IDs[victim.idx]
	err := retry(60*time.Second, func() (bool, error) {
		via := rest[n.rng.IntN(len(rest))]
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := via.cl.MemberRemove(c, &pb.MemberRemoveRequest{ID: id})
		if err == nil || sameError(err, rpctypes.ErrGRPCMemberNotFound) {
			return true, nil // an earlier attempt whose answer was lost did it
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("removing %s: %w", victim.name, err)
	}
	n.r.members.remove(victim)
	exitedHow := "exited"
	if st, err := victim.fm.WaitExit(30 * time.Second); err != nil {
		n.notef("removed-no-exit", "removed member %s did not exit within 30s; killed it", victim.name)
		_ = victim.fm.Signal(syscall.SIGKILL)
		_, _ = victim.fm.WaitExit(framework.DefaultStopTimeout)
		exitedHow = "killed"
	} else if !st.Exited() || st.ExitCode() != 0 {
		n.notef("removed-exit-status", "removed member %s ended with %v, want exit status 0", victim.name, st)
	}
	// Its connection goes: clients still holding it see their requests
	// fail and move on.
	victim.conn.Close()
	delete(n.r.byIdx, victim.idx)

	name := fmt.Sprintf("m%d", len(n.r.pc.Members))
	fm, _ := n.r.pc.PrepareMember(n.t, name)
	idx := n.r.pc.Index(fm)
	var newID uint64
	err = retry(90*time.Second, func() (bool, error) {
		via := rest[n.rng.IntN(len(rest))]
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := via.cl.MemberAdd(c, &pb.MemberAddRequest{PeerURLs: []string{fm.PeerURL}, IsLearner: learner})
		if err == nil {
			newID = resp.Member.ID
			return true, nil
		}
		if sameError(err, rpctypes.ErrGRPCPeerURLExist) {
			// An earlier attempt whose answer was lost added it.
			list, lerr := via.cl.MemberList(c, &pb.MemberListRequest{Linearizable: true})
			if lerr != nil {
				return false, lerr
			}
			for _, pm := range list.Members {
				if slices.Contains(pm.PeerURLs, fm.PeerURL) {
					newID = pm.ID
					return true, nil
				}
			}
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("adding %s: %w", name, err)
	}
	var in []int
	for _, m := range rest {
		in = append(in, m.idx)
	}
	n.r.pc.Join(n.t, idx, newID, in, false)
	nm, err := n.r.addMember(idx)
	if err != nil {
		return err
	}
	if learner {
		err = retry(90*time.Second, func() (bool, error) {
			via := rest[n.rng.IntN(len(rest))]
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := via.cl.MemberPromote(c, &pb.MemberPromoteRequest{ID: newID})
			if err == nil {
				return true, nil
			}
			if sameError(err, rpctypes.ErrGRPCMemberNotLearner) {
				return true, nil
			}
			return false, err
		})
		if err != nil {
			return fmt.Errorf("promoting %s: %w", name, err)
		}
	}
	c, cancel := context.WithTimeout(ctx, recoverWithin)
	defer cancel()
	if err := fm.WaitReady(c); err != nil {
		return err
	}
	n.r.members.add(nm)
	rec.Targets = []string{victim.name, name}
	how := "voter"
	if learner {
		how = "learner, then promoted"
	}
	rec.Detail = fmt.Sprintf("removed %s (%x; it %s), added %s (%x) as a %s", victim.name, id, exitedHow, name, newID, how)
	return nil
}

// notef records behaviour worth reporting that is not a violation. Notes
// with the same key are counted, not repeated.
func (n *nemesis) notef(key, format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	n.r.logf("note: %s", s)
	if n.noteCount == nil {
		n.noteCount = map[string]int{}
	}
	if n.noteCount[key]++; n.noteCount[key] == 1 {
		n.notes = append(n.notes, s)
		n.noteKeys = append(n.noteKeys, key)
	}
}

// allNotes returns the notes, each with how often it happened.
func (n *nemesis) allNotes() []string {
	var out []string
	for i, s := range n.notes {
		if c := n.noteCount[n.noteKeys[i]]; c > 1 {
			s = fmt.Sprintf("%s (%d times; the first shown)", s, c)
		}
		out = append(out, s)
	}
	return out
}

// retry calls f every 200ms until it reports done, or d passes; it returns
// f's last error.
func retry(d time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(d)
	var err error
	for i := 0; i < 100000; i++ {
		var done bool
		if done, err = f(); done {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err == nil {
		err = errors.New("timed out")
	}
	return err
}

// sameError reports whether err carries the code and message of want, an
// rpctypes.ErrGRPC* value.
func sameError(err, want error) bool {
	s, ok := status.FromError(err)
	w := status.Convert(want)
	return ok && s.Code() == w.Code() && s.Message() == w.Message()
}

var errCompacted = rpctypes.ErrGRPCCompacted
