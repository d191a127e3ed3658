package api

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairndb/cairn/internal/errs"
	"github.com/cairndb/cairn/internal/lease"
	"github.com/cairndb/cairn/internal/mvcc"
)

func errWrap(what string, err error) error { return fmt.Errorf("%s: %w", what, err) }
func errCompacted() error                  { return mvcc.ErrCompacted }

// etcdMapping is written out from etcd's v3rpc toGRPCErrorMap (and the
// errors Cairn adds), independently of errMap, so a missing or wrong entry
// in errMap shows up here.
var etcdMapping = []struct {
	name string
	err  error
	want error
}{
	{"mvcc compacted", mvcc.ErrCompacted, rpctypes.ErrGRPCCompacted},
	{"mvcc future rev", mvcc.ErrFutureRev, rpctypes.ErrGRPCFutureRev},
	{"mvcc key not found", mvcc.ErrKeyNotFound, rpctypes.ErrGRPCKeyNotFound},
	{"mvcc lease not found", mvcc.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{"server lease not found", errs.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{"lease not found", lease.ErrNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{"lease exists", lease.ErrExists, rpctypes.ErrGRPCLeaseExist},
	{"lease ttl too large", lease.ErrTTLTooLarge, rpctypes.ErrGRPCLeaseTTLTooLarge},
	{"request too large", errs.ErrRequestTooLarge, rpctypes.ErrGRPCRequestTooLarge},
	{"no leader", errs.ErrNoLeader, rpctypes.ErrGRPCNoLeader},
	{"not leader", errs.ErrNotLeader, rpctypes.ErrGRPCNotLeader},
	{"stopped", errs.ErrStopped, rpctypes.ErrGRPCStopped},
	{"timeout", errs.ErrTimeout, rpctypes.ErrGRPCTimeout},
	{"timeout leader fail", errs.ErrTimeoutDueToLeaderFail, rpctypes.ErrGRPCTimeoutDueToLeaderFail},
	{"leader changed", errs.ErrLeaderChanged, rpctypes.ErrGRPCLeaderChanged},
	{"no space", errs.ErrNoSpace, rpctypes.ErrGRPCNoSpace},
	{"member not found", errs.ErrMemberNotFound, rpctypes.ErrGRPCMemberNotFound},
	{"not capable", errs.ErrNotCapable, rpctypes.ErrGRPCNotCapable},
	{"unhealthy", errs.ErrUnhealthy, rpctypes.ErrGRPCUnhealthy},
	{"corrupt", errs.ErrCorrupt, rpctypes.ErrGRPCCorrupt},
	{"bad leader transferee", errs.ErrBadLeaderTransferee, rpctypes.ErrGRPCBadLeaderTransferee},
	{"peer url exists", errs.ErrPeerURLExist, rpctypes.ErrGRPCPeerURLExist},
	{"member exists", errs.ErrIDExists, rpctypes.ErrGRPCMemberExist},
	{"not enough started", errs.ErrNotEnoughStartedMembers, rpctypes.ErrGRPCMemberNotEnoughStarted},
	{"too many learners", errs.ErrTooManyLearners, rpctypes.ErrGRPCTooManyLearners},
	{"member not learner", errs.ErrMemberNotLearner, rpctypes.ErrGRPCMemberNotLearner},
	{"learner not ready", errs.ErrLearnerNotReady, rpctypes.ErrGRPCLearnerNotReady},
	{"bad member urls", errs.ErrInvalidPeerURLs, rpctypes.ErrGRPCMemberBadURLs},
	{"not supported for learner", errs.ErrNotSupportedForLearner, rpctypes.ErrGRPCNotSupportedForLearner},
	{"cluster id mismatch", errs.ErrClusterIDMismatch, rpctypes.ErrGRPCClusterIdMismatch},
	// etcd: membership.ErrIDRemoved -> ErrGRPCMemberNotFound. Cairn's
	// server returns errs.ErrIDRemoved from MemberAdd of a removed ID.
	{"member id removed", errs.ErrIDRemoved, rpctypes.ErrGRPCMemberNotFound},
}

func sameStatus(t *testing.T, got, want error) {
	t.Helper()
	if got != want {
		gs, ws := status.Convert(got), status.Convert(want)
		t.Fatalf("got %v (code %s, %q), want %v (code %s, %q)", got, gs.Code(), gs.Message(), want, ws.Code(), ws.Message())
	}
}

func TestToGRPCErrorSentinels(t *testing.T) {
	for _, tc := range etcdMapping {
		t.Run(tc.name, func(t *testing.T) {
			sameStatus(t, toGRPCError(tc.err), tc.want)
		})
	}
}

func TestToGRPCErrorWrapped(t *testing.T) {
	for _, tc := range etcdMapping {
		t.Run(tc.name, func(t *testing.T) {
			sameStatus(t, toGRPCError(fmt.Errorf("x: %w", tc.err)), tc.want)
			sameStatus(t, toGRPCError(fmt.Errorf("outer: %w", fmt.Errorf("inner %d: %w", 3, tc.err))), tc.want)
			sameStatus(t, toGRPCError(errors.Join(errors.New("context"), tc.err)), tc.want)
		})
	}
}

func TestToGRPCErrorExactStrings(t *testing.T) {
	// The strings clients match on, byte for byte.
	tests := []struct {
		err      error
		wantCode codes.Code
		wantMsg  string
	}{
		{fmt.Errorf("range: %w", mvcc.ErrCompacted), codes.OutOfRange, "etcdserver: mvcc: required revision has been compacted"},
		{mvcc.ErrFutureRev, codes.OutOfRange, "etcdserver: mvcc: required revision is a future revision"},
		{lease.ErrNotFound, codes.NotFound, "etcdserver: requested lease not found"},
		{errs.ErrNoLeader, codes.Unavailable, "etcdserver: no leader"},
		{errs.ErrTimeout, codes.Unavailable, "etcdserver: request timed out"},
		{errs.ErrNoSpace, codes.ResourceExhausted, "etcdserver: mvcc: database space exceeded"},
		{errs.ErrRequestTooLarge, codes.InvalidArgument, "etcdserver: request is too large"},
	}
	for _, tc := range tests {
		st := status.Convert(toGRPCError(tc.err))
		if st.Code() != tc.wantCode || st.Message() != tc.wantMsg {
			t.Errorf("toGRPCError(%v) = %s %q, want %s %q", tc.err, st.Code(), st.Message(), tc.wantCode, tc.wantMsg)
		}
	}
}

func TestToGRPCErrorContextAndOthers(t *testing.T) {
	grpcErr := status.Error(codes.PermissionDenied, "already a status")
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
		wantMsg  string
		same     error // when set, the exact error expected
	}{
		{name: "nil", err: nil},
		{name: "canceled", err: context.Canceled, wantCode: codes.Canceled},
		{name: "wrapped canceled", err: fmt.Errorf("propose: %w", context.Canceled), wantCode: codes.Canceled},
		{name: "deadline", err: context.DeadlineExceeded, wantCode: codes.DeadlineExceeded, wantMsg: "context deadline exceeded"},
		{name: "wrapped deadline", err: fmt.Errorf("read index: %w", context.DeadlineExceeded), wantCode: codes.DeadlineExceeded, wantMsg: "context deadline exceeded"},
		{name: "status passes through", err: grpcErr, same: grpcErr},
		{name: "rpctypes passes through", err: rpctypes.ErrGRPCEmptyKey, same: rpctypes.ErrGRPCEmptyKey},
		{name: "unknown", err: errors.New("disk on fire"), wantCode: codes.Unknown, wantMsg: "disk on fire"},
		{name: "wrapped unknown", err: fmt.Errorf("apply: %w", errors.New("disk on fire")), wantCode: codes.Unknown, wantMsg: "apply: disk on fire"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := toGRPCError(tc.err)
			if tc.err == nil {
				if got != nil {
					t.Fatalf("toGRPCError(nil) = %v", got)
				}
				return
			}
			if tc.same != nil {
				sameStatus(t, got, tc.same)
				return
			}
			st, ok := status.FromError(got)
			if !ok {
				t.Fatalf("toGRPCError(%v) = %v is not a gRPC status", tc.err, got)
			}
			if st.Code() != tc.wantCode {
				t.Fatalf("code = %s, want %s", st.Code(), tc.wantCode)
			}
			if tc.wantMsg != "" && st.Message() != tc.wantMsg {
				t.Fatalf("message = %q, want %q", st.Message(), tc.wantMsg)
			}
		})
	}
}

// A domain error must win over a context error wrapped with it: the
// sentinel carries the meaning.
func TestToGRPCErrorSentinelBeforeContext(t *testing.T) {
	err := errors.Join(context.DeadlineExceeded, errs.ErrTimeout)
	sameStatus(t, toGRPCError(err), rpctypes.ErrGRPCTimeout)
}
