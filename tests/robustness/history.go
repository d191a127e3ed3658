package robustness

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/anishathalye/porcupine"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// infinity is the return time of an operation whose outcome is unknown.
const infinity = math.MaxInt64

// Op is one client operation as the harness recorded it. Times are
// nanoseconds since the run started, from a monotonic clock.
type Op struct {
	Client int
	Target string // name of the member the request went to
	Member uint64 // member ID in the response header; 0 without a response
	In     Input
	Out    Output
	Err    string // the error the client got, if any
	Call   int64
	Return int64 // infinity when the outcome is unknown
	Note   string
}

func (o Op) String() string {
	ret := "?"
	if o.Return != infinity {
		ret = fmt.Sprintf("%.3fs", float64(o.Return)/1e9)
	}
	s := fmt.Sprintf("client %d via %s [%.3fs, %s]: %s", o.Client, o.Target, float64(o.Call)/1e9, ret, DescribeOp(o.In, o.Out))
	if o.Err != "" {
		s += " (error: " + o.Err + ")"
	}
	if o.Note != "" {
		s += " (" + o.Note + ")"
	}
	return s
}

// Event is one change in the store's history.
type Event struct {
	Rev    int64
	Delete bool
	KV     KeyValue // a delete carries the key and the delete revision only
	Prev   *KeyValue
}

func (e Event) String() string {
	if e.Delete {
		return fmt.Sprintf("DELETE %s@%d", e.KV.Key, e.Rev)
	}
	return "PUT " + e.KV.String()
}

// sameEvent compares events as a watcher must deliver them: type, key
// and every field of the key-value (a delete's key-value holds only the
// key and the delete's revision).
func sameEvent(a, b Event) bool { return a.Rev == b.Rev && a.Delete == b.Delete && a.KV == b.KV }

// StoreHistory is the history of the key set between two revisions, read
// from the store itself by Range at every revision (the MVCC read path,
// independent of watch). States[i] is the key set at revision From+i.
type StoreHistory struct {
	From, To int64
	States   [][]KeyValue
	Events   []Event // every change in (From, To], in revision then key order
	byRev    map[int64][2]int
}

// NewStoreHistory derives the events from the states at consecutive
// revisions from..from+len(states)-1.
func NewStoreHistory(from int64, states [][]KeyValue) (*StoreHistory, error) {
	h := &StoreHistory{From: from, To: from + int64(len(states)) - 1, States: states, byRev: map[int64][2]int{}}
	for i := 1; i < len(states); i++ {
		rev := from + int64(i)
		prev, cur := toMap(states[i-1]), toMap(states[i])
		keys := map[string]bool{}
		for k := range prev {
			keys[k] = true
		}
		for k := range cur {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		first := len(h.Events)
		for _, k := range sorted {
			p, hadP := prev[k]
			c, hasC := cur[k]
			var pp *KeyValue
			if hadP {
				pp = &p
			}
			switch {
			case hasC && c.ModRev == rev:
				h.Events = append(h.Events, Event{Rev: rev, KV: c, Prev: pp})
			case hasC && (!hadP || c != p):
				return nil, fmt.Errorf("key %s changed at revision %d without a new mod revision: %v, then %v", k, rev, p, c)
			case !hasC && hadP:
				h.Events = append(h.Events, Event{Rev: rev, Delete: true, KV: KeyValue{Key: k, ModRev: rev}, Prev: pp})
			}
		}
		if len(h.Events) == first {
			return nil, fmt.Errorf("revision %d changed nothing in the key set (a write outside the workload?)", rev)
		}
		h.byRev[rev] = [2]int{first, len(h.Events)}
	}
	return h, nil
}

func toMap(kvs []KeyValue) map[string]KeyValue {
	m := make(map[string]KeyValue, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv
	}
	return m
}

// At returns the key set at rev, which must be within [From, To].
func (h *StoreHistory) At(rev int64) ([]KeyValue, bool) {
	if rev < h.From || rev > h.To {
		return nil, false
	}
	return h.States[rev-h.From], true
}

// EventsAt returns the events of one revision.
func (h *StoreHistory) EventsAt(rev int64) []Event {
	r, ok := h.byRev[rev]
	if !ok {
		return nil
	}
	return h.Events[r[0]:r[1]]
}

// EventsIn returns the events with revisions in [from, to] on keys in
// [key, end).
func (h *StoreHistory) EventsIn(from, to int64, key, end string) []Event {
	var out []Event
	i := sort.Search(len(h.Events), func(i int) bool { return h.Events[i].Rev >= from })
	for ; i < len(h.Events) && h.Events[i].Rev <= to; i++ {
		if inRange(h.Events[i].KV.Key, key, end) {
			out = append(out, h.Events[i])
		}
	}
	return out
}

func inRange(k, key, end string) bool {
	if end == "" {
		return k == key
	}
	return k >= key && k < end
}

// eventFromPB converts a watch event.
func eventFromPB(ev *mvccpb.Event) Event {
	e := Event{Delete: ev.Type == mvccpb.DELETE, KV: kvFromPB(ev.Kv), Rev: ev.Kv.ModRevision}
	if ev.PrevKv != nil {
		p := kvFromPB(ev.PrevKv)
		e.Prev = &p
	}
	return e
}

func kvFromPB(kv *mvccpb.KeyValue) KeyValue {
	if kv == nil {
		return KeyValue{}
	}
	return KeyValue{Key: string(kv.Key), Value: string(kv.Value), CreateRev: kv.CreateRevision, ModRev: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
}

func kvsFromPB(kvs []*mvccpb.KeyValue) []KeyValue {
	out := make([]KeyValue, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, kvFromPB(kv))
	}
	return out
}

// patchResult counts what patching did to the history.
type patchResult struct {
	resolved, dropped, unknown int
}

// PatchHistory prepares a round's client operations for porcupine, using
// the store's history to settle the outcome of operations the client does
// not know. Porcupine copes with a few operations of unknown outcome (it
// gives them an infinite return time, which lets them take effect at any
// point after their call, or never); many make its search exponential, so
// every one the history settles is settled:
//
//   - a read (linearizable or not) with an error is dropped: it changed
//     nothing and told nothing;
//   - a put or compare-and-swap whose value (unique in the run) is in the
//     history happened at that revision: it gets that output, and a return
//     time no later than the first operation that returned having seen
//     that revision, which proves the write was committed by then;
//   - one whose value is not there never took effect (a failed compare
//     changes nothing), and the round ends quiescent, so it never will:
//     dropped;
//   - a revoke of a lease that exists at the end did not happen: dropped;
//     one whose lease's keys were deleted together, alone, at a revision
//     above the highest one seen before its call, happened there if that
//     revision is the only one; one with no such revision deleted nothing
//     and changed only the lease set, which no other operation looks at (a
//     client uses only leases it was told it was granted, and forgets a
//     lease when it revokes it): dropped;
//   - a grant of unknown outcome is never used by any client: dropped;
//   - a delete is matched with the history's deletes of its key that no
//     acknowledged or settled operation explains, at revisions above the
//     highest one seen before its call: matched alone, it happened there;
//     with no such delete it changed nothing: dropped; otherwise it stays
//     unknown.
//
// Dropping an operation no other operation can observe changes nothing to
// whether the rest is linearizable. Serializable reads are returned
// separately: they are not linearizable by contract and are checked
// against the history instead.
func PatchHistory(ops []Op, h *StoreHistory, leasesAtEnd map[int64]bool) (lin, serial []Op, pr patchResult) {
	// putAt maps a written value to the revision it was written at.
	putAt := map[string]int64{}
	for _, e := range h.Events {
		if !e.Delete {
			putAt[e.KV.Value] = e.Rev
		}
	}
	// seens, sorted by return time, with the highest revision seen by any
	// operation that returned by then.
	type seen struct{ ret, rev int64 }
	var seens []seen
	for _, o := range ops {
		if o.Return != infinity && !o.Out.Unknown && !o.Out.LeaseNotFound {
			seens = append(seens, seen{o.Return, o.Out.Rev})
		}
	}
	sort.Slice(seens, func(i, j int) bool { return seens[i].ret < seens[j].ret })
	maxRev := make([]int64, len(seens))
	for i, s := range seens {
		maxRev[i] = s.rev
		if i > 0 && maxRev[i-1] > s.rev {
			maxRev[i] = maxRev[i-1]
		}
	}
	// firstReturnSeeing returns the earliest return time of an op that saw
	// revision rev or later.
	firstReturnSeeing := func(rev int64) int64 {
		i := sort.Search(len(maxRev), func(i int) bool { return maxRev[i] >= rev })
		if i == len(maxRev) {
			return infinity
		}
		return seens[i].ret
	}
	// revSeenBefore returns the highest revision seen by an op that
	// returned before t.
	revSeenBefore := func(t int64) int64 {
		i := sort.Search(len(seens), func(i int) bool { return seens[i].ret >= t })
		if i == 0 {
			return h.From
		}
		return max(maxRev[i-1], h.From)
	}
	settle := func(o *Op, out Output, rev int64) {
		o.Out = out
		o.Return = max(firstReturnSeeing(rev), o.Call)
		o.Note = fmt.Sprintf("outcome unknown to the client; found in the history at revision %d", rev)
		pr.resolved++
	}
	var deletes, revokes []*Op // unknown deletes and revokes, settled below
	for _, o := range ops {
		if o.In.Kind == OpSerialGet {
			if !o.Out.Unknown {
				serial = append(serial, o)
			}
			continue
		}
		if !o.Out.Unknown {
			lin = append(lin, o)
			continue
		}
		switch o.In.Kind {
		case OpGet, OpGrant:
			pr.dropped++
			continue
		case OpPut, OpTxn:
			rev, ok := putAt[o.In.Value]
			if !ok {
				pr.dropped++
				continue
			}
			settle(&o, Output{Rev: rev, Succeeded: o.In.Kind == OpTxn}, rev)
		case OpRevoke:
			if leasesAtEnd[o.In.Lease] {
				pr.dropped++
				continue
			}
			o := o
			revokes = append(revokes, &o)
			continue
		case OpDelete:
			o := o
			deletes = append(deletes, &o)
			continue
		}
		lin = append(lin, o)
	}
	// Deletes that acknowledged or settled operations explain.
	type keyRev struct {
		key string
		rev int64
	}
	explained := map[keyRev]bool{}
	for _, o := range lin {
		switch {
		case o.In.Kind == OpDelete && o.Out.Deleted > 0:
			explained[keyRev{o.In.Key, o.Out.Rev}] = true
		case o.In.Kind == OpRevoke && !o.Out.LeaseNotFound:
			for _, e := range h.EventsAt(o.Out.Rev) {
				if e.Delete && e.Prev != nil && e.Prev.Lease == o.In.Lease {
					explained[keyRev{e.KV.Key, e.Rev}] = true
				}
			}
		}
	}
	// A revoke that happened deleted, at one revision after the highest one
	// seen before its call, every key attached to its lease and nothing
	// else. Such a revision, if no acknowledged operation explains it and
	// it is the only one, is where the revoke happened (or where a delete
	// of unknown outcome made the same change, which no client can tell
	// apart: the lease itself is never used again). With none, the revoke
	// deleted nothing: dropped. With several, it stays unknown.
	revokeAt := func(o *Op) []int64 {
		var revs []int64
		for rev := revSeenBefore(o.Call) + 1; rev <= h.To; rev++ {
			evs := h.EventsAt(rev)
			prev, _ := h.At(rev - 1)
			attached := 0
			for _, kv := range prev {
				if kv.Lease == o.In.Lease {
					attached++
				}
			}
			ok := attached > 0 && len(evs) == attached
			for _, e := range evs {
				ok = ok && e.Delete && e.Prev != nil && e.Prev.Lease == o.In.Lease && !explained[keyRev{e.KV.Key, e.Rev}]
			}
			if ok {
				revs = append(revs, rev)
			}
		}
		return revs
	}
	for _, o := range revokes {
		switch revs := revokeAt(o); len(revs) {
		case 0:
			pr.dropped++
		case 1:
			settle(o, Output{Rev: revs[0]}, revs[0])
			for _, e := range h.EventsAt(revs[0]) {
				explained[keyRev{e.KV.Key, e.Rev}] = true
			}
			lin = append(lin, *o)
		default:
			pr.unknown++
			lin = append(lin, *o)
		}
	}
	ambiguous := map[*Op]bool{}
	settled := map[*Op]bool{}
	for _, e := range h.Events {
		if !e.Delete || explained[keyRev{e.KV.Key, e.Rev}] {
			continue
		}
		var cands []*Op
		for _, d := range deletes {
			// A delete makes a revision of its own with one event.
			if !settled[d] && d.In.Key == e.KV.Key && revSeenBefore(d.Call) < e.Rev && len(h.EventsAt(e.Rev)) == 1 {
				cands = append(cands, d)
			}
		}
		if len(cands) == 1 {
			settle(cands[0], Output{Rev: e.Rev, Deleted: 1}, e.Rev)
			settled[cands[0]] = true
			continue
		}
		for _, d := range cands {
			ambiguous[d] = true
		}
	}
	for _, d := range deletes {
		switch {
		case settled[d]:
			lin = append(lin, *d)
		case ambiguous[d]:
			pr.unknown++
			lin = append(lin, *d)
		default:
			pr.dropped++
		}
	}
	return lin, serial, pr
}

// porcupineOps converts operations for the checker.
func porcupineOps(ops []Op) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(ops))
	for _, o := range ops {
		out = append(out, porcupine.Operation{
			ClientId: o.Client,
			Input:    o.In,
			Call:     o.Call,
			Output:   o.Out,
			Return:   o.Return,
			Metadata: opMetadata(o),
		})
	}
	return out
}

func opMetadata(o Op) string {
	s := "via " + o.Target
	if o.Member != 0 {
		s += fmt.Sprintf(" (answered by %x)", o.Member)
	}
	if o.Err != "" {
		s += "; error: " + o.Err
	}
	if o.Note != "" {
		s += "; " + o.Note
	}
	return s
}

// sortedOps returns ops sorted by call time.
func sortedOps(ops []Op) []Op {
	out := slices.Clone(ops)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Call < out[j].Call })
	return out
}
