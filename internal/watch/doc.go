// Package watch is Cairn's watch hub: it turns the events the apply loop
// commits into etcd watch responses for every watcher of every stream, and
// serves watchers that are behind from storage.
//
// # Flow
//
//	apply ──Notify(evs, rev)──▶ inbox (bounded; never blocks apply)
//	                              │
//	                              ▼
//	        hub goroutine: owns the registry (streams, watchers, ids) and the
//	        synced index; matches each batch against the synced watchers and
//	        queues one response per watcher on its stream; keeps a ring of
//	        recent batches
//	          │ a watcher whose stream is over budget, or that starts
//	          │ below the hub's revision, moves out of the hot path
//	          ▼
//	        catch-up goroutine: owns the unsynced watchers; reads history
//	        from a storage snapshot by revision (one read serves every
//	        watcher it covers) and queues it; a watcher past the snapshot
//	        goes back to the hub, which fills the gap from its ring
//	          │
//	          ▼
//	        Stream queue (bounded by bytes) ──Pop──▶ gRPC send loop (api)
//
// # Guarantees, and where they come from
//
//   - Ordered, unique, reliable: a watcher is held by one goroutine at a
//     time (the hub when synced, catch-up when not; handed over through
//     the hub's and catch-up's inboxes) and that holder advances its
//     nextRev only after queueing the events below it. The hub skips
//     events below nextRev, so a watcher handed back ahead of the hub gets
//     nothing twice.
//   - Atomic: batches from apply and storage reads both hold whole
//     revisions, and a response never splits one (fragments, which the
//     client asked for and reassembles, aside).
//   - Created first: the hub queues a watcher's created response before it
//     makes the watcher visible to anything that queues events.
//   - Bounded memory: a stream queues at most Config.StreamBudget bytes of
//     event responses (plus one response); the inbox from apply holds at
//     most Config.InboxEvents events (InboxBytes bytes), after which the hub drops the batches
//     and moves every synced watcher to catch-up; the ring holds at most
//     Config.RingBytes. Control responses (created, canceled) are bounded
//     by MaxPendingControl per stream: Request blocks the stream's receive
//     loop when that many wait to be sent, as etcd does.
//
// # Fewer, larger responses for consumers that fall behind
//
// Events queued for a watcher join its previous response while that one
// is still in the queue (Stream.joinLocked), up to 1 MiB, never across a
// progress response or a control response of the watcher. A watcher's
// events only move earlier relative to other watchers'; etcd's guarantees
// are per watcher. A consumer that keeps up gets one response per batch.
//
// # Gaps
//
// A revision that moves without events through Notify (a raft snapshot
// replaced the state), a batch that does not follow the last one, or
// batches dropped because the inbox was full, all send every synced
// watcher to catch-up from where it was, as etcd's restore does.
//
// # Revisions in headers
//
// The hub's revision is the last revision whose events it has queued to
// every synced watcher. Created, canceled and progress responses carry it,
// so a progress notification at R means every event <= R has been queued
// before it. Event responses carry the revision their watcher is caught up
// to.
//
// # Threading
//
// Notify is called by the apply goroutine only. NewStream, and the Stream
// methods, may be called from any goroutine; one goroutine per stream
// should call Request (the receive loop) and one Pop (the send loop).
// Stop waits for the hub's goroutines.
package watch
