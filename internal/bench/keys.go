package bench

import (
	"encoding/binary"
	"math/rand/v2"
)

// Keys maps a key index in [0, KeySpace) to its key: the index in decimal,
// zero-padded on the left to KeySize bytes ("00000042" for 42 with 8-byte
// keys). Keys sort in index order, and a key read back names its index.
type Keys struct {
	size  int
	space int
	first int
	seq   bool
}

// NewKeys returns the key generator of a validated config.
func NewKeys(c *Config) *Keys {
	return &Keys{size: c.KeySize, space: c.KeySpace, first: c.FirstKey, seq: c.SeqKeys}
}

// Space is the number of distinct keys.
func (k *Keys) Space() int { return k.space }

// Index returns the key index for request number seq: (first + seq) %
// space with sequential keys, otherwise drawn from rng.
func (k *Keys) Index(seq int64, rng *rand.Rand) int {
	if k.seq {
		return int((int64(k.first) + seq) % int64(k.space))
	}
	return rng.IntN(k.space)
}

// Key returns the key of index i.
func (k *Keys) Key(i int) string {
	b := make([]byte, k.size)
	for j := len(b) - 1; j >= 0; j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
	return string(b)
}

// Value returns a printable value of n bytes.
func Value(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[i%len(alphabet)]
	}
	return string(b)
}

// randomPoolMin is the smallest random buffer values are cut from: large
// enough that two values in one storage block are unlikely to overlap.
const randomPoolMin = 64 << 20

// Values hands out the values writes store: the same printable value, or
// with random set, n-byte slices at random offsets of a random buffer
// (incompressible, and distinct from request to request).
type Values struct {
	fixed string
	pool  string // random bytes, len >= randomPoolMin + n; empty if fixed
	n     int
}

// NewValues returns the values of n bytes, random or fixed.
func NewValues(n int, random bool) *Values {
	v := &Values{fixed: Value(n), n: n}
	if random {
		b := make([]byte, randomPoolMin+n)
		r := rand.New(rand.NewChaCha8([32]byte{'c', 'a', 'i', 'r', 'n'}))
		for i := 0; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], r.Uint64())
		}
		v.pool = string(b)
	}
	return v
}

// Next returns a value for one write; rng picks the slice of the random
// buffer (unused for fixed values).
func (v *Values) Next(rng *rand.Rand) string {
	if v.pool == "" {
		return v.fixed
	}
	off := rng.IntN(len(v.pool) - v.n + 1)
	return v.pool[off : off+v.n]
}
