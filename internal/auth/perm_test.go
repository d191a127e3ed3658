package auth

import "testing"

func TestCovered(t *testing.T) {
	sp := func(k, e string) span { return toSpan([]byte(k), []byte(e)) }
	cases := []struct {
		name string
		have []span
		want span
		ok   bool
	}{
		{"single key exact", []span{sp("a", "")}, sp("a", ""), true},
		{"single key other", []span{sp("a", "")}, sp("b", ""), false},
		{"prefix covers key", []span{sp("a", "b")}, sp("a/x", ""), true},
		{"range inside", []span{sp("a", "z")}, sp("b", "c"), true},
		{"range past end", []span{sp("a", "c")}, sp("b", "d"), false},
		{"two spans join", []span{sp("c", "e"), sp("a", "c")}, sp("b", "d"), true},
		{"gap", []span{sp("a", "b"), sp("c", "d")}, sp("a", "d"), false},
		{"from key", []span{sp("m", "\x00")}, sp("x", "\x00"), true},
		{"from key request, bounded perm", []span{sp("m", "z")}, sp("x", "\x00"), false},
		{"all keys", []span{sp("\x00", "\x00")}, sp("anything", ""), true},
		{"none", nil, sp("a", ""), false},
	}
	for _, c := range cases {
		if got := covered(c.have, c.want); got != c.ok {
			t.Errorf("%s: covered = %v, want %v", c.name, got, c.ok)
		}
	}
}
