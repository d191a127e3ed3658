// Package mvcc implements etcd's multi-version key-value semantics (the
// KV service: Range, Put, DeleteRange, Txn, Compact, plus the history that
// watch and HashKV need) on top of a pebble DB shared with other packages.
//
// # Revisions
//
// A new store is at revision 1. Every request that writes moves the
// revision by one; all writes of one request (a txn may write many keys)
// share that main revision and get increasing sub revisions. A request that
// writes nothing (a delete of nothing, a txn whose taken branch only reads)
// leaves the revision unchanged. Compact(rev) makes reads below rev fail
// with ErrCompacted; the history they would need is removed in the
// background (compact.go).
//
// # Keyspace
//
// This package owns the pebble keys starting with 'c', 'k', 'h' and 'm'
// followed by "mvcc/". User keys are escaped so that any bytes (0x00
// included) sort as the raw keys do and one key's versions are contiguous:
//
//	enc(key) = key with each 0x00 written 0x00 0xFF, then 0x00 0x01
//
//	"c" enc(key)                   -> latest live version of key (a large value
//	                                  by reference to its "k" entry); absent once deleted
//	"k" enc(key) ^mainRev          -> version of key written at mainRev, or a tombstone
//	"h" mainRev subRev             -> event: put/delete + key (the put's value is in "k")
//	"m" "mvcc/format"              -> on-disk format version (2; 1 had no references)
//	"m" "mvcc/rev"                 -> current revision
//	"m" "mvcc/compact"             -> compacted revision (scheduled: physical removal may lag)
//	"m" "mvcc/compact_done"        -> revision physical compaction finished at
//	"m" "mvcc/compact_cursor"      -> where the running physical compaction continues
//
// Revisions are 8 bytes big-endian; ^mainRev is inverted so that a key's
// newest version comes first. Values are compact (value.go): a version is
// kind, mod, create, version, lease, value bytes; a tombstone is one byte.
//
// Example: put foo=1 (rev 2), put foo=2 and put a\x00b=x in one txn
// (rev 3), delete foo (rev 4). The store is at revision 4:
//
//	c a 00 FF b 00 01                 {mod 3 create 3 ver 1 "x"}
//	h 0000000000000002 0000000000000000  put foo
//	h 0000000000000003 0000000000000000  put foo
//	h 0000000000000003 0000000000000001  put a\x00b
//	h 0000000000000004 0000000000000000  delete foo
//	k a 00 FF b 00 01 ^3              {mod 3 create 3 ver 1 "x"}
//	k f o o 00 01 ^4                  tombstone
//	k f o o 00 01 ^3                  {mod 3 create 2 ver 2 "2"}
//	k f o o 00 01 ^2                  {mod 2 create 2 ver 1 "1"}
//	m mvcc/rev                        4
//
// A read at the current revision scans only "c": one seek, then one Next
// per key returned, plus one lookup in "k" for each value of 1 KiB or more
// (value.go: such a value is written once, to "k", and "c" refers to it). A read at revision 3 seeks to ("k" enc(foo) ^3), lands
// on foo's newest version <= 3, then seeks past foo's versions to the next
// key: about one seek per key, whatever the length of the history. Watch
// catch-up from revision R seeks to ("h" R) and reads forward: only the
// history after R is touched.
//
// Compact(3), once its physical pass is done, removes foo@2 (older than
// foo@3, the newest version <= 3) and the events below revision 3; foo@3,
// a\x00b@3 and the events at 3 stay, so reads and watches at 3 still work.
// Compact(4) then removes foo@4 (the newest version <= 4 is a tombstone)
// and foo@3.
//
// # Concurrency
//
// The apply goroutine is the only writer: Store.Write gives a WriteTxn over
// an indexed pebble batch, which sees the batch's earlier writes; after the
// batch commits, Store.Committed publishes the revision. Readers take
// Store.Read, a pebble snapshot whose revision is read from the snapshot
// itself, so it is always consistent with the data. Opening a store reads
// only the "m" keys (loadMeta takes a getter with no iterator), so boot
// time does not depend on the data size.
package mvcc
