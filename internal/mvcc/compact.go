package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
)

// Physical compaction.
//
// Compact(rev) is logical at once: the compacted revision is written in the
// apply batch and reads below it fail from then on. The compactor goroutine
// then removes what no read can need any more:
//
//   - for every key, the versions <= rev except the newest one, and that one
//     too if it is a tombstone;
//   - the "h" events below rev (events at rev are kept, so a watch may start
//     at exactly the compacted revision).
//
// Only keys written since the previous physical compaction can have such
// versions, and the events of those revisions name them: a pass walks the
// "h" events in (finished, rev] in pebble batches of at most
// CompactionBatchLimit keys, and cleans each key named. Each batch also
// records the position reached (metaCursor), so a pass interrupted by Close
// or a crash resumes where it stopped. The last batch range-deletes the
// events below rev and records metaFinished = rev. The batches are
// independent of the apply batches: they only delete versions at or below
// a committed compacted revision, which writers never write and readers
// at or above the compacted revision never need, and pebble snapshots keep
// older views intact.

// histPos is a position in the "h" keyspace.
type histPos struct{ main, sub int64 }

func (p histPos) key() []byte { return historyKey(p.main, p.sub) }

func (p histPos) encode() []byte { return append(encodeInt64(p.main), encodeInt64(p.sub)...) }

func decodeHistPos(b []byte) (histPos, error) {
	if len(b) != 16 {
		return histPos{}, fmt.Errorf("%w: bad compaction cursor length %d", ErrCorrupt, len(b))
	}
	main, _ := decodeInt64(b[:8])
	sub, _ := decodeInt64(b[8:])
	return histPos{main, sub}, nil
}

type compactWaiter struct {
	rev int64
	ch  chan struct{}
}

// versionRangeDeleteMin is the number of old versions of one key from which
// a range deletion is used instead of point deletions.
const versionRangeDeleteMin = 16

var errStopped = errors.New("mvcc: compactor stopped")

type compactor struct {
	db    *pebble.DB
	lg    *zap.Logger
	limit int

	kick chan struct{} // capacity 1
	stop chan struct{}
	wg   sync.WaitGroup

	// cursor is where the running pass continues; owned by run.
	cursor histPos

	mu struct {
		sync.Mutex
		target   int64 // committed compacted revision
		finished int64 // physical compaction done up to here
		waiters  []compactWaiter
		stopped  bool
	}

	// afterBatch, if set (tests), is called after each committed batch.
	afterBatch func()
}

func newCompactor(db *pebble.DB, lg *zap.Logger, limit int, m metaState) *compactor {
	c := &compactor{
		db:     db,
		lg:     lg,
		limit:  limit,
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		cursor: m.cursor,
	}
	c.mu.target = m.compactRev
	c.mu.finished = m.finished
	return c
}

func (c *compactor) start() {
	c.wg.Add(1)
	go c.run()
}

func (c *compactor) close() {
	c.mu.Lock()
	if c.mu.stopped {
		c.mu.Unlock()
		return
	}
	c.mu.stopped = true
	c.mu.Unlock()
	close(c.stop)
	c.wg.Wait()
}

func (c *compactor) finishedRev() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.finished
}

func (c *compactor) scheduledRev() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.target
}

// schedule raises the target to rev and adds waiters.
func (c *compactor) schedule(rev int64, ws []compactWaiter) {
	c.mu.Lock()
	if rev > c.mu.target {
		c.mu.target = rev
	}
	c.mu.waiters = append(c.mu.waiters, ws...)
	c.releaseLocked()
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// releaseLocked closes the waiters whose revision is physically compacted.
func (c *compactor) releaseLocked() {
	keep := c.mu.waiters[:0]
	for _, w := range c.mu.waiters {
		if w.rev <= c.mu.finished {
			close(w.ch)
		} else {
			keep = append(keep, w)
		}
	}
	c.mu.waiters = keep
}

func (c *compactor) run() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		pending := c.mu.target > c.mu.finished
		c.mu.Unlock()
		if pending {
			err := c.pass()
			if errors.Is(err, errStopped) {
				return
			}
			if err == nil {
				continue
			}
			c.lg.Error("physical compaction failed; will retry", zap.Error(err))
			select {
			case <-c.stop:
				return
			case <-c.kick:
			case <-time.After(time.Second):
			}
			continue
		}
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
	}
}

func (c *compactor) stopping() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// pass compacts up to the target, which may rise while it runs.
func (c *compactor) pass() error {
	c.mu.Lock()
	finished, target := c.mu.finished, c.mu.target
	c.mu.Unlock()
	start := time.Now()
	if first := (histPos{main: finished + 1}); bytes.Compare(c.cursor.key(), first.key()) < 0 {
		c.cursor = first
	}
	c.lg.Info("physical compaction started",
		zap.Int64("compact-revision", target),
		zap.Int64("finished-compact-revision", finished),
		zap.Int64("resume-revision", c.cursor.main))
	keys := 0
	for {
		if c.stopping() {
			return errStopped
		}
		c.mu.Lock()
		target = c.mu.target
		c.mu.Unlock()
		if c.cursor.main > target {
			break
		}
		n, err := c.batch(target)
		if err != nil {
			return err
		}
		keys += n
	}
	b := c.db.NewBatch()
	defer b.Close()
	if target > 0 {
		if err := b.DeleteRange(historyKey(0, 0), historyKey(target, 0), nil); err != nil {
			return err
		}
	}
	if err := b.Set(metaFinished, encodeInt64(target), nil); err != nil {
		return err
	}
	if err := b.Set(metaCursor, c.cursor.encode(), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("mvcc: commit compaction batch: %w", err)
	}
	c.mu.Lock()
	c.mu.finished = target
	c.releaseLocked()
	c.mu.Unlock()
	if c.afterBatch != nil {
		c.afterBatch()
	}
	c.lg.Info("physical compaction finished",
		zap.Int64("compact-revision", target),
		zap.Int("keys", keys),
		zap.Duration("took", time.Since(start)))
	return nil
}

// batch cleans the keys named by the events from the cursor on, up to
// limit distinct keys (whole revisions are not needed: the cursor is a
// (main, sub) position), in one pebble batch that also advances the cursor.
func (c *compactor) batch(target int64) (int, error) {
	snap := c.db.NewSnapshot()
	defer snap.Close()
	hit, err := snap.NewIter(&pebble.IterOptions{
		LowerBound: c.cursor.key(),
		UpperBound: historyKey(target+1, 0),
	})
	if err != nil {
		return 0, fmt.Errorf("mvcc: new iterator: %w", err)
	}
	seen := make(map[string]struct{})
	var keys [][]byte
	next := histPos{main: target + 1}
	for valid := hit.First(); valid; valid = hit.Next() {
		main, sub, err := decodeHistoryKey(hit.Key())
		if err != nil {
			hit.Close()
			return 0, err
		}
		val, err := hit.ValueAndErr()
		if err != nil {
			hit.Close()
			return 0, fmt.Errorf("mvcc: read value: %w", err)
		}
		_, key, _, err := decodeEvent(val)
		if err != nil {
			hit.Close()
			return 0, err
		}
		if _, ok := seen[string(key)]; ok {
			continue
		}
		if len(keys) >= c.limit {
			next = histPos{main, sub}
			break
		}
		seen[string(key)] = struct{}{}
		keys = append(keys, key)
	}
	if err := closeIter(hit); err != nil {
		return 0, err
	}

	kit, err := snap.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixVersion},
		UpperBound: []byte{prefixVersion + 1},
	})
	if err != nil {
		return 0, fmt.Errorf("mvcc: new iterator: %w", err)
	}
	b := c.db.NewBatch()
	defer b.Close()
	for _, key := range keys {
		if err := compactKey(kit, b, key, target); err != nil {
			kit.Close()
			return 0, err
		}
	}
	if err := closeIter(kit); err != nil {
		return 0, err
	}
	if err := b.Set(metaCursor, next.encode(), nil); err != nil {
		return 0, err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, fmt.Errorf("mvcc: commit compaction batch: %w", err)
	}
	c.cursor = next
	if c.afterBatch != nil {
		c.afterBatch()
	}
	return len(keys), nil
}

// compactKey deletes the versions of key <= target except the newest, and
// that one too if it is a tombstone.
func compactKey(it *pebble.Iterator, b *pebble.Batch, key []byte, target int64) error {
	p := versionPrefix(key)
	if !it.SeekGE(appendInvRev(append([]byte(nil), p...), target)) {
		return it.Error()
	}
	if k := it.Key(); len(k) != len(p)+revLen || !bytes.HasPrefix(k, p) {
		return nil // no version <= target
	}
	val, err := it.ValueAndErr()
	if err != nil {
		return fmt.Errorf("mvcc: read value: %w", err)
	}
	if isTombstoneValue(val) {
		if err := b.Delete(it.Key(), nil); err != nil {
			return err
		}
	}
	var older [][]byte
	for it.Next() {
		k := it.Key()
		if len(k) != len(p)+revLen || !bytes.HasPrefix(k, p) {
			break
		}
		if len(older) == versionRangeDeleteMin {
			return b.DeleteRange(older[0], afterVersions(p), nil)
		}
		older = append(older, append([]byte(nil), k...))
	}
	if err := it.Error(); err != nil {
		return err
	}
	for _, k := range older {
		if err := b.Delete(k, nil); err != nil {
			return err
		}
	}
	return nil
}
