package robustness

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairndb/cairn/tests/framework"
)

// Runner is one run of the harness: a cluster, its clients, watchers and
// nemesis, over one or more rounds.
//
// A round is: read the key set (revision R0); start watchers from R0+1;
// run the clients and the faults for the round's duration; stop the
// clients and repair every fault; wait until the members agree on the
// revision (Rend) and raft index, so that nothing the clients sent is
// still in flight; read the store's history of the key set at every
// revision R0..Rend; check (linearizability with porcupine, acknowledged
// writes, serializable reads, every watcher, HashKV on every member);
// revoke the leases left and compact. Rounds keep the histories porcupine
// checks small, so a soak of hours checks as exactly as a short run.
type Runner struct {
	t   *testing.T
	cfg Config
	sum *Summary

	pc      *framework.ProxiedCluster
	bin     string
	members *memberSet
	byIdx   map[int]*member
	start   time.Time
	nem     *nemesis

	scratch     string         // where tmpfs mount points go
	tmpfs       map[int]*tmpfs // member index -> the tmpfs its data dir is on
	tmpfsMounts []*tmpfs       // every tmpfs still mounted
	noTmpfs     string         // why disk-full faults cannot run, if they cannot

	leaseIDs atomic.Int64
	values   atomic.Int64

	logMu sync.Mutex
	log   []string
	viz   []string
}

// Run runs the harness and fails t on any violation, printing the seed,
// the faults and where the porcupine visualisation is.
func Run(t *testing.T, cfg Config) *Summary {
	r := &Runner{t: t, cfg: cfg, sum: newSummary(cfg), byIdx: map[int]*member{}, tmpfs: map[int]*tmpfs{}, members: &memberSet{}}
	r.run()
	return r.sum
}

func (r *Runner) now() int64 { return int64(time.Since(r.start)) }

func (r *Runner) logf(format string, args ...any) {
	s := fmt.Sprintf("[%7.2fs] ", time.Since(r.start).Seconds()) + fmt.Sprintf(format, args...)
	r.logMu.Lock()
	r.log = append(r.log, s)
	r.logMu.Unlock()
	r.t.Log(s)
}

func (r *Runner) violation(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	r.sum.Violations = append(r.sum.Violations, s)
	r.logf("VIOLATION: %s", s)
}

// clusterArgs are the flags of every member. Against etcd 3.4 (see
// framework.BinaryEnv) the flags it lacks are left out.
func (r *Runner) clusterArgs() []string {
	args := []string{
		"--heartbeat-interval=" + strconv.Itoa(heartbeatMs),
		"--election-timeout=" + strconv.Itoa(electionMs),
		"--pre-vote=true",
		// Small, so that snapshots are taken and sent during a run.
		"--snapshot-count=1000",
	}
	out, _ := exec.Command(r.bin, "--version").Output()
	if strings.HasPrefix(string(out), "etcd Version: 3.4.") {
		return append(args, "--experimental-watch-progress-notify-interval=1s")
	}
	return append(args, "--snapshot-catchup-entries=200", "--watch-progress-notify-interval=1s")
}

func (r *Runner) run() {
	t := r.t
	r.bin = framework.BinaryPath(t)
	r.sum.Binary = r.bin
	r.scratch = t.TempDir()
	r.start = time.Now()
	t.Logf("robustness: seed %d, duration %v, %d members; repeat with: %s", r.cfg.Seed, r.cfg.Duration, r.cfg.Size, r.cfg.ReproduceArgs())
	r.pc = framework.NewProxiedCluster(t, framework.ClusterConfig{
		Size:  r.cfg.Size,
		Token: fmt.Sprintf("robustness-%d", r.cfg.Seed),
		Args:  r.clusterArgs(),
	})
	t.Cleanup(r.cleanup)
	for i := range r.pc.Members {
		m, err := r.addMember(i)
		if err != nil {
			t.Fatal(err)
		}
		r.members.add(m)
	}
	r.nem = r.newNemesis()
	r.logf("cluster of %d started", r.cfg.Size)

	n, each := r.cfg.Rounds()
	var prev *StoreHistory
	for round := 1; round <= n; round++ {
		h, ok := r.round(round, each, prev)
		if !ok || len(r.sum.Violations) > 0 {
			break
		}
		prev = h
	}
	r.finish()
}

// addMember dials member idx of the proxied cluster.
func (r *Runner) addMember(idx int) (*member, error) {
	m, err := dialMember(idx, r.pc.Members[idx])
	if err != nil {
		return nil, err
	}
	r.byIdx[idx] = m
	return m, nil
}

// launch starts a stopped member again and waits until it serves.
func (r *Runner) launch(m *member) error {
	if err := m.fm.Launch(r.bin); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), recoverWithin)
	defer cancel()
	if err := m.fm.WaitReady(ctx); err != nil {
		return fmt.Errorf("restarting %s: %w", m.name, err)
	}
	return nil
}

func (r *Runner) cleanup() {
	for _, m := range r.byIdx {
		m.conn.Close()
	}
	// Members on a tmpfs stop before it is unmounted (their own cleanup
	// would run after this one).
	for idx := range r.tmpfs {
		if fm := r.pc.Members[idx]; fm.Running() {
			_ = fm.Signal(9)
			_, _ = fm.WaitExit(framework.DefaultStopTimeout)
		}
	}
	for _, fsys := range r.tmpfsMounts {
		if err := fsys.unmount(); err != nil {
			r.t.Logf("robustness: %v", err)
		}
	}
}

// readState reads the key set and the leases through m, linearizably.
func readState(ctx context.Context, m *member) (int64, []KeyValue, []int64, error) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := m.kv.Range(c, &pb.RangeRequest{Key: []byte(keyPrefix), RangeEnd: []byte(keyEnd)})
	if err != nil {
		return 0, nil, nil, err
	}
	ls, err := m.lease.LeaseLeases(c, &pb.LeaseLeasesRequest{})
	if err != nil {
		return 0, nil, nil, err
	}
	var leases []int64
	for _, l := range ls.Leases {
		leases = append(leases, l.ID)
	}
	slices.Sort(leases)
	return resp.Header.Revision, kvsFromPB(resp.Kvs), leases, nil
}

// round runs and checks one round. It returns the round's history, and
// false if the run cannot go on.
func (r *Runner) round(round int, d time.Duration, prev *StoreHistory) (*StoreHistory, bool) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(round)))
	active := r.members.list()
	var from int64
	var init []KeyValue
	var leases []int64
	if err := retry(60*time.Second, func() (bool, error) {
		var err error
		from, init, leases, err = readState(ctx, active[rng.IntN(len(active))])
		return err == nil, err
	}); err != nil {
		r.violation("round %d: reading the key set: %v", round, err)
		return nil, false
	}
	// Every member applies up to here before any watcher or client starts,
	// so none serves a revision below the round's first.
	if _, err := converge(ctx, active, 90*time.Second); err != nil {
		r.violation("round %d: %v", round, err)
		return nil, false
	}
	for _, v := range checkChain(prev, from, init) {
		r.violation("round %d: %s", round, v)
	}
	r.logf("round %d: starts at revision %d with %d keys, %d leases; %v of traffic", round, from, len(init), len(leases), d)
	violationsBefore := len(r.sum.Violations)
	roundStart := r.now()

	ws := newWatchers(r.members, r.start, r.cfg.Seed, round)
	ws.add(keyPrefix, keyEnd, from+1, true)
	ws.add(keyPrefix, keyEnd, from+1, false)
	ws.add(keyName(2), keyName(5), from+1, false)
	ws.add(keyName(1), "", 0, true)

	deadline := time.Now().Add(d)
	tr := startTraffic(trafficConfig{
		clients: 6, leaseIDs: &r.leaseIDs, values: &r.values, start: r.start, seed: r.cfg.Seed, round: round,
	}, r.members, deadline.Add(5*time.Second))

	// Late watchers start below the current revision, so that they catch
	// up from storage.
	lateDone := make(chan struct{})
	lateStop := make(chan struct{})
	go func() {
		defer close(lateDone)
		lrng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(round)<<8|0x1a7e))
		for i := 0; i < 8; i++ {
			select {
			case <-lateStop:
				return
			case <-time.After(time.Duration(3000+lrng.IntN(5000)) * time.Millisecond):
			}
			cur := tr.lastRev.Load()
			start := int64(0)
			if cur > from+1 && lrng.IntN(4) != 0 {
				start = from + 1 + lrng.Int64N(cur-from)
			}
			key, end := keyPrefix, keyEnd
			if lrng.IntN(3) == 0 {
				k := lrng.IntN(numKeys - 1)
				key, end = keyName(k), keyName(k+1+lrng.IntN(numKeys-k-1))
			}
			ws.add(key, end, start, lrng.IntN(2) == 0)
		}
	}()

	nemErr := r.nem.runRound(round, deadline)
	for _, rec := range r.nem.records {
		if rec.Round == round {
			r.sum.Faults[string(rec.Kind)]++
			r.sum.FaultLog = append(r.sum.FaultLog, rec.String())
		}
	}
	close(lateStop)
	<-lateDone
	ops := tr.stop()
	if r.cfg.SelfTest && round == 1 {
		for i := range ops {
			if ops[i].In.Kind == OpPut && !ops[i].Out.Unknown && !ops[i].Out.LeaseNotFound {
				r.logf("selftest: falsifying %v to revision %d", ops[i], ops[i].Out.Rev+1)
				ops[i].Out.Rev++
				break
			}
		}
	}
	r.sum.countOps(ops)
	r.logf("round %d: traffic stopped: %d operations", round, len(ops))
	if nemErr != nil {
		r.violation("round %d: %v", round, nemErr)
		ws.stop()
		return nil, false
	}

	// Quiesce: every fault is repaired, every member serves, and they
	// agree on everything raft committed.
	r.pc.Heal()
	active = r.members.list()
	if err := waitReady(ctx, active, recoverWithin); err != nil {
		r.violation("round %d: members not serving after the faults were repaired: %v", round, err)
		ws.stop()
		return nil, false
	}
	to, err := converge(ctx, active, 90*time.Second)
	if err != nil {
		r.violation("round %d: %v", round, err)
		ws.stop()
		return nil, false
	}
	if err := ws.waitReached(to, 90*time.Second); err != nil {
		r.violation("round %d: %v", round, err)
	}
	ws.stop()
	r.logf("round %d: quiescent at revision %d", round, to)

	h, err := readHistory(ctx, active[rng.IntN(len(active))], from, to)
	if err != nil {
		r.violation("round %d: reading the store's history: %v", round, err)
		return nil, false
	}
	if !slices.Equal(h.States[0], init) {
		r.violation("round %d: the key set at revision %d reads %v now, %v at the start of the round", round, from, h.States[0], init)
	}
	r.sum.Revisions += to - from
	_, _, leasesAtEnd, err := readState(ctx, active[0])
	if err != nil {
		r.violation("round %d: reading the leases: %v", round, err)
		return nil, false
	}
	endLeases := map[int64]bool{}
	for _, l := range leasesAtEnd {
		endLeases[l] = true
	}

	lin, serial, pr := PatchHistory(sortedOps(ops), h, endLeases)
	r.sum.UnknownResolved += pr.resolved
	r.sum.UnknownDropped += pr.dropped
	r.sum.UnknownKept += pr.unknown
	for _, v := range checkAcknowledged(lin, h, r.sum) {
		r.violation("round %d: %s", round, v)
	}
	for _, v := range checkSerializable(serial, h, r.sum) {
		r.violation("round %d: %s", round, v)
	}
	for _, w := range ws.list() {
		for _, v := range checkWatcher(w, h, to, r.sum) {
			r.violation("round %d: %s", round, v)
		}
	}
	vizBefore := len(r.viz)
	r.checkLinearizable(round, lin, NewState(from, init, leases), roundStart)
	r.checkHashKV(round, active, to)
	if len(r.sum.Violations) > violationsBefore {
		if len(r.viz) == vizBefore {
			r.logf("round %d: visualisation: %s", round, r.visualize(round, lin, NewState(from, init, leases), roundStart))
		}
		r.saveRound(round, Recording{From: from, Init: init, Leases: leases, LeasesAtEnd: leasesAtEnd, States: h.States, Ops: ops})
	}

	// Leave a clean store for the next round: no leases, history compacted.
	if err := r.revokeAll(ctx, active); err != nil {
		r.violation("round %d: revoking the leases left: %v", round, err)
		return nil, false
	}
	if err := retry(60*time.Second, func() (bool, error) {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := active[0].kv.Compact(c, &pb.CompactionRequest{Revision: to})
		return err == nil || sameError(err, errCompacted), err
	}); err != nil {
		r.violation("round %d: compacting at %d: %v", round, to, err)
		return nil, false
	}
	r.logf("round %d: checked: %d operations (%d linearizable), %d revisions, %d watchers", round, len(ops), len(lin), to-from, len(ws.list()))
	return h, true
}

// saveRound writes a round's recording, for TestReplay.
func (r *Runner) saveRound(round int, rec Recording) {
	dir, err := r.outDir()
	if err != nil {
		r.t.Logf("robustness: %v", err)
		return
	}
	path := filepath.Join(dir, fmt.Sprintf("recording-round%d.json", round))
	if err := rec.Save(path); err != nil {
		r.t.Logf("robustness: %v", err)
		return
	}
	r.logf("round %d: recording (operations and the store's history) in %s", round, path)
}

// readHistory reads the key set at every revision from..to through m, a
// few revisions at a time.
func readHistory(ctx context.Context, m *member, from, to int64) (*StoreHistory, error) {
	states := make([][]KeyValue, to-from+1)
	errs := make([]error, 4)
	var next atomic.Int64
	next.Store(from)
	var wg sync.WaitGroup
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				rev := next.Add(1) - 1
				if rev > to {
					return
				}
				err := retry(30*time.Second, func() (bool, error) {
					c, cancel := context.WithTimeout(ctx, 5*time.Second)
					defer cancel()
					resp, err := m.kv.Range(c, &pb.RangeRequest{Key: []byte(keyPrefix), RangeEnd: []byte(keyEnd), Revision: rev, Serializable: true})
					if err != nil {
						return false, err
					}
					states[rev-from] = kvsFromPB(resp.Kvs)
					return true, nil
				})
				if err != nil {
					errs[g] = fmt.Errorf("range at revision %d on %s: %w", rev, m.name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return NewStoreHistory(from, states)
}

// checkLinearizable runs porcupine over the round's operations and, if
// they are not linearizable, writes the visualisation.
func (r *Runner) checkLinearizable(round int, ops []Op, init State, roundStart int64) {
	model := NewModel(init)
	pops := porcupineOps(ops)
	r.sum.LinearizabilityOps += len(pops)
	began := time.Now()
	res := porcupine.CheckOperationsTimeout(model, pops, 5*time.Minute)
	r.sum.linTime += time.Since(began)
	if res == porcupine.Ok {
		return
	}
	what := "not linearizable"
	if res == porcupine.Unknown {
		what = "not checked: porcupine ran out of its 5 minutes"
	}
	path := r.visualize(round, ops, init, roundStart)
	r.violation("round %d: the history of %d operations: %s (porcupine: %v); visualisation: %s", round, len(pops), what, res, path)
}

// visualize writes the porcupine visualisation of a round, with the
// faults on its timeline, and returns its path. A round that failed any
// check gets one, linearizable or not.
func (r *Runner) visualize(round int, ops []Op, init State, roundStart int64) string {
	model := NewModel(init)
	_, info := porcupine.CheckOperationsVerbose(model, porcupineOps(ops), 5*time.Minute)
	var ann []porcupine.Annotation
	ann = append(ann, porcupine.Annotation{Tag: "round", Start: roundStart, Description: fmt.Sprintf("round %d starts at revision %d", round, init.Rev)})
	for _, rec := range r.nem.records {
		if rec.Round == round {
			ann = append(ann, porcupine.Annotation{Tag: "nemesis", Start: rec.Start, End: rec.End,
				Description: string(rec.Kind) + " " + strings.Join(rec.Targets, ","), Details: rec.Detail, BackgroundColor: "#fce4e4"})
		}
	}
	info.AddAnnotations(ann)
	path := "(no output directory)"
	if dir, err := r.outDir(); err == nil {
		path = filepath.Join(dir, fmt.Sprintf("porcupine-round%d.html", round))
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			path = fmt.Sprintf("(writing %s: %v)", path, err)
		}
	}
	r.sum.Visualizations = append(r.sum.Visualizations, path)
	r.viz = append(r.viz, path)
	return path
}

// checkHashKV compares HashKV at rev on every member.
func (r *Runner) checkHashKV(round int, ms []*member, rev int64) {
	var first *pb.HashKVResponse
	var firstName string
	for _, m := range ms {
		var h *pb.HashKVResponse
		err := retry(30*time.Second, func() (bool, error) {
			c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var err error
			h, err = m.maint.HashKV(c, &pb.HashKVRequest{Revision: rev})
			return err == nil, err
		})
		if err != nil {
			r.violation("round %d: HashKV(%d) on %s: %v", round, rev, m.name, err)
			return
		}
		if h.HashRevision != 0 && h.HashRevision != rev {
			r.violation("round %d: HashKV(%d) on %s answered for revision %d", round, rev, m.name, h.HashRevision)
		}
		if first == nil {
			first, firstName = h, m.name
			continue
		}
		if h.Hash != first.Hash || h.CompactRevision != first.CompactRevision {
			r.violation("round %d: HashKV(%d): %s has hash %d (compact %d), %s has %d (compact %d)",
				round, rev, firstName, first.Hash, first.CompactRevision, m.name, h.Hash, h.CompactRevision)
		}
	}
	r.sum.HashKVChecks++
}

// revokeAll revokes every lease.
func (r *Runner) revokeAll(ctx context.Context, ms []*member) error {
	return retry(60*time.Second, func() (bool, error) {
		_, _, leases, err := readState(ctx, ms[0])
		if err != nil {
			return false, err
		}
		for _, l := range leases {
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := ms[0].lease.LeaseRevoke(c, &pb.LeaseRevokeRequest{ID: l})
			cancel()
			if err != nil && !isLeaseNotFound(err) {
				return false, err
			}
		}
		return len(leases) == 0, nil
	})
}

// outDir returns the directory for the run's files, making it if needed:
// -outdir or CAIRN_ROBUSTNESS_OUTDIR, else the test's artifact directory
// when go test runs with -artifacts, else a new directory under the
// system's temp directory (kept: it is written only when a run fails).
func (r *Runner) outDir() (string, error) {
	if r.cfg.OutDir == "" {
		if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
			r.cfg.OutDir = r.t.ArtifactDir()
		} else {
			dir, err := os.MkdirTemp("", fmt.Sprintf("cairn-robustness-seed%d-", r.cfg.Seed))
			if err != nil {
				return "", err
			}
			r.cfg.OutDir = dir
		}
	}
	return r.cfg.OutDir, os.MkdirAll(r.cfg.OutDir, 0o755)
}

// finish prints the summary and, on failure, everything needed to
// reproduce and study the run.
func (r *Runner) finish() {
	r.sum.elapsed = time.Since(r.sum.started)
	r.sum.Elapsed = r.sum.elapsed.Round(time.Second).String()
	r.sum.LinearizabilityTime = r.sum.linTime.Round(time.Millisecond).String()
	r.sum.Notes = append(r.sum.Notes, r.nem.allNotes()...)
	if r.noTmpfs != "" {
		r.sum.Notes = append(r.sum.Notes, "disk-full faults were skipped: "+r.noTmpfs)
	}
	failed := len(r.sum.Violations) > 0
	if failed || r.cfg.OutDir != "" {
		dir, err := r.outDir()
		if err != nil {
			r.t.Logf("robustness: output directory: %v", err)
		} else {
			if err := r.sum.write(dir); err != nil {
				r.t.Logf("robustness: %v", err)
			}
			_ = os.WriteFile(filepath.Join(dir, "run.log"), []byte(strings.Join(r.log, "\n")+"\n"), 0o644)
			if failed {
				for _, fm := range r.pc.Members {
					if b, err := os.ReadFile(fm.LogPath); err == nil {
						_ = os.WriteFile(filepath.Join(dir, fm.Name+".log"), b, 0o644)
					}
				}
			}
			r.t.Logf("robustness: output directory: %s", dir)
		}
	}
	r.t.Log(r.sum.String())
	if failed {
		r.t.Errorf("robustness: %d violation(s) with seed %d (faults injected: %d); first: %s\nfaults:\n  %s\nporcupine visualisation: %v\nreproduce: %s",
			len(r.sum.Violations), r.cfg.Seed, len(r.sum.FaultLog), r.sum.Violations[0],
			strings.Join(r.sum.FaultLog, "\n  "), r.viz, r.cfg.ReproduceArgs())
	}
}
