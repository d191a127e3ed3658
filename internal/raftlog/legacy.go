package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3/raftpb"
)

// Data dirs of format cairn/1 kept the raft log in the Pebble database,
// under keys this package owned (prefix "r"):
//
//	"r/hs"            raftpb.HardState
//	"r/snap"          raftpb.Snapshot metadata (index, term, ConfState); no data
//	"r/e/" + index    raftpb.Entry, index as 8 bytes big-endian
//
// Open moves such a log into segment files once, then deletes the keys.
var (
	keyHardState = []byte("r/hs")
	keySnapshot  = []byte("r/snap")
	entryPrefix  = []byte("r/e/")
	legacyStart  = []byte("r/")
	legacyEnd    = []byte("r0")
)

func entryKey(i uint64) []byte {
	k := make([]byte, len(entryPrefix)+8)
	copy(k, entryPrefix)
	binary.BigEndian.PutUint64(k[len(entryPrefix):], i)
	return k
}

// legacyLog is a raft log read from the database.
type legacyLog struct {
	hs    raftpb.HardState
	snap  raftpb.SnapshotMetadata
	ents  []raftpb.Entry
	found bool // any key of the old layout exists
}

func loadLegacy(db *pebble.DB) (*legacyLog, error) {
	out := &legacyLog{}
	foundHS, err := getProto(db, keyHardState, &out.hs)
	if err != nil {
		return nil, err
	}
	var snap raftpb.Snapshot
	foundSnap, err := getProto(db, keySnapshot, &snap)
	if err != nil {
		return nil, err
	}
	out.snap = snap.Metadata
	it, err := db.NewIter(&pebble.IterOptions{
		LowerBound: entryKey(out.snap.Index + 1),
		UpperBound: entryKey(1<<64 - 1),
	})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	next := out.snap.Index + 1
	for it.First(); it.Valid(); it.Next() {
		var e raftpb.Entry
		if err := e.Unmarshal(it.Value()); err != nil {
			return nil, fmt.Errorf("raftlog: entry at key %x is damaged: %w", it.Key(), err)
		}
		if e.Index != next {
			return nil, fmt.Errorf("raftlog: log has a gap: want entry %d, found %d (the data dir is damaged)", next, e.Index)
		}
		next++
		out.ents = append(out.ents, e)
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	out.found = foundHS || foundSnap || len(out.ents) > 0
	if !out.found {
		// Entries at or below a snapshot are not read above; any key left
		// under the prefix still has to be deleted.
		has, err := hasLegacyKeys(db)
		if err != nil {
			return nil, err
		}
		out.found = has
	}
	return out, nil
}

func hasLegacyKeys(db *pebble.DB) (bool, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: legacyStart, UpperBound: legacyEnd})
	if err != nil {
		return false, err
	}
	defer it.Close()
	return it.First(), it.Error()
}

func getProto(db pebble.Reader, key []byte, m interface{ Unmarshal([]byte) error }) (bool, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("raftlog: read %s: %w", key, err)
	}
	defer closer.Close()
	if err := m.Unmarshal(v); err != nil {
		return false, fmt.Errorf("raftlog: %s is damaged: %w", key, err)
	}
	return true, nil
}
