package ctl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ErrUnterminatedQuote is returned by Argify for a quote that never closes.
var ErrUnterminatedQuote = errors.New("unterminated quoted string")

// Argify splits one line of txn or interactive-watch input into arguments,
// the way etcdctl does, with two repairs:
//
//   - "double quoted" parts use Go's escapes (\n, \t, \", \\, \x00, ...),
//     as etcdctl's %q scanning does;
//   - 'single quoted' parts are literal;
//   - bare parts are literal, backslashes included;
//   - adjacent parts join into one argument, as in a shell, so
//     --prefix="a b" is one argument. (etcdctl splits it, and its
//     single-quote handling cuts the wrong number of bytes.)
//
// Whitespace outside quotes separates arguments.
func Argify(line string) ([]string, error) {
	var (
		args []string
		cur  strings.Builder
		in   bool // inside an argument
	)
	flush := func() {
		if in {
			args = append(args, cur.String())
			cur.Reset()
			in = false
		}
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == '"':
			j := i + 1
			for ; j < len(line); j++ {
				if line[j] == '\\' {
					j++
					continue
				}
				if line[j] == '"' {
					break
				}
			}
			if j >= len(line) {
				return nil, fmt.Errorf("%w: %s", ErrUnterminatedQuote, line[i:])
			}
			s, err := strconv.Unquote(line[i : j+1])
			if err != nil {
				return nil, fmt.Errorf("bad quoted string %s: %w", line[i:j+1], err)
			}
			cur.WriteString(s)
			in = true
			i = j + 1
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("%w: %s", ErrUnterminatedQuote, line[i:])
			}
			cur.WriteString(line[i+1 : i+1+j])
			in = true
			i += j + 2
		case c < 0x80 && unicode.IsSpace(rune(c)):
			flush()
			i++
		default:
			cur.WriteByte(c)
			in = true
			i++
		}
	}
	flush()
	return args, nil
}
