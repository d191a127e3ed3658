package interop

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The guide's watch callback prints "Config changed: <key> = <value>" in
// both programs; the probe key is the test's.
const (
	changedPrefix = "Config changed: "
	probeKey      = "/config/api/probe"
)

func changed(key, value string) string { return changedPrefix + key + " = " + value }

// testSeedGo runs the guide's Go program (testdata/seedgo) through e.via
// and checks everything it prints; see testdata/seedgo/interop.go for the
// steps of its bounded run.
func testSeedGo(t *testing.T, e *env, bin string) {
	p := startProc(t, e.progEnv(), "", bin)
	// The guide's main: two Puts, a Get and a GetJSON (both answered from
	// the cache the Puts filled), then the watch.
	p.waitFor(t, "the guide's output", 30*time.Second, hasPrefixLine("Settings: "))
	e.checkKey(t, "/config/api/database_url", dbURL, 1)
	e.checkKey(t, "/config/api/settings", settingsDoc, 1)

	// A change by another client reaches the guide's watch callback.
	k := e.probeWatch(t, probeKey, itoa,
		func(v int) bool { return hasLine(changed("probe", itoa(v)))(p.lines()) },
		func(last int) {
			p.waitFor(t, "the last probe's report", 10*time.Second, hasLine(changed("probe", itoa(last))))
		})

	// PutIfNotExists, and reads through a store with an empty cache.
	p.send(t, "next")
	p.waitFor(t, "the reads of a fresh store", 30*time.Second, hasPrefixLine("Fresh GetAll: "))
	e.checkKey(t, "/config/api/lock", "acquired", 1)

	// More changes by another client: each is reported, in order, and the
	// cache the watch keeps follows them.
	e.put(t, "/config/api/database_url", newDBURL)
	e.put(t, "/config/api/feature_flag", "on")
	e.del(t, "/config/api/feature_flag")
	p.waitFor(t, "the report of the delete", 10*time.Second, hasLine(changed("feature_flag", "")))
	if code := p.finish(t, 30*time.Second); code != 0 {
		t.Errorf("the program exited with %d; stderr:\n%s", code, p.stderr())
	}

	checkProgramOutput(t, p, k, []string{
		"Database URL: " + dbURL,
		"Settings: map[max_connections:100 timeout:30]",
		"PutIfNotExists(lock): true <nil>",
		"PutIfNotExists(lock): false <nil>",
		"Fresh Get(database_url): " + dbURL + " <nil>",
		"Fresh GetJSON(settings): map[max_connections:100 timeout:30] <nil>",
		`Fresh Get(missing): "" <nil>`,
		fmt.Sprintf("Fresh GetAll: map[database_url:%s lock:acquired probe:%d settings:%s] <nil>", dbURL, k, settingsDoc),
		"Cached Get(database_url): " + newDBURL + " <nil>",
		`Get(feature_flag): "" <nil>`,
	}, []string{
		changed("lock", "acquired"),
		changed("database_url", newDBURL),
		changed("feature_flag", "on"),
		changed("feature_flag", ""),
	})
	// clientv3 logs warnings (retries, failed streams) on stderr.
	if s := p.stderr(); s != "" {
		t.Errorf("the program wrote to stderr:\n%s", s)
	}
	e.checkKey(t, "/config/api/lock", "acquired", 1)
}

// testSeedPython runs the guide's Python program (testdata/seedpy) with
// Debian's python3-etcd3 through e.via and checks everything it prints;
// see testdata/seedpy/interop_conn.py for the steps of its bounded run.
func testSeedPython(t *testing.T, e *env) {
	// -u: unbuffered, so the test sees each line as it is printed; no
	// bytecode files are written into testdata.
	p := startProc(t, append(e.progEnv(), "PYTHONDONTWRITEBYTECODE=1"), filepath.Join("testdata", "seedpy"),
		python3Path, "-u", "config_store.py")
	// The guide's usage: put, put_json, get, get_json, watch, get_all.
	p.waitFor(t, "the guide's output", 30*time.Second, hasPrefixLine("All configuration: "))
	e.checkKey(t, "/config/api/database_url", dbURL, 1)
	e.checkKey(t, "/config/api/settings", settingsDoc, 1)

	k := e.probeWatch(t, probeKey, itoa,
		func(v int) bool { return hasLine(changed("probe", itoa(v)))(p.lines()) },
		func(last int) {
			p.waitFor(t, "the last probe's report", 10*time.Second, hasLine(changed("probe", itoa(last))))
		})

	// Reads through a store with an empty cache, then delete twice; the
	// watch reports the delete.
	p.send(t, "next")
	p.waitFor(t, "the watch's report of the program's delete", 30*time.Second, hasLine(changed("settings", "None")))
	e.checkKey(t, "/config/api/settings", "", 0)
	p.send(t, "next")
	p.waitFor(t, "the results of the deletes", 30*time.Second, hasPrefixLine("get(settings): "))

	e.put(t, "/config/api/database_url", newDBURL)
	e.put(t, "/config/api/feature_flag", "on")
	e.del(t, "/config/api/feature_flag")
	p.waitFor(t, "the report of the delete", 10*time.Second, hasLine(changed("feature_flag", "None")))
	if code := p.finish(t, 30*time.Second); code != 0 {
		t.Errorf("the program exited with %d; stderr:\n%s", code, p.stderr())
	}

	settingsRepr := `'` + settingsDoc + `'`
	checkProgramOutput(t, p, k, []string{
		"All configuration: {'database_url': '" + dbURL + "', 'settings': " + settingsRepr + "}",
		"db_url: " + dbURL,
		"settings: {'max_connections': 100, 'timeout': 30}",
		"fresh get(database_url): " + dbURL,
		"fresh get_json(settings): {'max_connections': 100, 'timeout': 30}",
		"fresh get(missing): default",
		fmt.Sprintf("fresh get_all(): {'database_url': '%s', 'probe': '%d', 'settings': %s}", dbURL, k, settingsRepr),
		"delete(settings), twice: [True, False]",
		"get(settings): gone",
		"cached get(database_url): " + newDBURL,
		"get(feature_flag): None",
	}, []string{
		changed("settings", "None"),
		changed("database_url", newDBURL),
		changed("feature_flag", "on"),
		changed("feature_flag", "None"),
	})
	checkPythonStderr(t, p.stderr())
}

// checkProgramOutput checks a program's complete stdout. The lines of the
// guide's watch callback come from another goroutine or thread, so they
// are checked apart from the others: the callback must report the test's
// probes from some value up to the last, k, then exactly callbacks; the
// other lines must be exactly lines.
func checkProgramOutput(t *testing.T, p *proc, k int, lines, callbacks []string) {
	t.Helper()
	var gotCB, gotOther []string
	for _, l := range p.lines() {
		if strings.HasPrefix(l, changedPrefix) {
			gotCB = append(gotCB, l)
		} else {
			gotOther = append(gotOther, l)
		}
	}
	if !slices.Equal(gotOther, lines) {
		t.Errorf("the program printed:\n%s\nwant:\n%s", strings.Join(gotOther, "\n"), strings.Join(lines, "\n"))
	}
	ok := false
	for j := 1; j <= k && !ok; j++ {
		var want []string
		for v := j; v <= k; v++ {
			want = append(want, changed("probe", itoa(v)))
		}
		ok = slices.Equal(gotCB, append(want, callbacks...))
	}
	if !ok {
		t.Errorf("the watch callback printed:\n%s\nwant probe = j..%d for some j, then:\n%s",
			strings.Join(gotCB, "\n"), k, strings.Join(callbacks, "\n"))
	}
}

// checkPythonStderr allows on stderr only what python3-etcd3 does, against
// etcd 3.4 too, when the program closes its client: the library's watch
// thread (a daemon thread) tries to open a new watch stream on the closed
// channel and dies with "ValueError: Cannot invoke RPC: Channel closed!",
// and the interpreter, exiting meanwhile, cuts that traceback short at any
// point. Anything else fails the test.
func checkPythonStderr(t *testing.T, stderr string) {
	t.Helper()
	const head = "Exception in thread etcd3_watch_"
	const last = "ValueError: Cannot invoke RPC: Channel closed!"
	ok := strings.HasPrefix(head, stderr) || strings.HasPrefix(stderr, head) && strings.Count(stderr, "Exception in thread") == 1
	for _, line := range strings.Split(stderr, "\n") {
		if pythonError.MatchString(line) && !strings.HasPrefix(last, line) {
			ok = false
		}
	}
	if !ok {
		t.Errorf("the program wrote to stderr:\n%s", stderr)
	}
}

var pythonError = regexp.MustCompile(`^[A-Za-z_.]*(Error|Exception|Exit|Interrupt)(:|$)`)
