package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"sort"
	"strings"
)

// bcrypt's cost limits (golang.org/x/crypto/bcrypt MinCost, MaxCost).
const bcryptMinCost, bcryptMaxCost = 4, 31

// Validate checks the configuration as etcd's Config.Validate and its
// bootstrap checks do. It does not change c, does no I/O and no DNS lookups.
// Errors match ErrInvalid; messages follow etcd's where etcd has one.
func (c *Config) Validate() error {
	inv := func(format string, args ...any) error { return newErr(ErrInvalid, fmt.Sprintf(format, args...)) }

	urlFlags := []struct {
		flag string
		urls URLs
		bind bool
	}{
		{"listen-peer-urls", c.ListenPeerURLs, true},
		{"listen-client-urls", c.ListenClientURLs, true},
		{"listen-client-http-urls", c.ListenClientHTTPURLs, true},
		{"listen-metrics-urls", c.ListenMetricsURLs, true},
		{"initial-advertise-peer-urls", c.InitialAdvertisePeerURLs, false},
		{"advertise-client-urls", c.AdvertiseClientURLs, false},
	}
	for _, f := range urlFlags {
		for i := range f.urls {
			u := &f.urls[i]
			if err := checkURL(u, u.String()); err != nil {
				return inv("invalid --%s: %v", f.flag, err)
			}
			if u.Scheme == "unix" || u.Scheme == "unixs" {
				continue
			}
			host, _, _ := net.SplitHostPort(u.Host)
			if f.bind && host != "localhost" && net.ParseIP(host) == nil {
				return inv("--%s: expected IP in URL for binding (%s)", f.flag, u.String())
			}
			if !f.bind && host == "" {
				return inv("--%s %q must be \"host:port\" (unexpected empty host (%s))", f.flag, strings.Join(urlStrings(f.urls), ","), u.String())
			}
		}
	}
	if len(c.InitialAdvertisePeerURLs) == 0 {
		return inv("--initial-advertise-peer-urls must not be empty")
	}
	if len(c.ListenPeerURLs) == 0 {
		return inv("--listen-peer-urls must not be empty")
	}

	if c.InitialClusterState != ClusterStateNew && c.InitialClusterState != ClusterStateExisting {
		return inv("--initial-cluster-state must be %q or %q (got %q)", ClusterStateNew, ClusterStateExisting, c.InitialClusterState)
	}
	var discovery []string
	for _, n := range []string{"discovery", "discovery-endpoints", "discovery-srv", "discovery-srv-name", "discovery-config"} {
		if _, ok := c.Ignored[n]; ok {
			discovery = append(discovery, n)
		}
	}
	if len(discovery) > 0 && c.InitialCluster != "" {
		return inv(`multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery", "discovery-endpoints" or "discovery-srv"`)
	}

	if c.TickMs == 0 {
		return inv("--heartbeat-interval must be >0 (set to %dms)", c.TickMs)
	}
	if c.ElectionMs == 0 {
		return inv("--election-timeout must be >0 (set to %dms)", c.ElectionMs)
	}
	if 5*c.TickMs > c.ElectionMs {
		return inv("--election-timeout[%vms] should be at least as 5 times as --heartbeat-interval[%vms]", c.ElectionMs, c.TickMs)
	}
	if c.ElectionMs > MaxElectionMs {
		return inv("--election-timeout[%vms] is too long, and should be set less than %vms", c.ElectionMs, MaxElectionMs)
	}

	if len(c.ListenClientURLs) > 0 && len(c.AdvertiseClientURLs) == 0 {
		return ErrUnsetAdvertiseClientURLs
	}

	if _, _, err := c.CompactionRetention(); err != nil {
		return err
	}
	if c.MaxRequestBytes == 0 {
		return inv("--max-request-bytes must be >0")
	}
	if c.MaxTxnOps == 0 {
		return inv("--max-txn-ops must be >0")
	}
	if c.CompactionBatchLimit < 0 {
		return inv("--compaction-batch-limit must not be negative (got %d)", c.CompactionBatchLimit)
	}
	if c.MaxLearners < 0 {
		return inv("--max-learners must not be negative (got %d)", c.MaxLearners)
	}

	switch c.LogLevel {
	case "debug", "info", "warn", "error", "panic", "fatal":
	default:
		return inv("--log-level must be one of debug, info, warn, error, panic, fatal (got %q)", c.LogLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		return inv("--log-format must be \"json\" or \"console\" (got %q)", c.LogFormat)
	}
	for _, o := range c.LogOutputs {
		if o == "" {
			return inv("--log-outputs must not contain an empty target")
		}
	}
	if c.Metrics != "basic" && c.Metrics != "extensive" {
		return inv("--metrics must be \"basic\" or \"extensive\" (got %q)", c.Metrics)
	}

	if err := c.validateTLS(); err != nil {
		return err
	}

	tokenType, _, _ := strings.Cut(c.AuthToken, ",")
	if tokenType != "simple" && tokenType != "jwt" {
		return inv("--auth-token must start with \"simple\" or \"jwt\" (got %q)", c.AuthToken)
	}
	if c.BcryptCost < bcryptMinCost || c.BcryptCost > bcryptMaxCost {
		return inv("--bcrypt-cost must be between %d and %d (got %d)", bcryptMinCost, bcryptMaxCost, c.BcryptCost)
	}

	if c.InitialCluster == "" && len(discovery) > 0 {
		return inv("Cairn does not support discovery (--%s); set --initial-cluster instead", discovery[0])
	}
	return c.validateInitialCluster()
}

func (c *Config) validateTLS() error {
	inv := func(format string, args ...any) error { return newErr(ErrInvalid, fmt.Sprintf(format, args...)) }
	for _, v := range []struct{ flag, val string }{{"tls-min-version", c.TLSMinVersion}, {"tls-max-version", c.TLSMaxVersion}} {
		if !isTLSVersion(v.val) {
			return inv("--%s: unexpected TLS version %q (must be one of: TLS1.2, TLS1.3)", v.flag, v.val)
		}
	}
	if c.TLSMaxVersion != "" && c.TLSMinVersion > c.TLSMaxVersion {
		return inv("min version (%s) is greater than max version (%s)", c.TLSMinVersion, c.TLSMaxVersion)
	}
	if c.TLSMinVersion == "TLS1.3" && len(c.CipherSuites) > 0 {
		return inv("cipher suites cannot be configured when only TLS1.3 is enabled")
	}
	known := map[string]bool{}
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		known[s.Name] = true
	}
	for _, s := range c.CipherSuites {
		if !known[s] {
			return inv("--cipher-suites: unexpected TLS cipher suite %q", s)
		}
	}
	return nil
}

// validateInitialCluster makes etcd's bootstrap checks: this member is in
// the initial cluster, no URL appears twice, and (for a new cluster) its
// URLs there are exactly --initial-advertise-peer-urls.
func (c *Config) validateInitialCluster() error {
	inv := func(format string, args ...any) error { return newErr(ErrInvalid, fmt.Sprintf(format, args...)) }
	m, err := c.InitialClusterMap()
	if err != nil {
		return err
	}
	icURLs, ok := m[c.Name]
	if !ok {
		return inv("couldn't find local name %q in the initial cluster configuration", c.Name)
	}
	seen := map[string]bool{}
	for _, name := range sortedKeys(m) {
		for _, u := range m[name] {
			if seen[u.String()] {
				return inv("initial cluster %s has duplicate url", urlsMapString(m))
			}
			seen[u.String()] = true
		}
	}
	if c.InitialClusterState != ClusterStateNew {
		return nil
	}
	ok, detail := urlsMatch(c.InitialAdvertisePeerURLs, icURLs)
	if ok {
		return nil
	}
	apStrs := urlStrings(c.InitialAdvertisePeerURLs)
	ap, ic := stringSet(apStrs), stringSet(urlStrings(icURLs))
	var missing []string
	for _, u := range urlStrings(icURLs) {
		if !ap[u] {
			missing = append(missing, c.Name+"="+u)
		}
	}
	if len(missing) > 0 {
		return inv("--initial-cluster has %s but missing from --initial-advertise-peer-urls=%s (%s)", strings.Join(missing, ","), strings.Join(apStrs, ","), detail)
	}
	self := urlsMapString(map[string]URLs{c.Name: c.InitialAdvertisePeerURLs})
	for _, u := range apStrs {
		if !ic[u] {
			missing = append(missing, u)
		}
	}
	if len(missing) > 0 {
		return inv("--initial-advertise-peer-urls has %s but missing from --initial-cluster=%s", strings.Join(missing, ","), self)
	}
	return inv("failed to resolve %s to match --initial-cluster=%s (%s)", strings.Join(apStrs, ","), self, detail)
}

// urlsMatch compares two URL lists as etcd's netutil.URLStringsEqual does,
// but without DNS: the only name resolved is "localhost", to 127.0.0.1.
// On a mismatch it returns etcd's description of the first difference.
func urlsMatch(a, b URLs) (bool, string) {
	if len(a) != len(b) {
		return false, fmt.Sprintf("len(%q) != len(%q)", urlStrings(a), urlStrings(b))
	}
	type pair struct{ resolved, given string }
	resolve := func(us URLs) []pair {
		out := make([]pair, len(us))
		for i := range us {
			u := us[i]
			if host, port, err := net.SplitHostPort(u.Host); err == nil && host == "localhost" {
				u.Host = net.JoinHostPort("127.0.0.1", port)
			}
			out[i] = pair{(&u).String(), us[i].String()}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].resolved < out[j].resolved })
		return out
	}
	ra, rb := resolve(a), resolve(b)
	for i := range ra {
		if ra[i].resolved != rb[i].resolved {
			return false, fmt.Sprintf("%q(resolved from %q) != %q(resolved from %q)", ra[i].resolved, ra[i].given, rb[i].resolved, rb[i].given)
		}
	}
	return true, ""
}

func urlsMapString(m map[string]URLs) string {
	var pairs []string
	for name, us := range m {
		for i := range us {
			pairs = append(pairs, name+"="+us[i].String())
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

func stringSet(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}
