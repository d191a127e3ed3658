package mvcc

import "go.etcd.io/etcd/api/v3/mvccpb"

// hotCache keeps the current version of recently written keys for the
// apply goroutine, so that a put finds its key's previous version (for
// create_revision, version, the lease and the event's prev_kv) without a
// pebble lookup through the batch, the memtables and the sst levels: the
// largest cost of a put before it. Only the writer uses it, without locks.
//
// An entry is an immutable KeyValue (never changed once cached: events and
// responses share it), or nil for a key known to be absent. Every write to
// the current keyspace goes through WriteTxn.put and WriteTxn.deleteRange,
// which update it; a dropped batch (Discard) clears it, as does a new Store.
// What is cached never changes a result, only how it is found, so eviction
// (any entries, when over the budget) keeps the apply path deterministic.
type hotCache struct {
	m     map[string]*mvccpb.KeyValue
	bytes int
	limit int
}

// hotEntryOverhead approximates the map entry and KeyValue struct bytes.
const hotEntryOverhead = 128

func newHotCache(limit int) hotCache {
	return hotCache{m: make(map[string]*mvccpb.KeyValue), limit: limit}
}

func entrySize(key string, kv *mvccpb.KeyValue) int {
	n := len(key) + hotEntryOverhead
	if kv != nil {
		n += len(kv.Key) + len(kv.Value)
	}
	return n
}

func (c *hotCache) get(key []byte) (*mvccpb.KeyValue, bool) {
	kv, ok := c.m[string(key)]
	return kv, ok
}

func (c *hotCache) set(key []byte, kv *mvccpb.KeyValue) {
	if c.limit <= 0 {
		return
	}
	k := string(key)
	if old, ok := c.m[k]; ok {
		c.bytes -= entrySize(k, old)
	}
	c.m[k] = kv
	c.bytes += entrySize(k, kv)
	if c.bytes > c.limit {
		// Drop entries until a quarter of the budget is free.
		for k2, v2 := range c.m {
			if c.bytes <= c.limit*3/4 {
				break
			}
			if k2 == k {
				continue
			}
			c.bytes -= entrySize(k2, v2)
			delete(c.m, k2)
		}
	}
}

func (c *hotCache) reset() {
	clear(c.m)
	c.bytes = 0
}
