// Package ops tests Cairn the way an operator runs it: the configuration
// guide's YAML config file for a three-member TLS cluster (certificates made
// with the guide's openssl commands, and with `cairn pki`), certificate
// rotation, systemd readiness through $NOTIFY_SOCKET, the HTTP endpoints
// (/health, /livez, /readyz, /version, /metrics) and the JSON gateway,
// Debian's etcdctl over TLS, and config files that must be refused.
//
// The members started from a config file are driven by the helpers in
// proc_test.go (the framework's Member passes flags and speaks plain http);
// the plain-http tests use tests/framework.
package ops

import (
	"testing"

	"github.com/cairndb/cairn/tests/framework"
)

func TestMain(m *testing.M) { framework.RunMain(m) }
