package mvcc

import "errors"

// Sentinel errors. The api package maps them to etcd's gRPC errors with
// errors.Is; the messages of ErrCompacted and ErrFutureRev are byte-exact
// to etcd's because watch cancel reasons embed them.
var (
	// ErrCompacted: the requested revision is below the compacted revision.
	ErrCompacted = errors.New("mvcc: required revision has been compacted")
	// ErrFutureRev: the requested revision is above the current revision.
	ErrFutureRev = errors.New("mvcc: required revision is a future revision")
	// ErrKeyNotFound: ignore_value or ignore_lease on a key that does not
	// exist (etcd: "etcdserver: key not found").
	ErrKeyNotFound = errors.New("mvcc: key not found")
	// ErrLeaseNotFound: a put names a lease the Lessor does not know
	// (etcd: "lease not found").
	ErrLeaseNotFound = errors.New("mvcc: lease not found")
	// ErrTxnHasWrites: ReadTxn.Txn was given a txn whose taken branch
	// writes; it must go through the apply path instead.
	ErrTxnHasWrites = errors.New("mvcc: txn has writes in the taken branch")
	// ErrCorrupt: a stored key or value could not be decoded.
	ErrCorrupt = errors.New("mvcc: corrupt data")
	// ErrUnknownFormat: the store was written by an unknown format version.
	ErrUnknownFormat = errors.New("mvcc: unknown on-disk format version")
	// ErrClosed: the Store has been closed.
	ErrClosed = errors.New("mvcc: store closed")
)
