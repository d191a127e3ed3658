package ops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/tests/framework"
)

// TestConfigFileErrors starts cairn with config files that are wrong in
// one way each: every one must exit non-zero promptly with one clear error
// (naming the file or the setting, and the line where YAML gives one), and
// must not create the data dir.
func TestConfigFileErrors(t *testing.T) {
	t.Parallel()
	bin := framework.BinaryPath(t)
	p := cairnPKI(t)
	seed := readTestdata(t, "seed-etcd.conf.yaml")
	base := t.TempDir()
	ports := freePorts(t, 9)

	// valid is the guide's config for etcd1 with working paths; each case
	// breaks it in one place.
	valid := func(dataDir string) string {
		return seedConfigFor(seed, 0, memberNames, ports[0:3], ports[3:6], ports[6:9], dataDir, p)
	}
	replace := func(old, new string) func(string) string {
		return func(c string) string {
			if !strings.Contains(c, old) {
				t.Fatalf("config has no %q", old)
			}
			return strings.Replace(c, old, new, 1)
		}
	}
	cases := []struct {
		name string
		edit func(string) string
		// want are substrings the error must hold; "LINE:prefix" stands
		// for "line N" where N is the line starting with prefix in the
		// edited file (the line etcd's YAML parser names too); "a|b"
		// means either.
		want []string
	}{
		{"bad-yaml-indent", replace("initial-cluster-token: etcd-cluster-1", "initial-cluster-token: etcd-cluster-1\n  bad: indent: here"),
			[]string{"LINE:  bad: indent", "mapping values are not allowed"}},
		{"bad-yaml-tab", replace("  client-cert-auth: true\n  trusted-ca-file", "\tclient-cert-auth: true\n  trusted-ca-file"),
			[]string{"LINE:\tclient-cert-auth", "tab"}},
		{"unknown-key", replace("log-level: info", "log-level: info\nlog-levle: debug"),
			[]string{"LINE:log-levle", `"log-levle"`, "unknown"}},
		{"unknown-tls-key", replace("  client-cert-auth: true\n  trusted-ca-file", "  client-cert-auth: true\n  trusted-ca-fil: /x\n  trusted-ca-file"),
			[]string{"LINE:  trusted-ca-fil:", "trusted-ca-fil", "unknown"}},
		{"wrong-type-int", replace("heartbeat-interval: 100", "heartbeat-interval: fast"),
			[]string{"LINE:heartbeat-interval", "heartbeat-interval", `"fast"`}},
		{"wrong-type-bool", replace("  client-cert-auth: true\n  trusted-ca-file", "  client-cert-auth: maybe\n  trusted-ca-file"),
			[]string{"LINE:  client-cert-auth: maybe", "client-cert-auth", `"maybe"`}},
		{"wrong-type-list", replace("log-level: info", "log-level: [info, debug]"),
			[]string{"LINE:log-level", "log-level"}},
		{"duration-as-string", replace("log-level: info", "log-level: info\ngrpc-keepalive-interval: 2h"),
			[]string{"LINE:grpc-keepalive-interval", "grpc-keepalive-interval", "nanoseconds"}},
		{"bad-yaml-unclosed-list", replace("heartbeat-interval: 100", "heartbeat-interval: [100"),
			[]string{"LINE:heartbeat-interval", "did not find expected"}},
		// A TLS file that cannot be used: the error names the file and
		// the setting (in its YAML or flag spelling).
		{"missing-cert-file", replace(p.Server[0].Cert, filepath.Join(base, "no-such-dir", "server.crt")),
			[]string{filepath.Join(base, "no-such-dir", "server.crt"), "client-transport-security.cert-file|--cert-file"}},
		{"missing-key-file", replace(p.Server[0].Key, filepath.Join(base, "no-such-dir", "server.key")),
			[]string{filepath.Join(base, "no-such-dir", "server.key"), "client-transport-security.key-file|--key-file"}},
		{"missing-trusted-ca-file", replace("  trusted-ca-file: "+p.CA+"\n\npeer", "  trusted-ca-file: "+filepath.Join(base, "no-such-ca.crt")+"\n\npeer"),
			[]string{filepath.Join(base, "no-such-ca.crt"), "client-transport-security.trusted-ca-file|--trusted-ca-file"}},
		{"missing-peer-cert-file", replace(p.Peer[0].Cert, filepath.Join(base, "no-such-dir", "peer.crt")),
			[]string{filepath.Join(base, "no-such-dir", "peer.crt"), "peer-transport-security.cert-file|--peer-cert-file"}},
		{"cert-is-not-pem", replace(p.Server[0].Cert, filepath.Join(base, "garbage.crt")),
			[]string{filepath.Join(base, "garbage.crt"), "client-transport-security.cert-file|--cert-file"}},
	}
	if err := os.WriteFile(filepath.Join(base, "garbage.crt"), []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(base, tc.name+".data")
			conf := tc.edit(valid(dataDir))
			path := filepath.Join(base, tc.name+".yaml")
			if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r := run(t, 20*time.Second, nil, "", bin, "--config-file="+path)
			took := time.Since(start)
			checkRefused(t, r, took, dataDir, tc.want, conf)
		})
	}
	t.Run("missing-config-file", func(t *testing.T) {
		path := filepath.Join(base, "no-such.yaml")
		r := run(t, 20*time.Second, nil, "", bin, "--config-file="+path)
		checkRefused(t, r, 0, filepath.Join(base, "default.cairn"), []string{path}, "")
		if _, err := os.Stat("default.cairn"); err == nil {
			t.Errorf("a default.cairn data dir appeared in the working directory")
		}
	})
}

// checkRefused checks that a run was refused with one clear error and left
// no data dir behind.
func checkRefused(t *testing.T, r runResult, took time.Duration, dataDir string, want []string, conf string) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("exit 0, want non-zero; stderr:\n%s", r.stderr)
	}
	if took > 10*time.Second {
		t.Errorf("took %v to refuse the config", took)
	}
	// One clear error: one "cairn: " line on stderr, after any JSON log
	// lines.
	var plain []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if strings.HasPrefix(l, "cairn: ") {
			plain = append(plain, l)
		}
	}
	if len(plain) != 1 {
		t.Errorf("want exactly one \"cairn: ...\" error line on stderr, got %d:\n%s", len(plain), r.stderr)
	} else {
		msg := plain[0]
		t.Logf("exit %d: %s", r.code, msg)
		for _, w := range want {
			if n, ok := strings.CutPrefix(w, "LINE:"); ok {
				w = "line " + itoa(lineIndex(conf, n))
			}
			found := false
			for _, alt := range strings.Split(w, "|") {
				found = found || strings.Contains(msg, alt)
			}
			if !found {
				t.Errorf("error %q does not say %q", msg, strings.ReplaceAll(w, "|", `" or "`))
			}
		}
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		var listing []string
		filepath.Walk(dataDir, func(p string, _ os.FileInfo, _ error) error {
			listing = append(listing, p)
			return nil
		})
		t.Errorf("the data dir %s was created (want it untouched): %q", dataDir, listing)
	}
}

func lineIndex(c, prefix string) int {
	for i, l := range strings.Split(c, "\n") {
		if strings.HasPrefix(l, prefix) {
			return i + 1
		}
	}
	return -1
}
