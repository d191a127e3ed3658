package bench

import (
	"math/rand/v2"
	"testing"
)

func TestKeys(t *testing.T) {
	c := Default()
	c.KeySize, c.KeySpace, c.SeqKeys = 8, 1000, true
	k := NewKeys(&c)
	for _, tc := range []struct {
		i    int
		want string
	}{{0, "00000000"}, {42, "00000042"}, {999, "00000999"}} {
		if got := k.Key(tc.i); got != tc.want {
			t.Errorf("Key(%d) = %q, want %q", tc.i, got, tc.want)
		}
	}
	for seq, want := range map[int64]int{0: 0, 1: 1, 999: 999, 1000: 0, 2500: 500} {
		if got := k.Index(seq, nil); got != want {
			t.Errorf("sequential Index(%d) = %d, want %d", seq, got, want)
		}
	}

	c.SeqKeys, c.KeySpace = false, 10
	k = NewKeys(&c)
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[int]bool{}
	for seq := range int64(1000) {
		i := k.Index(seq, rng)
		if i < 0 || i >= 10 {
			t.Fatalf("random Index = %d, want in [0, 10)", i)
		}
		seen[i] = true
	}
	if len(seen) != 10 {
		t.Errorf("1000 random indexes hit %d of 10 keys", len(seen))
	}
}

func TestValue(t *testing.T) {
	for _, n := range []int{0, 1, 256, 4096} {
		if got := len(Value(n)); got != n {
			t.Errorf("len(Value(%d)) = %d", n, got)
		}
	}
}
