package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/internal/ctl"
)

func (a *app) authCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth <enable or disable>",
		Short: "Enable or disable authentication",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "enable",
		Short: "Enables authentication",
		Args:  noArgs("auth enable"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			defer cancel()
			// Enabling needs a root user with the root role: create the
			// role and grant it, as etcdctl does, when it is missing.
			var resp *clientv3.AuthEnableResponse
			for {
				resp, err = c.AuthEnable(ctx)
				if err == nil || !errors.Is(err, rpctypes.ErrRootRoleNotExist) {
					break
				}
				if _, err = c.RoleAdd(ctx, "root"); err != nil {
					break
				}
				if _, err = c.UserGrantRole(ctx, "root", "root"); err != nil {
					break
				}
			}
			if err != nil {
				return c.explain(err)
			}
			return a.p.AuthEnable(resp)
		},
	}, &cobra.Command{
		Use:   "disable",
		Short: "Disables authentication",
		Args:  noArgs("auth disable"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.AuthDisable(ctx)
			cancel()
			if err != nil {
				return c.explain(err)
			}
			return a.p.AuthDisable(resp)
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "Returns authentication status",
		Args:  noArgs("auth status"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.AuthStatus(ctx)
			cancel()
			if err != nil {
				return c.explain(err)
			}
			return a.p.AuthStatus(resp)
		},
	})
	return cmd
}

// authRun runs fn with a client and a command context.
func (a *app) authRun(fn func(c *conn, ctx context.Context) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ctx, cancel := a.commandCtx(c.ctx)
	defer cancel()
	return c.explain(fn(c, ctx))
}

func (a *app) userCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user <subcommand>",
		Short: "User related commands",
	}
	var (
		noPassword      bool
		interactive     = true
		newUserPassword string
		detail          bool
	)
	add := &cobra.Command{
		Use:   "add <user name or user:password> [options]",
		Short: "Adds a new user",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "user add command requires user name as its argument")
			}
			var user, password string
			opts := &clientv3.UserAddOptions{NoPassword: noPassword}
			switch {
			case noPassword:
				user = args[0]
			case newUserPassword != "":
				user, password = args[0], newUserPassword
			default:
				u, p, ok := strings.Cut(args[0], ":")
				if ok {
					if u == "" {
						return ctl.Exitf(ctl.ExitBadArgs, "empty user name is not allowed")
					}
					user, password = u, p
				} else {
					user = args[0]
					var err error
					if password, err = a.newPassword(user, interactive); err != nil {
						return err
					}
				}
			}
			return a.authRun(func(c *conn, ctx context.Context) error {
				resp, err := c.UserAddWithOptions(ctx, user, password, opts)
				if err != nil {
					return err
				}
				return a.p.UserAdd(user, resp)
			})
		},
	}
	add.Flags().BoolVar(&interactive, "interactive", true, "Read password from stdin instead of interactive terminal")
	add.Flags().StringVar(&newUserPassword, "new-user-password", "", "Supply password from the command line flag")
	add.Flags().BoolVar(&noPassword, "no-password", false, "Create a user without password (CN based auth only)")

	del := &cobra.Command{
		Use:   "delete <user name>",
		Short: "Deletes a user",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "user delete command requires user name as its argument")
			}
			return a.authRun(func(c *conn, ctx context.Context) error {
				resp, err := c.UserDelete(ctx, args[0])
				if err != nil {
					return err
				}
				return a.p.UserDelete(args[0], resp)
			})
		},
	}
	get := &cobra.Command{
		Use:   "get <user name> [options]",
		Short: "Gets detailed information of a user",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "user get command requires user name as its argument")
			}
			name := args[0]
			return a.authRun(func(c *conn, ctx context.Context) error {
				resp, err := c.UserGet(ctx, name)
				if err != nil {
					return err
				}
				if !detail {
					return a.p.UserGet(name, resp)
				}
				a.printf("User: %s\n", name)
				for _, role := range resp.Roles {
					a.printf("\n")
					rr, err := c.RoleGet(ctx, role)
					if err != nil {
						return err
					}
					if err := a.p.RoleGet(role, rr); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	get.Flags().BoolVar(&detail, "detail", false, "Show permissions of roles granted to the user")
	list := &cobra.Command{
		Use:   "list",
		Short: "Lists all users",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return ctl.Exitf(ctl.ExitBadArgs, "user list command requires no arguments")
			}
			return a.authRun(func(c *conn, ctx context.Context) error {
				resp, err := c.UserList(ctx)
				if err != nil {
					return err
				}
				return a.p.UserList(resp)
			})
		},
	}
	var pwInteractive = true
	passwd := &cobra.Command{
		Use:   "passwd <user name> [options]",
		Short: "Changes password of user",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "user passwd command requires user name as its argument")
			}
			password, err := a.newPassword(args[0], pwInteractive)
			if err != nil {
				return err
			}
			return a.authRun(func(c *conn, ctx context.Context) error {
				resp, err := c.UserChangePassword(ctx, args[0], password)
				if err != nil {
					return err
				}
				return a.p.UserChangePassword(resp)
			})
		},
	}
	passwd.Flags().BoolVar(&pwInteractive, "interactive", true, "If true, read password in interactive terminal")
	grant := &cobra.Command{
		Use:   "grant-role <user name> <role name>",
		Short: "Grants a role to a user",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return ctl.Exitf(ctl.ExitBadArgs, "user grant command requires user name and role name as its argument")
			}
			return a.authRun(func(c *conn, ctx context.Context) error {
				resp, err := c.UserGrantRole(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				return a.p.UserGrantRole(args[0], args[1], resp)
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke-role <user name> <role name>",
		Short: "Revokes a role from a user",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return ctl.Exitf(ctl.ExitBadArgs, "user revoke-role requires user name and role name as its argument")
			}
			return a.authRun(func(c *conn, ctx context.Context) error {
				resp, err := c.UserRevokeRole(ctx, args[0], args[1])
				if err != nil {
					return err
				}
				return a.p.UserRevokeRole(args[0], args[1], resp)
			})
		},
	}
	cmd.AddCommand(add, del, get, list, passwd, grant, revoke)
	return cmd
}

// newPassword asks for a new user's password twice on the terminal, or
// reads one line of standard input when not interactive.
func (a *app) newPassword(user string, interactive bool) (string, error) {
	if !interactive {
		pw, err := readLine(a.in)
		if err != nil && pw == "" {
			return "", ctl.Exitf(ctl.ExitBadArgs, "failed to read password: %v", err)
		}
		return strings.TrimSpace(pw), nil
	}
	p1, err := a.readPassword(fmt.Sprintf("Password of %s: ", user))
	if err != nil {
		return "", ctl.Exitf(ctl.ExitBadArgs, "failed to ask password: %s", err)
	}
	if len(p1) == 0 {
		return "", ctl.Exitf(ctl.ExitBadArgs, "empty password")
	}
	p2, err := a.readPassword(fmt.Sprintf("Type password of %s again for confirmation: ", user))
	if err != nil {
		return "", ctl.Exitf(ctl.ExitBadArgs, "failed to ask password: %s", err)
	}
	if p1 != p2 {
		return "", ctl.Exitf(ctl.ExitBadArgs, "given passwords are different")
	}
	return p1, nil
}

func (a *app) roleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "role <subcommand>",
		Short: "Role related commands",
	}
	oneArg := func(use, short, verb string, fn func(c *conn, ctx context.Context, role string) error) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) != 1 {
					return ctl.Exitf(ctl.ExitBadArgs, "role %s command requires role name as its argument", verb)
				}
				return a.authRun(func(c *conn, ctx context.Context) error { return fn(c, ctx, args[0]) })
			},
		}
	}
	add := oneArg("add <role name>", "Adds a new role", "add", func(c *conn, ctx context.Context, role string) error {
		resp, err := c.RoleAdd(ctx, role)
		if err != nil {
			return err
		}
		return a.p.RoleAdd(role, resp)
	})
	del := oneArg("delete <role name>", "Deletes a role", "delete", func(c *conn, ctx context.Context, role string) error {
		resp, err := c.RoleDelete(ctx, role)
		if err != nil {
			return err
		}
		return a.p.RoleDelete(role, resp)
	})
	get := oneArg("get <role name>", "Gets detailed information of a role", "get", func(c *conn, ctx context.Context, role string) error {
		resp, err := c.RoleGet(ctx, role)
		if err != nil {
			return err
		}
		return a.p.RoleGet(role, resp)
	})
	list := &cobra.Command{
		Use:   "list",
		Short: "Lists all roles",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return ctl.Exitf(ctl.ExitBadArgs, "role list command requires no arguments")
			}
			return a.authRun(func(c *conn, ctx context.Context) error {
				resp, err := c.RoleList(ctx)
				if err != nil {
					return err
				}
				return a.p.RoleList(resp)
			})
		},
	}
	var prefix, fromKey bool
	grant := &cobra.Command{
		Use:   "grant-permission [options] <role name> <permission type> <key> [endkey]",
		Short: "Grants a key to a role",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 || len(args) > 4 {
				return ctl.Exitf(ctl.ExitBadArgs, "role grant command requires role name, permission type, and key [endkey] as its argument")
			}
			perm, ok := permType(args[1])
			if !ok {
				return ctl.Exitf(ctl.ExitBadArgs, "invalid permission type: %s", args[1])
			}
			key, end, err := permRange(args[2:], prefix, fromKey)
			if err != nil {
				return err
			}
			return a.authRun(func(c *conn, ctx context.Context) error {
				resp, err := c.RoleGrantPermission(ctx, args[0], key, end, perm)
				if err != nil {
					return err
				}
				return a.p.RoleGrantPermission(args[0], resp)
			})
		},
	}
	grant.Flags().BoolVar(&prefix, "prefix", false, "grant a prefix permission")
	grant.Flags().BoolVar(&fromKey, "from-key", false, "grant a permission of keys that are greater than or equal to the given key using byte compare")
	var rprefix, rfromKey bool
	revoke := &cobra.Command{
		Use:   "revoke-permission <role name> <key> [endkey]",
		Short: "Revokes a key from a role",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 || len(args) > 3 {
				return ctl.Exitf(ctl.ExitBadArgs, "role revoke-permission command requires role name and key [endkey] as its argument")
			}
			key, end, err := permRange(args[1:], rprefix, rfromKey)
			if err != nil {
				return err
			}
			return a.authRun(func(c *conn, ctx context.Context) error {
				resp, err := c.RoleRevokePermission(ctx, args[0], key, end)
				if err != nil {
					return err
				}
				return a.p.RoleRevokePermission(args[0], key, end, resp)
			})
		},
	}
	revoke.Flags().BoolVar(&rprefix, "prefix", false, "revoke a prefix permission")
	revoke.Flags().BoolVar(&rfromKey, "from-key", false, "revoke a permission of keys that are greater than or equal to the given key using byte compare")
	cmd.AddCommand(add, del, get, list, grant, revoke)
	return cmd
}

func permType(s string) (clientv3.PermissionType, bool) {
	switch strings.ToUpper(s) {
	case "READ":
		return clientv3.PermissionType(clientv3.PermRead), true
	case "WRITE":
		return clientv3.PermissionType(clientv3.PermWrite), true
	case "READWRITE":
		return clientv3.PermissionType(clientv3.PermReadWrite), true
	}
	return 0, false
}

// permRange turns <key> [endkey] and --prefix/--from-key into the key range
// of a permission, as etcdctl does: an empty key means the whole key space
// ("\x00" as the key, "\x00" as the open end).
func permRange(args []string, prefix, fromKey bool) (string, string, error) {
	if prefix && fromKey {
		return "", "", ctl.Exitf(ctl.ExitBadArgs, "--from-key and --prefix flags are mutually exclusive")
	}
	key := args[0]
	if len(key) == 0 {
		end := ""
		if prefix || fromKey {
			end = "\x00"
		}
		return "\x00", end, nil
	}
	if len(args) == 1 {
		switch {
		case prefix:
			return key, clientv3.GetPrefixRangeEnd(key), nil
		case fromKey:
			return key, "\x00", nil
		}
		return key, "", nil
	}
	if prefix {
		return "", "", ctl.Exitf(ctl.ExitBadArgs, "unexpected endkey argument with --prefix flag")
	}
	if fromKey {
		return "", "", ctl.Exitf(ctl.ExitBadArgs, "unexpected endkey argument with --from-key flag")
	}
	return key, args[1], nil
}
