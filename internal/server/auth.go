package server

import (
	"context"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/cairndb/cairn/internal/auth"
)

type authKey struct{}

// authInfo says who sends a request: the user of its token, or else the
// common name of its verified client certificate, as etcd does. With
// authentication off it returns the zero AuthInfo and no error.
func (s *Server) authInfo(ctx context.Context) (auth.AuthInfo, error) {
	if ai, ok := ctx.Value(authKey{}).(auth.AuthInfo); ok {
		return ai, nil
	}
	if !s.auth.Enabled() {
		return auth.AuthInfo{Revision: s.auth.Revision()}, nil
	}
	for _, k := range []string{rpctypes.TokenFieldNameGRPC, "authorization"} {
		if ts := metadata.ValueFromIncomingContext(ctx, k); len(ts) > 0 && ts[0] != "" {
			return s.auth.Lookup(ts[0])
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			for _, chain := range ti.State.VerifiedChains {
				if len(chain) > 0 && chain[0].Subject.CommonName != "" {
					return auth.AuthInfo{Username: chain[0].Subject.CommonName, Revision: s.auth.Revision()}, nil
				}
			}
		}
	}
	return auth.AuthInfo{}, auth.ErrUserEmpty
}

func (s *Server) checkKeys(ctx context.Context, key, end []byte, typ authpb.Permission_Type) error {
	if !s.auth.Enabled() {
		return nil
	}
	ai, err := s.authInfo(ctx)
	if err != nil {
		return err
	}
	return s.auth.Permitted(ai, key, end, typ)
}

// checkAdmin allows only root-role users (with authentication on).
func (s *Server) checkAdmin(ctx context.Context) error {
	if !s.auth.Enabled() {
		return nil
	}
	ai, err := s.authInfo(ctx)
	if err != nil {
		return err
	}
	return s.auth.AdminPermitted(ai)
}

func (s *Server) checkTxnAuth(ctx context.Context, r *pb.TxnRequest) error {
	if !s.auth.Enabled() {
		return nil
	}
	for _, c := range r.Compare {
		if err := s.checkKeys(ctx, c.Key, c.RangeEnd, authpb.READ); err != nil {
			return err
		}
	}
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			var err error
			switch o := op.Request.(type) {
			case *pb.RequestOp_RequestRange:
				err = s.checkKeys(ctx, o.RequestRange.Key, o.RequestRange.RangeEnd, authpb.READ)
			case *pb.RequestOp_RequestPut:
				err = s.checkPutAuth(ctx, o.RequestPut)
			case *pb.RequestOp_RequestDeleteRange:
				err = s.checkDeleteAuth(ctx, o.RequestDeleteRange)
			case *pb.RequestOp_RequestTxn:
				err = s.checkTxnAuth(ctx, o.RequestTxn)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) checkPutAuth(ctx context.Context, r *pb.PutRequest) error {
	if err := s.checkKeys(ctx, r.Key, nil, authpb.WRITE); err != nil {
		return err
	}
	if r.PrevKv {
		return s.checkKeys(ctx, r.Key, nil, authpb.READ)
	}
	return nil
}

func (s *Server) checkDeleteAuth(ctx context.Context, r *pb.DeleteRangeRequest) error {
	if err := s.checkKeys(ctx, r.Key, r.RangeEnd, authpb.WRITE); err != nil {
		return err
	}
	if r.PrevKv {
		return s.checkKeys(ctx, r.Key, r.RangeEnd, authpb.READ)
	}
	return nil
}

// stampAuth records in a proposal who sent it and the auth revision its
// permission was checked at; apply refuses it if the auth state changed
// since (etcd's "revision of auth store is old").
func (s *Server) stampAuth(ctx context.Context, r *pb.InternalRaftRequest) {
	ai, err := s.authInfo(ctx)
	if err != nil {
		ai = auth.AuthInfo{Revision: s.auth.Revision()}
	}
	r.Header.Username = ai.Username
	r.Header.AuthRevision = ai.Revision
}

// --- the Auth service -------------------------------------------------------

func (s *Server) authAdminPropose(ctx context.Context, r *pb.InternalRaftRequest) (interface{}, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, r)
	if err != nil {
		return nil, err
	}
	return res.Resp, res.Err
}

func (s *Server) AuthEnable(ctx context.Context) (*pb.AuthEnableResponse, error) {
	resp, err := s.authAdminPropose(ctx, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}})
	if err != nil {
		return nil, err
	}
	return &pb.AuthEnableResponse{Header: s.Header()}, s.ignore(resp)
}

func (s *Server) AuthDisable(ctx context.Context) (*pb.AuthDisableResponse, error) {
	resp, err := s.authAdminPropose(ctx, &pb.InternalRaftRequest{AuthDisable: &pb.AuthDisableRequest{}})
	if err != nil {
		return nil, err
	}
	return &pb.AuthDisableResponse{Header: s.Header()}, s.ignore(resp)
}

func (s *Server) ignore(interface{}) error { return nil }

func (s *Server) AuthStatus(ctx context.Context) (*pb.AuthStatusResponse, error) {
	if err := s.linearizableReadNotify(ctx); err != nil {
		return nil, err
	}
	return &pb.AuthStatusResponse{Header: s.Header(), Enabled: s.auth.Enabled(), AuthRevision: s.auth.Revision()}, nil
}

// Authenticate checks the password here (bcrypt is slow; it never runs in
// apply), then records a new token on every member through raft.
func (s *Server) Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	if !s.auth.Enabled() {
		return nil, auth.ErrAuthNotEnabled
	}
	if err := s.auth.CheckPassword(r.Name, r.Password); err != nil {
		return nil, err
	}
	token, err := auth.NewSimpleToken(s.reqIDs.next())
	if err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: r.Name, SimpleToken: token}})
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	return &pb.AuthenticateResponse{Header: s.Header(), Token: token}, nil
}

func (s *Server) UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	if r.Name == "" {
		return nil, auth.ErrUserEmpty
	}
	req := *r
	if (r.Options == nil || !r.Options.NoPassword) && r.HashedPassword == "" {
		h, err := auth.HashPassword(r.Password, int(s.cfg.BcryptCost))
		if err != nil {
			return nil, err
		}
		req.HashedPassword = string(h)
	}
	req.Password = ""
	if _, err := s.authAdminPropose(ctx, &pb.InternalRaftRequest{AuthUserAdd: &req}); err != nil {
		return nil, err
	}
	return &pb.AuthUserAddResponse{Header: s.Header()}, nil
}

func (s *Server) UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	if _, err := s.authAdminPropose(ctx, &pb.InternalRaftRequest{AuthUserDelete: r}); err != nil {
		return nil, err
	}
	return &pb.AuthUserDeleteResponse{Header: s.Header()}, nil
}

func (s *Server) UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	req := *r
	if r.HashedPassword == "" {
		h, err := auth.HashPassword(r.Password, int(s.cfg.BcryptCost))
		if err != nil {
			return nil, err
		}
		req.HashedPassword = string(h)
	}
	req.Password = ""
	if _, err := s.authAdminPropose(ctx, &pb.InternalRaftRequest{AuthUserChangePassword: &req}); err != nil {
		return nil, err
	}
	return &pb.AuthUserChangePasswordResponse{Header: s.Header()}, nil
}

func (s *Server) UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	if _, err := s.authAdminPropose(ctx, &pb.InternalRaftRequest{AuthUserGrantRole: r}); err != nil {
		return nil, err
	}
	return &pb.AuthUserGrantRoleResponse{Header: s.Header()}, nil
}

func (s *Server) UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	if _, err := s.authAdminPropose(ctx, &pb.InternalRaftRequest{AuthUserRevokeRole: r}); err != nil {
		return nil, err
	}
	return &pb.AuthUserRevokeRoleResponse{Header: s.Header()}, nil
}

// UserGet: a user may read itself; anything else needs root.
func (s *Server) UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	if err := s.selfOrAdmin(ctx, r.Name, ""); err != nil {
		return nil, err
	}
	if err := s.linearizableReadNotify(ctx); err != nil {
		return nil, err
	}
	u, err := s.auth.User(r.Name)
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserGetResponse{Header: s.Header(), Roles: u.Roles}, nil
}

func (s *Server) UserList(ctx context.Context) (*pb.AuthUserListResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	if err := s.linearizableReadNotify(ctx); err != nil {
		return nil, err
	}
	return &pb.AuthUserListResponse{Header: s.Header(), Users: s.auth.Users()}, nil
}

func (s *Server) RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	if _, err := s.authAdminPropose(ctx, &pb.InternalRaftRequest{AuthRoleAdd: r}); err != nil {
		return nil, err
	}
	return &pb.AuthRoleAddResponse{Header: s.Header()}, nil
}

// RoleGet: a user may read its own roles; anything else needs root.
func (s *Server) RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	if err := s.selfOrAdmin(ctx, "", r.Role); err != nil {
		return nil, err
	}
	if err := s.linearizableReadNotify(ctx); err != nil {
		return nil, err
	}
	perms, err := s.auth.Role(r.Role)
	if err != nil {
		return nil, err
	}
	return &pb.AuthRoleGetResponse{Header: s.Header(), Perm: perms}, nil
}

func (s *Server) RoleList(ctx context.Context) (*pb.AuthRoleListResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	if err := s.linearizableReadNotify(ctx); err != nil {
		return nil, err
	}
	return &pb.AuthRoleListResponse{Header: s.Header(), Roles: s.auth.Roles()}, nil
}

func (s *Server) RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	if _, err := s.authAdminPropose(ctx, &pb.InternalRaftRequest{AuthRoleDelete: r}); err != nil {
		return nil, err
	}
	return &pb.AuthRoleDeleteResponse{Header: s.Header()}, nil
}

func (s *Server) RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	if r.Perm == nil {
		return nil, auth.ErrPermissionNotGranted
	}
	if _, err := s.authAdminPropose(ctx, &pb.InternalRaftRequest{AuthRoleGrantPermission: r}); err != nil {
		return nil, err
	}
	return &pb.AuthRoleGrantPermissionResponse{Header: s.Header()}, nil
}

func (s *Server) RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	if _, err := s.authAdminPropose(ctx, &pb.InternalRaftRequest{AuthRoleRevokePermission: r}); err != nil {
		return nil, err
	}
	return &pb.AuthRoleRevokePermissionResponse{Header: s.Header()}, nil
}

func (s *Server) selfOrAdmin(ctx context.Context, user, role string) error {
	if !s.auth.Enabled() {
		return nil
	}
	ai, err := s.authInfo(ctx)
	if err != nil {
		return err
	}
	if s.auth.IsAdmin(ai.Username) {
		return nil
	}
	if user != "" && user == ai.Username {
		return nil
	}
	if role != "" {
		if u, err := s.auth.User(ai.Username); err == nil {
			for _, r := range u.Roles {
				if r == role {
					return nil
				}
			}
		}
	}
	return auth.ErrPermissionDenied
}
