package config

import (
	"errors"
	"math"
	"net/url"
	"sort"
	"strings"
	"time"
)

// URLs is a list of listen or advertise URLs. Parse returns them sorted by
// their string form and without duplicates.
type URLs = []url.URL

// Defaults, as etcd 3.6 has them.
const (
	DefaultName                    = "default"
	DefaultListenClientURL         = "http://localhost:2379"
	DefaultListenPeerURL           = "http://localhost:2380"
	DefaultInitialClusterToken     = "etcd-cluster"
	DefaultTickMs                  = 100
	DefaultElectionMs              = 1000
	DefaultSnapshotCount           = 10000
	DefaultSnapshotCatchUpEntries  = 5000
	DefaultMaxRequestBytes         = 1572864 // 1.5 MiB
	DefaultMaxTxnOps               = 128
	DefaultMaxConcurrentStreams    = math.MaxUint32
	DefaultQuotaBackendBytes       = 2 << 30 // what QuotaBackendBytes == 0 means
	DefaultWatchProgressNotify     = 10 * time.Minute
	DefaultGRPCKeepAliveMinTime    = 5 * time.Second
	DefaultGRPCKeepAliveInterval   = 2 * time.Hour
	DefaultGRPCKeepAliveTimeout    = 20 * time.Second
	DefaultBcryptCost              = 10
	DefaultAuthTokenTTL            = 300
	DefaultMaxLearners             = 1
	DefaultSelfSignedCertValidity  = 1
	DefaultCompactionBatchLimit    = 1000                  // what CompactionBatchLimit == 0 means
	DefaultCompactionSleepInterval = 10 * time.Millisecond // what CompactionSleepInterval == 0 means

	// MaxElectionMs is the largest election timeout etcd accepts.
	MaxElectionMs = 50000

	ClusterStateNew      = "new"
	ClusterStateExisting = "existing"

	// DataDirSuffix is appended to the member name to form the default data
	// dir (etcd uses ".etcd").
	DataDirSuffix = ".cairn"
)

// Sentinel errors. Every error Parse and Validate return matches exactly one
// of them with errors.Is; its text is a single line naming the culprit.
var (
	// ErrUsage: a bad command line or environment variable (unknown flag,
	// bad value, flag shadowed by an environment variable).
	ErrUsage = errors.New("config: bad command line or environment")
	// ErrFile: the config file cannot be read, is not valid YAML, or has an
	// unknown key or a value of the wrong type.
	ErrFile = errors.New("config: bad config file")
	// ErrInvalid: the options parsed but do not make a valid configuration.
	ErrInvalid = errors.New("config: invalid configuration")
)

// ErrUnsetAdvertiseClientURLs is etcd's message, byte for byte.
var ErrUnsetAdvertiseClientURLs = &Error{kind: ErrInvalid, msg: "--advertise-client-urls is required when --listen-client-urls is set explicitly"}

// Error is the error type of this package: Error() is the exact one-line
// message, and errors.Is matches its kind (ErrUsage, ErrFile or ErrInvalid).
type Error struct {
	kind error
	msg  string
}

func (e *Error) Error() string            { return e.msg }
func (e *Error) Is(target error) bool     { return target == e.kind }
func newErr(kind error, msg string) error { return &Error{kind: kind, msg: msg} }

// TLSInfo is one side's (client or peer) TLS setup. All paths are files; an
// empty path means "not given".
type TLSInfo struct {
	CertFile       string // server certificate (PEM)
	KeyFile        string // key of CertFile (PEM)
	TrustedCAFile  string // CA bundle used to verify the other side's certificates
	ClientCertFile string // certificate this member presents when it dials out; empty = CertFile
	ClientKeyFile  string // key of ClientCertFile; empty = KeyFile
	CRLFile        string // certificate revocation list; flag only, as in etcd
	// AllowedCN and AllowedHostname restrict accepted client certificates to
	// these common names / SAN hostnames. Each is a comma-separated list
	// (etcd 3.6 accepts several); empty accepts any. See AllowedCNs.
	AllowedCN, AllowedHostname string
	ClientCertAuth             bool // require and verify client certificates
	AutoTLS                    bool // generate self-signed certificates when no cert/key is given
	SkipClientSANVerify        bool // do not check the client certificate's SAN against its address
}

// AllowedCNs returns AllowedCN as a list (nil when any CN is allowed).
func (t TLSInfo) AllowedCNs() []string { return splitList(t.AllowedCN) }

// AllowedHostnames returns AllowedHostname as a list (nil when any is allowed).
func (t TLSInfo) AllowedHostnames() []string { return splitList(t.AllowedHostname) }

// Empty reports whether no certificate or key is configured.
func (t TLSInfo) Empty() bool { return t.CertFile == "" && t.KeyFile == "" }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Config is a member's server configuration. Build it with Default() or
// Parse(), then check it with Validate(). A Config is a plain value: it is
// not safe to mutate while another goroutine reads it.
type Config struct {
	// Name is this member's human-readable name (--name); it must appear in
	// InitialCluster. Default "default".
	Name string
	// DataDir holds the member's data (--data-dir). Empty means Name+".cairn";
	// Parse fills it in.
	DataDir string
	// WALDir is a dedicated directory for the raft log (--wal-dir). Empty
	// means inside DataDir.
	WALDir string

	// ListenClientURLs are the addresses served to clients, gRPC and HTTP
	// (--listen-client-urls). Hosts must be IP addresses or "localhost".
	ListenClientURLs URLs
	// AdvertiseClientURLs are the client URLs announced to the cluster
	// (--advertise-client-urls). Required when ListenClientURLs is set.
	AdvertiseClientURLs URLs
	// ListenPeerURLs are the addresses served to other members.
	ListenPeerURLs URLs
	// InitialAdvertisePeerURLs are this member's peer URLs as announced to
	// the cluster at bootstrap (--initial-advertise-peer-urls).
	InitialAdvertisePeerURLs URLs
	// ListenMetricsURLs serve only /metrics and the health endpoints. Empty
	// means none.
	ListenMetricsURLs URLs
	// ListenClientHTTPURLs serve only client HTTP (gateway, /health, ...);
	// when set, ListenClientURLs serve gRPC only. Empty means none.
	ListenClientHTTPURLs URLs

	// InitialCluster is "name=url,name=url,..." for bootstrap; a name may
	// repeat with several URLs. Default "<Name>=<InitialAdvertisePeerURLs>".
	InitialCluster string
	// InitialClusterState is "new" (bootstrapping a cluster) or "existing"
	// (joining one). Ignored once the member has data.
	InitialClusterState string
	// InitialClusterToken is mixed into the member and cluster IDs.
	InitialClusterToken string

	// TickMs is the heartbeat interval in milliseconds (--heartbeat-interval);
	// must be > 0. Default 100.
	TickMs uint
	// ElectionMs is the election timeout in milliseconds (--election-timeout);
	// at least 5*TickMs and at most 50000. Default 1000.
	ElectionMs uint

	// SnapshotCount is the number of applied entries after which the raft log
	// is truncated behind a snapshot. Zero means the default, 10000.
	SnapshotCount uint64
	// SnapshotCatchUpEntries is how many entries are kept behind a snapshot
	// for slow followers. Zero means the default, 5000.
	SnapshotCatchUpEntries uint64

	// MaxRequestBytes is the largest client request in bytes; must be > 0.
	// gRPC's receive limit is this plus 512 KiB. Default 1.5 MiB.
	MaxRequestBytes uint
	// MaxTxnOps is the largest number of operations in one Txn; must be > 0.
	MaxTxnOps uint
	// MaxConcurrentStreams is the per-client gRPC stream limit. Default
	// math.MaxUint32 (no practical limit).
	MaxConcurrentStreams uint32

	// QuotaBackendBytes is the storage quota in bytes; exceeding it raises
	// the NOSPACE alarm. Zero means 2 GiB; negative disables the quota.
	QuotaBackendBytes int64

	// AutoCompactionMode is "periodic" or "revision".
	AutoCompactionMode string
	// AutoCompactionRetention is, for periodic, a duration ("30m") or a whole
	// number of hours ("1"); for revision, the number of revisions to keep.
	// "0" disables auto compaction. See CompactionRetention.
	AutoCompactionRetention string

	// StrictReconfigCheck rejects membership changes that would lose quorum.
	StrictReconfigCheck bool
	// PreVote enables raft pre-vote.
	PreVote bool
	// InitialElectionTickAdvance fast-forwards election ticks at boot.
	InitialElectionTickAdvance bool

	// ClientTLS and PeerTLS are the TLS setups of the client and peer ports.
	ClientTLS, PeerTLS TLSInfo
	// CipherSuites are Go TLS cipher-suite names; empty means Go's default.
	CipherSuites []string
	// TLSMinVersion and TLSMaxVersion are "TLS1.2", "TLS1.3" or "" (for max:
	// Go's highest). Default min "TLS1.2".
	TLSMinVersion, TLSMaxVersion string
	// SelfSignedCertValidity is the validity of auto-TLS certificates in
	// years. Zero means 1.
	SelfSignedCertValidity uint

	// LogLevel is debug, info, warn, error, panic or fatal.
	LogLevel string
	// LogFormat is "json" or "console".
	LogFormat string
	// LogOutputs are "default" (stderr), "stderr", "stdout",
	// "systemd/journal" or file paths.
	LogOutputs []string
	// EnablePprof serves /debug/pprof on the client port.
	EnablePprof bool
	// Metrics is "basic" or "extensive" (adds gRPC histograms).
	Metrics string

	// WatchProgressNotifyInterval is the period of progress notifications to
	// watchers that asked for them. Zero means the default, 10m.
	WatchProgressNotifyInterval time.Duration
	// GRPCKeepAliveMinTime is the shortest client ping interval allowed.
	GRPCKeepAliveMinTime time.Duration
	// GRPCKeepAliveInterval is how often the server pings idle clients;
	// zero disables server pings.
	GRPCKeepAliveInterval time.Duration
	// GRPCKeepAliveTimeout is how long a ping may go unanswered before the
	// connection is closed; zero disables it.
	GRPCKeepAliveTimeout time.Duration

	// AuthToken is "simple" or "jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...".
	AuthToken string
	// BcryptCost is the bcrypt cost of stored passwords (4..31).
	BcryptCost uint
	// AuthTokenTTL is the lifetime of simple tokens in seconds.
	AuthTokenTTL uint

	// EnableGRPCGateway serves the JSON gateway under /v3/.
	EnableGRPCGateway bool
	// CORS lists allowed origins for HTTP; "*" allows all.
	CORS []string
	// HostWhitelist lists Host headers accepted over plain HTTP; "*" or
	// empty allows all.
	HostWhitelist []string

	// MaxLearners is the most learner members the cluster may have.
	MaxLearners int
	// UnsafeNoFsync disables fsync: data loss on crash. Tests only.
	UnsafeNoFsync bool
	// ForceNewCluster makes this member start a new one-member cluster from
	// its data, discarding the old membership.
	ForceNewCluster bool

	// CompactionBatchLimit is the most revisions deleted per compaction
	// batch. Zero means the default, 1000.
	CompactionBatchLimit int
	// CompactionSleepInterval is the pause between compaction batches. Zero
	// means the default, 10ms.
	CompactionSleepInterval time.Duration

	// ConfigFile is the YAML file the config was read from; empty if none.
	ConfigFile string
	// PrintVersion is set when --version was given; Parse then stops early
	// and does not validate.
	PrintVersion bool

	// Ignored holds the etcd options that were given but that Cairn accepts
	// for compatibility without acting on them: option name -> value as
	// given. Nil when there are none.
	Ignored map[string]string
}

// Default returns etcd 3.6's defaults (DataDir left empty: it means
// Name+".cairn").
func Default() *Config {
	c := &Config{
		Name:                        DefaultName,
		ListenClientURLs:            mustURLs(DefaultListenClientURL),
		AdvertiseClientURLs:         mustURLs(DefaultListenClientURL),
		ListenPeerURLs:              mustURLs(DefaultListenPeerURL),
		InitialAdvertisePeerURLs:    mustURLs(DefaultListenPeerURL),
		InitialClusterState:         ClusterStateNew,
		InitialClusterToken:         DefaultInitialClusterToken,
		TickMs:                      DefaultTickMs,
		ElectionMs:                  DefaultElectionMs,
		SnapshotCount:               DefaultSnapshotCount,
		SnapshotCatchUpEntries:      DefaultSnapshotCatchUpEntries,
		MaxRequestBytes:             DefaultMaxRequestBytes,
		MaxTxnOps:                   DefaultMaxTxnOps,
		MaxConcurrentStreams:        DefaultMaxConcurrentStreams,
		AutoCompactionMode:          "periodic",
		AutoCompactionRetention:     "0",
		StrictReconfigCheck:         true,
		PreVote:                     true,
		InitialElectionTickAdvance:  true,
		TLSMinVersion:               "TLS1.2",
		SelfSignedCertValidity:      DefaultSelfSignedCertValidity,
		LogLevel:                    "info",
		LogFormat:                   "json",
		LogOutputs:                  []string{"default"},
		Metrics:                     "basic",
		WatchProgressNotifyInterval: DefaultWatchProgressNotify,
		GRPCKeepAliveMinTime:        DefaultGRPCKeepAliveMinTime,
		GRPCKeepAliveInterval:       DefaultGRPCKeepAliveInterval,
		GRPCKeepAliveTimeout:        DefaultGRPCKeepAliveTimeout,
		AuthToken:                   "simple",
		BcryptCost:                  DefaultBcryptCost,
		AuthTokenTTL:                DefaultAuthTokenTTL,
		EnableGRPCGateway:           true,
		CORS:                        []string{"*"},
		HostWhitelist:               []string{"*"},
		MaxLearners:                 DefaultMaxLearners,
	}
	c.InitialCluster = initialClusterFromName(c.Name, c.InitialAdvertisePeerURLs)
	return c
}

// ElectionTicks is the election timeout in heartbeat ticks.
func (c *Config) ElectionTicks() int {
	if c.TickMs == 0 {
		return 0
	}
	return int(c.ElectionMs / c.TickMs)
}

// InitialClusterMap parses InitialCluster ("name=url,name=url"; a name may
// repeat with several URLs). Each member's URLs come back sorted and without
// duplicates. An empty InitialCluster gives an empty map.
func (c *Config) InitialClusterMap() (map[string]URLs, error) {
	return parseInitialCluster(c.InitialCluster)
}

func parseInitialCluster(s string) (map[string]URLs, error) {
	raw := map[string][]string{}
	for _, entry := range strings.Split(s, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		name, u, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, newErr(ErrInvalid, "invalid --initial-cluster "+quote(s)+": entry "+quote(entry)+" is not of the form name=url")
		}
		if name == "" {
			return nil, newErr(ErrInvalid, "invalid --initial-cluster "+quote(s)+": entry "+quote(entry)+" has an empty name")
		}
		raw[name] = append(raw[name], u)
	}
	m := make(map[string]URLs, len(raw))
	for name, list := range raw {
		us, err := parseURLList(list)
		if err != nil {
			return nil, newErr(ErrInvalid, "invalid --initial-cluster "+quote(s)+": "+err.Error())
		}
		m[name] = us
	}
	return m, nil
}

// CompactionRetention interprets AutoCompactionRetention under
// AutoCompactionMode: for "periodic" it returns the period (a bare number is
// hours), for "revision" the number of revisions to keep. Zero disables.
func (c *Config) CompactionRetention() (period time.Duration, revisions int64, err error) {
	r := c.AutoCompactionRetention
	if r == "" {
		r = "0"
	}
	switch c.AutoCompactionMode {
	case "periodic":
		if d, derr := time.ParseDuration(r); derr == nil {
			if d < 0 {
				break
			}
			return d, 0, nil
		}
		if h, herr := parseInt(r, 64); herr == nil && h >= 0 && h <= math.MaxInt64/int64(time.Hour) {
			return time.Duration(h) * time.Hour, 0, nil
		}
		return 0, 0, newErr(ErrInvalid, "invalid --auto-compaction-retention "+quote(c.AutoCompactionRetention)+" for --auto-compaction-mode=periodic: want a duration such as 30m or 1h, or a whole number of hours")
	case "revision":
		if n, nerr := parseInt(r, 64); nerr == nil && n >= 0 {
			return 0, n, nil
		}
		return 0, 0, newErr(ErrInvalid, "invalid --auto-compaction-retention "+quote(c.AutoCompactionRetention)+" for --auto-compaction-mode=revision: want a whole number of revisions")
	}
	return 0, 0, newErr(ErrInvalid, "--auto-compaction-mode must be \"periodic\" or \"revision\" (got "+quote(c.AutoCompactionMode)+")")
}

func initialClusterFromName(name string, apurls URLs) string {
	if len(apurls) == 0 {
		return ""
	}
	if name == "" {
		name = DefaultName
	}
	parts := make([]string, len(apurls))
	for i := range apurls {
		parts[i] = name + "=" + apurls[i].String()
	}
	return strings.Join(parts, ",")
}

func mustURLs(s string) URLs {
	us, err := parseURLList(strings.Split(s, ","))
	if err != nil {
		panic(err)
	}
	return us
}

func urlStrings(us URLs) []string {
	out := make([]string, len(us))
	for i := range us {
		out[i] = us[i].String()
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
