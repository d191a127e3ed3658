package watch

import "bytes"

// bounds is a watched key interval with etcd's rules already applied.
type bounds struct {
	key  []byte
	end  []byte // exclusive; nil with kind fromKey or single
	kind boundsKind
}

type boundsKind uint8

const (
	boundsSingle  boundsKind = iota // just key
	boundsRange                     // [key, end)
	boundsFromKey                   // every key >= key
)

// makeBounds applies etcd's watch rules: an empty key means "\x00", an
// empty range_end the single key, "\x00" every key >= key. ok is false for
// an empty interval (range_end <= key), which etcd refuses.
func makeBounds(key, end []byte) (b bounds, ok bool) {
	if len(key) == 0 {
		key = []byte{0}
	}
	switch {
	case len(end) == 0:
		return bounds{key: key, kind: boundsSingle}, true
	case len(end) == 1 && end[0] == 0:
		return bounds{key: key, kind: boundsFromKey}, true
	case bytes.Compare(key, end) >= 0:
		return bounds{}, false
	default:
		return bounds{key: key, end: end, kind: boundsRange}, true
	}
}

func (b *bounds) contains(k []byte) bool {
	switch b.kind {
	case boundsSingle:
		return bytes.Equal(k, b.key)
	case boundsFromKey:
		return bytes.Compare(k, b.key) >= 0
	default:
		return bytes.Compare(k, b.key) >= 0 && bytes.Compare(k, b.end) < 0
	}
}

// isPrefix reports whether b is exactly the keys starting with b.key, the
// interval clientv3.WithPrefix asks for.
func (b *bounds) isPrefix() bool {
	return b.kind == boundsRange && bytes.Equal(b.end, prefixEnd(b.key))
}

// prefixEnd is the end of the interval of keys starting with p, as etcd
// computes it: p with its last byte below 0xff incremented and the rest
// cut; nil when there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// span is a key interval covering a set of watchers' bounds, in the form
// Reader.Events takes.
type span struct {
	key    []byte
	end    []byte // exclusive; nil: unbounded (unless single)
	single bool   // just key
	set    bool
}

// add widens s to cover b.
func (s *span) add(b *bounds) {
	if !s.set {
		*s = span{key: b.key, end: b.end, single: b.kind == boundsSingle, set: true}
		return
	}
	if s.single && b.kind == boundsSingle && bytes.Equal(b.key, s.key) {
		return
	}
	sEnd, sOpen := s.upper()
	bEnd, bOpen := (&span{key: b.key, end: b.end, single: b.kind == boundsSingle}).upper()
	if bytes.Compare(b.key, s.key) < 0 {
		s.key = b.key
	}
	s.single = false
	switch {
	case sOpen || bOpen:
		s.end = nil
	case bytes.Compare(bEnd, sEnd) > 0:
		s.end = bEnd
	default:
		s.end = sEnd
	}
}

// upper is s's exclusive end; open when unbounded.
func (s *span) upper() (end []byte, open bool) {
	if s.single {
		return append(append([]byte(nil), s.key...), 0), false
	}
	return s.end, s.end == nil
}

// rangeEnd returns s's end as Events takes it: empty for a single key,
// "\x00" for unbounded.
func (s *span) rangeEnd() []byte {
	switch {
	case s.single:
		return nil
	case s.end == nil:
		return []byte{0}
	default:
		return s.end
	}
}
