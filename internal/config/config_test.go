package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seedYAML is section 2 of the seed's etcd-configuration-guide.md, verbatim.
const seedYAML = `name: etcd1
data-dir: /var/lib/etcd

# Client communication
listen-client-urls: https://10.0.1.10:2379,https://127.0.0.1:2379
advertise-client-urls: https://10.0.1.10:2379

# Peer communication
listen-peer-urls: https://10.0.1.10:2380
initial-advertise-peer-urls: https://10.0.1.10:2380

# Cluster configuration
initial-cluster: etcd1=https://10.0.1.10:2380,etcd2=https://10.0.1.11:2380,etcd3=https://10.0.1.12:2380
initial-cluster-token: etcd-cluster-1
initial-cluster-state: new

# TLS certificates
client-transport-security:
  cert-file: /etc/etcd/pki/server.crt
  key-file: /etc/etcd/pki/server.key
  client-cert-auth: true
  trusted-ca-file: /etc/etcd/pki/ca.crt

peer-transport-security:
  cert-file: /etc/etcd/pki/peer.crt
  key-file: /etc/etcd/pki/peer.key
  client-cert-auth: true
  trusted-ca-file: /etc/etcd/pki/ca.crt

# Performance tuning
heartbeat-interval: 100
election-timeout: 1000

# Logging
log-level: info
`

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "etcd.conf.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustParse(t *testing.T, args, env []string) (*Config, []string) {
	t.Helper()
	c, w, err := Parse(args, env, nil)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", args, env, err)
	}
	return c, w
}

func urlsOf(t *testing.T, s string) URLs {
	t.Helper()
	us, err := parseURLList(strings.Split(s, ","))
	if err != nil {
		t.Fatal(err)
	}
	return us
}

func TestDefaults(t *testing.T) {
	d := Default()
	if err := func() error { c := *d; c.DataDir = "x"; return c.Validate() }(); err != nil {
		t.Fatalf("Default() does not validate: %v", err)
	}
	c, w := mustParse(t, nil, nil)
	if len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	want := Default()
	want.DataDir = "default.cairn"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse(nil) = %+v\nwant %+v", c, want)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Name", c.Name, "default"},
		{"ListenClientURLs", urlStrings(c.ListenClientURLs), []string{"http://localhost:2379"}},
		{"AdvertiseClientURLs", urlStrings(c.AdvertiseClientURLs), []string{"http://localhost:2379"}},
		{"ListenPeerURLs", urlStrings(c.ListenPeerURLs), []string{"http://localhost:2380"}},
		{"InitialAdvertisePeerURLs", urlStrings(c.InitialAdvertisePeerURLs), []string{"http://localhost:2380"}},
		{"InitialCluster", c.InitialCluster, "default=http://localhost:2380"},
		{"InitialClusterToken", c.InitialClusterToken, "etcd-cluster"},
		{"InitialClusterState", c.InitialClusterState, "new"},
		{"TickMs", c.TickMs, uint(100)},
		{"ElectionMs", c.ElectionMs, uint(1000)},
		{"ElectionTicks", c.ElectionTicks(), 10},
		{"SnapshotCount", c.SnapshotCount, uint64(10000)},
		{"SnapshotCatchUpEntries", c.SnapshotCatchUpEntries, uint64(5000)},
		{"MaxRequestBytes", c.MaxRequestBytes, uint(1572864)},
		{"MaxTxnOps", c.MaxTxnOps, uint(128)},
		{"MaxConcurrentStreams", c.MaxConcurrentStreams, uint32(4294967295)},
		{"QuotaBackendBytes", c.QuotaBackendBytes, int64(0)},
		{"AutoCompactionMode", c.AutoCompactionMode, "periodic"},
		{"AutoCompactionRetention", c.AutoCompactionRetention, "0"},
		{"StrictReconfigCheck", c.StrictReconfigCheck, true},
		{"PreVote", c.PreVote, true},
		{"InitialElectionTickAdvance", c.InitialElectionTickAdvance, true},
		{"TLSMinVersion", c.TLSMinVersion, "TLS1.2"},
		{"LogLevel", c.LogLevel, "info"},
		{"LogFormat", c.LogFormat, "json"},
		{"LogOutputs", c.LogOutputs, []string{"default"}},
		{"Metrics", c.Metrics, "basic"},
		{"GRPCKeepAliveMinTime", c.GRPCKeepAliveMinTime, 5 * time.Second},
		{"GRPCKeepAliveInterval", c.GRPCKeepAliveInterval, 2 * time.Hour},
		{"GRPCKeepAliveTimeout", c.GRPCKeepAliveTimeout, 20 * time.Second},
		{"AuthToken", c.AuthToken, "simple"},
		{"BcryptCost", c.BcryptCost, uint(10)},
		{"AuthTokenTTL", c.AuthTokenTTL, uint(300)},
		{"EnableGRPCGateway", c.EnableGRPCGateway, true},
		{"CORS", c.CORS, []string{"*"}},
		{"HostWhitelist", c.HostWhitelist, []string{"*"}},
		{"MaxLearners", c.MaxLearners, 1},
		{"SelfSignedCertValidity", c.SelfSignedCertValidity, uint(1)},
		{"DataDir", c.DataDir, "default.cairn"},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestFlagForms(t *testing.T) {
	for _, args := range [][]string{
		{"--name=n1"}, {"--name", "n1"}, {"-name", "n1"}, {"-name=n1"},
	} {
		c, _ := mustParse(t, args, nil)
		if c.Name != "n1" || c.DataDir != "n1.cairn" || c.InitialCluster != "n1=http://localhost:2380" {
			t.Errorf("%q: name %q data-dir %q initial-cluster %q", args, c.Name, c.DataDir, c.InitialCluster)
		}
	}
	c, _ := mustParse(t, []string{"--pre-vote=false", "-client-cert-auth", "--strict-reconfig-check"}, nil)
	if c.PreVote || !c.ClientTLS.ClientCertAuth || !c.StrictReconfigCheck {
		t.Errorf("bools: pre-vote %v client-cert-auth %v", c.PreVote, c.ClientTLS.ClientCertAuth)
	}
	// "--" ends the flags.
	c, _ = mustParse(t, []string{"--name", "a", "--"}, nil)
	if c.Name != "a" {
		t.Errorf("name %q", c.Name)
	}
	// A non-bool flag takes the next argument even if it starts with '-'.
	c, _ = mustParse(t, []string{"--initial-cluster-token", "-tok"}, nil)
	if c.InitialClusterToken != "-tok" {
		t.Errorf("token %q", c.InitialClusterToken)
	}
}

func TestRepeatedFlagKeepsLast(t *testing.T) {
	c, _ := mustParse(t, []string{"--initial-cluster-token", "a", "--initial-cluster-token=b", "--heartbeat-interval=50", "-heartbeat-interval", "200", "--election-timeout=2000"}, nil)
	if c.InitialClusterToken != "b" || c.TickMs != 200 {
		t.Errorf("token %q tick %d", c.InitialClusterToken, c.TickMs)
	}
}

func TestAllFlagsAccepted(t *testing.T) {
	// Every flag in the table parses with a sensible value.
	sample := map[kind]string{
		kindString: "x", kindBool: "true", kindUint: "7", kindUint32: "7", kindUint64: "7", kindInt: "7",
		kindInt64: "7", kindDuration: "3s", kindURLs: "http://127.0.0.1:1", kindCORS: "*", kindList: "a,b",
		kindUniqueList: "a,b", kindLegacy: "true",
	}
	for _, o := range options {
		if o.noFlag {
			continue
		}
		v := sample[o.kind]
		if o.kind == kindChoice {
			v = o.choices[0]
		}
		st := newState(ErrUsage)
		if err := st.parseArgs([]string{"--" + o.name + "=" + v}); err != nil {
			t.Errorf("--%s=%s: %v", o.name, v, err)
		}
	}
}

func TestURLFlags(t *testing.T) {
	c, _ := mustParse(t, []string{
		"--listen-client-urls", "http://127.0.0.1:2379, https://10.0.0.1:2379,http://127.0.0.1:2379",
		"--advertise-client-urls=https://10.0.0.1:2379",
		"--listen-peer-urls=unix:///tmp/peer.sock",
		"--listen-metrics-urls=http://0.0.0.0:9090",
	}, nil)
	if got := urlStrings(c.ListenClientURLs); !reflect.DeepEqual(got, []string{"http://127.0.0.1:2379", "https://10.0.0.1:2379"}) {
		t.Errorf("listen-client-urls %q", got)
	}
	if got := urlStrings(c.ListenMetricsURLs); !reflect.DeepEqual(got, []string{"http://0.0.0.0:9090"}) {
		t.Errorf("listen-metrics-urls %q", got)
	}
}

func TestEnvironment(t *testing.T) {
	env := []string{
		"ETCD_NAME=envname", "ETCD_HEARTBEAT_INTERVAL=200", "ETCD_ELECTION_TIMEOUT=2000",
		"ETCD_LISTEN_CLIENT_URLS=http://127.0.0.1:3379", "ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:3379",
		"ETCD_UNSUPPORTED_ARCH=arm64", "ETCD_VERIFY=all", "ETCD_VERSION=1", "ETCDCTL_API=3", "HOME=/root",
		"ETCD_PRE_VOTE=false", "ETCD_DATA_DIR=",
	}
	c, w := mustParse(t, []string{"--initial-cluster-token", "flagtok"}, env)
	if c.Name != "envname" || c.TickMs != 200 || c.ElectionMs != 2000 || c.PreVote || c.InitialClusterToken != "flagtok" {
		t.Errorf("env not applied: %+v", c)
	}
	if c.DataDir != "envname.cairn" || c.InitialCluster != "envname=http://localhost:2380" {
		t.Errorf("derived: data-dir %q initial-cluster %q", c.DataDir, c.InitialCluster)
	}
	wantW := []string{
		"unrecognized environment variable ETCD_UNSUPPORTED_ARCH",
		"unrecognized environment variable ETCD_VERIFY",
		"cannot set special environment variable ETCD_VERSION; ignoring it",
	}
	for _, ww := range wantW {
		if !contains(w, ww) {
			t.Errorf("warnings %q lack %q", w, ww)
		}
	}
	if len(w) != len(wantW) {
		t.Errorf("warnings %q, want %q", w, wantW)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestConfigFileIgnoresFlagsAndEnv(t *testing.T) {
	p := writeFile(t, "name: fromfile\n")
	env := []string{"ETCD_NAME=fromenv", "ETCD_FOO=1", "ETCD_HEARTBEAT_INTERVAL=abc"}
	for _, tc := range []struct {
		args []string
		env  []string
	}{
		{[]string{"--config-file", p, "--name", "fromflag", "--data-dir=/x"}, env},
		{[]string{"--name", "fromflag"}, append([]string{"ETCD_CONFIG_FILE=" + p}, env...)},
	} {
		c, w, err := Parse(tc.args, tc.env, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if c.Name != "fromfile" || c.DataDir != "fromfile.cairn" || c.TickMs != 100 || c.ConfigFile != p {
			t.Errorf("%q: got name %q data-dir %q tick %d file %q", tc.args, c.Name, c.DataDir, c.TickMs, c.ConfigFile)
		}
		if len(w) != 1 || !strings.Contains(w[0], "ignoring command-line flags --name") {
			t.Errorf("%q: warnings %q", tc.args, w)
		}
	}
}

func TestSeedYAML(t *testing.T) {
	p := writeFile(t, seedYAML)
	c, w := mustParse(t, []string{"--config-file=" + p}, nil)
	if len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	want := Default()
	want.ConfigFile = p
	want.Name = "etcd1"
	want.DataDir = "/var/lib/etcd"
	want.ListenClientURLs = urlsOf(t, "https://10.0.1.10:2379,https://127.0.0.1:2379")
	want.AdvertiseClientURLs = urlsOf(t, "https://10.0.1.10:2379")
	want.ListenPeerURLs = urlsOf(t, "https://10.0.1.10:2380")
	want.InitialAdvertisePeerURLs = urlsOf(t, "https://10.0.1.10:2380")
	want.InitialCluster = "etcd1=https://10.0.1.10:2380,etcd2=https://10.0.1.11:2380,etcd3=https://10.0.1.12:2380"
	want.InitialClusterToken = "etcd-cluster-1"
	want.ClientTLS = TLSInfo{CertFile: "/etc/etcd/pki/server.crt", KeyFile: "/etc/etcd/pki/server.key", ClientCertAuth: true, TrustedCAFile: "/etc/etcd/pki/ca.crt"}
	want.PeerTLS = TLSInfo{CertFile: "/etc/etcd/pki/peer.crt", KeyFile: "/etc/etcd/pki/peer.key", ClientCertAuth: true, TrustedCAFile: "/etc/etcd/pki/ca.crt"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("seed YAML:\n got %+v\nwant %+v", c, want)
	}
	m, err := c.InitialClusterMap()
	if err != nil || len(m) != 3 || m["etcd2"][0].String() != "https://10.0.1.11:2380" {
		t.Errorf("InitialClusterMap = %v, %v", m, err)
	}
}

func TestYAMLTypes(t *testing.T) {
	p := writeFile(t, `name: n
watch-progress-notify-interval: 600000000000
grpc-keepalive-timeout: 0x3B9ACA00
experimental-compaction-sleep-interval: 5000000
auto-compaction-retention: 1
auto-compaction-mode: periodic
initial-cluster-token: 12345
quota-backend-bytes: 8589934592
max-concurrent-streams: 100
pre-vote: no
enable-pprof: yes
log-outputs: [stdout, /var/log/cairn.log]
cipher-suites:
  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
cors: "http://example.com:80,http://b.example:443"
host-whitelist: "b.example,a.example"
listen-client-urls: ""
peer-transport-security:
  allowed-cn: [a, b]
  allowed-hostname: host1
  auto-tls: true
  skip-client-san-verification: true
data-dir: ~
experimental-snapshot-catch-up-entries: 77
max-wals: 3
socket-options:
  reuse-port: true
`)
	c, w := mustParse(t, []string{"--config-file", p}, nil)
	checks := []struct {
		name      string
		got, want any
	}{
		{"WatchProgressNotifyInterval", c.WatchProgressNotifyInterval, 10 * time.Minute},
		{"GRPCKeepAliveTimeout", c.GRPCKeepAliveTimeout, time.Second},
		{"CompactionSleepInterval", c.CompactionSleepInterval, 5 * time.Millisecond},
		{"AutoCompactionRetention", c.AutoCompactionRetention, "1"},
		{"InitialClusterToken", c.InitialClusterToken, "12345"},
		{"QuotaBackendBytes", c.QuotaBackendBytes, int64(8 << 30)},
		{"MaxConcurrentStreams", c.MaxConcurrentStreams, uint32(100)},
		{"PreVote", c.PreVote, false},
		{"EnablePprof", c.EnablePprof, true},
		{"LogOutputs", c.LogOutputs, []string{"/var/log/cairn.log", "stdout"}},
		{"CipherSuites", c.CipherSuites, []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}},
		{"CORS", c.CORS, []string{"http://b.example:443", "http://example.com:80"}},
		{"HostWhitelist", c.HostWhitelist, []string{"a.example", "b.example"}},
		{"ListenClientURLs", urlStrings(c.ListenClientURLs), []string{"http://localhost:2379"}},
		{"PeerTLS", c.PeerTLS, TLSInfo{AllowedCN: "a,b", AllowedHostname: "host1", AutoTLS: true, SkipClientSANVerify: true}},
		{"AllowedCNs", c.PeerTLS.AllowedCNs(), []string{"a", "b"}},
		{"DataDir", c.DataDir, "n.cairn"},
		{"SnapshotCatchUpEntries", c.SnapshotCatchUpEntries, uint64(77)},
		{"Ignored", c.Ignored, map[string]string{"max-wals": "3", "socket-options": "(mapping)"}},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
	for _, ww := range []string{
		"--max-wals is accepted for etcd compatibility but not used by Cairn",
		"--experimental-compaction-sleep-interval is deprecated in etcd 3.6 and removed in 3.7; use --compaction-sleep-interval instead",
	} {
		if !contains(w, ww) {
			t.Errorf("warnings %q lack %q", w, ww)
		}
	}
}

func TestEmptyConfigFile(t *testing.T) {
	for _, text := range []string{"", "# only a comment\n", "---\n"} {
		c, _ := mustParse(t, []string{"--config-file", writeFile(t, text)}, nil)
		if c.Name != "default" || c.DataDir != "default.cairn" {
			t.Errorf("%q: %+v", text, c)
		}
	}
}

func TestNameOnlyInitialCluster(t *testing.T) {
	c, _ := mustParse(t, []string{"--name", "m1", "--initial-advertise-peer-urls", "http://10.0.0.1:2380,http://10.0.0.2:2380", "--listen-peer-urls", "http://0.0.0.0:2380"}, nil)
	if c.InitialCluster != "m1=http://10.0.0.1:2380,m1=http://10.0.0.2:2380" {
		t.Errorf("initial-cluster %q", c.InitialCluster)
	}
	// With the default name etcd keeps the default initial-cluster, and then
	// the advertised peer URLs do not match it.
	_, _, err := Parse([]string{"--initial-advertise-peer-urls", "http://10.0.0.1:2380"}, nil, nil)
	want := `--initial-cluster has default=http://localhost:2380 but missing from --initial-advertise-peer-urls=http://10.0.0.1:2380 ("http://10.0.0.1:2380"(resolved from "http://10.0.0.1:2380") != "http://127.0.0.1:2380"(resolved from "http://localhost:2380"))`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	// localhost resolves to 127.0.0.1.
	mustParse(t, []string{"--initial-advertise-peer-urls", "http://127.0.0.1:2380"}, nil)
	// In a config file too.
	c, _ = mustParse(t, []string{"--config-file", writeFile(t, "name: m2\n")}, nil)
	if c.InitialCluster != "m2=http://localhost:2380" {
		t.Errorf("file: initial-cluster %q", c.InitialCluster)
	}
}

func TestExperimentalAliases(t *testing.T) {
	c, w := mustParse(t, []string{"--experimental-watch-progress-notify-interval=5s", "--experimental-snapshot-catchup-entries=9"}, nil)
	if c.WatchProgressNotifyInterval != 5*time.Second || c.SnapshotCatchUpEntries != 9 {
		t.Errorf("aliases not applied: %v %v", c.WatchProgressNotifyInterval, c.SnapshotCatchUpEntries)
	}
	if len(w) != 2 {
		t.Errorf("warnings %q", w)
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, a := range []string{"-h", "--help", "-help"} {
		var b bytes.Buffer
		c, _, err := Parse([]string{"--name=x", a}, nil, &b)
		if !errors.Is(err, flag.ErrHelp) || c != nil {
			t.Errorf("%s: err %v", a, err)
		}
		if !strings.Contains(b.String(), "--listen-client-urls 'http://localhost:2379'") || !strings.Contains(b.String(), "--discovery-srv") {
			t.Errorf("%s: usage:\n%s", a, b.String())
		}
	}
	c, w, err := Parse([]string{"--version", "--heartbeat-interval=0"}, []string{"ETCD_CONFIG_FILE=/nonexistent"}, nil)
	if err != nil || !c.PrintVersion || len(w) != 0 {
		t.Errorf("--version: %v %v", c, err)
	}
}

func TestLegacyFlags(t *testing.T) {
	_, w := mustParse(t, []string{"-v", "--peer-heartbeat-interval"}, nil)
	if !contains(w, "flag --v is no longer supported - ignoring.") || len(w) != 2 {
		t.Errorf("warnings %q", w)
	}
	// Like etcd, legacy flags take no value: the next word is an argument.
	_, _, err := Parse([]string{"--config", "foo.yaml"}, nil, nil)
	if err == nil || err.Error() != `"foo.yaml" is not a valid flag` {
		t.Errorf("err %v", err)
	}
}

func TestIgnoredOptions(t *testing.T) {
	c, w := mustParse(t, []string{"--max-wals=3", "--backend-batch-limit", "5", "--feature-gates=StopGRPCServiceOnDefrag=true"}, nil)
	want := map[string]string{"max-wals": "3", "backend-batch-limit": "5", "feature-gates": "StopGRPCServiceOnDefrag=true"}
	if !reflect.DeepEqual(c.Ignored, want) || len(w) != 3 {
		t.Errorf("Ignored %v warnings %q", c.Ignored, w)
	}
}

func TestNoSideEffects(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	mustParse(t, []string{"--name", "x", "--auto-tls", "--peer-auto-tls"}, nil)
	mustParse(t, []string{"--config-file", writeFile(t, seedYAML)}, nil)
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("Parse created %v (%v)", entries, err)
	}
}

// TestErrors checks each error's exact text and its kind.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
		file string // config file contents; "" = none
		kind error
		want string
	}{
		{name: "unknown flag", args: []string{"--foo"}, kind: ErrUsage, want: "unknown flag: --foo"},
		{name: "unknown single-dash flag", args: []string{"-foo=1"}, kind: ErrUsage, want: "unknown flag: --foo"},
		{name: "bad syntax", args: []string{"---name"}, kind: ErrUsage, want: "bad flag syntax: ---name"},
		{name: "missing argument", args: []string{"--name"}, kind: ErrUsage, want: "flag needs an argument: --name"},
		{name: "positional", args: []string{"--name", "a", "b"}, kind: ErrUsage, want: `"b" is not a valid flag`},
		{name: "bad uint", args: []string{"--heartbeat-interval=abc"}, kind: ErrUsage, want: `invalid value "abc" for flag --heartbeat-interval: not an unsigned integer`},
		{name: "negative uint", args: []string{"--heartbeat-interval", "-5"}, kind: ErrUsage, want: `invalid value "-5" for flag --heartbeat-interval: must not be negative`},
		{name: "uint32 range", args: []string{"--max-concurrent-streams=4294967296"}, kind: ErrUsage, want: `invalid value "4294967296" for flag --max-concurrent-streams: value out of range`},
		{name: "bad bool", args: []string{"--pre-vote=maybe"}, kind: ErrUsage, want: `invalid value "maybe" for flag --pre-vote: not a boolean (want true or false)`},
		{name: "bad duration", args: []string{"--grpc-keepalive-timeout=5"}, kind: ErrUsage, want: `invalid value "5" for flag --grpc-keepalive-timeout: not a duration (examples: 500ms, 10s, 2h45m)`},
		{name: "bad choice", args: []string{"--initial-cluster-state=old"}, kind: ErrUsage, want: `invalid value "old" for flag --initial-cluster-state: must be one of "new", "existing"`},
		{name: "bad url scheme", args: []string{"--listen-client-urls=ftp://127.0.0.1:1"}, kind: ErrUsage, want: `invalid value "ftp://127.0.0.1:1" for flag --listen-client-urls: URL scheme must be http, https, unix, or unixs: ftp://127.0.0.1:1`},
		{name: "url without port", args: []string{"--advertise-client-urls=http://10.0.0.1"}, kind: ErrUsage, want: `invalid value "http://10.0.0.1" for flag --advertise-client-urls: URL address does not have the form "host:port": http://10.0.0.1`},
		{name: "url with path", args: []string{"--initial-advertise-peer-urls=http://10.0.0.1:2380/x"}, kind: ErrUsage, want: `invalid value "http://10.0.0.1:2380/x" for flag --initial-advertise-peer-urls: URL must not contain a path: http://10.0.0.1:2380/x`},
		{name: "empty url", args: []string{"--listen-peer-urls="}, kind: ErrUsage, want: `invalid value "" for flag --listen-peer-urls: URL scheme must be http, https, unix, or unixs: `},
		{name: "env bad value", env: []string{"ETCD_HEARTBEAT_INTERVAL=abc"}, kind: ErrUsage, want: `invalid value "abc" for ETCD_HEARTBEAT_INTERVAL: not an unsigned integer`},
		{name: "env shadowed", args: []string{"--name", "y"}, env: []string{"ETCD_NAME=x"}, kind: ErrUsage, want: `conflicting environment variable "ETCD_NAME" is shadowed by corresponding command-line flag --name (either unset environment variable or disable flag)`},
		{name: "alias and new", args: []string{"--experimental-compaction-batch-limit=1", "--compaction-batch-limit=2"}, kind: ErrUsage, want: "cannot set --experimental-compaction-batch-limit and --compaction-batch-limit at the same time, please use --compaction-batch-limit only"},

		{name: "file unreadable", args: []string{"--config-file=/nonexistent/etcd.yaml"}, kind: ErrFile, want: "cannot read config file: open /nonexistent/etcd.yaml: no such file or directory"},
		{name: "bad yaml", file: "name: a\nlisten-client-urls: [\n", kind: ErrFile, want: "line 2: did not find expected node content"},
		{name: "bad yaml indentation", file: "name: a\n  data-dir: b\n", kind: ErrFile, want: "line 2: mapping values are not allowed in this context"},
		{name: "not a mapping", file: "- a\n- b\n", kind: ErrFile, want: "line 1: the document must be a mapping of keys to values, not a list"},
		{name: "unknown key", file: "name: a\n\nfoo-bar: 1\n", kind: ErrFile, want: `line 3: unknown key "foo-bar"`},
		{name: "flag-only key", file: "auto-tls: true\n", kind: ErrFile, want: `line 1: unknown key "auto-tls" (in a config file it belongs under client-transport-security or peer-transport-security)`},
		{name: "flag-only key 2", file: "discovery-token: t\n", kind: ErrFile, want: `line 1: unknown key "discovery-token" (--discovery-token is a command-line flag only; etcd's config file has no such key)`},
		{name: "unknown nested key", file: "client-transport-security:\n  cert-file: a\n  crl-file: b\n", kind: ErrFile, want: `line 3: unknown key "client-transport-security.crl-file"`},
		{name: "repeated key", file: "name: a\nname: b\n", kind: ErrFile, want: `line 2: key "name" is repeated (first at line 1)`},
		{name: "wrong type int", file: "name: a\nheartbeat-interval: fast\n", kind: ErrFile, want: `line 2: heartbeat-interval: expected an unsigned integer, got string "fast"`},
		{name: "quoted int", file: "election-timeout: \"1000\"\n", kind: ErrFile, want: `line 1: election-timeout: expected an unsigned integer, got string "1000"`},
		{name: "negative uint", file: "max-txn-ops: -1\n", kind: ErrFile, want: `line 1: max-txn-ops: must not be negative`},
		{name: "wrong type bool", file: "pre-vote: 1\n", kind: ErrFile, want: `line 1: pre-vote: expected true or false, got integer 1`},
		{name: "wrong type nested bool", file: "peer-transport-security:\n  client-cert-auth: sure\n", kind: ErrFile, want: `line 2: peer-transport-security.client-cert-auth: expected true or false, got string "sure"`},
		{name: "duration string", file: "watch-progress-notify-interval: 10m\n", kind: ErrFile, want: `line 1: watch-progress-notify-interval: expected an integer number of nanoseconds (durations in etcd config files are nanoseconds, e.g. 10000000000 for 10s), got string "10m"`},
		{name: "list for string", file: "name: [a]\n", kind: ErrFile, want: `line 1: name: expected a string, got a list`},
		{name: "string for list", file: "log-outputs: stderr\n", kind: ErrFile, want: `line 1: log-outputs: expected a list of strings, got string "stderr"`},
		{name: "tls not a mapping", file: "client-transport-security: yes\n", kind: ErrFile, want: `line 1: client-transport-security: expected a mapping of TLS settings, got string "yes"`},
		{name: "bad url in file", file: "listen-peer-urls: http://10.0.0.1:2380,ftp://x:1\n", kind: ErrFile, want: `line 1: listen-peer-urls: URL scheme must be http, https, unix, or unixs: ftp://x:1`},
		{name: "alias and new in file", file: "experimental-watch-progress-notify-interval: 1\nwatch-progress-notify-interval: 2\n", kind: ErrFile, want: "cannot set --experimental-watch-progress-notify-interval and --watch-progress-notify-interval at the same time, please use --watch-progress-notify-interval only"},

		{name: "advertise required (flags)", args: []string{"--listen-client-urls=http://127.0.0.1:2379"}, kind: ErrInvalid, want: "--advertise-client-urls is required when --listen-client-urls is set explicitly"},
		{name: "advertise required (env)", env: []string{"ETCD_LISTEN_CLIENT_URLS=http://127.0.0.1:2379"}, kind: ErrInvalid, want: "--advertise-client-urls is required when --listen-client-urls is set explicitly"},
		{name: "advertise required (file)", file: "listen-client-urls: http://127.0.0.1:2379\n", kind: ErrInvalid, want: "--advertise-client-urls is required when --listen-client-urls is set explicitly"},
		{name: "election vs heartbeat", args: []string{"--heartbeat-interval=300"}, kind: ErrInvalid, want: "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]"},
		{name: "election too long", file: "election-timeout: 50001\n", kind: ErrInvalid, want: "--election-timeout[50001ms] is too long, and should be set less than 50000ms"},
		{name: "heartbeat zero", args: []string{"--heartbeat-interval=0"}, kind: ErrInvalid, want: "--heartbeat-interval must be >0 (set to 0ms)"},
		{name: "cluster state in file", file: "initial-cluster-state: old\n", kind: ErrFile, want: `line 1: initial-cluster-state: must be one of "new", "existing"`},
		{name: "missing member", args: []string{"--name=a", "--initial-cluster=b=http://localhost:2380"}, kind: ErrInvalid, want: `couldn't find local name "a" in the initial cluster configuration`},
		{name: "advertise mismatch", args: []string{"--name=a", "--initial-advertise-peer-urls=http://10.0.0.1:2380", "--initial-cluster=a=http://10.0.0.2:2380"}, kind: ErrInvalid, want: `--initial-cluster has a=http://10.0.0.2:2380 but missing from --initial-advertise-peer-urls=http://10.0.0.1:2380 ("http://10.0.0.1:2380"(resolved from "http://10.0.0.1:2380") != "http://10.0.0.2:2380"(resolved from "http://10.0.0.2:2380"))`},
		{name: "advertise extra", args: []string{"--name=a", "--initial-advertise-peer-urls=http://10.0.0.1:2380,http://10.0.0.2:2380", "--initial-cluster=a=http://10.0.0.1:2380"}, kind: ErrInvalid, want: `--initial-advertise-peer-urls has http://10.0.0.2:2380 but missing from --initial-cluster=a=http://10.0.0.1:2380,a=http://10.0.0.2:2380`},
		{name: "duplicate url", args: []string{"--initial-cluster=default=http://localhost:2380,b=http://localhost:2380"}, kind: ErrInvalid, want: `initial cluster b=http://localhost:2380,default=http://localhost:2380 has duplicate url`},
		{name: "bad initial cluster", args: []string{"--initial-cluster=default"}, kind: ErrInvalid, want: `invalid --initial-cluster "default": entry "default" is not of the form name=url`},
		{name: "log level", args: []string{"--log-level=verbose"}, kind: ErrInvalid, want: `--log-level must be one of debug, info, warn, error, panic, fatal (got "verbose")`},
		{name: "compaction mode", args: []string{"--auto-compaction-mode=daily"}, kind: ErrInvalid, want: `--auto-compaction-mode must be "periodic" or "revision" (got "daily")`},
		{name: "compaction retention", args: []string{"--auto-compaction-mode=revision", "--auto-compaction-retention=1h"}, kind: ErrInvalid, want: `invalid --auto-compaction-retention "1h" for --auto-compaction-mode=revision: want a whole number of revisions`},
		{name: "max request bytes", args: []string{"--max-request-bytes=0"}, kind: ErrInvalid, want: "--max-request-bytes must be >0"},
		{name: "bind to hostname", args: []string{"--listen-peer-urls=http://example.com:2380"}, kind: ErrInvalid, want: "--listen-peer-urls: expected IP in URL for binding (http://example.com:2380)"},
		{name: "tls version", args: []string{"--tls-min-version=TLS1.1"}, kind: ErrInvalid, want: `--tls-min-version: unexpected TLS version "TLS1.1" (must be one of: TLS1.2, TLS1.3)`},
		{name: "tls min > max", args: []string{"--tls-min-version=TLS1.3", "--tls-max-version=TLS1.2"}, kind: ErrInvalid, want: "min version (TLS1.3) is greater than max version (TLS1.2)"},
		{name: "cipher suite", args: []string{"--cipher-suites=TLS_FOO"}, kind: ErrInvalid, want: `--cipher-suites: unexpected TLS cipher suite "TLS_FOO"`},
		{name: "discovery and initial-cluster", args: []string{"--discovery-srv=example.com", "--initial-cluster=default=http://localhost:2380"}, kind: ErrInvalid, want: `multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery", "discovery-endpoints" or "discovery-srv"`},
		{name: "discovery alone", args: []string{"--discovery-srv=example.com"}, kind: ErrInvalid, want: "Cairn does not support discovery (--discovery-srv); set --initial-cluster instead"},
		{name: "bcrypt cost", args: []string{"--bcrypt-cost=3"}, kind: ErrInvalid, want: "--bcrypt-cost must be between 4 and 31 (got 3)"},
		{name: "auth token", args: []string{"--auth-token=oauth"}, kind: ErrInvalid, want: `--auth-token must start with "simple" or "jwt" (got "oauth")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args, want := tc.args, tc.want
			if tc.file != "" {
				p := writeFile(t, tc.file)
				args = append([]string{"--config-file", p}, args...)
				if strings.HasPrefix(want, "line ") {
					want = "config file " + p + ": " + want
				}
			}
			c, _, err := Parse(args, tc.env, nil)
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %q is not %v", err, tc.kind)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if c != nil {
				t.Errorf("config returned with error")
			}
		})
	}
}

func TestValidateRules(t *testing.T) {
	ok := func(c *Config) {}
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // "" = valid
	}{
		{"defaults", ok, ""},
		{"election exactly 5x", func(c *Config) { c.TickMs, c.ElectionMs = 200, 1000 }, ""},
		{"election below 5x", func(c *Config) { c.TickMs, c.ElectionMs = 201, 1000 }, "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[201ms]"},
		{"election 50000", func(c *Config) { c.TickMs, c.ElectionMs = 1000, 50000 }, ""},
		{"election zero", func(c *Config) { c.ElectionMs = 0 }, "--election-timeout must be >0 (set to 0ms)"},
		{"existing state skips advertise match", func(c *Config) {
			c.InitialClusterState = ClusterStateExisting
			c.InitialCluster = "default=http://10.0.0.9:2380"
		}, ""},
		{"bad state", func(c *Config) { c.InitialClusterState = "" }, `--initial-cluster-state must be "new" or "existing" (got "")`},
		{"no advertise client", func(c *Config) { c.AdvertiseClientURLs = nil }, "--advertise-client-urls is required when --listen-client-urls is set explicitly"},
		{"no listen client", func(c *Config) { c.ListenClientURLs, c.AdvertiseClientURLs = nil, nil }, ""},
		{"revision retention", func(c *Config) { c.AutoCompactionMode, c.AutoCompactionRetention = "revision", "1000" }, ""},
		{"periodic hours", func(c *Config) { c.AutoCompactionRetention = "2" }, ""},
		{"periodic duration", func(c *Config) { c.AutoCompactionRetention = "30m" }, ""},
		{"periodic junk", func(c *Config) { c.AutoCompactionRetention = "soon" }, `invalid --auto-compaction-retention "soon" for --auto-compaction-mode=periodic: want a duration such as 30m or 1h, or a whole number of hours`},
		{"max txn ops", func(c *Config) { c.MaxTxnOps = 0 }, "--max-txn-ops must be >0"},
		{"log format", func(c *Config) { c.LogFormat = "text" }, `--log-format must be "json" or "console" (got "text")`},
		{"metrics", func(c *Config) { c.Metrics = "all" }, `--metrics must be "basic" or "extensive" (got "all")`},
		{"tls13 ciphers", func(c *Config) {
			c.TLSMinVersion, c.CipherSuites = "TLS1.3", []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}
		}, "cipher suites cannot be configured when only TLS1.3 is enabled"},
		{"bad scheme in code", func(c *Config) { c.ListenMetricsURLs = URLs{{Scheme: "tcp", Host: "127.0.0.1:1"}} }, "invalid --listen-metrics-urls: URL scheme must be http, https, unix, or unixs: tcp://127.0.0.1:1"},
		{"advertise empty host", func(c *Config) { c.AdvertiseClientURLs = URLs{{Scheme: "http", Host: ":2379"}} }, `--advertise-client-urls "http://:2379" must be "host:port" (unexpected empty host (http://:2379))`},
		{"unix listen", func(c *Config) { c.ListenClientURLs = URLs{{Scheme: "unix", Path: "/tmp/s"}} }, ""},
		{"jwt token", func(c *Config) { c.AuthToken = "jwt,pub-key=a,priv-key=b,sign-method=RS256" }, ""},
		{"multi-url member", func(c *Config) {
			c.InitialAdvertisePeerURLs = URLs{{Scheme: "http", Host: "10.0.0.2:2380"}, {Scheme: "http", Host: "10.0.0.1:2380"}}
			c.InitialCluster = "default=http://10.0.0.1:2380,other=http://10.0.0.3:2380,default=http://10.0.0.2:2380"
		}, ""},
		{"length mismatch", func(c *Config) {
			c.InitialCluster = "default=http://localhost:2380,default=http://10.0.0.1:2380"
		}, `--initial-cluster has default=http://10.0.0.1:2380 but missing from --initial-advertise-peer-urls=http://localhost:2380 (len(["http://localhost:2380"]) != len(["http://10.0.0.1:2380" "http://localhost:2380"]))`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.DataDir = "d"
			tc.mutate(c)
			before := *c
			err := c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("%q is not ErrInvalid", got)
				}
			}
			if got != tc.want {
				t.Errorf("Validate:\n got %q\nwant %q", got, tc.want)
			}
			if !reflect.DeepEqual(before, *c) {
				t.Errorf("Validate changed the config")
			}
		})
	}
}

func TestInitialClusterMap(t *testing.T) {
	c := &Config{InitialCluster: "a=http://10.0.0.1:2380,b=https://10.0.0.2:2380,a=http://10.0.0.3:2380,a=http://10.0.0.1:2380"}
	m, err := c.InitialClusterMap()
	if err != nil {
		t.Fatal(err)
	}
	if got := urlStrings(m["a"]); !reflect.DeepEqual(got, []string{"http://10.0.0.1:2380", "http://10.0.0.3:2380"}) {
		t.Errorf("a: %q", got)
	}
	if len(m) != 2 || len(m["b"]) != 1 {
		t.Errorf("map %v", m)
	}
	if m, err := (&Config{}).InitialClusterMap(); err != nil || len(m) != 0 {
		t.Errorf("empty: %v %v", m, err)
	}
	for _, bad := range []string{"a", "=http://x:1", "a=ftp://x:1", "a=http://x"} {
		if _, err := (&Config{InitialCluster: bad}).InitialClusterMap(); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCompactionRetention(t *testing.T) {
	for _, tc := range []struct {
		mode, ret string
		period    time.Duration
		revs      int64
	}{
		{"periodic", "0", 0, 0}, {"periodic", "1", time.Hour, 0}, {"periodic", "5m", 5 * time.Minute, 0},
		{"periodic", "", 0, 0}, {"revision", "1000", 0, 1000},
	} {
		c := &Config{AutoCompactionMode: tc.mode, AutoCompactionRetention: tc.ret}
		p, r, err := c.CompactionRetention()
		if err != nil || p != tc.period || r != tc.revs {
			t.Errorf("%s %q: %v %v %v", tc.mode, tc.ret, p, r, err)
		}
	}
}
