package mvcc

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
)

// Lessor is what the store needs from the lease package. All methods are
// called from the apply goroutine only, inside WriteTxn methods.
type Lessor interface {
	// Exists reports whether lease id is granted.
	Exists(id int64) bool
	// Attach records that key now carries lease id.
	Attach(id int64, key []byte)
	// Detach records that key no longer carries lease id (it was deleted or
	// moved to another lease).
	Detach(id int64, key []byte)
}

// Config configures a Store. The zero value is usable.
type Config struct {
	// Logger receives compaction progress and errors. Nil means no logging.
	Logger *zap.Logger
	// Lessor checks and tracks leases. Nil means no lease exists: a put
	// naming a non-zero lease fails with ErrLeaseNotFound.
	Lessor Lessor
	// CompactionBatchLimit is the number of keys physical compaction
	// processes per pebble batch. Zero means 1000.
	CompactionBatchLimit int
	// HotCacheBytes bounds the writer's cache of recently written keys
	// (hot.go). Zero means 16 MiB; negative disables it.
	HotCacheBytes int
}

// Store is an etcd MVCC key-value store kept in a shared pebble DB, under
// the prefixes described in doc.go.
//
// Threading: Read, Rev, CompactRev and the ReadTxn methods may be called
// from any goroutine. Write, the WriteTxn methods, Committed and Discard
// must be called from one goroutine (the apply loop). Physical compaction
// runs in a goroutine owned by the Store and stopped by Close.
type Store struct {
	db     *pebble.DB
	lg     *zap.Logger
	lessor Lessor

	// Committed state, published by Committed.
	rev        atomic.Int64
	compactRev atomic.Int64

	// w is owned by the apply goroutine: the state after the last ended
	// WriteTxn, which may not be committed yet.
	w struct {
		rev        int64
		compactRev int64
		waiters    []compactWaiter // from Compact calls not yet committed
		open       bool            // a WriteTxn has not ended
	}

	c *compactor

	// hot is owned by the apply goroutine (see hot.go).
	hot hotCache

	// cur is the shared read view of the committed state: one pebble
	// snapshot per committed change, taken by the apply goroutine right
	// after the commit, so its revision is known without reading it back.
	cur atomic.Pointer[sharedView]
}

// sharedView is a pebble snapshot with the revisions it holds, shared by
// every ReadTxn taken while it is current. refs counts the store's own
// reference (while current) and each open ReadTxn; the snapshot is closed
// when the last one goes. A count of viewDead or below marks a closed view.
type sharedView struct {
	snap       *pebble.Snapshot
	rev        int64
	compactRev int64
	refs       atomic.Int64
}

const viewDead = -1 << 40

// release drops one reference, closing the snapshot with the last.
func (v *sharedView) release() {
	if v.refs.Add(-1) == 0 && v.refs.CompareAndSwap(0, viewDead) {
		v.snap.Close()
	}
}

// publish makes a new view of the committed state current. Called from
// the apply goroutine (or NewStore) with no write in flight.
func (s *Store) publish(rev, compactRev int64) {
	v := &sharedView{snap: s.db.NewSnapshot(), rev: rev, compactRev: compactRev}
	v.refs.Store(1)
	if old := s.cur.Swap(v); old != nil {
		old.release()
	}
}

// acquire returns the current view with a reference taken.
func (s *Store) acquire() *sharedView {
	for {
		v := s.cur.Load()
		if v == nil {
			return nil // closed
		}
		if v.refs.Add(1) > 0 {
			return v
		}
		// Closed between the load and the add: a newer view is current.
	}
}

// metaState is the content of the meta keys.
type metaState struct {
	rev        int64 // 1 for a new store
	compactRev int64 // -1 when never compacted, as in etcd
	finished   int64 // physical compaction done up to here; -1 when never
	cursor     histPos
}

// getter reads single keys. Loading the meta needs nothing more, which
// makes "opening a store does not scan" hold by construction.
type getter interface {
	Get(key []byte) ([]byte, io.Closer, error)
}

func getInt64(g getter, k []byte, def int64) (int64, error) {
	val, closer, err := g.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return def, nil
	}
	if err != nil {
		return 0, fmt.Errorf("mvcc: read %q: %w", k, err)
	}
	defer closer.Close()
	return decodeInt64(val)
}

// loadMeta reads the meta keys, and only them (see metaKeys).
func loadMeta(g getter) (metaState, error) {
	m := metaState{}
	var err error
	if m.rev, err = getInt64(g, metaRev, 1); err != nil {
		return m, err
	}
	if m.compactRev, err = getInt64(g, metaCompact, -1); err != nil {
		return m, err
	}
	if m.finished, err = getInt64(g, metaFinished, -1); err != nil {
		return m, err
	}
	val, closer, err := g.Get(metaCursor)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return m, fmt.Errorf("mvcc: read %q: %w", metaCursor, err)
	default:
		m.cursor, err = decodeHistPos(val)
		closer.Close()
		if err != nil {
			return m, err
		}
	}
	return m, nil
}

// NewStore opens the store kept in db. It reads only the meta keys (no
// scan, so opening costs the same whatever the data size), writes the
// format version key into an empty store, and resumes an unfinished
// physical compaction in the background.
func NewStore(db *pebble.DB, cfg Config) (*Store, error) {
	lg := cfg.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	limit := cfg.CompactionBatchLimit
	if limit <= 0 {
		limit = 1000
	}
	format, err := getInt64(db, metaFormat, 0)
	if err != nil {
		return nil, err
	}
	switch format {
	case 0, 1:
		// A new store, or format 1, which held every current value inline:
		// format 2 may also hold references (value.go) and reads both.
		if err := db.Set(metaFormat, encodeInt64(formatVersion), pebble.Sync); err != nil {
			return nil, fmt.Errorf("mvcc: write format version: %w", err)
		}
	case formatVersion:
	default:
		return nil, fmt.Errorf("%w: found %d, this build reads %d", ErrUnknownFormat, format, formatVersion)
	}
	m, err := loadMeta(db)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, lg: lg, lessor: cfg.Lessor}
	hotBytes := cfg.HotCacheBytes
	if hotBytes == 0 {
		hotBytes = 16 << 20
	}
	s.hot = newHotCache(hotBytes)
	s.rev.Store(m.rev)
	s.compactRev.Store(m.compactRev)
	s.w.rev, s.w.compactRev = m.rev, m.compactRev
	s.publish(m.rev, m.compactRev)
	s.c = newCompactor(db, lg, limit, m)
	s.c.start()
	lg.Info("mvcc store opened",
		zap.Int64("revision", m.rev),
		zap.Int64("compact-revision", m.compactRev),
		zap.Int64("finished-compact-revision", m.finished))
	return s, nil
}

// Close stops physical compaction and waits for it. It does not close the
// DB. An interrupted compaction resumes at the next NewStore.
func (s *Store) Close() error {
	s.c.close()
	if v := s.cur.Swap(nil); v != nil {
		v.release()
	}
	return nil
}

// Rev returns the committed current revision (1 for a new store).
func (s *Store) Rev() int64 { return s.rev.Load() }

// CompactRev returns the committed compacted revision (-1 if never
// compacted, as etcd reports it).
func (s *Store) CompactRev() int64 { return s.compactRev.Load() }

// FinishedCompactRev returns the revision up to which physical compaction
// has completed (-1 if never).
func (s *Store) FinishedCompactRev() int64 { return s.c.finishedRev() }

// Committed is called by the apply goroutine after the batch holding one or
// more ended WriteTxns has been committed. It publishes the new revision
// and hands compactions to the background compactor.
func (s *Store) Committed() {
	if s.w.rev != s.rev.Load() || s.w.compactRev != s.compactRev.Load() {
		// Every change to what a reader sees moves one of the two: a
		// write makes a revision, a compaction moves compactRev.
		s.publish(s.w.rev, s.w.compactRev)
	}
	s.rev.Store(s.w.rev)
	s.compactRev.Store(s.w.compactRev)
	if s.w.compactRev > s.c.scheduledRev() || len(s.w.waiters) > 0 {
		s.c.schedule(s.w.compactRev, s.w.waiters)
		s.w.waiters = nil
	}
}

// Discard is called instead of Committed when the batch holding ended
// WriteTxns is dropped without being committed: the writer state goes back
// to the committed state. Channels returned by Compact in that batch are
// never closed. Lessor calls already made are not undone.
func (s *Store) Discard() {
	s.w.rev = s.rev.Load()
	s.w.compactRev = s.compactRev.Load()
	s.w.waiters = nil
	s.w.open = false
	s.hot.reset()
}

func (s *Store) leaseExists(id int64) bool {
	return s.lessor != nil && s.lessor.Exists(id)
}

// Read returns a consistent point-in-time view: the one shared by every
// reader since the last committed change, so taking it costs two atomic
// operations. The ReadTxn is for one goroutine; call Close.
func (s *Store) Read() *ReadTxn {
	v := s.acquire()
	if v == nil {
		return &ReadTxn{err: ErrClosed}
	}
	return &ReadTxn{sv: v, v: view{r: v.snap, rev: v.rev, compactRev: v.compactRev}}
}
