// Package framework starts real server processes for Cairn's integration
// tests and drives them over loopback.
//
// The server binary is the one BinaryPath returns: $CAIRN_TEST_BINARY when it
// is set (for example /usr/bin/etcd, to check the tests' expectations against
// etcd itself), otherwise ./cmd/cairn built once per test process. The binary
// must accept etcd's server flags; the harness passes only those.
//
// A typical test:
//
//	c := framework.NewCluster(t, framework.ClusterConfig{Size: 1})
//	cli := c.Client(t)
//	resp, err := cli.Put(ctx, "k", "v")
//
// Every process a test starts is killed in t.Cleanup, and with
// Pdeathsig when the test binary itself dies, so none outlives the test.
// When a test fails, the tail of each member's log is written to the test
// output.
//
// Threading: Member and Cluster methods that take a testing.TB call
// t.Fatal on failure, so they must run on that test's goroutine. The
// error-returning methods (Launch, WaitReady, Signal, WaitExit) may be called
// from any goroutine, but not concurrently for the same member.
package framework
