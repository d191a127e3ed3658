package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/internal/ctl"
)

func (a *app) alarmCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alarm <subcommand>",
		Short: "Alarm related commands",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "disarm",
		Short: "Disarms all alarms",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return ctl.Exitf(ctl.ExitBadArgs, "alarm disarm command accepts no arguments")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.AlarmDisarm(ctx, &clientv3.AlarmMember{})
			cancel()
			if err != nil {
				return c.explain(err)
			}
			return a.p.Alarm(resp)
		},
	}, &cobra.Command{
		Use:   "list",
		Short: "Lists all alarms",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return ctl.Exitf(ctl.ExitBadArgs, "alarm list command accepts no arguments")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.AlarmList(ctx)
			cancel()
			if err != nil {
				return c.explain(err)
			}
			return a.p.Alarm(resp)
		},
	})
	return cmd
}

func (a *app) defragCommand() *cobra.Command {
	var cluster bool
	cmd := &cobra.Command{
		Use:   "defrag",
		Short: "Defragments the storage of the etcd members with given endpoints",
		RunE: func(cmd *cobra.Command, args []string) error {
			eps, err := a.clusterEndpoints(cluster)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			bar := ctl.NewProgress(a.errOut, cluster && len(eps) > 1 && a.stderrIsTerminal(), "defrag", int64(len(eps)), false)
			failures := 0
			for i, ep := range eps {
				bar.Label("defrag " + ep)
				start := time.Now()
				err := a.reachable(c, ep)
				if err == nil {
					// Defragmentation may take long: no command timeout
					// unless one was given.
					ctx, cancel := c.ctx, func() {}
					if a.flagChanged("command-timeout") {
						ctx, cancel = a.commandCtx(c.ctx)
					}
					_, err = c.Defragment(ctx, ep)
					cancel()
					err = c.explain(err)
				}
				d := time.Since(start)
				bar.Done(true)
				if err != nil {
					fmt.Fprintf(a.errOut, "Failed to defragment etcd member[%s]. took %s. (%v)\n", ep, d, err)
					failures++
				} else {
					fmt.Fprintf(a.out, "Finished defragmenting etcd member[%s]. took %s\n", ep, d)
				}
				bar.Set(int64(i + 1))
			}
			bar.Done(true)
			if failures != 0 {
				return ctl.ExitSilently(ctl.ExitError)
			}
			return nil
		},
	}
	cmd.PersistentFlags().BoolVar(&cluster, "cluster", false, "use all endpoints from the cluster member list")
	return cmd
}

func (a *app) moveLeaderCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "move-leader <transferee-member-id>",
		Short: "Transfers leadership to another etcd cluster member.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "move-leader command needs 1 argument")
			}
			target, err := strconv.ParseUint(args[0], 16, 64)
			if err != nil {
				return ctl.Exit(ctl.ExitBadArgs, err)
			}
			eps, err := a.endpoints()
			if err != nil {
				return err
			}
			// Find the endpoint of the current leader: only it can move
			// leadership.
			acc, err := a.globalAccess(true)
			if err != nil {
				return err
			}
			var leader *conn
			var leaderID uint64
			for _, ep := range eps {
				c, err := a.dial([]string{ep}, acc)
				if err != nil {
					return err
				}
				ctx, cancel := a.commandCtx(c.ctx)
				resp, err := c.Status(ctx, ep)
				cancel()
				if err != nil {
					return ctl.Exit(ctl.ExitError, c.explain(err))
				}
				if resp.Header != nil && resp.Header.MemberId == resp.Leader {
					leader, leaderID = c, resp.Leader
					break
				}
			}
			if leader == nil {
				return ctl.Exitf(ctl.ExitBadArgs, "no leader endpoint given at %v", eps)
			}
			ctx, cancel := a.commandCtx(leader.ctx)
			resp, err := leader.MoveLeader(ctx, target)
			cancel()
			if err != nil {
				return ctl.Exit(ctl.ExitError, leader.explain(err))
			}
			return a.p.MoveLeader(leaderID, target, resp)
		},
	}
}

func (a *app) downgradeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "downgrade <TARGET_VERSION>",
		Short: "Downgrade related commands",
	}
	run := func(action string, typ clientv3.DowngradeAction) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			// As etcdctl 3.6: validate and enable take exactly one
			// non-empty version; cancel ignores its arguments.
			version := ""
			if typ != clientv3.DowngradeCancel {
				switch {
				case len(args) < 1:
					return ctl.Exitf(ctl.ExitBadArgs, "TARGET_VERSION not provided")
				case len(args) > 1:
					return ctl.Exitf(ctl.ExitBadArgs, "too many arguments")
				case args[0] == "":
					return ctl.Exitf(ctl.ExitBadArgs, "target version not provided")
				}
				version = args[0]
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.Downgrade(ctx, typ, version)
			cancel()
			if err != nil {
				return ctl.Exit(ctl.ExitError, c.explain(err))
			}
			return a.p.Downgrade(action, resp)
		}
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate <TARGET_VERSION>",
		Short: "Validate downgrade capability before starting downgrade",
		RunE:  run("validate", clientv3.DowngradeValidate),
	}, &cobra.Command{
		Use:   "enable <TARGET_VERSION>",
		Short: "Start a downgrade action to cluster",
		RunE:  run("enable", clientv3.DowngradeEnable),
	}, &cobra.Command{
		Use:   "cancel",
		Short: "Cancel the ongoing downgrade action to cluster",
		RunE:  run("cancel", clientv3.DowngradeCancel),
	})
	return cmd
}
