package ctl

import (
	"errors"
	"reflect"
	"testing"
)

func TestArgify(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`put /config/api/lock "acquired"`, []string{"put", "/config/api/lock", "acquired"}},
		{`put k "a b\nc"`, []string{"put", "k", "a b\nc"}},
		{`put k 'single quoted "x"'`, []string{"put", "k", `single quoted "x"`}},
		{`get --prefix="a b" --limit=2`, []string{"get", "--prefix=a b", "--limit=2"}},
		{"  get\tk  ", []string{"get", "k"}},
		{`put k a\nb`, []string{"put", "k", `a\nb`}},
		{`put k ""`, []string{"put", "k", ""}},
		{`put "k\x00" v`, []string{"put", "k\x00", "v"}},
		{``, nil},
	} {
		got, err := Argify(c.in)
		if err != nil {
			t.Errorf("Argify(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Argify(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, in := range []string{`put k "open`, `put k 'open`} {
		if _, err := Argify(in); !errors.Is(err, ErrUnterminatedQuote) {
			t.Errorf("Argify(%q) error %v, want unterminated quote", in, err)
		}
	}
}
