package main

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/cairndb/cairn/internal/ctl"
)

func (a *app) endpointCommand() *cobra.Command {
	var cluster bool
	cmd := &cobra.Command{
		Use:   "endpoint <subcommand>",
		Short: "Endpoint related commands",
	}
	cmd.PersistentFlags().BoolVar(&cluster, "cluster", false, "use all endpoints from the cluster member list")
	cmd.AddCommand(a.epHealthCommand(&cluster), a.epStatusCommand(&cluster), a.epHashKVCommand(&cluster))
	return cmd
}

// clusterEndpoints are the endpoints a command works on one by one: the
// global endpoints, or with --cluster the client URLs of every member.
func (a *app) clusterEndpoints(cluster bool) ([]string, error) {
	eps, err := a.endpoints()
	if err != nil || !cluster {
		return eps, err
	}
	// No auth: MemberList needs none, and no password is asked needlessly.
	acc, err := a.globalAccess(false)
	if err != nil {
		return nil, err
	}
	c, err := a.dial(eps, acc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := a.commandCtx(c.ctx)
	defer cancel()
	resp, err := c.MemberList(ctx)
	if err != nil {
		return nil, ctl.Exit(ctl.ExitError, fmt.Errorf("failed to fetch endpoints from etcd cluster member list: %w", c.explain(err)))
	}
	var out []string
	for _, m := range resp.Members {
		out = append(out, m.ClientURLs...)
	}
	return out, nil
}

func (a *app) epHealthCommand(cluster *bool) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Checks the healthiness of endpoints specified in `--endpoints` flag",
		RunE: func(cmd *cobra.Command, args []string) error {
			eps, err := a.clusterEndpoints(*cluster)
			if err != nil {
				return err
			}
			acc, err := a.globalAccess(true)
			if err != nil {
				return err
			}
			hs := make([]ctl.EpHealth, len(eps))
			var wg sync.WaitGroup
			for i, ep := range eps {
				wg.Add(1)
				go func() {
					defer wg.Done()
					hs[i] = a.checkHealth(ep, acc)
				}()
			}
			wg.Wait()
			if err := a.p.EndpointHealth(hs); err != nil {
				return err
			}
			for _, h := range hs {
				if h.Error != "" {
					return ctl.Exit(ctl.ExitError, errors.New("unhealthy cluster"))
				}
			}
			return nil
		},
	}
}

// checkHealth does what etcdctl's health check does: a linearizable Get
// (permission denied counts as healthy, the request went through raft),
// then a look at the alarms.
func (a *app) checkHealth(ep string, acc access) ctl.EpHealth {
	c, err := a.dial([]string{ep}, acc)
	if err != nil {
		return ctl.EpHealth{Ep: ep, Error: err.Error()}
	}
	start := time.Now()
	ctx, cancel := a.commandCtx(c.ctx)
	defer cancel()
	_, err = c.Get(ctx, "health")
	h := ctl.EpHealth{Ep: ep, Took: time.Since(start).String()}
	if err == nil || errors.Is(err, rpctypes.ErrPermissionDenied) {
		h.Health = true
	} else {
		h.Error = c.explain(err).Error()
	}
	if h.Health {
		resp, err := c.AlarmList(ctx)
		switch {
		case err != nil:
			h.Health = false
			h.Error = "Unable to fetch the alarm list"
		case len(resp.Alarms) > 0:
			h.Health = false
			h.Error = "Active Alarm(s): "
			for _, v := range resp.Alarms {
				switch v.Alarm {
				case pb.AlarmType_NOSPACE:
					h.Error += "NOSPACE "
				case pb.AlarmType_CORRUPT:
					h.Error += "CORRUPT "
				default:
					h.Error += "UNKNOWN "
				}
			}
		}
	}
	return h
}

// reachable fails fast for an endpoint nothing listens on, rather than
// waiting for the command timeout.
func (a *app) reachable(c *conn, ep string) error {
	if why := probe(ep, c.tls, false); why != "" {
		return errors.New(why)
	}
	return nil
}

func (a *app) epStatusCommand(cluster *bool) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Prints out the status of endpoints specified in `--endpoints` flag",
		Long: `When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are endpoint, ID, version, storage version, db size, in use, percentage not in use, quota,
is leader, is learner, raft term, raft index, raft applied index, errors, downgrade target version, downgrade enabled.
`,
		RunE: func(cmd *cobra.Command, args []string) error {
			eps, err := a.clusterEndpoints(*cluster)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var sts []ctl.EpStatus
			failed := false
			for _, ep := range eps {
				err := a.reachable(c, ep)
				if err == nil {
					ctx, cancel := a.commandCtx(c.ctx)
					var resp *ctl.EpStatus
					r, serr := c.Status(ctx, ep)
					cancel()
					if serr == nil {
						resp = &ctl.EpStatus{Ep: ep, Resp: r}
						sts = append(sts, *resp)
						continue
					}
					err = c.explain(serr)
				}
				failed = true
				fmt.Fprintf(a.errOut, "Failed to get the status of endpoint %s (%v)\n", ep, err)
			}
			if err := a.p.EndpointStatus(sts); err != nil {
				return err
			}
			if failed {
				return ctl.ExitSilently(ctl.ExitError)
			}
			return nil
		},
	}
}

func (a *app) epHashKVCommand(cluster *bool) *cobra.Command {
	var rev int64
	cmd := &cobra.Command{
		Use:   "hashkv",
		Short: "Prints the KV history hash for each endpoint in --endpoints",
		RunE: func(cmd *cobra.Command, args []string) error {
			eps, err := a.clusterEndpoints(*cluster)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var hs []ctl.EpHashKV
			var failed error
			for _, ep := range eps {
				err := a.reachable(c, ep)
				if err == nil {
					ctx, cancel := a.commandCtx(c.ctx)
					r, herr := c.HashKV(ctx, ep, rev)
					cancel()
					if herr == nil {
						hs = append(hs, ctl.EpHashKV{Ep: ep, Resp: r})
						continue
					}
					err = c.explain(herr)
				}
				failed = err
				fmt.Fprintf(a.errOut, "Failed to get the hash of endpoint %s (%v)\n", ep, err)
			}
			if err := a.p.EndpointHashKV(hs); err != nil {
				return err
			}
			if failed != nil {
				return ctl.Exit(ctl.ExitError, failed)
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&rev, "rev", 0, "maximum revision to hash (default: latest revision)")
	return cmd
}
