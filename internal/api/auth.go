package api

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// AuthBackend is what the Auth service needs from the server.
type AuthBackend interface {
	AuthEnable(ctx context.Context) (*pb.AuthEnableResponse, error)
	AuthDisable(ctx context.Context) (*pb.AuthDisableResponse, error)
	AuthStatus(ctx context.Context) (*pb.AuthStatusResponse, error)
	Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error)
	UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error)
	UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error)
	UserList(ctx context.Context) (*pb.AuthUserListResponse, error)
	UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error)
	UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error)
	UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error)
	UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error)
	RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error)
	RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error)
	RoleList(ctx context.Context) (*pb.AuthRoleListResponse, error)
	RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error)
	RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error)
	RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error)
}

type authServer struct {
	pb.UnimplementedAuthServer
	b AuthBackend
}

// NewAuthServer returns etcd's Auth service over b.
func NewAuthServer(b AuthBackend) pb.AuthServer { return &authServer{b: b} }

func (s *authServer) AuthEnable(ctx context.Context, _ *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	r, err := s.b.AuthEnable(ctx)
	return r, toGRPCError(err)
}
func (s *authServer) AuthDisable(ctx context.Context, _ *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	r, err := s.b.AuthDisable(ctx)
	return r, toGRPCError(err)
}
func (s *authServer) AuthStatus(ctx context.Context, _ *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	r, err := s.b.AuthStatus(ctx)
	return r, toGRPCError(err)
}
func (s *authServer) Authenticate(ctx context.Context, in *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	r, err := s.b.Authenticate(ctx, in)
	return r, toGRPCError(err)
}
func (s *authServer) UserAdd(ctx context.Context, in *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	r, err := s.b.UserAdd(ctx, in)
	return r, toGRPCError(err)
}
func (s *authServer) UserGet(ctx context.Context, in *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	r, err := s.b.UserGet(ctx, in)
	return r, toGRPCError(err)
}
func (s *authServer) UserList(ctx context.Context, _ *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	r, err := s.b.UserList(ctx)
	return r, toGRPCError(err)
}
func (s *authServer) UserDelete(ctx context.Context, in *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	r, err := s.b.UserDelete(ctx, in)
	return r, toGRPCError(err)
}
func (s *authServer) UserChangePassword(ctx context.Context, in *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	r, err := s.b.UserChangePassword(ctx, in)
	return r, toGRPCError(err)
}
func (s *authServer) UserGrantRole(ctx context.Context, in *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	r, err := s.b.UserGrantRole(ctx, in)
	return r, toGRPCError(err)
}
func (s *authServer) UserRevokeRole(ctx context.Context, in *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	r, err := s.b.UserRevokeRole(ctx, in)
	return r, toGRPCError(err)
}
func (s *authServer) RoleAdd(ctx context.Context, in *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	r, err := s.b.RoleAdd(ctx, in)
	return r, toGRPCError(err)
}
func (s *authServer) RoleGet(ctx context.Context, in *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	r, err := s.b.RoleGet(ctx, in)
	return r, toGRPCError(err)
}
func (s *authServer) RoleList(ctx context.Context, _ *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	r, err := s.b.RoleList(ctx)
	return r, toGRPCError(err)
}
func (s *authServer) RoleDelete(ctx context.Context, in *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	r, err := s.b.RoleDelete(ctx, in)
	return r, toGRPCError(err)
}
func (s *authServer) RoleGrantPermission(ctx context.Context, in *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	r, err := s.b.RoleGrantPermission(ctx, in)
	return r, toGRPCError(err)
}
func (s *authServer) RoleRevokePermission(ctx context.Context, in *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	r, err := s.b.RoleRevokePermission(ctx, in)
	return r, toGRPCError(err)
}
