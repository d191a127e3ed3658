package main

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/cairndb/cairn/internal/ctl"
)

// runLocal runs a command line that fails before it needs a server.
func runLocal(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestArgumentErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		last string
	}{
		{[]string{"get"}, 128, "Error: get command needs one argument as key and an optional argument as range_end"},
		{[]string{"put"}, 128, "Error: put command needs 1 argument and input from stdin or 2 arguments"},
		{[]string{"lease", "revoke", "zz"}, 128, `Error: bad lease ID arg (strconv.ParseInt: parsing "zz": invalid syntax), expecting ID in Hex`},
		{[]string{"-w", "yaml", "get", "k"}, 4, "Error: unsupported output format"},
		{[]string{"get", "--bogus"}, 1, "Error: unknown flag: --bogus"},
		{[]string{"bogus"}, 1, `Error: unknown command "bogus" for "cairnctl"`},
		{[]string{"watch", "k", "--"}, 128, "Error: bad number of arguments (found separator --, but no commands)"},
		{[]string{"elect", "e"}, 128, "Error: no proposal argument but -l not set"},
		{[]string{"role", "grant-permission", "r", "read", "k", "--prefix", "--from-key"}, 128, "Error: --from-key and --prefix flags are mutually exclusive"},
		{[]string{"--cert=", "get", "k"}, 128, "Error: empty string is passed to --cert option"},
	} {
		code, _, stderr := runLocal(c.args...)
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if code != c.code || lines[len(lines)-1] != c.last {
			t.Errorf("%q: exit %d %q, want %d %q", c.args, code, stderr, c.code, c.last)
		}
	}
	if code, out, _ := runLocal("version"); code != 0 || !strings.HasPrefix(out, "etcdctl version: 3.6.") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestApplyEnv(t *testing.T) {
	var g globalFlags
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.StringSliceVar(&g.Endpoints, "endpoints", []string{"127.0.0.1:2379"}, "")
	fs.BoolVar(&g.InsecureTransport, "insecure-transport", true, "")
	fs.StringVar(&g.CACert, "cacert", "", "")
	fs.StringVar(&g.WriteOut, "write-out", "simple", "")
	if err := fs.Parse([]string{"--write-out=json"}); err != nil {
		t.Fatal(err)
	}
	env := []string{"ETCDCTL_ENDPOINTS=a:1,b:2", "ETCDCTL_INSECURE_TRANSPORT=false", "ETCDCTL_CACERT=/ca.pem",
		"ETCDCTL_WRITE_OUT=table", "ETCDCTL_API=3", "OTHER=1"}
	if err := applyEnv(fs, env); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Endpoints, []string{"a:1", "b:2"}) || g.InsecureTransport || g.CACert != "/ca.pem" || g.WriteOut != "json" {
		t.Errorf("flags after env: %+v", g)
	}
	err := applyEnv(fs, []string{"ETCDCTL_INSECURE_TRANSPORT=maybe"})
	if err != nil {
		t.Fatalf("an already set flag must not be set again: %v", err)
	}
	fs2 := pflag.NewFlagSet("y", pflag.ContinueOnError)
	fs2.Bool("hex", false, "")
	if err := applyEnv(fs2, []string{"ETCDCTL_HEX=maybe"}); ctl.CodeOf(err) != ctl.ExitBadArgs {
		t.Errorf("bad ETCDCTL_HEX: %v", err)
	}
}

func TestSplitWatchArgs(t *testing.T) {
	for _, c := range []struct {
		args         []string
		dash         int
		envKey, envR string
		keys, exec   []string
		err          error
	}{
		{args: []string{"k"}, dash: -1, keys: []string{"k"}},
		{args: []string{"a", "b"}, dash: -1, keys: []string{"a", "b"}},
		{args: []string{"k", "echo", "hi"}, dash: 1, keys: []string{"k"}, exec: []string{"echo", "hi"}},
		{args: []string{"echo"}, dash: 0, envKey: "k", envR: "z", keys: []string{"k", "z"}, exec: []string{"echo"}},
		{args: nil, dash: -1, envKey: "k", keys: []string{"k"}},
		{args: []string{"k"}, dash: 1, err: errBadArgsNumSeparator},
		{args: []string{"k"}, dash: -1, envKey: "k", err: errBadArgsNumConflictEnv},
		{args: nil, dash: -1, err: errBadArgsNum},
		{args: []string{"a", "b", "c"}, dash: -1, err: errBadArgsNum},
	} {
		keys, exec, err := splitWatchArgs(c.args, c.dash, c.envKey, c.envR)
		if !errors.Is(err, c.err) || !reflect.DeepEqual(keys, c.keys) || !reflect.DeepEqual(exec, c.exec) {
			t.Errorf("splitWatchArgs(%q, %d, %q, %q) = %q, %q, %v", c.args, c.dash, c.envKey, c.envR, keys, exec, err)
		}
	}
}

func TestPermRange(t *testing.T) {
	for _, c := range []struct {
		args            []string
		prefix, fromKey bool
		key, end        string
	}{
		{[]string{"k"}, false, false, "k", ""},
		{[]string{"k", "z"}, false, false, "k", "z"},
		{[]string{"/app/"}, true, false, "/app/", "/app0"},
		{[]string{"k"}, false, true, "k", "\x00"},
		{[]string{""}, true, false, "\x00", "\x00"},
		{[]string{""}, false, false, "\x00", ""},
	} {
		key, end, err := permRange(c.args, c.prefix, c.fromKey)
		if err != nil || key != c.key || end != c.end {
			t.Errorf("permRange(%q, %v, %v) = %q, %q, %v", c.args, c.prefix, c.fromKey, key, end, err)
		}
	}
	if _, _, err := permRange([]string{"a", "b"}, true, false); err == nil {
		t.Error("an end key with --prefix must be refused")
	}
}
