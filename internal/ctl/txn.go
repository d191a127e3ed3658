package ctl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TxnPrompts are the section prompts `txn -i` prints, as etcdctl does.
var TxnPrompts = [3]string{
	"compares:",
	"success requests (get, put, del):",
	"failure requests (get, put, del):",
}

// Txn is a parsed transaction.
type Txn struct {
	Cmps []clientv3.Cmp
	Then []clientv3.Op
	Else []clientv3.Op
}

// sectionHeader matches the lines that name a section: the prompts of
// `txn -i` as guides paste them ("compares:", "success requests:",
// "failure requests (get, put, del):"), and the short forms if:, then:,
// else:. The colon is required.
var sectionHeader = regexp.MustCompile(`(?i)^(compares?|if|success(?:\s+requests?)?|then|failure(?:\s+requests?)?|else)\s*(?:\([^)]*\))?\s*:$`)

func headerSection(line string) (int, bool) {
	m := sectionHeader.FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	w := strings.ToLower(m[1])
	switch {
	case strings.HasPrefix(w, "compare") || w == "if":
		return 0, true
	case strings.HasPrefix(w, "success") || w == "then":
		return 1, true
	default:
		return 2, true
	}
}

// ReadTxn reads a transaction in etcdctl's text format: compares, a blank
// line, success requests, a blank line, failure requests, a blank line. It
// returns as soon as the third blank line is read, without waiting for the
// end of the input.
//
// It also accepts what guides print and people paste, which etcdctl
// rejects:
//
//   - section headings ("compares:", "success requests:", "failure
//     requests:", or the -i prompts verbatim) switch to their section, and
//     a blank line right after a heading is not a section end;
//   - the end of the input ends the current and remaining sections, so the
//     final blank line is optional;
//   - compare values and keys may be unquoted: version("k") = 0;
//   - lines starting with # are comments.
//
// prompt, if not nil, is called with each section's prompt when the section
// starts (txn -i); all three are always prompted, in order.
func ReadTxn(r *bufio.Reader, prompt func(string)) (*Txn, error) {
	t := &Txn{}
	prompted := -1
	promptUpTo := func(s int) {
		for prompted < s && prompted < 2 {
			prompted++
			if prompt != nil {
				prompt(TxnPrompts[prompted])
			}
		}
	}
	promptUpTo(0)
	section := 0
	openedByHeader, hasContent := false, false
	readAny := false
	for section < 3 {
		raw, err := r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, Exit(ExitInvalidInput, err)
		}
		eof := err != nil
		if raw != "" {
			readAny = true
		}
		line := strings.TrimSpace(raw)
		switch {
		case line == "":
			if eof {
				break
			}
			if openedByHeader && !hasContent {
				continue // "compares:" followed by a blank line
			}
			section++
			openedByHeader, hasContent = false, false
			promptUpTo(section)
		case strings.HasPrefix(line, "#"):
		default:
			if s, ok := headerSection(line); ok {
				section = s
				openedByHeader, hasContent = true, false
				promptUpTo(s)
				break
			}
			hasContent = true
			if section == 0 {
				cmp, err := ParseCompare(line)
				if err != nil {
					return nil, err
				}
				t.Cmps = append(t.Cmps, *cmp)
				break
			}
			op, err := ParseTxnOp(line)
			if err != nil {
				return nil, err
			}
			if section == 1 {
				t.Then = append(t.Then, op)
			} else {
				t.Else = append(t.Else, op)
			}
		}
		if eof {
			if !readAny {
				return nil, Exitf(ExitInvalidInput, "txn: no input; expected compares, a blank line, success requests, a blank line, failure requests")
			}
			break
		}
	}
	promptUpTo(2)
	return t, nil
}

// ParseCompare parses one compare line, <target>(<key>) <op> <value>:
// target is ver[sion], c[reate], m[od], val[ue] or lease; op is =, ==, !=,
// < or >. Key and value are Go-quoted strings, 'single-quoted' or bare.
// Revisions and versions are decimal; a lease ID is hexadecimal, as
// etcdctl prints it.
func ParseCompare(line string) (*clientv3.Cmp, error) {
	malformed := func(why string) error {
		if why == "" {
			return Exitf(ExitInvalidInput, "malformed comparison: %s", line)
		}
		return Exitf(ExitInvalidInput, "malformed comparison: %s (%s)", line, why)
	}
	lp := strings.IndexByte(line, '(')
	if lp < 0 {
		return nil, malformed("")
	}
	target := strings.ToLower(strings.TrimSpace(line[:lp]))
	key, rest, err := scanCompareToken(line[lp+1:], ")")
	if err != nil {
		return nil, malformed(err.Error())
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, ")") {
		return nil, malformed("missing ) after the key")
	}
	rest = strings.TrimSpace(rest[1:])
	var op string
	for _, o := range []string{"==", "!=", "=", "<", ">"} {
		if strings.HasPrefix(rest, o) {
			op = o
			break
		}
	}
	if op == "" {
		return nil, malformed("expected =, !=, < or > after the key")
	}
	rest = strings.TrimSpace(rest[len(op):])
	if op == "==" {
		op = "="
	}
	val, rest, err := scanCompareToken(rest, "")
	if err != nil {
		return nil, malformed(err.Error())
	}
	if strings.TrimSpace(rest) != "" {
		return nil, malformed("unexpected " + strings.TrimSpace(rest))
	}
	invalid := func() error { return Exitf(ExitInvalidInput, "invalid txn compare request: %s", line) }
	var cmp clientv3.Cmp
	switch target {
	case "ver", "version", "c", "create", "m", "mod":
		v, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return nil, invalid()
		}
		switch target {
		case "ver", "version":
			cmp = clientv3.Compare(clientv3.Version(key), op, v)
		case "c", "create":
			cmp = clientv3.Compare(clientv3.CreateRevision(key), op, v)
		default:
			cmp = clientv3.Compare(clientv3.ModRevision(key), op, v)
		}
	case "val", "value":
		cmp = clientv3.Compare(clientv3.Value(key), op, val)
	case "lease":
		id, err := strconv.ParseInt(val, 16, 64)
		if err != nil {
			return nil, invalid()
		}
		cmp = clientv3.Compare(clientv3.LeaseValue(key), op, clientv3.LeaseID(id))
	default:
		return nil, malformed("unknown target " + target)
	}
	return &cmp, nil
}

// scanCompareToken reads a quoted or bare token from the start of s. A bare
// token ends at whitespace or at any byte of stop.
func scanCompareToken(s, stop string) (tok, rest string, err error) {
	s = strings.TrimLeft(s, " \t")
	if s == "" {
		return "", "", errors.New("missing value")
	}
	switch s[0] {
	case '"':
		for j := 1; j < len(s); j++ {
			if s[j] == '\\' {
				j++
				continue
			}
			if s[j] == '"' {
				v, err := strconv.Unquote(s[:j+1])
				if err != nil {
					return "", "", fmt.Errorf("bad quoted string %s", s[:j+1])
				}
				return v, s[j+1:], nil
			}
		}
		return "", "", ErrUnterminatedQuote
	case '\'':
		j := strings.IndexByte(s[1:], '\'')
		if j < 0 {
			return "", "", ErrUnterminatedQuote
		}
		return s[1 : 1+j], s[j+2:], nil
	}
	end := strings.IndexFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || strings.ContainsRune(stop, r)
	})
	if end < 0 {
		end = len(s)
	}
	return s[:end], s[end:], nil
}

// ParseTxnOp parses one request line of a txn: a get, put or del command
// line with its flags, quoted as Argify does.
func ParseTxnOp(line string) (clientv3.Op, error) {
	invalid := func() error { return Exitf(ExitInvalidInput, "invalid txn request: %s", line) }
	args, err := Argify(line)
	if err != nil {
		return clientv3.Op{}, Exitf(ExitInvalidInput, "invalid txn request: %s (%v)", line, err)
	}
	if len(args) < 2 {
		// etcdctl's words for a request without a key.
		return clientv3.Op{}, Exitf(ExitInvalidInput, "invalid txn compare request: %s", line)
	}
	fs := pflag.NewFlagSet(args[0], pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	switch args[0] {
	case "get":
		var o GetOptions
		o.AddFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return clientv3.Op{}, invalid()
		}
		key, opts, err := o.Op(fs.Args())
		if err != nil {
			return clientv3.Op{}, invalid()
		}
		return clientv3.OpGet(key, opts...), nil
	case "put":
		var o PutOptions
		o.AddFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return clientv3.Op{}, invalid()
		}
		key, val, opts, err := o.Op(fs.Args(), nil)
		if err != nil {
			return clientv3.Op{}, invalid()
		}
		return clientv3.OpPut(key, val, opts...), nil
	case "del", "delete":
		var o DelOptions
		o.AddFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return clientv3.Op{}, invalid()
		}
		key, opts, err := o.Op(fs.Args())
		if err != nil {
			return clientv3.Op{}, invalid()
		}
		return clientv3.OpDelete(key, opts...), nil
	}
	return clientv3.Op{}, invalid()
}
