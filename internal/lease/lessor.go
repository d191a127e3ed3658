// Package lease keeps leases: keys with a time to live.
//
// The replicated part (which leases exist, their granted TTL, the last
// checkpointed remaining TTL, which keys are attached) changes only in the
// apply path and is deterministic. Expiry is decided by the leader alone,
// from an in-memory deadline per lease that only the leader (the "primary")
// keeps: it proposes a revocation through raft when a deadline passes.
// Followers never expire leases. When a member becomes leader it sets every
// deadline to now + the remaining TTL (the checkpointed one, or the full
// TTL) + an extension of one election timeout, so no lease expires early
// because leadership moved.
//
// Keys (prefix "l", part of the replicated state):
//
//	"l/r/" + id(8 BE)          lease record: TTL, remaining TTL (16 bytes)
//	"l/k/" + id(8 BE) + key    an attached key (empty value)
//
// Boot reads the records only; attachments are read per lease when it is
// revoked or asked for its keys.
package lease

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// MaxTTL is the largest TTL a lease may have, in seconds (etcd's).
const MaxTTL = 9_000_000_000

var (
	// ErrNotFound is returned for an unknown lease.
	ErrNotFound = errors.New("lease: not found")
	// ErrExists is returned when granting an ID that is taken.
	ErrExists = errors.New("lease: already exists")
	// ErrTTLTooLarge is returned for a TTL above MaxTTL.
	ErrTTLTooLarge = errors.New("lease: TTL too large")
	// ErrNotPrimary is returned by leader-only calls on a follower.
	ErrNotPrimary = errors.New("lease: not the primary lessor")
)

var (
	recordPrefix = []byte("l/r/")
	keyPrefix    = []byte("l/k/")
)

func recordKey(id int64) []byte {
	k := make([]byte, len(recordPrefix)+8)
	copy(k, recordPrefix)
	binary.BigEndian.PutUint64(k[len(recordPrefix):], uint64(id))
	return k
}

func attachPrefix(id int64) []byte {
	k := make([]byte, len(keyPrefix)+8)
	copy(k, keyPrefix)
	binary.BigEndian.PutUint64(k[len(keyPrefix):], uint64(id))
	return k
}

func attachKey(id int64, key []byte) []byte {
	return append(attachPrefix(id), key...)
}

// Lease is one lease as the lessor knows it.
type Lease struct {
	ID           int64
	TTL          int64 // granted TTL, seconds
	RemainingTTL int64 // last checkpointed remaining TTL, 0 = none
	expiry       time.Time
}

// Clock gives the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Config configures a Lessor.
type Config struct {
	// MinTTL is the smallest TTL granted, in seconds; smaller requests are
	// raised to it (etcd: ceil(1.5 × election timeout)).
	MinTTL int64
	Clock  Clock
}

// Lessor holds the leases of one member.
//
// Threading: Grant, Revoke, Checkpoint, Attach, Detach, SetBatch are called
// by the apply goroutine. Promote, Demote, Renew, Expired, TimeToLive and
// the listing calls may come from any goroutine. mu guards the map and the
// primary flag.
type Lessor struct {
	cfg Config
	db  *pebble.DB
	// b is the apply batch in use (owned by the apply goroutine).
	b *pebble.Batch

	mu struct {
		sync.RWMutex
		leases  map[int64]*Lease
		primary bool
	}
}

// Open loads the lease records from db.
func Open(db *pebble.DB, cfg Config) (*Lessor, error) {
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.MinTTL <= 0 {
		cfg.MinTTL = 1
	}
	l := &Lessor{cfg: cfg, db: db}
	if err := l.Reload(); err != nil {
		return nil, err
	}
	return l, nil
}

// Reload rereads the records (after a snapshot replaced the state). The
// primary flag is kept; deadlines are reset as on promotion.
func (l *Lessor) Reload() error {
	leases := make(map[int64]*Lease)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: recordPrefix, UpperBound: []byte("l/r0")})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != len(recordPrefix)+8 || len(v) != 16 {
			return fmt.Errorf("lease: record %x is damaged", k)
		}
		id := int64(binary.BigEndian.Uint64(k[len(recordPrefix):]))
		leases[id] = &Lease{
			ID:           id,
			TTL:          int64(binary.BigEndian.Uint64(v[:8])),
			RemainingTTL: int64(binary.BigEndian.Uint64(v[8:])),
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	l.mu.Lock()
	l.mu.leases = leases
	if l.mu.primary {
		now := l.cfg.Clock.Now()
		for _, ls := range leases {
			ls.expiry = now.Add(time.Duration(ls.remaining()) * time.Second)
		}
	}
	l.mu.Unlock()
	return nil
}

func (ls *Lease) remaining() int64 {
	if ls.RemainingTTL > 0 {
		return ls.RemainingTTL
	}
	return ls.TTL
}

// SetBatch sets the batch the apply path is filling. Changes go into it.
func (l *Lessor) SetBatch(b *pebble.Batch) { l.b = b }

func (l *Lessor) writeRecord(ls *Lease) {
	var v [16]byte
	binary.BigEndian.PutUint64(v[:8], uint64(ls.TTL))
	binary.BigEndian.PutUint64(v[8:], uint64(ls.RemainingTTL))
	if err := l.b.Set(recordKey(ls.ID), v[:], nil); err != nil {
		panic(fmt.Sprintf("lease: write record: %v", err))
	}
}

// GrantedTTL returns the TTL a grant of ttl seconds gets.
func (l *Lessor) GrantedTTL(ttl int64) int64 {
	if ttl < l.cfg.MinTTL {
		return l.cfg.MinTTL
	}
	return ttl
}

// Grant creates a lease (apply path).
func (l *Lessor) Grant(id, ttl int64) (*Lease, error) {
	if id == 0 {
		return nil, ErrNotFound
	}
	if ttl > MaxTTL {
		return nil, ErrTTLTooLarge
	}
	ls := &Lease{ID: id, TTL: l.GrantedTTL(ttl)}
	l.mu.Lock()
	if _, ok := l.mu.leases[id]; ok {
		l.mu.Unlock()
		return nil, ErrExists
	}
	if l.mu.primary {
		ls.expiry = l.cfg.Clock.Now().Add(time.Duration(ls.TTL) * time.Second)
	}
	l.mu.leases[id] = ls
	c := *ls
	l.mu.Unlock()
	l.writeRecord(&c)
	return &c, nil
}

// Keys returns the keys attached to lease id, reading the apply batch when
// one is set so that attachments of the same batch are seen.
func (l *Lessor) Keys(id int64, r pebble.Reader) ([][]byte, error) {
	p := attachPrefix(id)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var keys [][]byte
	for it.First(); it.Valid(); it.Next() {
		keys = append(keys, append([]byte(nil), it.Key()[len(p):]...))
	}
	return keys, it.Error()
}

// Revoke removes lease id (apply path) and returns the keys that were
// attached; the caller deletes them in the same revision (which detaches
// them).
func (l *Lessor) Revoke(id int64) ([][]byte, error) {
	l.mu.RLock()
	_, ok := l.mu.leases[id]
	l.mu.RUnlock()
	if !ok {
		return nil, ErrNotFound
	}
	keys, err := l.Keys(id, l.b)
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// Forget drops the record of a revoked lease, after its keys were deleted.
func (l *Lessor) Forget(id int64) {
	l.mu.Lock()
	delete(l.mu.leases, id)
	l.mu.Unlock()
	if err := l.b.Delete(recordKey(id), nil); err != nil {
		panic(fmt.Sprintf("lease: delete record: %v", err))
	}
	p := attachPrefix(id)
	if err := l.b.DeleteRange(p, prefixEnd(p), nil); err != nil {
		panic(fmt.Sprintf("lease: delete attachments: %v", err))
	}
}

// Checkpoint records the remaining TTL of a lease (apply path).
func (l *Lessor) Checkpoint(id, remaining int64) {
	l.mu.Lock()
	ls, ok := l.mu.leases[id]
	var c Lease
	if ok {
		ls.RemainingTTL = remaining
		c = *ls
	}
	l.mu.Unlock()
	if ok {
		l.writeRecord(&c)
	}
}

// Exists reports whether lease id is granted (mvcc.Lessor).
func (l *Lessor) Exists(id int64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.mu.leases[id]
	return ok
}

// Attach records key under lease id (mvcc.Lessor, apply path).
func (l *Lessor) Attach(id int64, key []byte) {
	if err := l.b.Set(attachKey(id, key), nil, nil); err != nil {
		panic(fmt.Sprintf("lease: attach: %v", err))
	}
}

// Detach removes key from lease id (mvcc.Lessor, apply path).
func (l *Lessor) Detach(id int64, key []byte) {
	if err := l.b.Delete(attachKey(id, key), nil); err != nil {
		panic(fmt.Sprintf("lease: detach: %v", err))
	}
}

// Promote makes this lessor the primary: it starts keeping deadlines, each
// the remaining TTL plus extend from now.
func (l *Lessor) Promote(extend time.Duration) {
	now := l.cfg.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.primary = true
	for _, ls := range l.mu.leases {
		ls.expiry = now.Add(time.Duration(ls.remaining())*time.Second + extend)
	}
}

// Demote stops keeping deadlines.
func (l *Lessor) Demote() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.primary = false
	for _, ls := range l.mu.leases {
		ls.expiry = time.Time{}
	}
}

// IsPrimary reports whether this lessor decides expiry.
func (l *Lessor) IsPrimary() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.primary
}

// Renew pushes lease id's deadline to a full TTL from now and returns the
// TTL, and whether a checkpointed remaining TTL should be cleared.
func (l *Lessor) Renew(id int64) (ttl int64, clearCheckpoint bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.mu.primary {
		return 0, false, ErrNotPrimary
	}
	ls, ok := l.mu.leases[id]
	if !ok {
		return 0, false, ErrNotFound
	}
	now := l.cfg.Clock.Now()
	if !ls.expiry.IsZero() && !ls.expiry.After(now) {
		// Expired: the revocation is on its way.
		return 0, false, ErrNotFound
	}
	ls.expiry = now.Add(time.Duration(ls.TTL) * time.Second)
	return ls.TTL, ls.RemainingTTL > 0, nil
}

// TimeToLive returns the granted TTL and the remaining seconds of lease id.
func (l *Lessor) TimeToLive(id int64) (granted, remaining int64, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.mu.primary {
		return 0, 0, ErrNotPrimary
	}
	ls, ok := l.mu.leases[id]
	if !ok {
		return 0, 0, ErrNotFound
	}
	rem := int64(ls.expiry.Sub(l.cfg.Clock.Now()).Seconds())
	if rem < 0 {
		rem = 0
	}
	return ls.TTL, rem, nil
}

// Lookup returns a copy of lease id.
func (l *Lessor) Lookup(id int64) (Lease, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ls, ok := l.mu.leases[id]
	if !ok {
		return Lease{}, false
	}
	return *ls, true
}

// IDs returns every lease ID in ascending order.
func (l *Lessor) IDs() []int64 {
	l.mu.RLock()
	ids := make([]int64, 0, len(l.mu.leases))
	for id := range l.mu.leases {
		ids = append(ids, id)
	}
	l.mu.RUnlock()
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Expired returns up to limit leases whose deadline has passed (primary
// only), oldest deadline first.
func (l *Lessor) Expired(limit int) []int64 {
	now := l.cfg.Clock.Now()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.mu.primary {
		return nil
	}
	type exp struct {
		id int64
		at time.Time
	}
	var out []exp
	for _, ls := range l.mu.leases {
		if !ls.expiry.IsZero() && !ls.expiry.After(now) {
			out = append(out, exp{ls.ID, ls.expiry})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].at.Equal(out[j].at) {
			return out[i].id < out[j].id
		}
		return out[i].at.Before(out[j].at)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	ids := make([]int64, len(out))
	for i, e := range out {
		ids[i] = e.id
	}
	return ids
}

// Remaining returns, for a checkpoint, the remaining TTL of each lease whose
// remaining time is below its TTL (primary only), at most limit.
func (l *Lessor) Remaining(limit int) map[int64]int64 {
	now := l.cfg.Clock.Now()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.mu.primary {
		return nil
	}
	out := map[int64]int64{}
	for _, ls := range l.mu.leases {
		if len(out) >= limit {
			break
		}
		if ls.expiry.IsZero() {
			continue
		}
		rem := int64(math.Ceil(ls.expiry.Sub(now).Seconds()))
		if rem > 0 && rem < ls.TTL && rem != ls.RemainingTTL {
			out[ls.ID] = rem
		}
	}
	return out
}

func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
