package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/internal/ctl"
)

func (a *app) leaseCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lease <subcommand>",
		Short: "Lease related commands",
	}
	cmd.AddCommand(a.leaseGrantCommand(), a.leaseRevokeCommand(), a.leaseTimeToLiveCommand(),
		a.leaseListCommand(), a.leaseKeepAliveCommand())
	return cmd
}

func (a *app) leaseGrantCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "grant <ttl>",
		Short: "Creates leases",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "lease grant command needs TTL argument")
			}
			ttl, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return ctl.Exitf(ctl.ExitBadArgs, "bad TTL (%v)", err)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.Grant(ctx, ttl)
			cancel()
			if err != nil {
				return ctl.Exitf(ctl.ExitError, "failed to grant lease (%v)", c.explain(err))
			}
			return a.p.Grant(resp)
		},
	}
}

func (a *app) leaseRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke <leaseID>",
		Short: "Revokes leases",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "lease revoke command needs 1 argument")
			}
			id, err := leaseID(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.Revoke(ctx, id)
			cancel()
			if err != nil {
				return ctl.Exitf(ctl.ExitError, "failed to revoke lease (%v)", c.explain(err))
			}
			return a.p.Revoke(id, resp)
		},
	}
}

func (a *app) leaseTimeToLiveCommand() *cobra.Command {
	var keys bool
	cmd := &cobra.Command{
		Use:   "timetolive <leaseID> [options]",
		Short: "Get lease information",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "lease timetolive command needs lease ID as argument")
			}
			id, err := leaseID(args[0])
			if err != nil {
				return err
			}
			var opts []clientv3.LeaseOption
			if keys {
				opts = append(opts, clientv3.WithAttachedKeys())
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.TimeToLive(ctx, id, opts...)
			cancel()
			if err != nil {
				return ctl.Exitf(ctl.ExitError, "failed to get TTL of lease (%v)", c.explain(err))
			}
			return a.p.TimeToLive(resp, keys)
		},
	}
	cmd.Flags().BoolVar(&keys, "keys", false, "Get keys attached to this lease")
	return cmd
}

func (a *app) leaseListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List all active leases",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.Leases(ctx)
			cancel()
			if err != nil {
				return ctl.Exitf(ctl.ExitError, "failed to list leases (%v)", c.explain(err))
			}
			return a.p.Leases(resp)
		},
	}
}

func (a *app) leaseKeepAliveCommand() *cobra.Command {
	var once bool
	cmd := &cobra.Command{
		Use:   "keep-alive [options] <leaseID>",
		Short: "Keeps leases alive (renew)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "lease keep-alive command needs lease ID as argument")
			}
			id, err := leaseID(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if once {
				ctx, cancel := a.commandCtx(c.ctx)
				resp, err := c.KeepAliveOnce(ctx, id)
				cancel()
				if err != nil {
					return ctl.Exit(ctl.ExitBadConnection, c.explain(err))
				}
				return a.p.KeepAlive(resp)
			}
			respc, err := c.KeepAlive(c.ctx, id)
			if err != nil {
				return ctl.Exit(ctl.ExitBadConnection, c.explain(err))
			}
			for resp := range respc {
				if err := a.p.KeepAlive(resp); err != nil {
					return err
				}
			}
			if cerr := c.explain(context.Cause(c.ctx)); cerr != nil && cerr != context.Canceled {
				return cerr
			}
			if a.p.Format == ctl.FormatSimple {
				fmt.Fprintf(a.out, "lease %016x expired or revoked.\n", id)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "Resets the keep-alive time to its original value and exits immediately")
	return cmd
}
