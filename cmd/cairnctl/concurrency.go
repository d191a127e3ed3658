package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/cairndb/cairn/internal/ctl"
)

// The lock and elect commands run on the client, over KV, Lease and Watch,
// with clientv3's concurrency package: they need no Lock or Election
// service on the server.

func (a *app) lockCommand() *cobra.Command {
	ttl := 10
	cmd := &cobra.Command{
		Use:   "lock <lockname> [exec-command arg1 arg2 ...]",
		Short: "Acquires a named lock",
		Long: `Acquires a named lock and holds it until interrupted (then releases it),
or, given a command, runs it while holding the lock with ETCD_LOCK_KEY and
ETCD_LOCK_REV in its environment, and releases the lock when it exits.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return ctl.Exitf(ctl.ExitBadArgs, "lock takes a lock name argument and an optional command to execute")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			cmdArgs := args[1:]
			if len(cmdArgs) > 0 && cmdArgs[0] == "--" {
				cmdArgs = cmdArgs[1:] // lock <name> -- <cmd>: -- is optional here
			}
			if err := a.lockUntilSignal(c, ttl, args[0], cmdArgs); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return ctl.Exit(ee.ExitCode(), err)
				}
				return ctl.Exit(ctl.ExitError, c.explain(err))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&ttl, "ttl", ttl, "timeout for session")
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func (a *app) lockUntilSignal(c *conn, ttl int, name string, cmdArgs []string) error {
	s, err := concurrency.NewSession(c.Client, concurrency.WithTTL(ttl), concurrency.WithContext(c.ctx))
	if err != nil {
		return err
	}
	defer s.Close()
	m := concurrency.NewMutex(s, name)
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	donec := make(chan struct{})
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() {
		select {
		case <-sigc:
			cancel()
			close(donec)
		case <-ctx.Done():
		}
	}()
	if err := m.Lock(ctx); err != nil {
		return err
	}
	if len(cmdArgs) > 0 {
		cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
		cmd.Env = append([]string{"ETCD_LOCK_KEY=" + m.Key(), fmt.Sprintf("ETCD_LOCK_REV=%d", m.Header().Revision)}, os.Environ()...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = a.in, a.out, a.errOut
		err := cmd.Run()
		unlockErr := m.Unlock(context.WithoutCancel(c.ctx))
		if err != nil {
			return err
		}
		return unlockErr
	}
	k, err := c.Get(ctx, m.Key())
	if err != nil {
		return err
	}
	if len(k.Kvs) == 0 {
		return errors.New("lock lost on init")
	}
	if err := a.p.Get(k); err != nil {
		return err
	}
	select {
	case <-donec:
		return m.Unlock(context.WithoutCancel(c.ctx))
	case <-s.Done():
	}
	return errors.New("session expired")
}

func (a *app) electCommand() *cobra.Command {
	var listen bool
	cmd := &cobra.Command{
		Use:   "elect <election-name> [proposal]",
		Short: "Observes and participates in leader election",
		Long: `Campaigns in a named election with a proposal, prints the leader key once
elected and holds leadership until interrupted; with -l, prints every new
leader's proposal.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 && len(args) != 2 {
				return ctl.Exitf(ctl.ExitBadArgs, "elect takes one election name argument and an optional proposal argument")
			}
			if len(args) == 1 && !listen {
				return ctl.Exitf(ctl.ExitBadArgs, "no proposal argument but -l not set")
			}
			if len(args) == 2 && listen {
				return ctl.Exitf(ctl.ExitBadArgs, "proposal given but -l is set")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if listen {
				err = a.observe(c, args[0])
			} else {
				err = a.campaign(c, args[0], args[1])
			}
			return ctl.Exit(ctl.ExitError, c.explain(err))
		},
	}
	cmd.Flags().BoolVarP(&listen, "listen", "l", false, "observation mode")
	return cmd
}

// untilSignal returns a context cancelled by SIGINT or SIGTERM, and a
// channel closed then.
func untilSignal(parent context.Context) (context.Context, chan struct{}, func()) {
	ctx, cancel := context.WithCancel(parent)
	donec := make(chan struct{})
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sigc:
			cancel()
			close(donec)
		case <-ctx.Done():
		}
	}()
	return ctx, donec, func() { signal.Stop(sigc); cancel() }
}

func (a *app) observe(c *conn, election string) error {
	s, err := concurrency.NewSession(c.Client, concurrency.WithContext(c.ctx))
	if err != nil {
		return err
	}
	defer s.Close()
	e := concurrency.NewElection(s, election)
	ctx, _, stop := untilSignal(c.ctx)
	defer stop()
	for resp := range e.Observe(ctx) {
		if err := a.p.Get(&resp); err != nil {
			return err
		}
	}
	if ctx.Err() == nil {
		return errors.New("elect: observer lost")
	}
	return nil
}

func (a *app) campaign(c *conn, election, prop string) error {
	s, err := concurrency.NewSession(c.Client, concurrency.WithContext(c.ctx))
	if err != nil {
		return err
	}
	defer s.Close()
	e := concurrency.NewElection(s, election)
	ctx, donec, stop := untilSignal(c.ctx)
	defer stop()
	if err := e.Campaign(ctx, prop); err != nil {
		return err
	}
	resp, err := c.Get(ctx, e.Key())
	if err != nil {
		return err
	}
	if err := a.p.Get(resp); err != nil {
		return err
	}
	select {
	case <-donec:
	case <-s.Done():
		return errors.New("elect: session expired")
	}
	return e.Resign(context.WithoutCancel(c.ctx))
}
