package robustness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/internal/storage"
	"github.com/cairndb/cairn/tests/framework"
)

// A data dir of a stopped member, damaged in one way at a time: the
// member must refuse to start, exiting non-zero with one clear line on
// stderr that names what is wrong, and without a panic's stack trace. It
// must never start on it as if nothing happened.

// dataDirFixture is a stopped member whose data dir holds an sst (flushed
// by Defragment), a WAL with later writes, and the rest of pebble's files.
type dataDirFixture struct {
	m        *framework.Member
	pristine string // a copy of the data dir as the member left it
	keys     int    // keys written
	rev      int64  // revision at the stop
}

func newDataDirFixture(t *testing.T) *dataDirFixture {
	t.Helper()
	m := framework.NewMember(t, framework.MemberConfig{Name: "dd"})
	m.Start(t)
	cli := m.Client(t)
	ctx := framework.Context(t, time.Minute)
	for i := 0; i < 100; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("dd/a%03d", i), strings.Repeat("v", 100)); err != nil {
			t.Fatal(err)
		}
	}
	// Defragment flushes the memtable into an sst and starts a new WAL.
	if _, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Defragment(ctx, &pb.DefragmentRequest{}); err != nil {
		t.Fatal(err)
	}
	var rev int64
	for i := 0; i < 20; i++ {
		resp, err := cli.Put(ctx, fmt.Sprintf("dd/b%03d", i), "w")
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	m.Stop(t)
	f := &dataDirFixture{m: m, pristine: filepath.Join(t.TempDir(), "pristine"), keys: 120, rev: rev}
	if _, err := copyTree(m.DataDir, f.pristine); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{".sst", ".log", "MANIFEST-", "OPTIONS-", "marker.format-version"} {
		if len(f.files(suffix)) == 0 {
			t.Fatalf("the fixture's data dir has no %s file: %v", suffix, f.files(""))
		}
	}
	return f
}

// files lists the db files whose name contains s, in name order.
func (f *dataDirFixture) files(s string) []string {
	dir := storage.DBDir(f.m.DataDir)
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if strings.Contains(e.Name(), s) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

// restore puts the pristine data dir back.
func (f *dataDirFixture) restore(t *testing.T) {
	t.Helper()
	if err := os.RemoveAll(f.m.DataDir); err != nil {
		t.Fatal(err)
	}
	if _, err := copyTree(f.pristine, f.m.DataDir); err != nil {
		t.Fatal(err)
	}
}

// startDamaged starts the member on its (damaged) data dir and returns its
// output from this start, whether it exited, and how.
func (f *dataDirFixture) startDamaged(t *testing.T) (out string, exited bool, st *os.ProcessState) {
	t.Helper()
	off := logSize(f.m.LogPath)
	if err := f.m.Launch(framework.BinaryPath(t)); err != nil {
		t.Fatal(err)
	}
	// It either exits or, having started, serves a read.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = f.m.WaitReady(ctx)
	select {
	case <-f.m.Exited():
		exited, st = true, f.m.ProcessState()
	default:
		_ = f.m.Signal(syscall.SIGKILL)
		_, _ = f.m.WaitExit(framework.DefaultStopTimeout)
	}
	b, _ := os.ReadFile(f.m.LogPath)
	return string(b[off:]), exited, st
}

// describeStart says what a member that did not refuse its data dir
// serves, for the failure message.
func (f *dataDirFixture) describeStart(t *testing.T) string {
	t.Helper()
	if err := f.m.Launch(framework.BinaryPath(t)); err != nil {
		return err.Error()
	}
	defer func() {
		_ = f.m.Signal(syscall.SIGKILL)
		_, _ = f.m.WaitExit(framework.DefaultStopTimeout)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.m.WaitReady(ctx); err != nil {
		return "it did not become ready: " + err.Error()
	}
	cli := f.m.Client(t)
	resp, err := cli.Get(ctx, "dd/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("it serves %d of the %d keys at revision %d (it had revision %d)", resp.Count, f.keys, resp.Header.Revision, f.rev)
}

// checkRefused asserts a clean refusal: non-zero exit, no panic, and a
// last line "cairn: ..." that contains every one of want.
func (f *dataDirFixture) checkRefused(t *testing.T, want ...string) {
	t.Helper()
	out, exited, st := f.startDamaged(t)
	if !exited {
		t.Fatalf("the member started on the damaged data dir instead of refusing it; %s", f.describeStart(t))
	}
	if st.Success() {
		t.Errorf("exit status %v, want non-zero", st)
	}
	for _, bad := range []string{"panic:", "goroutine ", "fatal error:", "runtime/debug"} {
		if strings.Contains(out, bad) {
			t.Errorf("the output holds %q (a crash, not a clear error):\n%s", bad, tail(out, 30))
		}
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "cairn: ") {
		t.Errorf("last line %q, want one line \"cairn: <error>\"", last)
	}
	for _, w := range want {
		if !strings.Contains(last, w) {
			t.Errorf("last line %q does not say %q", last, w)
		}
	}
	t.Logf("refused with: %s", last)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func truncateHalf(t *testing.T, p string) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, st.Size()/2); err != nil {
		t.Fatal(err)
	}
}

func TestDataDirDamaged(t *testing.T) {
	f := newDataDirFixture(t)
	dbDir := storage.DBDir(f.m.DataDir)
	cases := []struct {
		name   string
		damage func(t *testing.T)
		want   []string // what the error line must name
	}{
		{"unknown Cairn format version", func(t *testing.T) {
			db, err := storage.Open(f.m.DataDir, storage.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Set([]byte("\x00format"), []byte("cairn/99"), nil); err != nil {
				t.Fatal(err)
			}
		}, []string{"unknown data format version", `"cairn/99"`, f.m.DataDir}},
		{"unknown pebble format version", func(t *testing.T) {
			p := f.files("marker.format-version")[0]
			if err := os.Rename(p, p[:strings.LastIndex(p, ".")]+".999"); err != nil {
				t.Fatal(err)
			}
		}, []string{"unknown format major version 999", dbDir}},
		{"truncated sst", func(t *testing.T) { truncateHalf(t, f.files(".sst")[0]) }, []string{".sst", "size mismatch", dbDir}},
		{"truncated MANIFEST", func(t *testing.T) {
			if err := os.Truncate(f.files("MANIFEST-")[0], 30); err != nil {
				t.Fatal(err)
			}
		}, []string{"MANIFEST", dbDir}},
		{"truncated OPTIONS", func(t *testing.T) { truncateHalf(t, f.files("OPTIONS-")[0]) }, []string{dbDir}},
		{"missing sst", func(t *testing.T) {
			if err := os.Remove(f.files(".sst")[0]); err != nil {
				t.Fatal(err)
			}
		}, []string{filepath.Base(f.files(".sst")[0][:len(f.files(".sst")[0])-len(".sst")]), "does not exist", dbDir}},
		{"missing MANIFEST", func(t *testing.T) {
			if err := os.Remove(f.files("MANIFEST-")[0]); err != nil {
				t.Fatal(err)
			}
		}, []string{"MANIFEST", "no such file", dbDir}},
		{"raft log missing", func(t *testing.T) {
			if err := os.RemoveAll(storage.RaftDir(f.m.DataDir)); err != nil {
				t.Fatal(err)
			}
		}, []string{"raft log", "is missing", storage.RaftDir(f.m.DataDir)}},
		{"raft log segment missing", func(t *testing.T) {
			segs, _ := filepath.Glob(filepath.Join(storage.RaftDir(f.m.DataDir), "*.seg"))
			if len(segs) == 0 {
				t.Fatal("no raft log segment in the fixture")
			}
			if err := os.Remove(segs[len(segs)-1]); err != nil {
				t.Fatal(err)
			}
		}, []string{"raft log", "is missing", storage.RaftDir(f.m.DataDir)}},
		{"missing format marker", func(t *testing.T) {
			if err := os.Remove(f.files("marker.format-version")[0]); err != nil {
				t.Fatal(err)
			}
		}, []string{dbDir}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.restore(t)
			c.damage(t)
			f.checkRefused(t, c.want...)
		})
	}
	// The fixture itself is sound: restored, the member starts and serves
	// every key.
	f.restore(t)
	if got, want := f.describeStart(t), fmt.Sprintf("it serves %d of the %d keys at revision %d", f.keys, f.keys, f.rev); !strings.HasPrefix(got, want) {
		t.Errorf("the pristine data dir: %s; want %s", got, want)
	}
}

// Regression test for a bug this harness found (see docs/reliability.md,
// "Findings"): with the live WAL file of the data dir gone, the member
// starts anyway on the state the sst files hold, as if the writes the WAL
// held (acknowledged, fsynced) had never happened: here 20 writes and
// revisions 102..121 vanish without a word, and a restarted cluster member
// would also forget its raft term and vote. A missing WAL must be refused
// like the other missing files.
func TestDataDirMissingWALRefused(t *testing.T) {
	f := newDataDirFixture(t)
	logs := f.files(".log")
	live := logs[len(logs)-1] // the highest-numbered WAL is the one in use
	if err := os.Remove(live); err != nil {
		t.Fatal(err)
	}
	f.checkRefused(t, filepath.Base(live))
}

// Regression test for a bug this harness found (see docs/reliability.md,
// "Findings"): a member whose disk fills up crashes with a Go panic and
// stack trace ("panic: storage: pebble fatal: pebble: fatal commit error:
// ... no space left on device"), where etcd logs a fatal error and exits.
// Failing stop is right; the way it stops should be a clear error.
func TestDiskFullExitsCleanly(t *testing.T) {
	scratch := t.TempDir()
	fsys, err := mountTmpfs(scratch, 48<<20)
	if err != nil {
		t.Skipf("needs root to mount a tmpfs: %v", err)
	}
	m := framework.NewMember(t, framework.MemberConfig{Name: "full"})
	t.Cleanup(func() {
		_ = m.Signal(syscall.SIGKILL)
		_, _ = m.WaitExit(framework.DefaultStopTimeout)
		_ = fsys.unmount()
	})
	m.DataDir = fsys.dataDir()
	m.Start(t)
	if _, err := fsys.fill(); err != nil {
		t.Fatal(err)
	}
	cli := m.Client(t)
	off := logSize(m.LogPath)
	for i := 0; i < 200 && m.Running(); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = cli.Put(ctx, fmt.Sprintf("full/%03d", i), strings.Repeat("x", 1000))
		cancel()
	}
	st, err := m.WaitExit(20 * time.Second)
	if err != nil {
		t.Fatalf("the member kept running on a full disk: %v", err)
	}
	b, _ := os.ReadFile(m.LogPath)
	out := string(b[off:])
	if st.Success() {
		t.Errorf("exit status %v, want non-zero", st)
	}
	if i := strings.Index(out, "panic:"); i >= 0 || strings.Contains(out, "goroutine ") {
		first, _, _ := strings.Cut(out[max(i, 0):], "\n")
		t.Errorf("the member stopped with a panic and stack trace (%v), not a clear error: %s", st, first)
	}
	if !bytes.Contains(b[off:], []byte("no space left on device")) {
		t.Errorf("the output does not say the disk is full:\n%s", tail(out, 20))
	}
}
