package ctl

import (
	"strings"
	"testing"
)

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	err := WriteTable(&b, []string{"endpoint", "hash", "hash_revision"}, [][]string{
		{"127.0.0.1:23790", "1798489776", "12"},
		{"http://127.0.0.1:23790", "1798489776", "12"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Layout of etcdctl (tablewriter): centred upper-case headers with the
	// odd space on the right, right-aligned cells.
	want := `+------------------------+------------+---------------+
|        ENDPOINT        |    HASH    | HASH REVISION |
+------------------------+------------+---------------+
|        127.0.0.1:23790 | 1798489776 |            12 |
| http://127.0.0.1:23790 | 1798489776 |            12 |
+------------------------+------------+---------------+
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteTableOddPadding(t *testing.T) {
	var b strings.Builder
	WriteTable(&b, []string{"endpoint"}, [][]string{{"127.0.0.1:23790"}})
	want := "+-----------------+\n|    ENDPOINT     |\n+-----------------+\n| 127.0.0.1:23790 |\n+-----------------+\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestWriteTableNoRows(t *testing.T) {
	var b strings.Builder
	WriteTable(&b, []string{"a"}, nil)
	want := "+---+\n| A |\n+---+\n+---+\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestWriteTableWrapsLongCells(t *testing.T) {
	var b strings.Builder
	long := "etcdserver: no leader, ALARM NOSPACE, ALARM CORRUPT"
	WriteTable(&b, []string{"errors"}, [][]string{{long}})
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for _, l := range lines {
		if len(l) > 30+4 {
			t.Errorf("line wider than the wrap width: %q", l)
		}
	}
	var words []string
	for _, l := range lines[3 : len(lines)-1] {
		words = append(words, strings.Fields(strings.Trim(l, "| "))...)
	}
	if got := strings.Join(words, " "); got != long {
		t.Errorf("wrapped text %q, want %q", got, long)
	}
}

func TestEvenBreaks(t *testing.T) {
	// Greedy filling would give "aaa bb" / "cc" / "dddd"; the even layout
	// balances the first two lines.
	got := evenBreaks(strings.Fields("aaa bb cc dddd"), 6)
	var lines []string
	for _, ws := range got {
		lines = append(lines, strings.Join(ws, " "))
	}
	if strings.Join(lines, "|") != "aaa|bb cc|dddd" && strings.Join(lines, "|") != "aaa bb|cc|dddd" {
		t.Errorf("breaks %q", lines)
	}
	for _, l := range lines {
		if len(l) > 6 {
			t.Errorf("line %q longer than 6", l)
		}
	}
}

func TestBytes(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want string
	}{
		{0, "0 B"}, {9, "9 B"}, {10, "10 B"}, {999, "999 B"}, {1000, "1.0 kB"}, {2979, "3.0 kB"},
		{24576, "25 kB"}, {98304, "98 kB"}, {2147483648, "2.1 GB"}, {8589934592, "8.6 GB"},
	} {
		if got := Bytes(c.n); got != c.want {
			t.Errorf("Bytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestHeaderTitle(t *testing.T) {
	for in, want := range map[string]string{
		"hash_revision": "HASH REVISION", "Peer Addrs": "PEER ADDRS", "db.size": "DB SIZE", "v3.6": "V3.6", "": "", "_": " ",
	} {
		if got := headerTitle(in); got != want {
			t.Errorf("headerTitle(%q) = %q, want %q", in, got, want)
		}
	}
}
