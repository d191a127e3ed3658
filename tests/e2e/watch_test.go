package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/tests/framework"
)

// progressFlag sets the progress notification period under the name both
// Cairn and etcd 3.4 accept.
const progressFlag = "--experimental-watch-progress-notify-interval=200ms"

// collect reads from a clientv3 watch channel until n events arrived.
func collect(t *testing.T, wch clientv3.WatchChan, n int) []*mvccpb.Event {
	t.Helper()
	var evs []*mvccpb.Event
	timeout := time.After(15 * time.Second)
	for len(evs) < n {
		select {
		case wr, ok := <-wch:
			if !ok {
				t.Fatalf("watch channel closed after %d of %d events", len(evs), n)
			}
			if err := wr.Err(); err != nil {
				t.Fatalf("watch error after %d of %d events: %v", len(evs), n, err)
			}
			for _, ev := range wr.Events {
				evs = append(evs, (*mvccpb.Event)(ev))
			}
		case <-timeout:
			t.Fatalf("got %d of %d events", len(evs), n)
		}
	}
	return evs
}

func TestWatchEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(t, "a", "1", 2)
	e.put(t, "b/1", "1", 3)

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	key := e.cli.Watch(ctx, "a")
	prefix := e.cli.Watch(ctx, "b/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	fromKey := e.cli.Watch(ctx, "b", clientv3.WithFromKey())
	hist := e.cli.Watch(ctx, "a", clientv3.WithRev(2), clientv3.WithPrevKV())
	all := e.cli.Watch(ctx, "", clientv3.WithPrefix(), clientv3.WithRev(1))

	e.put(t, "a", "2", 4)
	e.put(t, "b/2", "x", 5)
	if _, err := e.cli.Txn(e.ctx).Then(clientv3.OpPut("b/1", "2"), clientv3.OpPut("c", "1"), clientv3.OpDelete("a")).Commit(); err != nil { // 6
		t.Fatal(err)
	}
	if _, err := e.cli.Delete(e.ctx, "b/", clientv3.WithPrefix()); err != nil { // 7
		t.Fatal(err)
	}

	checkEvents(t, "key a", collect(t, key, 2), []*mvccpb.Event{putEv("a", "2", 2, 4, 2), delEv("a", 6)})
	checkEvents(t, "prefix b/ with prev_kv", collect(t, prefix, 4), []*mvccpb.Event{
		putEv("b/2", "x", 5, 5, 1),
		withPrev(putEv("b/1", "2", 3, 6, 2), kv("b/1", "1", 3, 3, 1)),
		withPrev(delEv("b/1", 7), kv("b/1", "2", 3, 6, 2)),
		withPrev(delEv("b/2", 7), kv("b/2", "x", 5, 5, 1)),
	})
	checkEvents(t, "from key b", collect(t, fromKey, 5), []*mvccpb.Event{
		putEv("b/2", "x", 5, 5, 1), putEv("b/1", "2", 3, 6, 2), putEv("c", "1", 6, 6, 1), delEv("b/1", 7), delEv("b/2", 7),
	})
	checkEvents(t, "key a from revision 2", collect(t, hist, 3), []*mvccpb.Event{
		putEv("a", "1", 2, 2, 1),
		withPrev(putEv("a", "2", 2, 4, 2), kv("a", "1", 2, 2, 1)),
		withPrev(delEv("a", 6), kv("a", "2", 2, 4, 2)),
	})
	checkEvents(t, "everything from revision 1", collect(t, all, 9), []*mvccpb.Event{
		putEv("a", "1", 2, 2, 1), putEv("b/1", "1", 3, 3, 1), putEv("a", "2", 2, 4, 2), putEv("b/2", "x", 5, 5, 1),
		putEv("b/1", "2", 3, 6, 2), putEv("c", "1", 6, 6, 1), delEv("a", 6), delEv("b/1", 7), delEv("b/2", 7),
	})
}

// The responses to create and cancel requests, as etcd sends them.
func TestWatchCreateCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(t, "a", "1", 2)
	w := e.rawWatch(t)

	check := func(what string, r *pb.WatchResponse, id int64, created, canceled bool, reason string) {
		t.Helper()
		e.checkHeader(t, what, r.Header, 2)
		if r.WatchId != id || r.Created != created || r.Canceled != canceled || r.CancelReason != reason || len(r.Events) != 0 {
			t.Errorf("%s: %s, want id=%d created=%v canceled=%v reason %q", what, fmtWResp(r), id, created, canceled, reason)
		}
	}
	// Ids are per stream, from 0; a client-chosen id is kept and skipped.
	w.create(&pb.WatchCreateRequest{Key: []byte("a")})
	check("first watch", w.next(), 0, true, false, "")
	w.create(&pb.WatchCreateRequest{Key: []byte("a"), WatchId: 1})
	check("client-chosen id", w.next(), 1, true, false, "")
	w.create(&pb.WatchCreateRequest{Key: []byte("a")})
	check("next server id", w.next(), 2, true, false, "")
	w.create(&pb.WatchCreateRequest{Key: []byte("a"), WatchId: 2})
	check("duplicate id", w.next(), -1, true, true, "mvcc: duplicate watch ID provided on the WatchStream")
	w.create(&pb.WatchCreateRequest{Key: []byte("b"), RangeEnd: []byte("a")})
	check("empty range", w.next(), -1, true, true, "mvcc: watcher range is empty")
	if !e.is34 {
		// etcd 3.4 accepts a negative start (and then reports it compacted).
		w.create(&pb.WatchCreateRequest{Key: []byte("a"), StartRevision: -1})
		check("negative start", w.next(), -1, true, true, "etcdserver: mvcc: required revision has been compacted")
	}
	w.cancelWatch(7) // unknown: no answer
	w.cancelWatch(1)
	check("cancel", w.next(), 1, false, true, "")
	w.none(100 * time.Millisecond)

	// Watchers 0 and 2 see the next write; 1 does not.
	e.put(t, "a", "2", 3)
	seen := map[int64]bool{}
	for range 2 {
		r := w.next()
		if (r.WatchId != 0 && r.WatchId != 2) || seen[r.WatchId] || len(r.Events) != 1 {
			t.Fatalf("want the event at 3 for watches 0 and 2, got %s", fmtWResp(r))
		}
		seen[r.WatchId] = true
		e.checkHeader(t, "event", r.Header, 3)
	}
	w.none(100 * time.Millisecond)
}

func TestWatchCompacted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		e.put(t, "a", itoa(i), int64(i+2)) // 2..6
	}
	if _, err := e.cli.Compact(e.ctx, 4); err != nil {
		t.Fatal(err)
	}
	w := e.rawWatch(t)
	w.create(&pb.WatchCreateRequest{Key: []byte("a"), StartRevision: 3})
	r := w.next()
	if !r.Created || r.WatchId != 0 || r.Canceled {
		t.Fatalf("want created first, got %s", fmtWResp(r))
	}
	r = w.next()
	// etcd sends the compaction with a header at revision 0.
	if r.WatchId != 0 || !r.Canceled || r.CompactRevision != 4 || r.Created || len(r.Events) != 0 || r.Header.GetRevision() != 0 {
		t.Fatalf("want canceled with compact_revision 4, got %s", fmtWResp(r))
	}
	// The compaction revision itself can still be watched.
	w.create(&pb.WatchCreateRequest{Key: []byte("a"), StartRevision: 4})
	if r := w.next(); !r.Created || r.WatchId != 1 {
		t.Fatalf("want created, got %s", fmtWResp(r))
	}
	r = w.next()
	checkEvents(t, "from the compaction revision", r.Events, []*mvccpb.Event{putEv("a", "2", 2, 4, 3), putEv("a", "3", 2, 5, 4), putEv("a", "4", 2, 6, 5)})

	// clientv3 reports it as ErrCompacted and closes the channel.
	wch := e.cli.Watch(e.ctx, "a", clientv3.WithRev(2))
	wr, ok := <-wch
	if !ok || !errors.Is(wr.Err(), rpctypes.ErrCompacted) || wr.CompactRevision != 4 {
		t.Fatalf("clientv3: got %v (err %v, compact %d), want ErrCompacted at 4", ok, wr.Err(), wr.CompactRevision)
	}
	if _, ok := <-wch; ok {
		t.Errorf("clientv3: channel still open after the compaction")
	}
}

func TestWatchFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	noPut := e.cli.Watch(e.ctx, "k", clientv3.WithPrefix(), clientv3.WithFilterPut(), clientv3.WithPrevKV())
	noDel := e.cli.Watch(e.ctx, "k", clientv3.WithPrefix(), clientv3.WithFilterDelete())
	time.Sleep(100 * time.Millisecond) // clientv3 creates watchers asynchronously
	e.put(t, "k1", "a", 2)
	e.put(t, "k2", "b", 3)
	if _, err := e.cli.Delete(e.ctx, "k", clientv3.WithPrefix()); err != nil { // 4
		t.Fatal(err)
	}
	e.put(t, "k1", "c", 5)
	checkEvents(t, "NOPUT", collect(t, noPut, 2), []*mvccpb.Event{
		withPrev(delEv("k1", 4), kv("k1", "a", 2, 2, 1)), withPrev(delEv("k2", 4), kv("k2", "b", 3, 3, 1)),
	})
	checkEvents(t, "NODELETE", collect(t, noDel, 3), []*mvccpb.Event{putEv("k1", "a", 2, 2, 1), putEv("k2", "b", 3, 3, 1), putEv("k1", "c", 5, 5, 1)})
}

func TestWatchProgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, progressFlag)
	e.put(t, "a", "1", 2)

	// progress_notify: empty responses at the current revision.
	w := e.rawWatch(t)
	w.create(&pb.WatchCreateRequest{Key: []byte("a"), ProgressNotify: true})
	if r := w.next(); !r.Created {
		t.Fatalf("want created, got %s", fmtWResp(r))
	}
	r := w.next()
	if r.WatchId != 0 || r.Created || r.Canceled || len(r.Events) != 0 || r.CompactRevision != 0 {
		t.Fatalf("want a progress notification, got %s", fmtWResp(r))
	}
	e.checkHeader(t, "progress notification", r.Header, 2)
	e.put(t, "b", "1", 3)
	deadline := time.After(5 * time.Second)
	for {
		select {
		case <-deadline:
			t.Fatalf("no progress notification at revision 3")
		default:
		}
		if r := w.next(); r.Header.Revision == 3 && len(r.Events) == 0 {
			break
		}
	}

	// clientv3: WithProgressNotify, and RequestProgress.
	wch := e.cli.Watch(e.ctx, "zzz", clientv3.WithProgressNotify())
	wr := <-wch
	if !wr.IsProgressNotify() || wr.Header.Revision != 3 {
		t.Fatalf("clientv3: want a progress notify at 3, got %+v", wr)
	}
	e.put(t, "b", "2", 4)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	wch2 := e.cli.Watch(ctx, "yyy")
	time.Sleep(100 * time.Millisecond)
	if err := e.cli.RequestProgress(e.ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case wr := <-wch2:
		if !wr.IsProgressNotify() || wr.Header.Revision != 4 {
			t.Fatalf("clientv3: want a progress notify at 4 after RequestProgress, got %+v", wr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("clientv3: no answer to RequestProgress")
	}

	// A progress request on a stream with no watcher gets no answer in
	// etcd 3.6 (3.4 always answered).
	if !e.is34 {
		w2 := e.rawWatch(t)
		w2.progress()
		w2.none(300 * time.Millisecond)
		w2.create(&pb.WatchCreateRequest{Key: []byte("a")})
		w2.next()
		w2.progress()
		r := w2.next()
		if r.WatchId != -1 || r.Created || len(r.Events) != 0 {
			t.Fatalf("want the progress response with watch id -1, got %s", fmtWResp(r))
		}
		e.checkHeader(t, "progress response", r.Header, 4)
	}
}

// A response larger than the request limit is split for a watcher that
// asked for fragments; clientv3 joins the pieces.
func TestWatchFragment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "--max-request-bytes=10240")
	val := strings.Repeat("x", 8000)
	for i := 0; i < 100; i++ {
		e.put(t, "f/"+itoa(i), val, int64(i+2))
	}
	// The catch-up from revision 1 is one response of ~800 KiB, over the
	// limit of max-request-bytes + 512 KiB.
	w := e.rawWatch(t)
	w.create(&pb.WatchCreateRequest{Key: []byte("f/"), RangeEnd: []byte("f0"), StartRevision: 1, Fragment: true})
	if r := w.next(); !r.Created {
		t.Fatalf("want created, got %s", fmtWResp(r))
	}
	var evs []*mvccpb.Event
	frags := 0
	for len(evs) < 100 {
		r := w.next()
		if r.Fragment {
			frags++
		}
		if r.Size() > 10240+512*1024 && len(r.Events) > 1 {
			t.Fatalf("fragment of %d bytes with %d events, over the limit", r.Size(), len(r.Events))
		}
		evs = append(evs, r.Events...)
	}
	if frags == 0 {
		t.Errorf("no fragmented response")
	}
	for i, ev := range evs {
		if ev.Kv.ModRevision != int64(i+2) {
			t.Fatalf("event %d at revision %d, want %d", i, ev.Kv.ModRevision, i+2)
		}
	}
	wch := e.cli.Watch(e.ctx, "f/", clientv3.WithPrefix(), clientv3.WithRev(1), clientv3.WithFragment())
	got := collect(t, wch, 100)
	if len(got) != 100 || got[99].Kv.ModRevision != 101 {
		t.Fatalf("clientv3 with fragments: %d events", len(got))
	}
}

// A watch resumes across a server restart from the last revision it got,
// with nothing lost and nothing twice.
func TestWatchResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	wch := e.cli.Watch(ctx, "r", clientv3.WithPrefix(), clientv3.WithRev(1))
	for i := 0; i < 10; i++ {
		e.put(t, "r"+itoa(i), "v", int64(i+2))
	}
	evs := collect(t, wch, 10)
	e.m.Restart(t)
	for i := 10; i < 20; i++ {
		if _, err := e.cli.Put(e.ctx, "r"+itoa(i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	evs = append(evs, collect(t, wch, 10)...)
	for i, ev := range evs {
		if ev.Kv.ModRevision != int64(i+2) {
			t.Fatalf("event %d at revision %d, want %d", i, ev.Kv.ModRevision, i+2)
		}
	}
}

// The commands of the configuration guide (section 6) with Debian's
// etcdctl: watch a key, a prefix, with prev-kv, from a revision.
func TestWatchEtcdctl(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(t, "/config/api/database_url", "db1", 2)
	type run struct {
		args []string
		want string
	}
	runs := []run{
		{[]string{"watch", "/config/api/database_url"}, "PUT\n/config/api/database_url\ndb2\nDELETE\n/config/api/database_url\n\n"},
		{[]string{"watch", "/config/api/", "--prefix"}, "PUT\n/config/api/database_url\ndb2\nPUT\n/config/api/timeout\n30\nDELETE\n/config/api/database_url\n\n"},
		{[]string{"watch", "/config/api/", "--prefix", "--prev-kv"}, "PUT\n/config/api/database_url\ndb1\n/config/api/database_url\ndb2\nPUT\n/config/api/timeout\n30\nDELETE\n/config/api/database_url\ndb2\n/config/api/database_url\n\n"},
		{[]string{"watch", "/config/api/database_url", "--rev", "1"}, "PUT\n/config/api/database_url\ndb1\nPUT\n/config/api/database_url\ndb2\nDELETE\n/config/api/database_url\n\n"},
	}
	procs := make([]*ctlWatch, len(runs))
	for i, r := range runs {
		procs[i] = startCtlWatch(t, e, r.args...)
	}
	for _, p := range procs {
		p.waitStarted(t)
	}
	e.put(t, "/config/api/database_url", "db2", 3)
	e.put(t, "/config/api/timeout", "30", 4)
	if _, err := e.cli.Delete(e.ctx, "/config/api/database_url"); err != nil {
		t.Fatal(err)
	}
	for i, r := range runs {
		if got := procs[i].waitOutput(t, r.want); got != r.want {
			t.Errorf("etcdctl %s: output\n%q\nwant\n%q", strings.Join(r.args, " "), got, r.want)
		}
	}
}

// seedWatchPy is the configuration guide's Python watch code (section 6,
// EtcdConfigStore.watch, unchanged) run with Debian's python3-etcd3; it
// prints each change and exits after the number given.
const seedWatchPy = `
import sys, threading
import etcd3
from typing import Callable, Dict

class EtcdConfigStore:
    def __init__(self, host='localhost', port=2379, prefix='/config/'):
        self.client = etcd3.client(host=host, port=port)
        self.prefix = prefix
        self.cache: Dict[str, str] = {}
        self.watchers: list = []

    def watch(self, callback: Callable[[str, str], None]) -> None:
        """Watch for configuration changes."""
        def watch_callback(event):
            for ev in event.events:
                key = ev.key.decode('utf-8')[len(self.prefix):]
                value = ev.value.decode('utf-8') if ev.value else None

                if value:
                    self.cache[key] = value
                elif key in self.cache:
                    del self.cache[key]

                callback(key, value)

        watch_id = self.client.add_watch_prefix_callback(
            self.prefix,
            watch_callback
        )
        self.watchers.append(watch_id)

done = threading.Event()
seen = []
def on_change(key, value):
    print(f"Config changed: {key} = {value}", flush=True)
    seen.append(key)
    if len(seen) >= int(sys.argv[3]):
        done.set()

store = EtcdConfigStore(host=sys.argv[1], port=int(sys.argv[2]), prefix='/config/api/')
store.watch(on_change)
print("watching", flush=True)
if not done.wait(30):
    sys.exit(1)
`

func TestWatchSeedPython(t *testing.T) {
	t.Parallel()
	if err := exec.Command("/usr/bin/python3", "-c", "import etcd3").Run(); err != nil {
		t.Skip("Debian's python3-etcd3 is not installed")
	}
	e := newEnv(t)
	script := filepath.Join(t.TempDir(), "watch.py")
	if err := os.WriteFile(script, []byte(seedWatchPy), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(e.m.ClientAddr(), ":")
	var out syncBuffer
	cmd := exec.CommandContext(e.ctx, "/usr/bin/python3", script, host, port, "3")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for !strings.Contains(out.String(), "watching") {
		select {
		case err := <-done:
			t.Fatalf("python exited (%v): %s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	e.put(t, "/config/api/database_url", "postgresql://localhost:5432/api", 2)
	e.put(t, "/config/api/settings", `{"max_connections": 100}`, 3)
	if _, err := e.cli.Delete(e.ctx, "/config/api/database_url"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("python: %v: %s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("python did not see the changes: %s", out.String())
	}
	want := "watching\nConfig changed: database_url = postgresql://localhost:5432/api\nConfig changed: settings = {\"max_connections\": 100}\nConfig changed: database_url = None\n"
	if got := out.String(); !strings.HasPrefix(got, want) {
		t.Errorf("python output:\n%s\nwant:\n%s", got, want)
	}
}

// The configuration guide's Go watch loop (section 6, ConfigStore.Watch)
// keeps a cache of the prefix in step with the store.
func TestWatchSeedGo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prefix := "/config/api/"
	var (
		mu    sync.Mutex
		cache = map[string]string{}
		calls []string
	)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchChan := e.cli.Watch(ctx, prefix, clientv3.WithPrefix())
		for watchResp := range watchChan {
			for _, event := range watchResp.Events {
				key := string(event.Kv.Key)[len(prefix):]
				value := string(event.Kv.Value)
				mu.Lock()
				if event.Type == clientv3.EventTypeDelete {
					delete(cache, key)
				} else {
					cache[key] = value
				}
				calls = append(calls, key+"="+value)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	e.put(t, prefix+"database_url", "postgresql://localhost:5432/api", 2)
	e.put(t, prefix+"settings", `{"max_connections": 100, "timeout": 30}`, 3)
	e.put(t, prefix+"database_url", "postgresql://db:5432/api", 4)
	if _, err := e.cli.Delete(e.ctx, prefix+"settings"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(calls)
		mu.Unlock()
		if n >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	want := []string{"database_url=postgresql://localhost:5432/api", `settings={"max_connections": 100, "timeout": 30}`, "database_url=postgresql://db:5432/api", "settings="}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") || len(cache) != 1 || cache["database_url"] != "postgresql://db:5432/api" {
		t.Errorf("callbacks %q, cache %v; want %q", calls, cache, want)
	}
}

// Every member serves watches from its own apply: a watcher on each member
// of a three-member cluster sees the same events, whichever member took
// the writes.
func TestWatchEveryMember(t *testing.T) {
	t.Parallel()
	c := framework.NewCluster(t, framework.ClusterConfig{Size: 3})
	ctx := framework.Context(t, time.Minute)
	var chans []clientv3.WatchChan
	var clis []*clientv3.Client
	for _, m := range c.Members {
		cli := m.Client(t)
		clis = append(clis, cli)
		chans = append(chans, cli.Watch(ctx, "m/", clientv3.WithPrefix(), clientv3.WithRev(1), clientv3.WithPrevKV()))
	}
	const n = 60
	for i := 0; i < n; i++ {
		cli := clis[i%len(clis)]
		var err error
		if i%7 == 6 {
			_, err = cli.Delete(ctx, "m/"+itoa(i-1))
		} else {
			_, err = cli.Txn(ctx).Then(clientv3.OpPut("m/"+itoa(i), "v"), clientv3.OpPut("m/last", itoa(i))).Commit()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := n/7*1 + (n-n/7)*2
	first := collect(t, chans[0], want)
	for i := 1; i < len(chans); i++ {
		checkEvents(t, "member "+itoa(i)+" against member 0", collect(t, chans[i], want), first)
	}
}
