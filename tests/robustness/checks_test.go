package robustness

import (
	"strings"
	"testing"
)

// The checks must catch what they claim to catch: each case feeds a
// watcher's recorded responses (or reads, or writes) that break one
// guarantee, and expects a violation naming it.

func testHistory(t *testing.T) *StoreHistory {
	t.Helper()
	a1 := KeyValue{Key: "rb/k0", Value: "1", CreateRev: 11, ModRev: 11, Version: 1}
	b1 := KeyValue{Key: "rb/k1", Value: "2", CreateRev: 12, ModRev: 12, Version: 1}
	a2 := KeyValue{Key: "rb/k0", Value: "3", CreateRev: 11, ModRev: 13, Version: 2}
	h, err := NewStoreHistory(10, [][]KeyValue{
		{},
		{a1},
		{a1, b1},
		{a2, b1},
		{a2},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func put(kv KeyValue) Event { return Event{Rev: kv.ModRev, KV: kv} }

func testWatcher(resps ...watchResp) *watcher {
	w := &watcher{key: keyPrefix, end: keyEnd, start: 11}
	w.mu.effStart = 11
	w.mu.segs = []segment{{member: "m0", start: 11}, {member: "m1"}}
	w.mu.resps = resps
	for _, r := range resps {
		if len(r.events) > 0 {
			w.mu.lastRev = max(w.mu.lastRev, r.events[len(r.events)-1].Rev)
		}
		if r.progress() {
			w.mu.progRev = max(w.mu.progRev, r.headerRev)
		}
	}
	return w
}

func TestCheckWatcher(t *testing.T) {
	h := testHistory(t)
	ev := func(rev int64) Event { e := h.EventsAt(rev)[0]; e.Prev = nil; return e }
	created := watchResp{created: true, headerRev: 10}
	resp := func(seg int, hdr int64, evs ...Event) watchResp {
		return watchResp{seg: seg, headerRev: hdr, events: evs}
	}
	progress := func(seg int, rev int64) watchResp { return watchResp{seg: seg, headerRev: rev} }
	for _, c := range []struct {
		name  string
		w     *watcher
		wants string // "" means no violation
	}{
		{"complete", testWatcher(created, resp(0, 11, ev(11)), resp(0, 12, ev(12)), progress(0, 12), resp(0, 14, ev(13), ev(14))), ""},
		{"complete across a resume", testWatcher(created, resp(0, 12, ev(11), ev(12)), created, resp(1, 14, ev(13)), resp(1, 14, ev(14))), ""},
		{"gap", testWatcher(created, resp(0, 11, ev(11)), resp(0, 14, ev(13), ev(14))), "gap"},
		{"duplicate after resume", testWatcher(created, resp(0, 12, ev(11), ev(12)), created, resp(1, 14, ev(12), ev(13), ev(14))), "duplicate or out of order"},
		{"wrong value", testWatcher(created, resp(0, 14, ev(11), ev(12), put(KeyValue{Key: "rb/k0", Value: "x", CreateRev: 11, ModRev: 13, Version: 2}), ev(14))), "wrong event"},
		{"progress ahead of events", testWatcher(created, resp(0, 11, ev(11)), progress(0, 13), resp(0, 14, ev(12), ev(13), ev(14))), "progress notification at revision 13"},
		{"revision split", testWatcher(created, resp(0, 12, ev(11), ev(12)), resp(0, 13, ev(13)), resp(0, 14, ev(13)), resp(0, 14, ev(14))), "split"},
		{"header below events", testWatcher(created, resp(0, 11, ev(11), ev(12), ev(13), ev(14))), "header revision 11 below"},
		{"stopped early", testWatcher(created, resp(0, 12, ev(11), ev(12))), "stopped at revision 12"},
		{"unrequested prev_kv", testWatcher(created, resp(0, 14, ev(11), ev(12), ev(13), Event{Rev: 14, Delete: true, KV: KeyValue{Key: "rb/k1", ModRev: 14}, Prev: &KeyValue{Key: "rb/k1"}})), "prev_kv nobody asked for"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := checkWatcher(c.w, h, 14, &Summary{})
			switch {
			case c.wants == "" && len(v) > 0:
				t.Errorf("unexpected violations: %v", v)
			case c.wants != "" && (len(v) == 0 || !strings.Contains(strings.Join(v, "\n"), c.wants)):
				t.Errorf("violations %v, want one about %q", v, c.wants)
			}
		})
	}
}

func TestCheckWatcherPrevKV(t *testing.T) {
	h := testHistory(t)
	w := testWatcher(watchResp{created: true}, watchResp{headerRev: 14, events: h.EventsIn(11, 14, keyPrefix, keyEnd)})
	w.prevKV = true
	if v := checkWatcher(w, h, 14, &Summary{}); len(v) > 0 {
		t.Errorf("right prev_kv: %v", v)
	}
	evs := append([]Event(nil), h.EventsIn(11, 14, keyPrefix, keyEnd)...)
	evs[2].Prev = &KeyValue{Key: "rb/k0", Value: "stale"}
	w = testWatcher(watchResp{created: true}, watchResp{headerRev: 14, events: evs})
	w.prevKV = true
	if v := checkWatcher(w, h, 14, &Summary{}); len(v) == 0 || !strings.Contains(v[0], "prev_kv") {
		t.Errorf("wrong prev_kv: %v", v)
	}
}

func TestCheckSerializable(t *testing.T) {
	h := testHistory(t)
	at := func(rev int64) []KeyValue { kvs, _ := h.At(rev); return kvs }
	read := func(call, ret, rev int64, kvs []KeyValue) Op {
		return Op{Member: 1, In: Input{Kind: OpSerialGet}, Out: Output{Rev: rev, KVs: kvs}, Call: call, Return: ret}
	}
	if v := checkSerializable([]Op{read(0, 1, 12, at(12)), read(2, 3, 12, at(12)), read(2, 5, 14, at(14)), read(4, 6, 13, at(13))}, h, &Summary{}); len(v) > 0 {
		t.Errorf("monotonic reads: %v", v)
	}
	if v := checkSerializable([]Op{read(0, 1, 13, at(13)), read(2, 3, 12, at(12))}, h, &Summary{}); len(v) != 1 || !strings.Contains(v[0], "backwards") {
		t.Errorf("backwards reads: %v", v)
	}
	if v := checkSerializable([]Op{read(0, 1, 13, at(12))}, h, &Summary{}); len(v) != 1 || !strings.Contains(v[0], "does not match") {
		t.Errorf("wrong content: %v", v)
	}
}

func TestCheckAcknowledged(t *testing.T) {
	h := testHistory(t)
	ok := []Op{
		{In: Input{Kind: OpPut, Key: "rb/k0", Value: "1"}, Out: Output{Rev: 11}},
		{In: Input{Kind: OpTxn, Key: "rb/k0", Value: "3"}, Out: Output{Rev: 13, Succeeded: true}},
		{In: Input{Kind: OpDelete, Key: "rb/k1"}, Out: Output{Rev: 14, Deleted: 1}},
	}
	if v := checkAcknowledged(ok, h, &Summary{}); len(v) > 0 {
		t.Errorf("acknowledged writes in the history: %v", v)
	}
	lost := []Op{{In: Input{Kind: OpPut, Key: "rb/k1", Value: "9"}, Out: Output{Rev: 12}}}
	if v := checkAcknowledged(lost, h, &Summary{}); len(v) != 1 || !strings.Contains(v[0], "lost") {
		t.Errorf("lost write: %v", v)
	}
}

func TestStoreHistoryRejectsForeignRevision(t *testing.T) {
	a := KeyValue{Key: "rb/k0", Value: "1", CreateRev: 11, ModRev: 11, Version: 1}
	if _, err := NewStoreHistory(10, [][]KeyValue{{}, {a}, {a}}); err == nil {
		t.Error("a revision that changed nothing in the key set was accepted")
	}
}
