package mvcc

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

func FuzzKeyEncoding(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""}, {"a", "b"}, {"a", "a\x00"}, {"\x00", "\x00\x00"}, {"a\x00b", "a\x01"},
		{"\xff", "\xff\x00"}, {"a\x00\xff", "a\x00\xfe"}, {"x\x00\x01", "x"},
	} {
		f.Add([]byte(s[0]), []byte(s[1]), int64(1), int64(2))
	}
	f.Fuzz(func(t *testing.T, a, b []byte, ra, rb int64) {
		ea, eb := appendEncodedKey(nil, a), appendEncodedKey(nil, b)
		// Round trip, with trailing bytes left alone.
		got, rest, err := decodeKey(append(append([]byte(nil), ea...), 0xAB))
		if err != nil || !bytes.Equal(got, a) || !bytes.Equal(rest, []byte{0xAB}) {
			t.Fatalf("round trip %q: %q %q %v", a, got, rest, err)
		}
		// Order preserved.
		if c1, c2 := bytes.Compare(a, b), bytes.Compare(ea, eb); c1 != c2 {
			t.Fatalf("order: cmp(%q,%q)=%d but encoded %d", a, b, c1, c2)
		}
		// Versions of one key are contiguous and newest first: any version
		// key of a sorts against any version key of b as a against b.
		if ra < 1 || rb < 1 {
			return
		}
		va, vb := versionKey(a, ra), versionKey(b, rb)
		switch c := bytes.Compare(a, b); {
		case c != 0:
			if bytes.Compare(va, vb) != c {
				t.Fatalf("version keys of %q@%d and %q@%d out of order", a, ra, b, rb)
			}
		case ra != rb:
			if (bytes.Compare(va, vb) < 0) != (ra > rb) {
				t.Fatalf("versions of %q not newest first", a)
			}
		}
		p, r, err := versionKeyParts(va)
		if err != nil || r != ra || !bytes.Equal(p, versionPrefix(a)) {
			t.Fatalf("version key parts: %q %d %v", p, r, err)
		}
		if bytes.Compare(va, afterVersions(versionPrefix(a))) >= 0 {
			t.Fatalf("afterVersions not after %q@%d", a, ra)
		}
		if c := bytes.Compare(a, b); c < 0 && bytes.Compare(afterVersions(versionPrefix(a)), vb) > 0 {
			t.Fatalf("afterVersions(%q) beyond %q", a, b)
		}
	})
}

func TestDecodeKeyRejectsGarbage(t *testing.T) {
	for _, in := range []string{"", "abc", "a\x00", "a\x00\x02", "a\x00\xfe\x00\x01"} {
		if _, _, err := decodeKey([]byte(in)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeKey(%q): %v", in, err)
		}
	}
}

// recordingGetter records the keys read through it.
type recordingGetter struct {
	g    getter
	keys []string
}

func (r *recordingGetter) Get(k []byte) ([]byte, io.Closer, error) {
	r.keys = append(r.keys, string(k))
	return r.g.Get(k)
}

// TestOpenReadsOnlyMeta: opening a store must not scan. loadMeta only has
// a getter (no iterator), and it reads only the meta keys.
func TestOpenReadsOnlyMeta(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 100; i++ {
		e.put(string(rune('a'+i%26)), "v")
	}
	if err := e.compact(50, true); err != nil {
		t.Fatal(err)
	}
	rg := &recordingGetter{g: e.db}
	m, err := loadMeta(rg)
	if err != nil {
		t.Fatal(err)
	}
	if m.rev != 101 || m.compactRev != 50 || m.finished != 50 {
		t.Fatalf("meta %+v", m)
	}
	allowed := map[string]bool{}
	for _, k := range metaKeys {
		allowed[string(k)] = true
	}
	for _, k := range rg.keys {
		if !allowed[k] {
			t.Fatalf("loadMeta read %q, not a meta key", k)
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	e := newEnv(t)
	e.s.Close()
	e.s = nil
	if err := e.db.Set(metaFormat, encodeInt64(99), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStore(e.db, Config{}); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("NewStore on format 99: %v", err)
	}
}
