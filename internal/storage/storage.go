// Package storage opens the one Pebble database a Cairn member keeps and owns
// its format version. Every other package writes under its own key prefix:
//
//	0x00 "format"        format version of the data dir (this package)
//	0x00 "local"         this member's ID and its cluster ID (internal/server)
//	0x00 "installing"    set while a snapshot from the leader is installed
//	0x00 "raftlog"       the newest raft log segment (internal/raftlog)
//	"c", "k", "h"        MVCC: current values, versions, events (internal/mvcc)
//	"m" "mvcc/..."       MVCC meta: revisions (internal/mvcc)
//	"m" "apply/..."      applied raft index, term, membership (internal/apply)
//	"r" ...              the raft log of format cairn/1 (moved out by internal/raftlog)
//
// The raft log itself lives in segment files of its own under RaftDir.
//
// The prefixes never overlap, so one batch can hold changes from several
// owners and commit them atomically: that is how the applied index and the
// state it produced always agree.
package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// FormatVersion is the on-disk format this build writes. cairn/2 keeps the
// raft log in segment files (RaftDir); cairn/1 kept it in the database, and
// is still read: internal/raftlog moves the log out and stamps cairn/2.
const FormatVersion = "cairn/2"

// formatV1 is the older format this build upgrades.
const formatV1 = "cairn/1"

var formatKey = []byte("\x00format")

// ErrUnknownFormat is returned when the data dir was written by a format this
// build does not know.
var ErrUnknownFormat = errors.New("storage: unknown data format version")

// Options tune the engine. The zero value is usable.
type Options struct {
	// FS, when non-nil, replaces the OS file system (tests use vfs.NewMem).
	FS vfs.FS
	// CacheBytes is the block cache size; 0 means 64 MiB.
	CacheBytes int64
	// NoSync makes every write skip fsync (unsafe-no-fsync; tests only).
	NoSync bool
	// Fatal, when set, is told first when the engine cannot go on (a
	// write to the WAL failed: the disk is full or gone). Then the process
	// prints "cairn: <msg>" on stderr and exits with status 1, which is
	// what etcd does on a failed WAL write: nothing unacknowledged is lost
	// by stopping, and nothing acknowledged was written without an fsync.
	Fatal func(msg string)
}

// DBDir returns the directory of the database inside a member's data dir.
func DBDir(dataDir string) string { return filepath.Join(dataDir, "member", "db") }

// RaftDir returns the directory of the raft log inside a member's data dir.
func RaftDir(dataDir string) string { return filepath.Join(dataDir, "member", "raft") }

// NeedsStamp reports whether the data dir is not yet marked FormatVersion.
func NeedsStamp(db *pebble.DB) (bool, error) {
	v, found, err := readFormat(db)
	return v != FormatVersion || !found, err
}

// readFormat returns the data dir's format version, if one is stamped.
func readFormat(db *pebble.DB) (string, bool, error) {
	v, closer, err := db.Get(formatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("storage: read format version: %w", err)
	}
	defer closer.Close()
	return string(v), true, nil
}

// StampFormat adds to b the write that marks the data dir as FormatVersion.
func StampFormat(b *pebble.Batch) error { return b.Set(formatKey, []byte(FormatVersion), nil) }

// Open opens (creating if needed) the database under dataDir and checks its
// format version. A database written by an unknown format, or one that pebble
// cannot read, is refused with an error that names the directory.
func Open(dataDir string, o Options) (*pebble.DB, error) {
	dir := DBDir(dataDir)
	fs := o.FS
	if fs == nil {
		fs = vfs.Default
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("storage: create %s: %w", dir, err)
		}
	} else if err := fs.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", dir, err)
	}
	if err := checkWALGuard(fs, dir); err != nil {
		return nil, err
	}
	cacheBytes := o.CacheBytes
	if cacheBytes == 0 {
		cacheBytes = 64 << 20
	}
	cache := pebble.NewCache(cacheBytes)
	defer cache.Unref()
	opts := &pebble.Options{
		FS:    capPreallocFS{fs},
		Cache: cache,
		// 32 MiB memtables, at most two (one filling, one flushing): they
		// bound the RSS a write burst costs; pebble also keeps
		// threshold+1 WALs for reuse (see prealloc.go for their size).
		MemTableSize:                32 << 20,
		MemTableStopWritesThreshold: 2,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       1000,
		LBaseMaxBytes:               64 << 20,
		DisableWAL:                  false,
		MaxOpenFiles:                maxOpenFiles(),
		Logger:                      quietLogger{fatal: o.Fatal},
		EventListener:               walGuardListener(fs, dir),
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	// Values of 1 KiB and more go to blob files when a memtable is flushed,
	// and compactions move only the references: a large value is written to
	// disk about once instead of once per level. Blob files where a fifth
	// of the values are dead (overwritten, deleted, compacted) are
	// rewritten, so disk use stays near the live data. This needs the
	// format major version that has blob files and columnar sstables (a
	// data dir of an older version is upgraded in place when opened).
	opts.FormatMajorVersion = pebble.FormatValueSeparation
	opts.Experimental.EnableColumnarBlocks = func() bool { return true }
	opts.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{
			Enabled:               true,
			MinimumSize:           1024,
			MaxBlobReferenceDepth: 10,
			RewriteMinimumAge:     time.Minute,
			TargetGarbageRatio:    0.2,
		}
	}
	opts.EnsureDefaults()
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w (the data dir is damaged or in use; restore it from a backup or a healthy member)", dir, err)
	}
	if err := checkFormat(db, o.NoSync); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w (data dir %s)", err, dataDir)
	}
	return db, nil
}

func checkFormat(db *pebble.DB, noSync bool) error {
	v, found, err := readFormat(db)
	switch {
	case err != nil:
		return err
	case !found:
		// A fresh database, or one with no keys yet: stamp it.
		return db.Set(formatKey, []byte(FormatVersion), WriteSync(noSync))
	case v != FormatVersion && v != formatV1:
		return fmt.Errorf("%w: found %q, this build reads %q and upgrades %q", ErrUnknownFormat, v, FormatVersion, formatV1)
	}
	return nil
}

// Commit commits b and returns any failure as an error. Pebble panics when
// it cannot write an unsynced batch to its WAL (a full disk); the caller
// gets the error instead, to stop with a clear message.
func Commit(b *pebble.Batch, wo *pebble.WriteOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("storage: commit: %w", e)
			} else {
				err = fmt.Errorf("storage: commit: %v", r)
			}
		}
	}()
	return b.Commit(wo)
}

// WriteSync returns the write options for writes that must be durable.
func WriteSync(noSync bool) *pebble.WriteOptions {
	if noSync {
		return pebble.NoSync
	}
	return pebble.Sync
}

// StateSpans are the key ranges of the replicated state machine: everything
// but the 0x00 keys (this member's own identity and format) and the raft log
// of format cairn/1 ("r/"). A snapshot sent to a follower carries exactly these.
var StateSpans = [][2][]byte{
	{[]byte{0x01}, []byte("r/")},
	{[]byte("r0"), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
}

// PrefixEnd returns the smallest key greater than every key with prefix p.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// quietLogger drops pebble's chatter and turns its fatal errors into a
// clean stop instead of a panic with a stack trace.
type quietLogger struct{ fatal func(string) }

func (quietLogger) Infof(format string, args ...interface{})  {}
func (quietLogger) Errorf(format string, args ...interface{}) {}
func (l quietLogger) Fatalf(format string, args ...interface{}) {
	Exit(l.fatal, "storage failure, stopping: "+fmt.Sprintf(format, args...))
}

// Exit stops the process on a storage failure it cannot go on from: fatal
// (when set) is told first, then "cairn: <msg>" goes to stderr and the
// process exits with status 1.
func Exit(fatal func(string), msg string) {
	if fatal != nil {
		fatal(msg)
	}
	fmt.Fprintf(os.Stderr, "cairn: %s\n", msg)
	os.Exit(1)
}

// maxOpenFiles is how many sstables and blob files pebble keeps open: the
// process's file limit less room for connections and the WAL, at least
// pebble's default of 1000. A large data set has thousands of files, and a
// random read that finds its file closed pays an open and a read of the
// file's index first.
func maxOpenFiles() int {
	const reserve, atLeast = 2048, 1000
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur < reserve+atLeast {
		return atLeast
	}
	return int(min(rl.Cur-reserve, 1<<20))
}
