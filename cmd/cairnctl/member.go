package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/internal/ctl"
)

func (a *app) memberCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member <subcommand>",
		Short: "Membership related commands",
	}
	cmd.AddCommand(a.memberAddCommand(), a.memberRemoveCommand(), a.memberUpdateCommand(),
		a.memberListCommand(), a.memberPromoteCommand())
	return cmd
}

func (a *app) memberAddCommand() *cobra.Command {
	var (
		peerURLs string
		learner  bool
	)
	cmd := &cobra.Command{
		Use:   "add <memberName> [options]",
		Short: "Adds a member into the cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "member name not provided")
			}
			if len(args) > 1 {
				ev := "too many arguments"
				for _, s := range args {
					if strings.HasPrefix(strings.ToLower(s), "http") {
						ev += fmt.Sprintf(`, did you mean --peer-urls=%s`, s)
					}
				}
				return ctl.Exit(ctl.ExitBadArgs, errors.New(ev))
			}
			name := args[0]
			if len(peerURLs) == 0 {
				return ctl.Exitf(ctl.ExitBadArgs, "member peer urls not provided")
			}
			urls := strings.Split(peerURLs, ",")
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			defer cancel()
			var resp *clientv3.MemberAddResponse
			if learner {
				resp, err = c.MemberAddAsLearner(ctx, urls)
			} else {
				resp, err = c.MemberAdd(ctx, urls)
			}
			if err != nil {
				return c.explain(err)
			}
			if err := a.p.MemberAdd(resp); err != nil {
				return err
			}
			if a.p.Format != ctl.FormatSimple {
				return nil
			}
			// The member list of the answer may lag on a member that was
			// not the leader: read it again from the member that answered,
			// after a linearizable read.
			list, err := c.MemberList(ctx)
			for err == nil && list.Header.MemberId != resp.Header.MemberId {
				g, gerr := c.Get(ctx, "_")
				if gerr != nil {
					return c.explain(gerr)
				}
				resp.Header.MemberId = g.Header.MemberId
				list, err = c.MemberList(ctx)
			}
			if err != nil {
				return c.explain(err)
			}
			var conf []string
			for _, m := range list.Members {
				for _, u := range m.PeerURLs {
					n := m.Name
					if m.ID == resp.Member.ID {
						n = name
					}
					conf = append(conf, fmt.Sprintf("%s=%s", n, u))
				}
			}
			a.printf("\n")
			a.printf("ETCD_NAME=%q\n", name)
			a.printf("ETCD_INITIAL_CLUSTER=%q\n", strings.Join(conf, ","))
			a.printf("ETCD_INITIAL_ADVERTISE_PEER_URLS=%q\n", strings.Join(resp.Member.PeerURLs, ","))
			a.printf("ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&peerURLs, "peer-urls", "", "comma separated peer URLs for the new member.")
	cmd.Flags().BoolVar(&learner, "learner", false, "indicates if the new member is raft learner")
	return cmd
}

func (a *app) memberRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove <memberID>",
		Short: "Removes a member from the cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "member ID is not provided")
			}
			id, err := memberID(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.MemberRemove(ctx, id)
			cancel()
			if err != nil {
				return c.explain(err)
			}
			return a.p.MemberRemove(id, resp)
		},
	}
}

func (a *app) memberUpdateCommand() *cobra.Command {
	var peerURLs string
	cmd := &cobra.Command{
		Use:   "update <memberID> [options]",
		Short: "Updates a member in the cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "member ID is not provided")
			}
			id, err := memberID(args[0])
			if err != nil {
				return err
			}
			if len(peerURLs) == 0 {
				return ctl.Exitf(ctl.ExitBadArgs, "member peer urls not provided")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.MemberUpdate(ctx, id, strings.Split(peerURLs, ","))
			cancel()
			if err != nil {
				return c.explain(err)
			}
			return a.p.MemberUpdate(id, resp)
		},
	}
	cmd.Flags().StringVar(&peerURLs, "peer-urls", "", "comma separated peer URLs for the updated member.")
	return cmd
}

func (a *app) memberListCommand() *cobra.Command {
	var consistency string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Lists all members in the cluster",
		Long: `When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.
`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []clientv3.OpOption
			switch consistency {
			case "s":
				opts = append(opts, clientv3.WithSerializable())
			case "l":
			default:
				return ctl.Exitf(ctl.ExitBadFeature, "unknown consistency flag %q", consistency)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.MemberList(ctx, opts...)
			cancel()
			if err != nil {
				return c.explain(err)
			}
			return a.p.MemberList(resp)
		},
	}
	cmd.Flags().StringVar(&consistency, "consistency", "l", "Linearizable(l) or Serializable(s)")
	return cmd
}

func (a *app) memberPromoteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "promote <memberID>",
		Short: "Promotes a non-voting member in the cluster",
		Long: `Promotes a non-voting learner member to a voting one in the cluster.
`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "member ID is not provided")
			}
			id, err := memberID(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.MemberPromote(ctx, id)
			cancel()
			if err != nil {
				return c.explain(err)
			}
			return a.p.MemberPromote(id, resp)
		},
	}
}
