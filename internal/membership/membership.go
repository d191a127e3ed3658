// Package membership keeps the cluster's member list: IDs computed as etcd
// computes them, and the members' attributes (name, peer and client URLs,
// learner flag), stored under "m/members/" and changed only by apply.
package membership

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

var memberPrefix = []byte("m/members/")

func memberKey(id uint64) []byte {
	k := make([]byte, len(memberPrefix)+8)
	copy(k, memberPrefix)
	binary.BigEndian.PutUint64(k[len(memberPrefix):], id)
	return k
}

// Member is one cluster member.
type Member struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

// ComputeMemberID derives a member ID from its peer URLs and the cluster
// token: the first 8 bytes, big-endian, of sha1(sorted URLs joined + token
// [+ unix seconds for a member added at run time]).
func ComputeMemberID(peerURLs []string, token string, unixSeconds int64) uint64 {
	urls := append([]string(nil), peerURLs...)
	sort.Strings(urls)
	b := []byte(strings.Join(urls, ""))
	b = append(b, token...)
	if unixSeconds != 0 {
		b = append(b, fmt.Sprintf("%d", unixSeconds)...)
	}
	h := sha1.Sum(b)
	return binary.BigEndian.Uint64(h[:8])
}

// ComputeClusterID derives the cluster ID from the initial member IDs.
func ComputeClusterID(ids []uint64) uint64 {
	s := append([]uint64(nil), ids...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	b := make([]byte, 8*len(s))
	for i, id := range s {
		binary.BigEndian.PutUint64(b[8*i:], id)
	}
	h := sha1.Sum(b)
	return binary.BigEndian.Uint64(h[:8])
}

// Store is the member list. Reads are safe from any goroutine; changes come
// only from the apply goroutine.
type Store struct {
	mu struct {
		sync.RWMutex
		members map[uint64]*Member
		removed map[uint64]bool
	}
}

var removedPrefix = []byte("m/removed/")

// Load reads the member list from db.
func Load(db pebble.Reader) (*Store, error) {
	s := &Store{}
	if err := s.Reload(db); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload replaces the member list with the one in db (after a snapshot was
// installed).
func (s *Store) Reload(db pebble.Reader) error {
	members, removed, err := load(db)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.mu.members, s.mu.removed = members, removed
	s.mu.Unlock()
	return nil
}

func load(db pebble.Reader) (map[uint64]*Member, map[uint64]bool, error) {
	members := make(map[uint64]*Member)
	removed := make(map[uint64]bool)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: memberPrefix, UpperBound: []byte("m/members0")})
	if err != nil {
		return nil, nil, err
	}
	for it.First(); it.Valid(); it.Next() {
		var m Member
		if err := json.Unmarshal(it.Value(), &m); err != nil {
			it.Close()
			return nil, nil, fmt.Errorf("membership: member record %x is damaged: %w", it.Key(), err)
		}
		members[m.ID] = &m
	}
	if err := it.Close(); err != nil {
		return nil, nil, err
	}
	it, err = db.NewIter(&pebble.IterOptions{LowerBound: removedPrefix, UpperBound: []byte("m/removed0")})
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if len(it.Key()) == len(removedPrefix)+8 {
			removed[binary.BigEndian.Uint64(it.Key()[len(removedPrefix):])] = true
		}
	}
	return members, removed, it.Error()
}

// Members returns a copy of the members sorted by ID.
func (s *Store) Members() []Member {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Member, 0, len(s.mu.members))
	for _, m := range s.mu.members {
		c := *m
		c.PeerURLs = append([]string(nil), m.PeerURLs...)
		c.ClientURLs = append([]string(nil), m.ClientURLs...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Member returns one member.
func (s *Store) Member(id uint64) (Member, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.mu.members[id]
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// IsRemoved reports whether id was a member and was removed.
func (s *Store) IsRemoved(id uint64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.removed[id]
}

// ErrDamagedContext is returned for a conf change whose member record cannot
// be decoded.
var ErrDamagedContext = errors.New("membership: conf change context is not a member record")

// Add records a member (from a conf change context) in the batch.
func (s *Store) Add(b *pebble.Batch, ctx []byte, learner bool) error {
	var m Member
	if err := json.Unmarshal(ctx, &m); err != nil {
		return fmt.Errorf("%w: %v", ErrDamagedContext, err)
	}
	m.IsLearner = learner
	return s.put(b, &m)
}

// Promote turns a learner into a voter.
func (s *Store) Promote(b *pebble.Batch, id uint64) error {
	m, ok := s.Member(id)
	if !ok {
		return nil
	}
	m.IsLearner = false
	return s.put(b, &m)
}

// UpdatePeerURLs replaces a member's peer URLs.
func (s *Store) UpdatePeerURLs(b *pebble.Batch, id uint64, urls []string) error {
	m, ok := s.Member(id)
	if !ok {
		return nil
	}
	m.PeerURLs = urls
	return s.put(b, &m)
}

// SetAttributes records the name and client URLs a member publishes.
func (s *Store) SetAttributes(b *pebble.Batch, id uint64, name string, clientURLs []string) error {
	m, ok := s.Member(id)
	if !ok {
		return nil
	}
	m.Name = name
	m.ClientURLs = clientURLs
	return s.put(b, &m)
}

// Remove deletes a member.
func (s *Store) Remove(b *pebble.Batch, id uint64) error {
	if err := b.Delete(memberKey(id), nil); err != nil {
		return err
	}
	k := make([]byte, len(removedPrefix)+8)
	copy(k, removedPrefix)
	binary.BigEndian.PutUint64(k[len(removedPrefix):], id)
	if err := b.Set(k, nil, nil); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.mu.members, id)
	s.mu.removed[id] = true
	s.mu.Unlock()
	return nil
}

func (s *Store) put(b *pebble.Batch, m *Member) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := b.Set(memberKey(m.ID), v, nil); err != nil {
		return err
	}
	s.mu.Lock()
	s.mu.members[m.ID] = m
	s.mu.Unlock()
	return nil
}

// EncodeContext encodes a member record for a conf change context.
func EncodeContext(m Member) []byte {
	v, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return v
}
