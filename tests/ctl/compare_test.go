package ctl

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Structured comparisons for the outputs whose columns or fields grew
// between etcdctl 3.4 and 3.6 (endpoint status, endpoint hashkv): the
// columns 3.4 prints must be printed by cairnctl with the same values.

// table is a parsed -w table output.
type table struct {
	hdr  []string
	rows [][]string
}

// parseTable reads an etcdctl table, and checks that it is well formed:
// every line as wide as the borders, column separators under the border's
// corners.
func parseTable(t *testing.T, s string) table {
	t.Helper()
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "+") {
		t.Fatalf("not a table:\n%s", s)
	}
	border := lines[0]
	var tb table
	for _, l := range lines {
		if utf8.RuneCountInString(l) != utf8.RuneCountInString(border) {
			t.Errorf("table line %q is not as wide as the border %q", l, border)
		}
		if strings.HasPrefix(l, "+") {
			if l != border {
				t.Errorf("border %q differs from %q", l, border)
			}
			continue
		}
		for i, r := range []rune(l) {
			if (r == '|') != ([]rune(border)[i] == '+') {
				t.Errorf("separators of %q do not line up with %q", l, border)
				break
			}
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if tb.hdr == nil {
			tb.hdr = cells
		} else {
			tb.rows = append(tb.rows, cells)
		}
	}
	return tb
}

// column returns the values of the column named name (upper-case header).
func (tb table) column(name string) ([]string, bool) {
	for i, h := range tb.hdr {
		if h == name {
			var out []string
			for _, r := range tb.rows {
				out = append(out, r[i])
			}
			return out, true
		}
	}
	return nil, false
}

// simpleRows parses the simple format of a table command, given its
// column names.
func simpleRows(s string, hdr []string) table {
	tb := table{hdr: hdr}
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if l != "" {
			tb.rows = append(tb.rows, strings.SplitN(l, ", ", len(hdr)))
		}
	}
	return tb
}

var (
	status34 = []string{"ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"}
	status36 = []string{"ENDPOINT", "ID", "VERSION", "STORAGE VERSION", "DB SIZE", "IN USE", "PERCENTAGE NOT IN USE", "QUOTA", "IS LEADER",
		"IS LEARNER", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS", "DOWNGRADE TARGET VERSION", "DOWNGRADE ENABLED"}
	// statusVolatile change between two runs of the same script: sizes of
	// the storage files, and the raft indexes (time-driven entries such as
	// lease checkpoints).
	statusVolatile = []string{"DB SIZE", "IN USE", "PERCENTAGE NOT IN USE", "RAFT INDEX", "RAFT APPLIED INDEX",
		"dbSize", "dbSizeInUse", "raftIndex", "raftAppliedIndex", "DBSize", "DBSizeInUse", "RaftIndex", "RaftAppliedIndex"}
)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sameColumns checks that got has every column of want with the same
// values, volatile columns aside.
func sameColumns(t *testing.T, want, got table, volatile []string) {
	t.Helper()
	if len(want.rows) != len(got.rows) {
		t.Fatalf("%d rows, want %d:\nwant %q\ngot %q", len(got.rows), len(want.rows), want.rows, got.rows)
	}
	for _, h := range want.hdr {
		if contains(volatile, h) {
			continue
		}
		w, _ := want.column(h)
		g, ok := got.column(h)
		if !ok {
			t.Errorf("column %s missing; columns %q", h, got.hdr)
			continue
		}
		if !reflect.DeepEqual(w, g) {
			t.Errorf("column %s = %q, want %q", h, g, w)
		}
	}
}

func sameExit(t *testing.T, want, got result) {
	t.Helper()
	if want.code != got.code || want.stderr != got.stderr {
		t.Errorf("exit %d stderr %q, want exit %d stderr %q", got.code, got.stderr, want.code, want.stderr)
	}
}

// statusCompare compares endpoint status in the simple or table format:
// 3.6 added storage version, in use, percentage not in use, quota and the
// downgrade columns.
func statusCompare(t *testing.T, want, got result) {
	sameExit(t, want, got)
	var w, g table
	if strings.HasPrefix(want.stdout, "+") {
		w, g = parseTable(t, want.stdout), parseTable(t, got.stdout)
		if !reflect.DeepEqual(g.hdr, status36) {
			t.Errorf("header %q, want %q", g.hdr, status36)
		}
	} else {
		w, g = simpleRows(want.stdout, status34), simpleRows(got.stdout, status36)
	}
	sameColumns(t, w, g, statusVolatile)
	for _, c := range []struct{ col, want string }{{"STORAGE VERSION", "3.6.0"}, {"DOWNGRADE ENABLED", "false"}} {
		if v, _ := g.column(c.col); len(v) == 0 || v[0] != c.want {
			t.Errorf("%s = %q, want %q", c.col, v, c.want)
		}
	}
}

// hashKVCompare compares endpoint hashkv: 3.6 added the hash revision.
func hashKVCompare(t *testing.T, want, got result) {
	sameExit(t, want, got)
	var w, g table
	if strings.HasPrefix(want.stdout, "+") {
		w, g = parseTable(t, want.stdout), parseTable(t, got.stdout)
	} else {
		w = simpleRows(want.stdout, []string{"ENDPOINT", "HASH"})
		g = simpleRows(got.stdout, []string{"ENDPOINT", "HASH", "HASH REVISION"})
	}
	sameColumns(t, w, g, nil)
	if v, ok := g.column("HASH REVISION"); got.code == 0 && (!ok || len(v) == 0 || v[0] == "") {
		t.Errorf("no hash revision: %q", got.stdout)
	}
}

// tableCells compares two tables cell by cell, volatile columns aside.
func tableCells(volatile []string) func(t *testing.T, want, got result) {
	return func(t *testing.T, want, got result) {
		sameExit(t, want, got)
		w, g := parseTable(t, want.stdout), parseTable(t, got.stdout)
		if !reflect.DeepEqual(w.hdr, g.hdr) {
			t.Errorf("header %q, want %q", g.hdr, w.hdr)
		}
		sameColumns(t, w, g, volatile)
	}
}

// jsonSubset checks that every value etcdctl 3.4 printed is in cairnctl's
// JSON (3.6's API has more fields), volatile keys aside.
func jsonSubset(volatile []string) func(t *testing.T, want, got result) {
	return func(t *testing.T, want, got result) {
		sameExit(t, want, got)
		var w, g any
		if err := json.Unmarshal([]byte(want.stdout), &w); err != nil {
			t.Fatalf("etcdctl json %q: %v", want.stdout, err)
		}
		if err := json.Unmarshal([]byte(got.stdout), &g); err != nil {
			t.Fatalf("cairnctl json %q: %v", got.stdout, err)
		}
		if err := subset(w, g, volatile, "$"); err != nil {
			t.Errorf("%v\netcdctl:  %s\ncairnctl: %s", err, want.stdout, got.stdout)
		}
	}
}

func subset(w, g any, volatile []string, path string) error {
	switch wv := w.(type) {
	case map[string]any:
		gv, ok := g.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %v, want an object", path, g)
		}
		for k, v := range wv {
			if contains(volatile, k) {
				continue
			}
			if err := subset(v, gv[k], volatile, path+"."+k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		gv, ok := g.([]any)
		if !ok || len(gv) != len(wv) {
			return fmt.Errorf("%s: %v, want %v", path, g, w)
		}
		for i := range wv {
			if err := subset(wv[i], gv[i], volatile, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if !reflect.DeepEqual(w, g) {
		return fmt.Errorf("%s = %v, want %v", path, g, w)
	}
	return nil
}

// fieldsSubset checks that the "Key" : value lines etcdctl 3.4 printed
// appear in cairnctl's output in the same order (3.6 prints more).
func fieldsSubset(volatile []string) func(t *testing.T, want, got result) {
	return func(t *testing.T, want, got result) {
		sameExit(t, want, got)
		dropZeroRevision(&want)
		filter := func(s string) []string {
			var out []string
			for _, l := range strings.Split(s, "\n") {
				k, _, _ := strings.Cut(l, " : ")
				if !contains(volatile, strings.Trim(k, `"`)) {
					out = append(out, l)
				}
			}
			return out
		}
		w, g := filter(want.stdout), filter(got.stdout)
		j := 0
		for _, l := range w {
			for j < len(g) && g[j] != l {
				j++
			}
			if j == len(g) {
				t.Errorf("line %q of etcdctl missing or out of order\netcdctl:\n%s\ncairnctl:\n%s", l, want.stdout, got.stdout)
				return
			}
			j++
		}
	}
}
