package config

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Sources an option can be set from, recorded per option name.
const (
	fromFlag = "flag"
	fromEnv  = "env"
	fromFile = "file"
)

// parseState accumulates one Parse run. It is not shared between goroutines.
type parseState struct {
	cfg      *Config
	set      map[string]string // option name -> fromFlag, fromEnv or fromFile
	order    []string          // option names in the order first set
	raw      map[string]string // option name -> value as given (for Config.Ignored)
	warnings []string
	errKind  error // ErrUsage for flags and environment, ErrFile for a file
}

func newState(kind error) *parseState {
	return &parseState{cfg: Default(), set: map[string]string{}, raw: map[string]string{}, errKind: kind}
}

func (st *parseState) warnf(format string, args ...any) {
	st.warnings = append(st.warnings, fmt.Sprintf(format, args...))
}

func (st *parseState) mark(o *option, from, raw string) {
	if _, ok := st.set[o.name]; !ok {
		st.order = append(st.order, o.name)
	}
	st.set[o.name] = from
	st.raw[o.name] = raw
}

// isSet reports whether the option, or a deprecated alias of it, was given.
func (st *parseState) isSet(name string) bool {
	if _, ok := st.set[name]; ok {
		return true
	}
	for n := range st.set {
		if o := lookupAny(n); o != nil && o.alias == name {
			return true
		}
	}
	return false
}

func lookupAny(name string) *option {
	if o := flagIndex[name]; o != nil {
		return o
	}
	for _, o := range options {
		if o.name == name {
			return o
		}
	}
	return nil
}

// Parse builds a Config from command-line args (without the program name)
// and the environment (os.Environ() form), as etcd 3.6 does:
//
//   - flags in Go flag style; a repeated flag keeps its last value;
//   - if --config-file (or ETCD_CONFIG_FILE) names a file, the config comes
//     from Default() plus that file only: other flags and the environment
//     are ignored (a warning lists the ignored flags);
//   - otherwise ETCD_* variables fill in flags not given on the command line.
//
// For -h/--help it writes the usage to usage and returns flag.ErrHelp. With
// --version it returns at once with PrintVersion set, unvalidated.
// Otherwise the result is validated (see Validate) and derived defaults are
// filled in: DataDir, and InitialCluster from Name when only --name is given.
// Warnings (unknown ETCD_* variables, deprecated or ignored options) are for
// the caller to log. Parse reads the config file and nothing else; it creates
// nothing on disk and does not read the process environment itself.
func Parse(args []string, environ []string, usage io.Writer) (cfg *Config, warnings []string, err error) {
	st := newState(ErrUsage)
	if err := st.parseArgs(args); err != nil {
		if err == flag.ErrHelp {
			if usage != nil {
				writeUsage(usage)
			}
			return nil, nil, flag.ErrHelp
		}
		return nil, nil, err
	}
	if st.cfg.PrintVersion {
		return st.cfg, nil, nil
	}

	file := st.cfg.ConfigFile
	if file == "" {
		file = lookupEnv(environ, envName("config-file"))
	}
	if file != "" {
		var ignored []string
		for _, n := range st.order {
			if n != "config-file" {
				ignored = append(ignored, "--"+n)
			}
		}
		st = newState(ErrFile)
		st.cfg.ConfigFile = file
		if err := st.loadFile(file); err != nil {
			return nil, nil, err
		}
		if len(ignored) > 0 {
			st.warnf("config file %s is given: ignoring command-line flags %s", file, strings.Join(ignored, " "))
		}
	} else if err := st.applyEnv(environ); err != nil {
		return nil, nil, err
	}

	if err := st.finish(); err != nil {
		return nil, st.warnings, err
	}
	if err := st.cfg.Validate(); err != nil {
		return nil, st.warnings, err
	}
	return st.cfg, st.warnings, nil
}

// parseArgs parses flags with Go's flag package syntax: -name or --name,
// value as -name=value or -name value (bool flags only -name or
// -name=value), "--" ends the flags, and the first non-flag argument is an
// error (etcd takes no positional arguments).
func (st *parseState) parseArgs(args []string) error {
	for len(args) > 0 {
		s := args[0]
		if len(s) < 2 || s[0] != '-' {
			return newErr(ErrUsage, fmt.Sprintf("%q is not a valid flag", s))
		}
		dashes := 1
		if s[1] == '-' {
			dashes = 2
			if len(s) == 2 { // "--" ends the flags
				args = args[1:]
				if len(args) > 0 {
					return newErr(ErrUsage, fmt.Sprintf("%q is not a valid flag", args[0]))
				}
				return nil
			}
		}
		name := s[dashes:]
		if name == "" || name[0] == '-' || name[0] == '=' {
			return newErr(ErrUsage, "bad flag syntax: "+s)
		}
		args = args[1:]
		value, hasValue := "", false
		if i := strings.IndexByte(name, '='); i > 0 {
			name, value, hasValue = name[:i], name[i+1:], true
		}
		o := flagIndex[name]
		if o == nil {
			if name == "h" || name == "help" {
				return flag.ErrHelp
			}
			return newErr(ErrUsage, "unknown flag: --"+name)
		}
		if o.kind == kindBool || o.kind == kindLegacy {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if len(args) == 0 {
				return newErr(ErrUsage, "flag needs an argument: --"+name)
			}
			value, args = args[0], args[1:]
		}
		if err := st.setOption(o, value, fromFlag); err != nil {
			return newErr(ErrUsage, fmt.Sprintf("invalid value %q for flag --%s: %v", value, name, err))
		}
	}
	return nil
}

// setOption parses and stores one value given as text.
func (st *parseState) setOption(o *option, value, from string) error {
	if o.kind == kindLegacy {
		st.warnf("flag --%s is no longer supported - ignoring.", o.name)
		return nil
	}
	if err := setText(st.cfg, o, value); err != nil {
		return err
	}
	st.mark(o, from, value)
	return nil
}

func lookupEnv(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// applyEnv sets, from ETCD_* variables, the flags not given on the command
// line. A variable for a flag that was given is an error, as in etcd; an
// unknown ETCD_* variable is a warning.
func (st *parseState) applyEnv(environ []string) error {
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "ETCD_") {
			continue
		}
		if _, dup := vars[k]; !dup { // the first one wins, as with os.Getenv
			vars[k] = v
		}
	}
	for _, k := range sortedKeys(vars) {
		v := vars[k]
		if k == envName("version") {
			if v != "" {
				st.warnf("cannot set special environment variable %s; ignoring it", k)
			}
			continue
		}
		o := envIndex[k]
		if o == nil {
			st.warnf("unrecognized environment variable %s", k)
			continue
		}
		if st.set[o.name] == fromFlag {
			return newErr(ErrUsage, fmt.Sprintf("conflicting environment variable %q is shadowed by corresponding command-line flag --%s (either unset environment variable or disable flag)", k, o.name))
		}
		if v == "" || o.name == "config-file" {
			continue
		}
		if err := st.setOption(o, v, fromEnv); err != nil {
			return newErr(ErrUsage, fmt.Sprintf("invalid value %q for %s: %v", v, k, err))
		}
	}
	return nil
}

// finish applies the rules that depend on which options were given.
func (st *parseState) finish() error {
	c := st.cfg
	for _, name := range st.order {
		o := lookupAny(name)
		if o == nil {
			continue
		}
		if o.alias != "" {
			if _, both := st.set[o.alias]; both {
				return newErr(st.errKind, fmt.Sprintf("cannot set --%s and --%s at the same time, please use --%s only", o.name, o.alias, o.alias))
			}
			st.warnf("--%s %s", o.name, expDeprecated(o.alias))
		}
		if o.deprecated != "" {
			st.warnf("%s", o.deprecated)
		}
		if o.field == nil {
			if c.Ignored == nil {
				c.Ignored = map[string]string{}
			}
			c.Ignored[o.name] = st.raw[o.name]
			st.warnf("--%s is accepted for etcd compatibility but not used by Cairn", o.name)
		}
	}

	// etcd disables the default advertise-client-urls when
	// listen-client-urls is given; Validate then requires it.
	if st.isSet("listen-client-urls") && !st.isSet("advertise-client-urls") {
		c.AdvertiseClientURLs = nil
	}
	// Discovery replaces the default initial-cluster (etcd); Cairn does not
	// implement discovery, so Validate then reports the missing member.
	discovery := false
	for _, n := range []string{"discovery", "discovery-srv", "discovery-srv-name", "discovery-endpoints", "discovery-config"} {
		discovery = discovery || st.isSet(n)
	}
	switch {
	case st.isSet("initial-cluster"):
	case discovery:
		c.InitialCluster = ""
	case c.Name != DefaultName:
		// etcd (UpdateDefaultClusterFromName): "--name x" alone gives
		// initial-cluster x=<initial-advertise-peer-urls>.
		c.InitialCluster = initialClusterFromName(c.Name, c.InitialAdvertisePeerURLs)
	}
	if c.DataDir == "" {
		c.DataDir = c.Name + DataDirSuffix
	}
	if c.InitialClusterState == "" {
		c.InitialClusterState = ClusterStateNew
	}
	if c.SelfSignedCertValidity == 0 {
		c.SelfSignedCertValidity = DefaultSelfSignedCertValidity
	}
	return nil
}

// writeUsage prints the flags Cairn uses, then those it only accepts.
func writeUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("Usage:\n\n  cairn [flags]\n\n")
	b.WriteString("Start a Cairn member. Flags are etcd's; each may also be given as an ETCD_<NAME>\n")
	b.WriteString("environment variable (e.g. ETCD_DATA_DIR) unless a config file is given.\n\n")
	var unused []string
	for _, o := range options {
		if o.noFlag || o.kind == kindLegacy || o.alias != "" {
			continue
		}
		if o.field == nil {
			unused = append(unused, "--"+o.name)
			continue
		}
		fmt.Fprintf(&b, "  --%s", o.name)
		if o.def != "" {
			fmt.Fprintf(&b, " '%s'", o.def)
		}
		fmt.Fprintf(&b, "\n      %s\n", o.help)
	}
	sort.Strings(unused)
	b.WriteString("\nAccepted for etcd compatibility but not used by Cairn:\n")
	for i := 0; i < len(unused); i += 3 {
		end := min(i+3, len(unused))
		fmt.Fprintf(&b, "  %s\n", strings.Join(unused[i:end], " "))
	}
	b.WriteString("\nDeprecated experimental-* spellings of the flags above are accepted too.\n")
	io.WriteString(w, b.String())
}
