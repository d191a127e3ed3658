package ctl

import (
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// header-only responses of the auth commands in the fields format.
func (p *Printer) authHdr(h *pb.ResponseHeader, v any, simple func()) error {
	switch p.Format {
	case FormatSimple:
		simple()
		return nil
	case FormatFields:
		p.fieldsHdr(h)
		return nil
	}
	return p.rpc(v)
}

// AuthEnable prints the result of `auth enable`.
func (p *Printer) AuthEnable(r *clientv3.AuthEnableResponse) error {
	return p.authHdr(r.Header, (*pb.AuthEnableResponse)(r), func() { p.println("Authentication Enabled") })
}

// AuthDisable prints the result of `auth disable`.
func (p *Printer) AuthDisable(r *clientv3.AuthDisableResponse) error {
	return p.authHdr(r.Header, (*pb.AuthDisableResponse)(r), func() { p.println("Authentication Disabled") })
}

// AuthStatus prints whether auth is on and the auth revision.
func (p *Printer) AuthStatus(r *clientv3.AuthStatusResponse) error {
	switch p.Format {
	case FormatSimple:
		p.println("Authentication Status:", r.Enabled)
		p.println("AuthRevision:", r.AuthRevision)
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		p.println(`"Enabled" :`, r.Enabled)
		p.println(`"AuthRevision" :`, r.AuthRevision)
		return nil
	}
	return p.rpc((*pb.AuthStatusResponse)(r))
}

// RoleAdd prints a created role.
func (p *Printer) RoleAdd(role string, r *clientv3.AuthRoleAddResponse) error {
	return p.authHdr(r.Header, (*pb.AuthRoleAddResponse)(r), func() { p.printf("Role %s created\n", role) })
}

// RoleDelete prints a deleted role.
func (p *Printer) RoleDelete(role string, r *clientv3.AuthRoleDeleteResponse) error {
	return p.authHdr(r.Header, (*pb.AuthRoleDeleteResponse)(r), func() { p.printf("Role %s deleted\n", role) })
}

// RoleGrantPermission prints an updated role.
func (p *Printer) RoleGrantPermission(role string, r *clientv3.AuthRoleGrantPermissionResponse) error {
	return p.authHdr(r.Header, (*pb.AuthRoleGrantPermissionResponse)(r), func() { p.printf("Role %s updated\n", role) })
}

// RoleRevokePermission prints a revoked permission.
func (p *Printer) RoleRevokePermission(role, key, end string, r *clientv3.AuthRoleRevokePermissionResponse) error {
	return p.authHdr(r.Header, (*pb.AuthRoleRevokePermissionResponse)(r), func() {
		switch {
		case len(end) == 0:
			p.printf("Permission of key %s is revoked from role %s\n", key, role)
		case end != "\x00":
			p.printf("Permission of range [%s, %s) is revoked from role %s\n", key, end, role)
		default:
			p.printf("Permission of range [%s, <open ended> is revoked from role %s\n", key, role)
		}
	})
}

// RoleGet prints a role's permissions.
func (p *Printer) RoleGet(role string, r *clientv3.AuthRoleGetResponse) error {
	switch p.Format {
	case FormatSimple:
		p.printf("Role %s\n", role)
		p.println("KV Read:")
		p.perms(r.Perm, authpb.READ)
		p.println("KV Write:")
		p.perms(r.Perm, authpb.WRITE)
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		for _, pm := range r.Perm {
			p.println(`"PermType" : `, pm.PermType.String())
			p.printf("\"Key\" : %q\n", string(pm.Key))
			p.printf("\"RangeEnd\" : %q\n", string(pm.RangeEnd))
		}
		return nil
	}
	return p.rpc((*pb.AuthRoleGetResponse)(r))
}

func (p *Printer) perms(perms []*authpb.Permission, want authpb.Permission_Type) {
	for _, pm := range perms {
		if pm.PermType != want && pm.PermType != authpb.READWRITE {
			continue
		}
		key, end := string(pm.Key), string(pm.RangeEnd)
		if len(end) == 0 {
			p.printf("\t%s\n", key)
			continue
		}
		if end != "\x00" {
			p.printf("\t[%s, %s)", key, end)
		} else {
			p.printf("\t[%s, <open ended>", key)
		}
		if clientv3.GetPrefixRangeEnd(key) == end && len(key) > 0 {
			p.printf(" (prefix %s)", key)
		}
		p.printf("\n")
	}
}

// RoleList prints the roles, one per line.
func (p *Printer) RoleList(r *clientv3.AuthRoleListResponse) error {
	switch p.Format {
	case FormatSimple:
		for _, role := range r.Roles {
			p.printf("%s\n", role)
		}
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		p.printf(`"Roles" :`)
		for _, role := range r.Roles {
			p.printf(" %q", role)
		}
		p.println()
		return nil
	}
	return p.rpc((*pb.AuthRoleListResponse)(r))
}

// UserAdd prints a created user.
func (p *Printer) UserAdd(user string, r *clientv3.AuthUserAddResponse) error {
	return p.authHdr(r.Header, (*pb.AuthUserAddResponse)(r), func() { p.printf("User %s created\n", user) })
}

// UserDelete prints a deleted user.
func (p *Printer) UserDelete(user string, r *clientv3.AuthUserDeleteResponse) error {
	return p.authHdr(r.Header, (*pb.AuthUserDeleteResponse)(r), func() { p.printf("User %s deleted\n", user) })
}

// UserChangePassword prints a password change.
func (p *Printer) UserChangePassword(r *clientv3.AuthUserChangePasswordResponse) error {
	return p.authHdr(r.Header, (*pb.AuthUserChangePasswordResponse)(r), func() { p.println("Password updated") })
}

// UserGrantRole prints a granted role.
func (p *Printer) UserGrantRole(user, role string, r *clientv3.AuthUserGrantRoleResponse) error {
	return p.authHdr(r.Header, (*pb.AuthUserGrantRoleResponse)(r), func() { p.printf("Role %s is granted to user %s\n", role, user) })
}

// UserRevokeRole prints a revoked role.
func (p *Printer) UserRevokeRole(user, role string, r *clientv3.AuthUserRevokeRoleResponse) error {
	return p.authHdr(r.Header, (*pb.AuthUserRevokeRoleResponse)(r), func() { p.printf("Role %s is revoked from user %s\n", role, user) })
}

// UserGet prints a user and its roles.
func (p *Printer) UserGet(user string, r *clientv3.AuthUserGetResponse) error {
	switch p.Format {
	case FormatSimple:
		p.printf("User: %s\n", user)
		p.printf("Roles:")
		for _, role := range r.Roles {
			p.printf(" %s", role)
		}
		p.printf("\n")
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		p.printf("\"User\" : %q\n", user)
		p.printf(`"Roles" :`)
		for _, role := range r.Roles {
			p.printf(" %q", role)
		}
		p.println()
		return nil
	}
	return p.rpc((*pb.AuthUserGetResponse)(r))
}

// UserList prints the users, one per line.
func (p *Printer) UserList(r *clientv3.AuthUserListResponse) error {
	switch p.Format {
	case FormatSimple:
		for _, u := range r.Users {
			p.printf("%s\n", u)
		}
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		p.printf(`"Users" :`)
		for _, u := range r.Users {
			p.printf(" %q", u)
		}
		p.println()
		return nil
	}
	return p.rpc((*pb.AuthUserListResponse)(r))
}
