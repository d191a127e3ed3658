// Package api serves etcd's v3 gRPC services. Each handler validates the
// request, calls a narrow interface that internal/server implements, and maps
// errors to etcd's exact gRPC status in one place (toGRPCError). It holds no
// state of its own.
package api

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairndb/cairn/internal/auth"
	"github.com/cairndb/cairn/internal/errs"
	"github.com/cairndb/cairn/internal/lease"
	"github.com/cairndb/cairn/internal/mvcc"
)

// errMap pairs Cairn's sentinels with etcd's gRPC errors. The first match by
// errors.Is wins, so wrapped errors keep their meaning.
var errMap = []struct {
	err  error
	grpc error
}{
	{mvcc.ErrCompacted, rpctypes.ErrGRPCCompacted},
	{mvcc.ErrFutureRev, rpctypes.ErrGRPCFutureRev},
	{mvcc.ErrKeyNotFound, rpctypes.ErrGRPCKeyNotFound},
	{mvcc.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{errs.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{lease.ErrNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{lease.ErrExists, rpctypes.ErrGRPCLeaseExist},
	{lease.ErrTTLTooLarge, rpctypes.ErrGRPCLeaseTTLTooLarge},
	{errs.ErrRequestTooLarge, rpctypes.ErrGRPCRequestTooLarge},
	{errs.ErrNoLeader, rpctypes.ErrGRPCNoLeader},
	{errs.ErrNotLeader, rpctypes.ErrGRPCNotLeader},
	{errs.ErrStopped, rpctypes.ErrGRPCStopped},
	{errs.ErrTimeout, rpctypes.ErrGRPCTimeout},
	{errs.ErrTimeoutDueToLeaderFail, rpctypes.ErrGRPCTimeoutDueToLeaderFail},
	{errs.ErrLeaderChanged, rpctypes.ErrGRPCLeaderChanged},
	{errs.ErrNoSpace, rpctypes.ErrGRPCNoSpace},
	{errs.ErrMemberNotFound, rpctypes.ErrGRPCMemberNotFound},
	{errs.ErrIDRemoved, rpctypes.ErrGRPCMemberNotFound},
	{errs.ErrNotCapable, rpctypes.ErrGRPCNotCapable},
	{errs.ErrUnhealthy, rpctypes.ErrGRPCUnhealthy},
	{errs.ErrCorrupt, rpctypes.ErrGRPCCorrupt},
	{errs.ErrBadLeaderTransferee, rpctypes.ErrGRPCBadLeaderTransferee},
	{errs.ErrPeerURLExist, rpctypes.ErrGRPCPeerURLExist},
	{errs.ErrIDExists, rpctypes.ErrGRPCMemberExist},
	{errs.ErrNotEnoughStartedMembers, rpctypes.ErrGRPCMemberNotEnoughStarted},
	{errs.ErrTooManyLearners, rpctypes.ErrGRPCTooManyLearners},
	{errs.ErrMemberNotLearner, rpctypes.ErrGRPCMemberNotLearner},
	{errs.ErrLearnerNotReady, rpctypes.ErrGRPCLearnerNotReady},
	{errs.ErrInvalidPeerURLs, rpctypes.ErrGRPCMemberBadURLs},
	{errs.ErrNotSupportedForLearner, rpctypes.ErrGRPCNotSupportedForLearner},
	{errs.ErrClusterIDMismatch, rpctypes.ErrGRPCClusterIdMismatch},
	{errs.ErrWrongDowngradeVersionFormat, rpctypes.ErrGRPCWrongDowngradeVersionFormat},
	{errs.ErrInvalidDowngradeTargetVersion, rpctypes.ErrGRPCInvalidDowngradeTargetVersion},
	{errs.ErrDowngradeInProcess, rpctypes.ErrGRPCDowngradeInProcess},
	{errs.ErrNoInflightDowngrade, rpctypes.ErrGRPCNoInflightDowngrade},
	{auth.ErrRootUserNotExist, rpctypes.ErrGRPCRootUserNotExist},
	{auth.ErrRootRoleNotExist, rpctypes.ErrGRPCRootRoleNotExist},
	{auth.ErrUserEmpty, rpctypes.ErrGRPCUserEmpty},
	{auth.ErrUserAlreadyExist, rpctypes.ErrGRPCUserAlreadyExist},
	{auth.ErrUserNotFound, rpctypes.ErrGRPCUserNotFound},
	{auth.ErrRoleEmpty, rpctypes.ErrGRPCRoleEmpty},
	{auth.ErrRoleAlreadyExist, rpctypes.ErrGRPCRoleAlreadyExist},
	{auth.ErrRoleNotFound, rpctypes.ErrGRPCRoleNotFound},
	{auth.ErrRoleNotGranted, rpctypes.ErrGRPCRoleNotGranted},
	{auth.ErrPermissionNotGranted, rpctypes.ErrGRPCPermissionNotGranted},
	{auth.ErrAuthNotEnabled, rpctypes.ErrGRPCAuthNotEnabled},
	{auth.ErrAuthFailed, rpctypes.ErrGRPCAuthFailed},
	{auth.ErrPermissionDenied, rpctypes.ErrGRPCPermissionDenied},
	{auth.ErrInvalidAuthToken, rpctypes.ErrGRPCInvalidAuthToken},
	{auth.ErrInvalidAuthMgmt, rpctypes.ErrGRPCInvalidAuthMgmt},
	{auth.ErrAuthOldRevision, rpctypes.ErrGRPCAuthOldRevision},
}

// toGRPCError maps an error from the server to the status etcd returns for
// it. Errors that already are gRPC statuses pass through; context errors
// become Canceled / DeadlineExceeded as gRPC would.
func toGRPCError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, m := range errMap {
		if errors.Is(err, m.err) {
			return m.grpc
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return rpctypes.ErrGRPCCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "context deadline exceeded")
	}
	return status.Error(codes.Unknown, err.Error())
}
