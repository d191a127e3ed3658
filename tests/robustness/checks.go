package robustness

import (
	"fmt"
	"slices"
	"sort"
)

// The checks of a round. Each returns the violations it found, as
// sentences that name the revision, the key and the operation, and adds
// what it checked to the summary.

// checkAcknowledged checks that every acknowledged write is in the store's
// history at the revision it was acknowledged with.
func checkAcknowledged(ops []Op, h *StoreHistory, sum *Summary) []string {
	var v []string
	for _, o := range ops {
		if o.Out.Unknown || o.Out.LeaseNotFound || o.Note != "" {
			continue
		}
		var want Event
		switch {
		case o.In.Kind == OpPut || (o.In.Kind == OpTxn && o.Out.Succeeded):
			want = Event{Rev: o.Out.Rev, KV: KeyValue{Key: o.In.Key, Value: o.In.Value}}
		case o.In.Kind == OpDelete && o.Out.Deleted > 0:
			want = Event{Rev: o.Out.Rev, Delete: true, KV: KeyValue{Key: o.In.Key}}
		default:
			continue
		}
		sum.AckedWritesChecked++
		found := false
		for _, e := range h.EventsAt(want.Rev) {
			if e.KV.Key == want.KV.Key && e.Delete == want.Delete && (e.Delete || e.KV.Value == want.KV.Value) {
				found = true
			}
		}
		if !found {
			v = append(v, fmt.Sprintf("acknowledged write lost: %v; the store's history holds at revision %d: %v",
				o, want.Rev, h.EventsAt(want.Rev)))
		}
	}
	return v
}

// checkSerializable checks serializable reads: each returns the key set
// exactly as the store held it at the read's revision, and reads served
// by one member never go backwards: a read that starts after another
// returned from the same member sees at least its revision.
func checkSerializable(ops []Op, h *StoreHistory, sum *Summary) []string {
	var v []string
	byMember := map[uint64][]Op{}
	for _, o := range ops {
		sum.SerializableReadsChecked++
		want, ok := h.At(o.Out.Rev)
		switch {
		case !ok:
			v = append(v, fmt.Sprintf("serializable read at revision %d, outside the round's revisions [%d, %d]: %v", o.Out.Rev, h.From, h.To, o))
		case !slices.Equal(want, o.Out.KVs):
			v = append(v, fmt.Sprintf("serializable read does not match the store at revision %d (%v): %v", o.Out.Rev, want, o))
		}
		byMember[o.Member] = append(byMember[o.Member], o)
	}
	for id, reads := range byMember {
		byReturn := slices.Clone(reads)
		sort.Slice(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })
		byCall := slices.Clone(reads)
		sort.Slice(byCall, func(i, j int) bool { return byCall[i].Call < byCall[j].Call })
		var best *Op // the read with the highest revision among those returned so far
		j := 0
		for _, o := range byCall {
			for ; j < len(byReturn) && byReturn[j].Return < o.Call; j++ {
				if best == nil || byReturn[j].Out.Rev > best.Out.Rev {
					best = &byReturn[j]
				}
			}
			if best != nil && o.Out.Rev < best.Out.Rev {
				v = append(v, fmt.Sprintf("serializable reads went backwards on member %x: %v, after %v", id, o, *best))
			}
		}
	}
	return v
}

// checkWatcher checks one watcher's responses against the store's
// history: the events it delivered, over all its streams, are exactly the
// history's events on its range from its start revision on (ordered, no
// duplicates, no gaps, same key-values and previous key-values); no
// revision is split between responses; an event response's header is not
// below its events; and a progress notification at revision P comes only
// once every event up to P has been delivered.
func checkWatcher(w *watcher, h *StoreHistory, to int64, sum *Summary) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var v []string
	fail := func(format string, args ...any) {
		if len(v) < 5 {
			v = append(v, fmt.Sprintf("%v: ", w)+fmt.Sprintf(format, args...))
		}
	}
	v = append(v, w.mu.problems...)
	start := w.mu.effStart
	if start == 0 {
		fail("never created")
		return v
	}
	if start <= h.From {
		fail("starts at revision %d, before the round's first revision %d+1", start, h.From)
		return v
	}
	want := h.EventsIn(start, to, w.key, w.end)
	sum.Watchers++
	sum.WatchResumes += max(0, len(w.mu.segs)-1)
	var got []Event
	lastSeg := -1
	var prevResp *watchResp
	for i := range w.mu.resps {
		r := &w.mu.resps[i]
		sum.WatchResponses++
		if r.seg != lastSeg {
			lastSeg, prevResp = r.seg, nil
		}
		if r.canceled {
			// A canceled stream is resumed; a compaction below the resume
			// point would be a loss.
			if r.compact != 0 {
				fail("stream %d on %s canceled at compact revision %d: %q", r.seg, w.mu.segs[r.seg].member, r.compact, r.reason)
			}
			continue
		}
		if r.progress() {
			sum.ProgressChecked++
			n := 0
			for _, e := range want {
				if e.Rev <= r.headerRev {
					n++
				}
			}
			if r.headerRev > h.To {
				fail("progress notification at revision %d, beyond the store's revision %d", r.headerRev, h.To)
			} else if len(got) < n {
				fail("progress notification at revision %d (stream %d on %s, at %.3fs) came before every event up to it: %d of %d delivered, next missing %v",
					r.headerRev, r.seg, w.mu.segs[r.seg].member, float64(r.at)/1e9, len(got), n, want[len(got)])
			}
			continue
		}
		if len(r.events) == 0 {
			continue
		}
		if r.fragment {
			fail("fragmented response, though no fragments were asked for")
		}
		for k, e := range r.events {
			if k > 0 && e.Rev < r.events[k-1].Rev {
				fail("events out of order inside one response: %v after %v", e, r.events[k-1])
			}
		}
		if r.headerRev < r.events[len(r.events)-1].Rev {
			fail("response header revision %d below its last event %v", r.headerRev, r.events[len(r.events)-1])
		}
		if prevResp != nil && len(prevResp.events) > 0 && prevResp.events[len(prevResp.events)-1].Rev == r.events[0].Rev {
			fail("revision %d split between two responses", r.events[0].Rev)
		}
		prevResp = r
		got = append(got, r.events...)
	}
	// Compare the deliveries with the history.
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(want):
			fail("delivered %v beyond the history (%d events up to revision %d)", got[i], len(want), to)
		case i >= len(got):
			if w.reachedLocked() >= want[i].Rev {
				fail("gap: %v was never delivered (delivered %d of %d events)", want[i], len(got), len(want))
			} else {
				fail("stopped at revision %d before %v", w.reachedLocked(), want[i])
			}
		case !sameEvent(got[i], want[i]):
			what := "wrong event"
			switch {
			case got[i].Rev > want[i].Rev:
				what = "gap"
			case got[i].Rev < want[i].Rev:
				what = "duplicate or out of order"
			}
			fail("%s at delivery #%d: got %v, want %v", what, i, got[i], want[i])
		case w.prevKV && !samePrev(got[i].Prev, want[i].Prev):
			fail("event %v: prev_kv %v, want %v", got[i], fmtPrev(got[i].Prev), fmtPrev(want[i].Prev))
		case !w.prevKV && got[i].Prev != nil:
			fail("event %v carries a prev_kv nobody asked for", got[i])
		default:
			sum.WatchEventsChecked++
			continue
		}
		break
	}
	return v
}

func (w *watcher) reachedLocked() int64 { return max(w.mu.lastRev, w.mu.progRev) }

func samePrev(a, b *KeyValue) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func fmtPrev(p *KeyValue) string {
	if p == nil {
		return "none"
	}
	return p.String()
}

// checkChain checks that a round starts where the previous one ended: its
// first state is the previous round's last, less the keys of the leases
// the harness revoked in between.
func checkChain(prev *StoreHistory, from int64, init []KeyValue) []string {
	if prev == nil {
		return nil
	}
	end, _ := prev.At(prev.To)
	var want []KeyValue
	for _, kv := range end {
		if kv.Lease == 0 {
			want = append(want, kv)
		}
	}
	if from < prev.To {
		return []string{fmt.Sprintf("the store went back from revision %d to %d between rounds", prev.To, from)}
	}
	if !slices.Equal(init, want) {
		return []string{fmt.Sprintf("between rounds the key set changed from %v (at revision %d, less leased keys) to %v (at revision %d)", want, prev.To, init, from)}
	}
	return nil
}
