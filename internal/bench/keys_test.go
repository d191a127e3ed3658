package bench

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
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

func TestValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fixed := NewValues(300, false)
	if a, b := fixed.Next(rng), fixed.Next(rng); a != Value(300) || b != a {
		t.Fatalf("fixed values: %q, %q; want Value(300) twice", a, b)
	}
	random := NewValues(300, true)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		v := random.Next(rng)
		if len(v) != 300 {
			t.Fatalf("random value of %d bytes, want 300", len(v))
		}
		seen[v] = true
	}
	if len(seen) < 99 {
		t.Fatalf("100 random values hold only %d distinct ones", len(seen))
	}
	// Incompressible: gzip of 64 KiB of random values stays near 64 KiB.
	var raw bytes.Buffer
	for raw.Len() < 64<<10 {
		raw.WriteString(random.Next(rng))
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	if z.Len() < raw.Len()*99/100 {
		t.Fatalf("random values compress from %d to %d bytes", raw.Len(), z.Len())
	}
}

func TestFirstKey(t *testing.T) {
	c := Default()
	c.KeySpace, c.SeqKeys, c.FirstKey = 10, true, 7
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	k := NewKeys(&c)
	var got []int
	for seq := int64(0); seq < 5; seq++ {
		got = append(got, k.Index(seq, nil))
	}
	if fmt.Sprint(got) != "[7 8 9 0 1]" {
		t.Fatalf("indexes from first key 7 over 10 keys: %v", got)
	}
	for _, bad := range []func(c *Config){
		func(c *Config) { c.FirstKey = 10 },
		func(c *Config) { c.FirstKey = -1 },
		func(c *Config) { c.SeqKeys = false },
	} {
		b := c
		bad(&b)
		if err := b.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("config %+v: %v, want ErrInvalidConfig", b, err)
		}
	}
}
