// Package errs holds the server-level sentinel errors shared by
// internal/server (which returns them) and internal/api (which maps them to
// etcd's gRPC errors).
package errs

import "errors"

var (
	ErrRequestTooLarge        = errors.New("server: request is too large")
	ErrNoLeader               = errors.New("server: no leader")
	ErrNotLeader              = errors.New("server: not leader")
	ErrStopped                = errors.New("server: stopped")
	ErrTimeout                = errors.New("server: request timed out")
	ErrTimeoutDueToLeaderFail = errors.New("server: request timed out, possibly due to previous leader failure")
	ErrLeaderChanged          = errors.New("server: leader changed")
	ErrNoSpace                = errors.New("server: database space exceeded")
	ErrMemberNotFound         = errors.New("server: member not found")
	ErrNotCapable             = errors.New("server: not capable")
	ErrUnhealthy              = errors.New("server: unhealthy cluster")
	ErrCorrupt                = errors.New("server: corrupt cluster")
	ErrBadLeaderTransferee    = errors.New("server: bad leader transferee")
	ErrLeaseNotFound          = errors.New("server: requested lease not found")
)

// Membership errors.
var (
	ErrPeerURLExist            = errors.New("server: peer URLs already exists")
	ErrIDExists                = errors.New("server: member ID already exist")
	ErrNotEnoughStartedMembers = errors.New("server: re-configuration failed due to not enough started members")
	ErrTooManyLearners         = errors.New("server: too many learner members in cluster")
	ErrMemberNotLearner        = errors.New("server: can only promote a learner member")
	ErrLearnerNotReady         = errors.New("server: can only promote a learner member which is in sync with leader")
	ErrInvalidPeerURLs         = errors.New("server: given member URLs are invalid")
	ErrNotSupportedForLearner  = errors.New("server: rpc not supported for learner")
	ErrIDRemoved               = errors.New("server: member was removed")
	ErrClusterIDMismatch       = errors.New("server: cluster ID mismatch")
)

// Downgrade errors, with etcd's messages: ErrUnknownMethod has no gRPC
// mapping in etcd and reaches the client as codes.Unknown with this text.
var (
	ErrWrongDowngradeVersionFormat   = errors.New("etcdserver: wrong downgrade target version format")
	ErrInvalidDowngradeTargetVersion = errors.New("etcdserver: invalid downgrade target version")
	ErrDowngradeInProcess            = errors.New("etcdserver: cluster has a downgrade job in progress")
	ErrNoInflightDowngrade           = errors.New("etcdserver: no inflight downgrade job")
	ErrUnknownMethod                 = errors.New("etcdserver: unknown method")
)
