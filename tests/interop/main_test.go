// Package interop proves that code written for etcd works against Cairn
// unchanged, with the clients people use: it starts the configuration
// guide's three-member TLS cluster (tests/interop/testdata/seed holds the
// guide's code blocks verbatim) and runs against it
//
//   - the guide's Go program (ConfigStore and PutIfNotExists, with
//     go.etcd.io/etcd/client/v3), built from testdata/seedgo;
//   - the guide's Python program (EtcdConfigStore) with Debian's
//     python3-etcd3, from testdata/seedpy;
//   - every etcdctl command of the guide with Debian's etcdctl 3.4;
//
// once through a follower and once through the leader. The programs differ
// from the guide only in their endpoint and TLS settings and a bounded run;
// TestSeedSources checks that, and that every etcdctl command of the guide
// is run.
//
// The cluster is made as the guide makes it: certificates with its openssl
// commands (a CA, then a server and a peer certificate per member), each
// member started with --config-file and the guide's YAML, in which only
// addresses (127.0.0.1 and free ports), the data dir and the certificate
// paths are rewritten.
//
// Run against etcd itself with CAIRN_TEST_BINARY=/usr/bin/etcd: every
// expectation here holds for Debian's etcd 3.4 too, except the version a
// member reports, which the tests read from the member.
package interop

import (
	"testing"

	"github.com/cairndb/cairn/tests/framework"
)

func TestMain(m *testing.M) { framework.RunMain(m) }
