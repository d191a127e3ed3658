package watch

// index finds the synced watchers of a key. Single-key watchers are found
// by one map lookup, prefix watchers (the common range) by one lookup per
// prefix length of the key, other ranges by a scan. Owned by the hub
// goroutine.
type index struct {
	single map[string]*wset
	prefix map[string]*wset
	// prefixLens counts the prefix watchers by prefix length, so a key is
	// looked up only at lengths some prefix watcher has.
	prefixLens map[int]int
	lens       []int // the keys of prefixLens, ascending
	ranges     wset  // every other interval
	n          int
}

// wset is a set of watchers; each knows its position for O(1) removal.
type wset struct {
	ws  []*watcher
	key string
}

func (s *wset) add(w *watcher) {
	w.set, w.pos = s, len(s.ws)
	s.ws = append(s.ws, w)
}

func (s *wset) remove(w *watcher) {
	last := len(s.ws) - 1
	moved := s.ws[last]
	s.ws[w.pos] = moved
	moved.pos = w.pos
	s.ws[last] = nil
	s.ws = s.ws[:last]
	w.set, w.pos = nil, -1
}

func (x *index) init() {
	x.single = make(map[string]*wset)
	x.prefix = make(map[string]*wset)
	x.prefixLens = make(map[int]int)
}

func (x *index) add(w *watcher) {
	x.n++
	switch {
	case w.b.kind == boundsSingle:
		addTo(x.single, string(w.b.key), w)
	case w.b.isPrefix():
		addTo(x.prefix, string(w.b.key), w)
		l := len(w.b.key)
		if x.prefixLens[l] == 0 {
			x.lens = insertSorted(x.lens, l)
		}
		x.prefixLens[l]++
	default:
		x.ranges.add(w)
	}
}

func addTo(m map[string]*wset, k string, w *watcher) {
	s := m[k]
	if s == nil {
		s = &wset{key: k}
		m[k] = s
	}
	s.add(w)
}

func (x *index) remove(w *watcher) {
	s := w.set
	if s == nil {
		return
	}
	x.n--
	s.remove(w)
	if s == &x.ranges || len(s.ws) > 0 {
		return
	}
	if w.b.kind == boundsSingle {
		delete(x.single, s.key)
		return
	}
	delete(x.prefix, s.key)
	l := len(w.b.key)
	if x.prefixLens[l]--; x.prefixLens[l] == 0 {
		delete(x.prefixLens, l)
		x.lens = removeSorted(x.lens, l)
	}
}

// match calls f for every synced watcher whose interval holds key.
func (x *index) match(key []byte, f func(*watcher)) {
	if s := x.single[string(key)]; s != nil {
		for _, w := range s.ws {
			f(w)
		}
	}
	for _, l := range x.lens {
		if l > len(key) {
			break
		}
		if s := x.prefix[string(key[:l])]; s != nil {
			for _, w := range s.ws {
				f(w)
			}
		}
	}
	for _, w := range x.ranges.ws {
		if w.b.contains(key) {
			f(w)
		}
	}
}

// each calls f for every synced watcher. f must not change the index.
func (x *index) each(f func(*watcher)) {
	for _, s := range x.single {
		for _, w := range s.ws {
			f(w)
		}
	}
	for _, s := range x.prefix {
		for _, w := range s.ws {
			f(w)
		}
	}
	for _, w := range x.ranges.ws {
		f(w)
	}
}

func insertSorted(a []int, v int) []int {
	i := 0
	for i < len(a) && a[i] < v {
		i++
	}
	a = append(a, 0)
	copy(a[i+1:], a[i:])
	a[i] = v
	return a
}

func removeSorted(a []int, v int) []int {
	for i := range a {
		if a[i] == v {
			return append(a[:i], a[i+1:]...)
		}
	}
	return a
}
