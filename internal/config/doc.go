// Package config turns etcd-style server options into one documented,
// validated Config.
//
// Three sources are understood, with etcd 3.6's names and rules:
//
//   - command-line flags in Go flag style: --name=x, --name x and -name x all
//     work, and a repeated flag keeps its last value;
//   - ETCD_<FLAG> environment variables (FLAG upper-cased, '-' -> '_'),
//     honoured only when no config file is given; a flag given on the
//     command line and also in the environment is an error, as in etcd;
//   - a YAML config file (--config-file or ETCD_CONFIG_FILE) with etcd's key
//     names. When a config file is given every other flag and environment
//     variable is ignored, as etcd does.
//
// Parse is pure: it reads only the config file it is pointed at, never the
// process environment (the caller passes os.Environ()), and creates nothing
// on disk. Every option etcd 3.6 accepts is accepted; those Cairn does not act
// on yet are listed in one table (see options.go, field ignored) and reported
// back in Config.Ignored and as warnings.
//
// Deliberate differences from etcd (documented in docs/compatibility.md):
//   - an unknown config-file key, or a key with the wrong type, is an error
//     naming the key and its line (etcd silently ignores unknown keys);
//   - --advertise-client-urls is required when listen-client-urls is set in a
//     config file too (etcd checks this for flags only);
//   - the data dir defaults to "<name>.cairn" instead of "<name>.etcd";
//   - the initial-cluster check etcd makes at first boot (this member's name
//     present, with exactly --initial-advertise-peer-urls) is made by
//     Validate, comparing URLs literally except that "localhost" stands for
//     127.0.0.1; no DNS lookups are made.
package config
