package config

import "strings"

// kind is how an option's value is written and parsed.
type kind uint8

const (
	kindString     kind = iota
	kindChoice          // a string from option.choices
	kindBool            // flag: bool-style (--x, --x=false); YAML: true/false
	kindUint            // uint
	kindUint32          // uint32
	kindUint64          // uint64
	kindInt             // int
	kindInt64           // int64
	kindDuration        // flag: Go duration ("10s"); YAML: integer nanoseconds
	kindURLs            // comma-separated URLs (flag and YAML)
	kindCORS            // comma-separated URLs, or "*"
	kindList            // flag: comma-separated; YAML: a sequence (yamlComma: a comma string)
	kindUniqueList      // kindList, sorted and de-duplicated
	kindLegacy          // etcd 2 flag: bool-style, accepted and ignored with a warning
	kindTLS             // YAML only: a client-/peer-transport-security block
	kindMap             // YAML only: a nested block Cairn accepts and ignores
)

// option is one etcd server option. The same table drives flags, ETCD_*
// environment variables, config-file keys and the usage text.
type option struct {
	name    string // flag name (without dashes); also the config-file key
	yamlKey string // config-file key when it differs from name; "-" = flag only
	noFlag  bool   // config-file key only
	kind    kind
	choices []string // kindChoice
	// yamlComma: in the config file the list is one comma-separated string
	// (cors, host-whitelist), not a YAML sequence.
	yamlComma bool
	// field returns a pointer to the Config field the option sets; nil
	// means Cairn accepts the option for etcd compatibility but does not use
	// it (it lands in Config.Ignored and a warning).
	field func(c *Config) any
	// alias names the option this deprecated spelling stands for; both set
	// the same field and may not be given together (etcd 3.6's rule).
	alias string
	// deprecated is the warning to return when the option is given.
	deprecated string
	help       string
	def        string // default shown in usage; "" = none
}

func (o *option) key() string {
	if o.yamlKey != "" {
		return o.yamlKey
	}
	return o.name
}

func expDeprecated(newName string) string {
	return "is deprecated in etcd 3.6 and removed in 3.7; use --" + newName + " instead"
}

// options lists every flag and config-file key of etcd 3.6. Options with a
// nil field are accepted and ignored by Cairn: this is the one place that
// says which.
var options = []*option{
	// Member.
	{name: "name", kind: kindString, field: func(c *Config) any { return &c.Name }, def: DefaultName, help: "Human-readable name for this member."},
	{name: "data-dir", kind: kindString, field: func(c *Config) any { return &c.DataDir }, def: "${name}" + DataDirSuffix, help: "Path to the data directory."},
	{name: "wal-dir", kind: kindString, field: func(c *Config) any { return &c.WALDir }, help: "Path to a dedicated raft log directory."},
	{name: "snapshot-count", kind: kindUint64, field: func(c *Config) any { return &c.SnapshotCount }, def: "10000", deprecated: "--snapshot-count is deprecated in 3.6 and will be decommissioned in 3.7.", help: "Number of applied entries that trigger a snapshot."},
	{name: "snapshot-catchup-entries", kind: kindUint64, field: func(c *Config) any { return &c.SnapshotCatchUpEntries }, def: "5000", help: "Entries kept behind a snapshot for slow followers."},
	{name: "experimental-snapshot-catchup-entries", yamlKey: "experimental-snapshot-catch-up-entries", kind: kindUint64, field: func(c *Config) any { return &c.SnapshotCatchUpEntries }, alias: "snapshot-catchup-entries"},
	// etcd 3.6's config file spells the key with "catch-up" (its bug #15033); the flag spelling is accepted in the file too.
	{name: "experimental-snapshot-catchup-entries", noFlag: true, kind: kindUint64, field: func(c *Config) any { return &c.SnapshotCatchUpEntries }, alias: "snapshot-catchup-entries"},
	{name: "heartbeat-interval", kind: kindUint, field: func(c *Config) any { return &c.TickMs }, def: "100", help: "Time (in milliseconds) of a heartbeat interval."},
	{name: "election-timeout", kind: kindUint, field: func(c *Config) any { return &c.ElectionMs }, def: "1000", help: "Time (in milliseconds) for an election to timeout."},
	{name: "initial-election-tick-advance", kind: kindBool, field: func(c *Config) any { return &c.InitialElectionTickAdvance }, def: "true", help: "Fast-forward initial election ticks on boot for faster election."},
	{name: "listen-peer-urls", kind: kindURLs, field: func(c *Config) any { return &c.ListenPeerURLs }, def: DefaultListenPeerURL, help: "List of URLs to listen on for peer traffic."},
	{name: "listen-client-urls", kind: kindURLs, field: func(c *Config) any { return &c.ListenClientURLs }, def: DefaultListenClientURL, help: "List of URLs to listen on for client gRPC and HTTP traffic."},
	{name: "listen-client-http-urls", kind: kindURLs, field: func(c *Config) any { return &c.ListenClientHTTPURLs }, help: "List of URLs to listen on for HTTP-only client traffic."},
	{name: "listen-metrics-urls", kind: kindURLs, field: func(c *Config) any { return &c.ListenMetricsURLs }, help: "List of URLs to listen on for /metrics and the health endpoints."},
	{name: "max-snapshots", kind: kindUint, deprecated: "--max-snapshots is deprecated in 3.6 and will be decommissioned in 3.7.", def: "5"},
	{name: "max-wals", kind: kindUint, def: "5"},
	{name: "quota-backend-bytes", kind: kindInt64, field: func(c *Config) any { return &c.QuotaBackendBytes }, def: "0", help: "Storage quota in bytes (0 = 2 GiB); exceeding it raises the NOSPACE alarm."},
	{name: "backend-bbolt-freelist-type", kind: kindString},
	{name: "backend-batch-interval", kind: kindDuration},
	{name: "backend-batch-limit", kind: kindInt},
	{name: "max-txn-ops", kind: kindUint, field: func(c *Config) any { return &c.MaxTxnOps }, def: "128", help: "Maximum number of operations permitted in a transaction."},
	{name: "max-request-bytes", kind: kindUint, field: func(c *Config) any { return &c.MaxRequestBytes }, def: "1572864", help: "Maximum client request size in bytes."},
	{name: "max-concurrent-streams", kind: kindUint32, field: func(c *Config) any { return &c.MaxConcurrentStreams }, def: "4294967295", help: "Maximum concurrent gRPC streams per client."},
	{name: "grpc-keepalive-min-time", kind: kindDuration, field: func(c *Config) any { return &c.GRPCKeepAliveMinTime }, def: "5s", help: "Minimum interval a client should wait before pinging the server."},
	{name: "grpc-keepalive-interval", kind: kindDuration, field: func(c *Config) any { return &c.GRPCKeepAliveInterval }, def: "2h0m0s", help: "Server-to-client ping interval (0 disables)."},
	{name: "grpc-keepalive-timeout", kind: kindDuration, field: func(c *Config) any { return &c.GRPCKeepAliveTimeout }, def: "20s", help: "Wait for a ping reply before closing the connection (0 disables)."},
	{name: "socket-reuse-port", yamlKey: "-", kind: kindBool},
	{name: "socket-reuse-address", yamlKey: "-", kind: kindBool},
	{name: "socket-options", noFlag: true, kind: kindMap},
	{name: "raft-read-timeout", yamlKey: "-", kind: kindDuration},
	{name: "raft-write-timeout", yamlKey: "-", kind: kindDuration},

	// Clustering.
	{name: "initial-advertise-peer-urls", kind: kindURLs, field: func(c *Config) any { return &c.InitialAdvertisePeerURLs }, def: DefaultListenPeerURL, help: "This member's peer URLs to advertise to the rest of the cluster."},
	{name: "advertise-client-urls", kind: kindURLs, field: func(c *Config) any { return &c.AdvertiseClientURLs }, def: DefaultListenClientURL, help: "This member's client URLs to advertise to the public."},
	{name: "initial-cluster", kind: kindString, field: func(c *Config) any { return &c.InitialCluster }, def: "default=" + DefaultListenPeerURL, help: "Initial cluster configuration for bootstrapping (name=url,...)."},
	{name: "initial-cluster-state", kind: kindChoice, choices: []string{ClusterStateNew, ClusterStateExisting}, field: func(c *Config) any { return &c.InitialClusterState }, def: ClusterStateNew, help: "'new' to bootstrap a cluster, 'existing' to join one."},
	{name: "initial-cluster-token", kind: kindString, field: func(c *Config) any { return &c.InitialClusterToken }, def: DefaultInitialClusterToken, help: "Initial cluster token, mixed into the cluster and member IDs."},
	{name: "strict-reconfig-check", kind: kindBool, field: func(c *Config) any { return &c.StrictReconfigCheck }, def: "true", help: "Reject reconfiguration requests that would cause quorum loss."},
	{name: "pre-vote", kind: kindBool, field: func(c *Config) any { return &c.PreVote }, def: "true", help: "Enable the raft Pre-Vote algorithm."},
	{name: "max-learners", kind: kindInt, field: func(c *Config) any { return &c.MaxLearners }, def: "1", help: "Maximum number of learner members."},
	{name: "discovery", kind: kindString},
	{name: "discovery-proxy", kind: kindString},
	{name: "discovery-srv", kind: kindString},
	{name: "discovery-srv-name", kind: kindString},
	{name: "discovery-fallback", yamlKey: "-", kind: kindChoice, choices: []string{"exit", "proxy"}},
	{name: "discovery-endpoints", yamlKey: "-", kind: kindUniqueList},
	{name: "discovery-token", yamlKey: "-", kind: kindString},
	{name: "discovery-dial-timeout", yamlKey: "-", kind: kindDuration},
	{name: "discovery-request-timeout", yamlKey: "-", kind: kindDuration},
	{name: "discovery-keepalive-time", yamlKey: "-", kind: kindDuration},
	{name: "discovery-keepalive-timeout", yamlKey: "-", kind: kindDuration},
	{name: "discovery-insecure-transport", yamlKey: "-", kind: kindBool},
	{name: "discovery-insecure-skip-tls-verify", yamlKey: "-", kind: kindBool},
	{name: "discovery-cert", yamlKey: "-", kind: kindString},
	{name: "discovery-key", yamlKey: "-", kind: kindString},
	{name: "discovery-cacert", yamlKey: "-", kind: kindString},
	{name: "discovery-user", yamlKey: "-", kind: kindString},
	{name: "discovery-password", yamlKey: "-", kind: kindString},
	{name: "discovery-config", noFlag: true, kind: kindMap},

	// Security. The config file holds these in client-transport-security and
	// peer-transport-security (see tlsKeys); the flags are flag-only.
	{name: "cert-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.ClientTLS.CertFile }, help: "Path to the client server TLS cert file."},
	{name: "key-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.ClientTLS.KeyFile }, help: "Path to the client server TLS key file."},
	{name: "client-cert-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.ClientTLS.ClientCertFile }, help: "Client certificate this member presents to its own client port (default: --cert-file)."},
	{name: "client-key-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.ClientTLS.ClientKeyFile }, help: "Key of --client-cert-file (default: --key-file)."},
	{name: "client-cert-auth", yamlKey: "-", kind: kindBool, field: func(c *Config) any { return &c.ClientTLS.ClientCertAuth }, help: "Enable client cert authentication."},
	{name: "client-crl-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.ClientTLS.CRLFile }, help: "Path to the client certificate revocation list file."},
	{name: "client-cert-allowed-hostname", yamlKey: "-", kind: kindList, field: func(c *Config) any { return &c.ClientTLS.AllowedHostname }, help: "Comma-separated allowed SAN hostnames for client cert authentication."},
	{name: "trusted-ca-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.ClientTLS.TrustedCAFile }, help: "Path to the client server TLS trusted CA cert file."},
	{name: "auto-tls", yamlKey: "-", kind: kindBool, field: func(c *Config) any { return &c.ClientTLS.AutoTLS }, help: "Client TLS using generated certificates."},
	{name: "peer-cert-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.PeerTLS.CertFile }, help: "Path to the peer server TLS cert file."},
	{name: "peer-key-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.PeerTLS.KeyFile }, help: "Path to the peer server TLS key file."},
	{name: "peer-client-cert-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.PeerTLS.ClientCertFile }, help: "Certificate presented when dialing peers (default: --peer-cert-file)."},
	{name: "peer-client-key-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.PeerTLS.ClientKeyFile }, help: "Key of --peer-client-cert-file (default: --peer-key-file)."},
	{name: "peer-client-cert-auth", yamlKey: "-", kind: kindBool, field: func(c *Config) any { return &c.PeerTLS.ClientCertAuth }, help: "Enable peer client cert authentication."},
	{name: "peer-trusted-ca-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.PeerTLS.TrustedCAFile }, help: "Path to the peer server TLS trusted CA file."},
	{name: "peer-auto-tls", yamlKey: "-", kind: kindBool, field: func(c *Config) any { return &c.PeerTLS.AutoTLS }, help: "Peer TLS using generated certificates."},
	{name: "peer-crl-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.PeerTLS.CRLFile }, help: "Path to the peer certificate revocation list file."},
	{name: "peer-cert-allowed-cn", yamlKey: "-", kind: kindList, field: func(c *Config) any { return &c.PeerTLS.AllowedCN }, help: "Comma-separated allowed CNs for inter-peer TLS authentication."},
	{name: "peer-cert-allowed-hostname", yamlKey: "-", kind: kindList, field: func(c *Config) any { return &c.PeerTLS.AllowedHostname }, help: "Comma-separated allowed SAN hostnames for inter-peer TLS authentication."},
	{name: "peer-skip-client-san-verification", yamlKey: "-", kind: kindBool, field: func(c *Config) any { return &c.PeerTLS.SkipClientSANVerify }, help: "Skip verification of the SAN field in peer client certificates."},
	{name: "experimental-peer-skip-client-san-verification", kind: kindBool, field: func(c *Config) any { return &c.PeerTLS.SkipClientSANVerify }, alias: "peer-skip-client-san-verification"},
	{name: "client-transport-security", noFlag: true, kind: kindTLS, field: func(c *Config) any { return &c.ClientTLS }},
	{name: "peer-transport-security", noFlag: true, kind: kindTLS, field: func(c *Config) any { return &c.PeerTLS }},
	{name: "self-signed-cert-validity", kind: kindUint, field: func(c *Config) any { return &c.SelfSignedCertValidity }, def: "1", help: "Validity of auto-TLS certificates, in years."},
	{name: "cipher-suites", kind: kindList, field: func(c *Config) any { return &c.CipherSuites }, help: "Comma-separated list of TLS cipher suites (empty: Go's default)."},
	{name: "tls-min-version", kind: kindString, field: func(c *Config) any { return &c.TLSMinVersion }, def: "TLS1.2", help: "Minimum TLS version: TLS1.2 or TLS1.3."},
	{name: "tls-max-version", kind: kindString, field: func(c *Config) any { return &c.TLSMaxVersion }, help: "Maximum TLS version: TLS1.2 or TLS1.3 (empty: Go's highest)."},
	{name: "cors", kind: kindCORS, yamlComma: true, field: func(c *Config) any { return &c.CORS }, def: "*", help: "Comma-separated allowed CORS origins (* allows all)."},
	{name: "host-whitelist", kind: kindUniqueList, yamlComma: true, field: func(c *Config) any { return &c.HostWhitelist }, def: "*", help: "Comma-separated Host headers accepted over plain HTTP (* allows all)."},

	// Logging and observability.
	{name: "logger", kind: kindString, def: "zap"},
	{name: "log-level", kind: kindString, field: func(c *Config) any { return &c.LogLevel }, def: "info", help: "Log level: debug, info, warn, error, panic or fatal."},
	{name: "log-format", kind: kindString, field: func(c *Config) any { return &c.LogFormat }, def: "json", help: "Log format: json or console."},
	{name: "log-outputs", kind: kindUniqueList, field: func(c *Config) any { return &c.LogOutputs }, def: "default", help: "Comma-separated log targets: default, stderr, stdout, systemd/journal or file paths."},
	{name: "enable-log-rotation", kind: kindBool},
	{name: "log-rotation-config-json", kind: kindString},
	{name: "enable-pprof", kind: kindBool, field: func(c *Config) any { return &c.EnablePprof }, help: "Serve runtime profiling data at /debug/pprof/ on the client port."},
	{name: "metrics", kind: kindString, field: func(c *Config) any { return &c.Metrics }, def: "basic", help: "Metrics detail: basic or extensive."},
	{name: "enable-distributed-tracing", kind: kindBool},
	{name: "distributed-tracing-address", kind: kindString},
	{name: "distributed-tracing-service-name", kind: kindString},
	{name: "distributed-tracing-instance-id", kind: kindString},
	{name: "distributed-tracing-sampling-rate", kind: kindInt},
	{name: "experimental-enable-distributed-tracing", kind: kindBool, alias: "enable-distributed-tracing"},
	{name: "experimental-distributed-tracing-address", kind: kindString, alias: "distributed-tracing-address"},
	{name: "experimental-distributed-tracing-service-name", kind: kindString, alias: "distributed-tracing-service-name"},
	{name: "experimental-distributed-tracing-instance-id", kind: kindString, alias: "distributed-tracing-instance-id"},
	{name: "experimental-distributed-tracing-sampling-rate", kind: kindInt, alias: "distributed-tracing-sampling-rate"},

	// Compaction.
	{name: "auto-compaction-mode", kind: kindString, field: func(c *Config) any { return &c.AutoCompactionMode }, def: "periodic", help: "Interpret --auto-compaction-retention as 'periodic' (duration) or 'revision' (count)."},
	{name: "auto-compaction-retention", kind: kindString, field: func(c *Config) any { return &c.AutoCompactionRetention }, def: "0", help: "Auto compaction retention (0 disables); periodic: '1h', '30m' or hours."},
	{name: "compaction-batch-limit", kind: kindInt, field: func(c *Config) any { return &c.CompactionBatchLimit }, help: "Maximum revisions deleted in each compaction batch (0: 1000)."},
	{name: "experimental-compaction-batch-limit", kind: kindInt, field: func(c *Config) any { return &c.CompactionBatchLimit }, alias: "compaction-batch-limit"},
	{name: "compaction-sleep-interval", kind: kindDuration, field: func(c *Config) any { return &c.CompactionSleepInterval }, help: "Pause between compaction batches (0: 10ms)."},
	{name: "experimental-compaction-sleep-interval", kind: kindDuration, field: func(c *Config) any { return &c.CompactionSleepInterval }, alias: "compaction-sleep-interval"},

	// Auth and gateway.
	{name: "auth-token", kind: kindString, field: func(c *Config) any { return &c.AuthToken }, def: "simple", help: "Auth token type and options: simple, or jwt,pub-key=...,priv-key=...,sign-method=...,ttl=..."},
	{name: "bcrypt-cost", kind: kindUint, field: func(c *Config) any { return &c.BcryptCost }, def: "10", help: "bcrypt cost factor for password hashing (4..31)."},
	{name: "auth-token-ttl", kind: kindUint, field: func(c *Config) any { return &c.AuthTokenTTL }, def: "300", help: "Lifetime of simple auth tokens, in seconds."},
	{name: "enable-grpc-gateway", kind: kindBool, field: func(c *Config) any { return &c.EnableGRPCGateway }, def: "true", help: "Serve the JSON gateway under /v3/."},

	// Watch and maintenance timers.
	{name: "watch-progress-notify-interval", kind: kindDuration, field: func(c *Config) any { return &c.WatchProgressNotifyInterval }, def: "10m0s", help: "Period of watch progress notifications."},
	{name: "experimental-watch-progress-notify-interval", kind: kindDuration, field: func(c *Config) any { return &c.WatchProgressNotifyInterval }, alias: "watch-progress-notify-interval"},
	{name: "corrupt-check-time", kind: kindDuration},
	{name: "experimental-corrupt-check-time", kind: kindDuration, alias: "corrupt-check-time"},
	{name: "experimental-initial-corrupt-check", kind: kindBool},
	{name: "compact-hash-check-time", kind: kindDuration},
	{name: "experimental-compact-hash-check-time", kind: kindDuration, alias: "compact-hash-check-time"},
	{name: "experimental-compact-hash-check-enabled", kind: kindBool},
	{name: "experimental-enable-lease-checkpoint", kind: kindBool},
	{name: "experimental-enable-lease-checkpoint-persist", kind: kindBool},
	{name: "downgrade-check-time", kind: kindDuration},
	{name: "experimental-downgrade-check-time", kind: kindDuration, alias: "downgrade-check-time"},
	{name: "warning-apply-duration", kind: kindDuration},
	{name: "experimental-warning-apply-duration", kind: kindDuration, alias: "warning-apply-duration"},
	{name: "warning-unary-request-duration", kind: kindDuration},
	{name: "experimental-warning-unary-request-duration", kind: kindDuration, alias: "warning-unary-request-duration"},
	{name: "memory-mlock", kind: kindBool},
	{name: "experimental-memory-mlock", kind: kindBool, alias: "memory-mlock"},
	{name: "bootstrap-defrag-threshold-megabytes", kind: kindUint},
	{name: "experimental-bootstrap-defrag-threshold-megabytes", kind: kindUint, alias: "bootstrap-defrag-threshold-megabytes"},
	{name: "experimental-txn-mode-write-with-shared-buffer", kind: kindBool},
	{name: "experimental-stop-grpc-service-on-defrag", kind: kindBool},
	{name: "feature-gates", kind: kindString},
	{name: "v2-deprecation", kind: kindChoice, choices: []string{"write-only", "write-only-drop-data", "gone"}, deprecated: "--v2-deprecation is deprecated and scheduled for removal in v3.8. The default value is enforced, ignoring user input."},

	// Unsafe.
	{name: "unsafe-no-fsync", kind: kindBool, field: func(c *Config) any { return &c.UnsafeNoFsync }, help: "Disables fsync: unsafe, will cause data loss."},
	{name: "force-new-cluster", kind: kindBool, field: func(c *Config) any { return &c.ForceNewCluster }, help: "Force to create a new one-member cluster."},

	// Command line only.
	{name: "config-file", yamlKey: "-", kind: kindString, field: func(c *Config) any { return &c.ConfigFile }, help: "Path to the server configuration file. When given, other flags and environment variables are ignored."},
	{name: "version", yamlKey: "-", kind: kindBool, field: func(c *Config) any { return &c.PrintVersion }, help: "Print the version and exit."},
}

// legacyFlags are etcd 2 flags etcd still accepts and ignores with a warning
// (etcdmain/config.go "ignored"). They take no value, like bool flags.
var legacyFlags = []string{
	"cluster-active-size", "cluster-remove-delay", "cluster-sync-interval", "config", "force",
	"max-result-buffer", "max-retry-attempts", "peer-heartbeat-interval", "peer-election-timeout",
	"retry-interval", "snapshot", "v", "vv",
}

// tlsKeys are the keys of a client-/peer-transport-security block.
var tlsKeys = []*option{
	{name: "cert-file", kind: kindString},
	{name: "key-file", kind: kindString},
	{name: "client-cert-file", kind: kindString},
	{name: "client-key-file", kind: kindString},
	{name: "client-cert-auth", kind: kindBool},
	{name: "trusted-ca-file", kind: kindString},
	{name: "auto-tls", kind: kindBool},
	{name: "allowed-cn", kind: kindList},
	{name: "allowed-hostname", kind: kindList},
	{name: "skip-client-san-verification", kind: kindBool},
}

// tlsField returns the TLSInfo field a transport-security key sets.
func tlsField(t *TLSInfo, key string) any {
	switch key {
	case "cert-file":
		return &t.CertFile
	case "key-file":
		return &t.KeyFile
	case "client-cert-file":
		return &t.ClientCertFile
	case "client-key-file":
		return &t.ClientKeyFile
	case "client-cert-auth":
		return &t.ClientCertAuth
	case "trusted-ca-file":
		return &t.TrustedCAFile
	case "auto-tls":
		return &t.AutoTLS
	case "allowed-cn":
		return &t.AllowedCN
	case "allowed-hostname":
		return &t.AllowedHostname
	case "skip-client-san-verification":
		return &t.SkipClientSANVerify
	}
	return nil
}

var (
	flagIndex = map[string]*option{} // flag name -> option
	yamlIndex = map[string]*option{} // lower-cased config-file key -> option
	envIndex  = map[string]*option{} // ETCD_* variable -> option
)

func init() {
	for _, name := range legacyFlags {
		options = append(options, &option{name: name, yamlKey: "-", kind: kindLegacy})
	}
	for _, o := range options {
		if !o.noFlag {
			if flagIndex[o.name] != nil {
				panic("config: duplicate flag " + o.name)
			}
			flagIndex[o.name] = o
			envIndex[envName(o.name)] = o
		}
		if k := o.key(); k != "-" {
			if yamlIndex[strings.ToLower(k)] != nil {
				panic("config: duplicate config-file key " + k)
			}
			yamlIndex[strings.ToLower(k)] = o
		}
	}
}

// envName is the environment variable for a flag: ETCD_ + upper-cased name
// with '-' replaced by '_'.
func envName(flag string) string {
	return "ETCD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// canonical is the option name an alias stands for (or the name itself).
func (o *option) canonical() string {
	if o.alias != "" {
		return o.alias
	}
	return o.name
}
