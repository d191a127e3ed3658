package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/tests/framework"
)

// crashSeedEnv repeats a crash test run with the seed it printed.
const crashSeedEnv = "CAIRN_CRASH_SEED"

// crashWrite is one put a writer attempted.
type crashWrite struct {
	writer, seq int
	key, val    string
	sent, acked time.Time // acked is zero if the put failed: its outcome is unknown
	rev         int64     // header revision of the acknowledgement
}

// Several writers put to one member while it is SIGKILLed at random moments
// (sometimes while it is still recovering) and restarted. Every
// acknowledged put must survive with the revision it was acknowledged with,
// revisions must never repeat, and a put sent after another was
// acknowledged must get a higher revision.
func TestCrashAcknowledgedWritesSurvive(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("seed %d", seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("repeat with %s=%d", crashSeedEnv, seed)
		}
	})
	rng := rand.New(rand.NewPCG(seed, seed))

	c := framework.NewCluster(t, framework.ClusterConfig{Args: []string{"--snapshot-count=300"}})
	m := c.Members[0]
	cli := m.Client(t)

	const writers, keysPerWriter = 6, 20
	var (
		mu     sync.Mutex
		writes []*crashWrite
		wg     sync.WaitGroup
		stop   = make(chan struct{})
	)
	stopWriters := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopWriters)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				cw := &crashWrite{writer: w, seq: seq,
					key: fmt.Sprintf("crash/w%d/k%02d", w, seq%keysPerWriter),
					val: fmt.Sprintf("w%d-s%d", w, seq), sent: time.Now()}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				resp, err := cli.Put(ctx, cw.key, cw.val)
				cancel()
				if err == nil {
					cw.acked, cw.rev = time.Now(), resp.Header.Revision
				}
				mu.Lock()
				writes = append(writes, cw)
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	maxAcked := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		var r int64
		for _, w := range writes {
			r = max(r, w.rev)
		}
		return r
	}

	start := time.Now()
	const cycles, budget = 10, 45 * time.Second
	for i := 0; i < cycles && time.Since(start) < budget; i++ {
		time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		m.Kill(t)
		before := maxAcked()
		if rng.IntN(4) == 0 {
			// Crash again while it recovers.
			if err := m.Launch(framework.BinaryPath(t)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			m.Kill(t)
		}
		m.Start(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := cli.Get(ctx, "crash/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		if err != nil {
			t.Fatalf("cycle %d: get after restart: %v", i, err)
		}
		if resp.Header.Revision < before {
			t.Fatalf("cycle %d: revision %d after restart, below the acknowledged %d", i, resp.Header.Revision, before)
		}
	}
	time.Sleep(300 * time.Millisecond)
	stopWriters()

	var acked []*crashWrite
	for _, w := range writes {
		if !w.acked.IsZero() {
			acked = append(acked, w)
		}
	}
	t.Logf("%d puts, %d acknowledged, %v", len(writes), len(acked), time.Since(start).Round(time.Millisecond))
	if len(acked) < 100 {
		t.Fatalf("only %d acknowledged puts: the test did not exercise the member", len(acked))
	}
	checkCrashRevisions(t, acked)
	checkCrashHistory(t, cli, acked)
	checkCrashFinalState(t, cli, writes)
}

// Revisions are unique, and a put sent after another was acknowledged has a
// higher revision.
func checkCrashRevisions(t *testing.T, acked []*crashWrite) {
	t.Helper()
	byRev := map[int64]*crashWrite{}
	for _, w := range acked {
		if o, dup := byRev[w.rev]; dup {
			t.Errorf("revision %d acknowledged twice: %s=%s and %s=%s", w.rev, o.key, o.val, w.key, w.val)
		}
		byRev[w.rev] = w
	}
	byAck := slices.Clone(acked)
	slices.SortFunc(byAck, func(a, b *crashWrite) int { return a.acked.Compare(b.acked) })
	bySent := slices.Clone(acked)
	slices.SortFunc(bySent, func(a, b *crashWrite) int { return a.sent.Compare(b.sent) })
	var (
		i    int
		prev *crashWrite // highest revision acknowledged before the current send
	)
	for _, w := range bySent {
		for ; i < len(byAck) && byAck[i].acked.Before(w.sent); i++ {
			if prev == nil || byAck[i].rev > prev.rev {
				prev = byAck[i]
			}
		}
		if prev != nil && w.rev <= prev.rev {
			t.Errorf("revision went backwards: %s=%s got %d, sent after %s=%s was acknowledged with %d",
				w.key, w.val, w.rev, prev.key, prev.val, prev.rev)
		}
	}
}

// Every acknowledged put is in the history at its revision.
func checkCrashHistory(t *testing.T, cli *clientv3.Client, acked []*crashWrite) {
	t.Helper()
	const batch = 100
	for i := 0; i < len(acked); i += batch {
		chunk := acked[i:min(i+batch, len(acked))]
		var ops []clientv3.Op
		for _, w := range chunk {
			ops = append(ops, clientv3.OpGet(w.key, clientv3.WithRev(w.rev)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := cli.Txn(ctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			t.Fatalf("reading history: %v", err)
		}
		for j, w := range chunk {
			kvs := resp.Responses[j].GetResponseRange().Kvs
			if len(kvs) != 1 || string(kvs[0].Value) != w.val || kvs[0].ModRevision != w.rev {
				t.Errorf("acknowledged put %s=%s at revision %d: history at that revision has %s", w.key, w.val, w.rev, fmtKVs(kvs))
			}
		}
	}
}

// Each key holds its last acknowledged put, or a later put whose outcome
// was unknown.
func checkCrashFinalState(t *testing.T, cli *clientv3.Client, writes []*crashWrite) {
	t.Helper()
	type keyState struct {
		last      *crashWrite
		uncertain map[string]bool // values of failed puts after last
	}
	state := map[string]*keyState{}
	for _, w := range writes { // in each writer's order, which is all that matters per key
		ks := state[w.key]
		if ks == nil {
			ks = &keyState{uncertain: map[string]bool{}}
			state[w.key] = ks
		}
		if w.acked.IsZero() {
			ks.uncertain[w.val] = true
		} else if ks.last == nil || w.seq > ks.last.seq {
			ks.last = w
			for v := range ks.uncertain {
				if seqOf(v) < w.seq {
					delete(ks.uncertain, v)
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "crash/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	gotRev := map[string]int64{}
	for _, kv := range resp.Kvs {
		got[string(kv.Key)], gotRev[string(kv.Key)] = string(kv.Value), kv.ModRevision
	}
	for k, ks := range state {
		v, ok := got[k]
		switch {
		case ok && ks.uncertain[v] && (ks.last == nil || gotRev[k] > ks.last.rev):
		case ks.last == nil && !ok:
		case ks.last != nil && ok && v == ks.last.val && gotRev[k] == ks.last.rev:
		default:
			want := "nothing"
			if ks.last != nil {
				want = fmt.Sprintf("%s at %d", ks.last.val, ks.last.rev)
			}
			t.Errorf("key %s holds %q at %d (present %v), want %s or one of the unacknowledged %v", k, v, gotRev[k], ok, want, ks.uncertain)
		}
	}
	for k := range got {
		if state[k] == nil {
			t.Errorf("key %s was never written", k)
		}
	}
}

// seqOf parses the sequence number out of a value "w<writer>-s<seq>".
func seqOf(val string) int {
	var w, s int
	fmt.Sscanf(val, "w%d-s%d", &w, &s)
	return s
}
