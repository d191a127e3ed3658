package interop

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testdata/seed holds the guide's code blocks verbatim, one file per
// block, named after the guide's section. The files with etcdctl
// commands:
var seedShellFiles = []string{"s1-install.sh", "s4-start.sh", "s5-kv.sh", "s6-watch.sh", "s7-txn.sh", "s8-monitor.sh"}

// seedScript is what the guide's shell blocks say to run: the etcdctl
// commands, verbatim (continuation lines and heredocs included), and the
// variables they export.
type seedScript struct {
	Commands []string
	Exports  [][2]string // name, value
}

// parseSeedScripts reads the guide's shell blocks.
func parseSeedScripts(t testing.TB) seedScript {
	t.Helper()
	var s seedScript
	for _, f := range seedShellFiles {
		lines := strings.Split(readFile(t, seedPath(f)), "\n")
		for i := 0; i < len(lines); i++ {
			line := lines[i]
			switch {
			case strings.HasPrefix(line, "export "):
				name, value, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
				s.Exports = append(s.Exports, [2]string{name, value})
			case strings.HasPrefix(line, "etcdctl"):
				cmd := line
				for strings.HasSuffix(lines[i], "\\") && i+1 < len(lines) {
					i++
					cmd += "\n" + lines[i]
				}
				if _, word, ok := strings.Cut(cmd, "<<"); ok {
					end := strings.TrimSpace(word)
					for i+1 < len(lines) {
						i++
						cmd += "\n" + lines[i]
						if lines[i] == end {
							break
						}
					}
				}
				s.Commands = append(s.Commands, cmd)
			}
		}
	}
	return s
}

// edit is one documented change to a seed program.
type edit struct{ old, new string }

// TestSeedSources checks that the programs in testdata are the guide's
// text with only the documented changes: a header comment, the endpoint
// and TLS settings, and the bounded run (the edits below are the complete
// list, and each applies exactly once). It also checks the parsing of the
// guide's shell blocks that TestInterop relies on to run every etcdctl
// command.
func TestSeedSources(t *testing.T) {
	checkEdited(t, "s6-configstore.go.txt", "seedgo/main.go", "package main\n", []edit{
		{"        TLS:         nil, // Configure TLS for production\n",
			"        TLS:         interopTLS(), // interop: was nil (\"Configure TLS for production\")\n"},
		{"    store, err := NewConfigStore([]string{\"localhost:2379\"}, \"/config/api/\")\n",
			"    store, err := NewConfigStore(interopEndpoints(), \"/config/api/\") // interop: was []string{\"localhost:2379\"}\n"},
		{"    select {}\n", "    interopRun(store) // interop: was select {}\n"},
	}, "")
	// The guide shows PutIfNotExists without a file around it: the package
	// clause and imports are added.
	checkEdited(t, "s7-putifnotexists.go.txt", "seedgo/putifnotexists.go", "func (s *ConfigStore) PutIfNotExists", nil, "")
	checkEdited(t, "s6-config_store.py.txt", "seedpy/config_store.py", "import etcd3\n", []edit{
		{"import etcd3\n", "import etcd3\nimport interop_conn  # interop: added\n"},
		{"        self.client = etcd3.client(host=host, port=port)\n",
			"        self.client = etcd3.client(host=host, port=port, **interop_conn.TLS)  # interop: TLS added\n"},
		{"store = EtcdConfigStore(prefix='/config/api/')\n",
			"store = EtcdConfigStore(host=interop_conn.HOST, port=interop_conn.PORT, prefix='/config/api/')  # interop: host, port added\n"},
	}, "interop_conn.bounded_run(store, db_url, settings)  # interop: added\n")

	s := parseSeedScripts(t)
	if len(s.Commands) != len(seedCommandsRun) {
		t.Errorf("the guide has %d etcdctl commands, TestInterop runs %d:\nguide:\n%s", len(s.Commands), len(seedCommandsRun),
			strings.Join(s.Commands, "\n---\n"))
	}
	for _, c := range s.Commands {
		if !slices.Contains(seedCommandsRun, c) {
			t.Errorf("TestInterop does not run the guide's command:\n%s", c)
		}
	}
	var names []string
	for _, e := range s.Exports {
		names = append(names, e[0])
	}
	if want := []string{"ETCDCTL_ENDPOINTS", "ETCDCTL_CACERT", "ETCDCTL_CERT", "ETCDCTL_KEY"}; !slices.Equal(names, want) {
		t.Errorf("the guide exports %q, want %q", names, want)
	}
}

// checkEdited checks that program (under testdata) is the seed block with
// the edits applied, everything before the first line starting with
// start being an added header, and tail appended.
func checkEdited(t *testing.T, seed, program, start string, edits []edit, tail string) {
	t.Helper()
	want := readFile(t, seedPath(seed))
	for _, e := range edits {
		if n := strings.Count(want, e.old); n != 1 {
			t.Errorf("%s: %q occurs %d times, want once", seed, e.old, n)
			return
		}
		want = strings.Replace(want, e.old, e.new, 1)
	}
	want += tail
	got, err := os.ReadFile(filepath.Join("testdata", program))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(got), start)
	if i < 0 {
		t.Errorf("%s: no %q", program, start)
		return
	}
	if body := string(got[i:]); body != want {
		t.Errorf("%s differs from the guide's %s beyond the documented edits:\n%s", program, seed, firstDiff(body, want))
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) || i >= len(w) {
			return "line " + itoa(i+1) + ":\n got  " + gl + "\n want " + wl
		}
	}
	return "(equal)"
}
