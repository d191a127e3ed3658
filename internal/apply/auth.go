package apply

import (
	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairndb/cairn/internal/auth"
)

// needsAuthCheck: requests whose permission the proposer checked against
// the auth state (key-value writes and lease revocations).
func needsAuthCheck(r *pb.InternalRaftRequest) bool {
	return r.Put != nil || r.DeleteRange != nil || r.Txn != nil || r.LeaseRevoke != nil || r.Compaction != nil
}

func isAuthRequest(r *pb.InternalRaftRequest) bool {
	return r.AuthEnable != nil || r.AuthDisable != nil || r.Authenticate != nil ||
		r.AuthUserAdd != nil || r.AuthUserDelete != nil || r.AuthUserChangePassword != nil ||
		r.AuthUserGrantRole != nil || r.AuthUserRevokeRole != nil ||
		r.AuthRoleAdd != nil || r.AuthRoleDelete != nil ||
		r.AuthRoleGrantPermission != nil || r.AuthRoleRevokePermission != nil
}

func (a *Applier) applyAuth(b *pebble.Batch, r *pb.InternalRaftRequest) (interface{}, error) {
	s := a.Auth
	switch {
	case r.AuthEnable != nil:
		return &pb.AuthEnableResponse{}, s.Enable(b)
	case r.AuthDisable != nil:
		s.Disable(b)
		return &pb.AuthDisableResponse{}, nil
	case r.Authenticate != nil:
		if !s.Enabled() {
			return nil, errAuthNotEnabled
		}
		if _, err := s.User(r.Authenticate.Name); err != nil {
			return nil, errAuthFailed
		}
		s.Assign(r.Authenticate.SimpleToken, r.Authenticate.Name)
		return &pb.AuthenticateResponse{Token: r.Authenticate.SimpleToken}, nil
	case r.AuthUserAdd != nil:
		return &pb.AuthUserAddResponse{}, s.UserAdd(b, r.AuthUserAdd)
	case r.AuthUserDelete != nil:
		return &pb.AuthUserDeleteResponse{}, s.UserDelete(b, r.AuthUserDelete.Name)
	case r.AuthUserChangePassword != nil:
		return &pb.AuthUserChangePasswordResponse{}, s.UserChangePassword(b, r.AuthUserChangePassword.Name, []byte(r.AuthUserChangePassword.HashedPassword))
	case r.AuthUserGrantRole != nil:
		return &pb.AuthUserGrantRoleResponse{}, s.UserGrantRole(b, r.AuthUserGrantRole.User, r.AuthUserGrantRole.Role)
	case r.AuthUserRevokeRole != nil:
		return &pb.AuthUserRevokeRoleResponse{}, s.UserRevokeRole(b, r.AuthUserRevokeRole.Name, r.AuthUserRevokeRole.Role)
	case r.AuthRoleAdd != nil:
		return &pb.AuthRoleAddResponse{}, s.RoleAdd(b, r.AuthRoleAdd.Name)
	case r.AuthRoleDelete != nil:
		return &pb.AuthRoleDeleteResponse{}, s.RoleDelete(b, r.AuthRoleDelete.Role)
	case r.AuthRoleGrantPermission != nil:
		return &pb.AuthRoleGrantPermissionResponse{}, s.RoleGrantPermission(b, r.AuthRoleGrantPermission.Name, r.AuthRoleGrantPermission.Perm)
	case r.AuthRoleRevokePermission != nil:
		rr := r.AuthRoleRevokePermission
		return &pb.AuthRoleRevokePermissionResponse{}, s.RoleRevokePermission(b, rr.Role, []byte(rr.Key), []byte(rr.RangeEnd))
	}
	return nil, ErrUnsupported
}

var (
	errAuthNotEnabled = auth.ErrAuthNotEnabled
	errAuthFailed     = auth.ErrAuthFailed
)
