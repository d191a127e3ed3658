package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func get(t *testing.T, db *pebble.DB, k []byte) (string, bool) {
	t.Helper()
	v, closer, err := db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	return string(v), true
}

func TestOpenStampsFormat(t *testing.T) {
	tests := []struct {
		name string
		opts func(t *testing.T) (string, Options)
	}{
		{"mem fs", func(t *testing.T) (string, Options) { return "data", Options{FS: vfs.NewMem(), NoSync: true} }},
		{"os fs", func(t *testing.T) (string, Options) { return t.TempDir(), Options{CacheBytes: 1 << 20} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, o := tc.opts(t)
			db, err := Open(dir, o)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if v, ok := get(t, db, formatKey); !ok || v != FormatVersion {
				t.Fatalf("format key = %q, %v; want %q", v, ok, FormatVersion)
			}
			if err := db.Set([]byte("c/x"), []byte("1"), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db, err = Open(dir, o)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer db.Close()
			if v, ok := get(t, db, []byte("c/x")); !ok || v != "1" {
				t.Fatalf("data lost across reopen: %q %v", v, ok)
			}
			if v, _ := get(t, db, formatKey); v != FormatVersion {
				t.Fatalf("format key after reopen = %q", v)
			}
			if o.FS == nil {
				if _, err := vfs.Default.Stat(DBDir(dir)); err != nil {
					t.Fatalf("DB not under DBDir: %v", err)
				}
			}
		})
	}
}

// A data dir of format cairn/1 (the raft log in the database) is opened:
// internal/raftlog moves its log out and stamps the current format.
func TestOpenAcceptsFormat1(t *testing.T) {
	fs := vfs.NewMem()
	o := Options{FS: fs, NoSync: true}
	db, err := Open("data", o)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(formatKey, []byte("cairn/1"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open("data", o)
	if err != nil {
		t.Fatalf("Open of a cairn/1 data dir: %v", err)
	}
	defer db.Close()
	if v, _ := get(t, db, formatKey); v != "cairn/1" {
		t.Fatalf("format key = %q; storage alone leaves cairn/1 for the raft log's upgrade", v)
	}
}

func TestOpenRefusesUnknownFormat(t *testing.T) {
	tests := []struct {
		name    string
		version string
	}{
		{"newer", "cairn/3"},
		{"etcd-like", "etcd/3"},
		{"empty", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			o := Options{FS: fs, NoSync: true}
			db, err := Open("data", o)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Set(formatKey, []byte(tc.version), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db, err = Open("data", o)
			if err == nil {
				db.Close()
				t.Fatal("Open accepted an unknown format version")
			}
			if !errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("err = %v, want ErrUnknownFormat", err)
			}
			for _, want := range []string{"data", FormatVersion} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err %q does not mention %q", err, want)
				}
			}
			// The refused DB was closed: opening pebble again works.
			db2, err := pebble.Open(DBDir("data"), &pebble.Options{FS: fs})
			if err != nil {
				t.Fatalf("DB left open after refusal: %v", err)
			}
			db2.Close()
		})
	}
}

func TestDBDir(t *testing.T) {
	if got, want := DBDir("/var/lib/x.cairn"), filepath.Join("/var/lib/x.cairn", "member", "db"); got != want {
		t.Fatalf("DBDir = %q, want %q", got, want)
	}
}

func TestWriteSync(t *testing.T) {
	if WriteSync(false) != pebble.Sync || WriteSync(true) != pebble.NoSync {
		t.Fatal("WriteSync maps noSync the wrong way")
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		in, want []byte
	}{
		{[]byte("a"), []byte("b")},
		{[]byte("r/"), []byte("r0")},
		{[]byte("abc"), []byte("abd")},
		{[]byte("a\xff"), []byte("b")},
		{[]byte("a\xff\xff"), []byte("b")},
		{[]byte{0x00}, []byte{0x01}},
		{[]byte{0xff}, nil},
		{[]byte{0xff, 0xff}, nil},
		{[]byte{}, nil},
		{nil, nil},
	}
	for _, tc := range tests {
		in := append([]byte(nil), tc.in...)
		got := PrefixEnd(tc.in)
		if !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("PrefixEnd(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !bytes.Equal(in, tc.in) {
			t.Errorf("PrefixEnd modified its input: %q -> %q", in, tc.in)
		}
		// Every key with the prefix sorts below the end.
		if got != nil {
			for _, suffix := range []string{"", "\x00", "\xff\xff\xff"} {
				k := append(append([]byte(nil), tc.in...), suffix...)
				if bytes.Compare(k, got) >= 0 {
					t.Errorf("PrefixEnd(%q) = %q is not above %q", tc.in, got, k)
				}
			}
		}
	}
}

func inStateSpans(k []byte) bool {
	for _, s := range StateSpans {
		if bytes.Compare(k, s[0]) >= 0 && bytes.Compare(k, s[1]) < 0 {
			return true
		}
	}
	return false
}

func TestStateSpans(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		// Member-local keys.
		{"\x00format", false},
		{"\x00local", false},
		{"\x00installing", false},
		{"\x00", false},
		{"\x00\xff", false},
		// The raft log.
		{"r/hs", false},
		{"r/snap", false},
		{"r/e/\x00\x00\x00\x00\x00\x00\x00\x01", false},
		{"r/e/\xff\xff\xff\xff\xff\xff\xff\xff", false},
		{"r/", false},
		// Replicated state.
		{"c", true},
		{"cfoo\x00\x01", true},
		{"k\xff\xff\xff\x00\x01", true},
		{"h\x00\x00\x00\x00\x00\x00\x00\x02", true},
		{"m/apply/index", true},
		{"m/members/\x00\x00\x00\x00\x00\x00\x00\x01", true},
		{"m/removed/\x00\x00\x00\x00\x00\x00\x00\x01", true},
		{"m/alarms/x", true},
		{"mmvcc/rev", true},
		{"m/mvcc/rev", true},
		{"l/r/\x00\x00\x00\x00\x00\x00\x00\x07", true},
		{"l/k/\x00\x00\x00\x00\x00\x00\x00\x07key", true},
		{"a", true},
		{"\x01", true},
		// Neighbours of "r/" that are not the raft log.
		{"r", true},
		{"r.", true},
		{"r0", true},
		{"s", true},
	}
	for _, tc := range tests {
		if got := inStateSpans([]byte(tc.key)); got != tc.want {
			t.Errorf("key %q in StateSpans = %v, want %v", tc.key, got, tc.want)
		}
	}
	// Spans are ordered, non-empty and disjoint.
	for i, s := range StateSpans {
		if bytes.Compare(s[0], s[1]) >= 0 {
			t.Errorf("span %d [%q, %q) is empty", i, s[0], s[1])
		}
		if i > 0 && bytes.Compare(StateSpans[i-1][1], s[0]) > 0 {
			t.Errorf("span %d overlaps span %d", i, i-1)
		}
	}
}

// Iterating a DB by StateSpans yields exactly the replicated keys.
func TestStateSpansIterate(t *testing.T) {
	db, err := Open("data", Options{FS: vfs.NewMem(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys := []struct {
		key   string
		state bool
	}{
		{"\x00local", false}, {"\x00installing", false},
		{"r/hs", false}, {"r/snap", false}, {"r/e/\x00\x00\x00\x00\x00\x00\x00\x05", false},
		{"cfoo", true}, {"hxx", true}, {"kfoo", true}, {"l/r/1", true}, {"m/apply/index", true}, {"m/members/1", true},
	}
	var want []string
	for _, k := range keys {
		if err := db.Set([]byte(k.key), []byte("v"), pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		if k.state {
			want = append(want, k.key)
		}
	}
	sort.Strings(want)
	var got []string
	for _, s := range StateSpans {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: s[0], UpperBound: s[1]})
		if err != nil {
			t.Fatal(err)
		}
		for it.First(); it.Valid(); it.Next() {
			got = append(got, string(it.Key()))
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("keys in StateSpans = %q, want %q", got, want)
	}
}

// A data dir written by pebble's older format (before blob files) opens,
// is upgraded, keeps its data, and separates large values from then on.
func TestOpenUpgradesOlderPebbleFormat(t *testing.T) {
	fs := vfs.NewMem()
	old, err := pebble.Open(DBDir("data"), &pebble.Options{FS: fs, FormatMajorVersion: pebble.FormatMinSupported})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Set(formatKey, []byte(FormatVersion), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := old.Set([]byte("k/old"), bytes.Repeat([]byte("o"), 4096), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open("data", Options{FS: fs})
	if err != nil {
		t.Fatalf("Open of an older pebble format: %v", err)
	}
	defer db.Close()
	if got := db.FormatMajorVersion(); got < pebble.FormatValueSeparation {
		t.Fatalf("format major version %s after Open, want at least %s", got, pebble.FormatValueSeparation)
	}
	if v, ok := get(t, db, []byte("k/old")); !ok || len(v) != 4096 {
		t.Fatalf("old value lost: %d bytes, %v", len(v), ok)
	}
	if err := db.Set([]byte("k/new"), bytes.Repeat([]byte("n"), 4096), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if m := db.Metrics(); m.BlobFiles.LiveCount == 0 {
		t.Fatalf("no blob file after flushing 8 KiB of large values: %+v", m.BlobFiles)
	}
	for _, k := range []string{"k/old", "k/new"} {
		if v, ok := get(t, db, []byte(k)); !ok || len(v) != 4096 {
			t.Fatalf("%s after the flush: %d bytes, %v", k, len(v), ok)
		}
	}
}

// A WAL is reserved ahead with written zeros: the file is longer than its
// records, and a copy of the data dir taken while the DB is open (what a
// crash leaves) replays every synced write and stops at the zeros.
func TestWALZeroTailReplays(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := 0; i < 300; i++ {
		if err := db.Set([]byte(fmt.Sprintf("k/%04d", i)), bytes.Repeat([]byte{'v'}, 1000), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(DBDir(dir), "*.log"))
	var longest int64
	for _, l := range logs {
		if fi, err := os.Stat(l); err == nil && fi.Size() > longest {
			longest = fi.Size()
		}
	}
	if longest < walPreallocCap {
		t.Fatalf("longest WAL is %d bytes, want the %d reserved with zeros", longest, walPreallocCap)
	}
	crash := t.TempDir()
	if err := os.CopyFS(crash, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	// The copy holds the LOCK file but no lock: it opens.
	db2, err := Open(crash, Options{CacheBytes: 1 << 20})
	if err != nil {
		t.Fatalf("open the crash copy: %v", err)
	}
	defer db2.Close()
	for i := 0; i < 300; i++ {
		if v, ok := get(t, db2, []byte(fmt.Sprintf("k/%04d", i))); !ok || len(v) != 1000 {
			t.Fatalf("k/%04d after the crash copy: %d bytes, %v", i, len(v), ok)
		}
	}
}
