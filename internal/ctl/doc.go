// Package ctl holds the parts of cairnctl, Cairn's etcdctl-compatible
// command-line client, that deserve their own tests: the output printers
// (simple, json, fields, protobuf, table) with etcdctl's exact layouts, the
// txn input parser, the quoting rules of txn and interactive watch lines,
// exit codes, progress bars and the reading of snapshot files.
//
// Nothing here dials a server or calls os.Exit: cmd/cairnctl wires these
// pieces to cobra commands and a clientv3 client. Every printer writes to
// the io.Writers it is given, so tests capture output byte for byte.
//
// Where etcdctl 3.4 and 3.6 print differently, this package follows 3.6
// (the API version Cairn implements); the differences are listed in
// tests/ctl, which compares cairnctl with Debian's etcdctl 3.4.
package ctl
