package ctl

import (
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// tableWrapWidth is the width above which a cell is wrapped at spaces, as
// the table library behind etcdctl does.
const tableWrapWidth = 30

// WriteTable renders hdr and rows in the layout of etcdctl's -w table:
//
//	+----------+------------+
//	| ENDPOINT |    HASH    |
//	+----------+------------+
//	| 1.2.3.4  | 1084519789 |   <- cells are right-aligned
//	+----------+------------+
//
// Headers are upper-cased (underscores become spaces) and centred, with
// the odd space of padding on the right; cells are right-aligned. A cell
// wider than 30 columns is wrapped at spaces into several lines, breaking
// where the lines come out most even.
func WriteTable(w io.Writer, hdr []string, rows [][]string) error {
	ncol := len(hdr)
	for _, r := range rows {
		ncol = max(ncol, len(r))
	}
	widths := make([]int, ncol)
	wrap := func(cells []string) [][]string {
		out := make([][]string, ncol)
		for i := 0; i < ncol; i++ {
			s := ""
			if i < len(cells) {
				s = cells[i]
			}
			lines := wrapCell(s)
			for _, l := range lines {
				widths[i] = max(widths[i], width(l))
			}
			out[i] = lines
		}
		return out
	}
	hcells := wrap(hdr)
	bodies := make([][][]string, len(rows))
	for i, r := range rows {
		bodies[i] = wrap(r)
	}

	var b strings.Builder
	line := func() {
		b.WriteByte('+')
		for _, wd := range widths {
			b.WriteString(strings.Repeat("-", wd+2))
			b.WriteByte('+')
		}
		b.WriteByte('\n')
	}
	row := func(cells [][]string, header bool) {
		height := 0
		for _, c := range cells {
			height = max(height, len(c))
		}
		for l := 0; l < height; l++ {
			b.WriteByte('|')
			for i, c := range cells {
				s := ""
				if l < len(c) {
					s = c[l]
				}
				b.WriteByte(' ')
				if header {
					b.WriteString(center(headerTitle(s), widths[i]))
				} else {
					b.WriteString(strings.Repeat(" ", widths[i]-width(s)))
					b.WriteString(s)
				}
				b.WriteString(" |")
			}
			b.WriteByte('\n')
		}
	}
	line()
	if len(hdr) > 0 {
		row(hcells, true)
		line()
	}
	for _, body := range bodies {
		row(body, false)
	}
	line()
	_, err := io.WriteString(w, b.String())
	return err
}

func width(s string) int { return utf8.RuneCountInString(s) }

// center pads s to wd, the extra space going to the right.
func center(s string, wd int) string {
	gap := wd - width(s)
	if gap <= 0 {
		return s
	}
	left := gap / 2
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", gap-left)
}

// headerTitle upper-cases a header and turns underscores, and dots that
// are not inside a number, into spaces.
func headerTitle(s string) string {
	orig := len(s)
	rs := []rune(s)
	numOrSpace := func(r rune) bool { return r == ' ' || (r >= '0' && r <= '9') }
	for i, r := range rs {
		switch r {
		case '_':
			rs[i] = ' '
		case '.':
			if (i != 0 && !numOrSpace(rs[i-1])) || (i != len(rs)-1 && !numOrSpace(rs[i+1])) {
				rs[i] = ' '
			}
		}
	}
	s = strings.TrimSpace(string(rs))
	if s == "" && orig > 0 {
		s = " "
	}
	return strings.ToUpper(s)
}

// wrapCell splits a cell into its display lines: newlines become spaces,
// and text wider than tableWrapWidth is wrapped at spaces.
func wrapCell(s string) []string {
	s = strings.ReplaceAll(s, "\n", " ")
	if width(s) <= tableWrapWidth {
		return []string{s}
	}
	words := strings.Split(s, " ")
	limit := tableWrapWidth
	for _, w := range words {
		limit = max(limit, width(w))
	}
	var lines []string
	for _, ws := range evenBreaks(words, limit) {
		lines = append(lines, strings.Join(ws, " "))
	}
	return lines
}

// evenBreaks breaks words into lines no wider than limit, minimising the
// sum over all lines but the last of the squared unused width (the classic
// minimum-raggedness line breaking).
func evenBreaks(words []string, limit int) [][]string {
	n := len(words)
	// span(i, j) is the width of words[i..j] joined by single spaces.
	prefix := make([]int, n+1)
	for i, w := range words {
		prefix[i+1] = prefix[i] + width(w)
	}
	span := func(i, j int) int { return prefix[j+1] - prefix[i] + (j - i) }
	const overflow = 1_000_000
	cost := make([]int, n+1)
	next := make([]int, n)
	for i := n - 1; i >= 0; i-- {
		if span(i, n-1) <= limit {
			cost[i], next[i] = 0, n
			continue
		}
		cost[i] = math.MaxInt32
		for j := i + 1; j < n; j++ {
			gap := limit - span(i, j-1)
			c := gap*gap + cost[j]
			if gap < 0 {
				c += overflow
			}
			if c < cost[i] {
				cost[i], next[i] = c, j
			}
		}
	}
	var out [][]string
	for i := 0; i < n; i = next[i] {
		out = append(out, words[i:next[i]])
	}
	return out
}
