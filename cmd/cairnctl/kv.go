package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/internal/ctl"
)

func (a *app) getCommand() *cobra.Command {
	var o ctl.GetOptions
	cmd := &cobra.Command{
		Use:               "get [options] <key> [range_end]",
		Short:             "Gets the key or a range of keys",
		ValidArgsFunction: a.completeKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			key, opts, err := o.Op(args)
			if err != nil {
				return err
			}
			if o.PrintValueOnly {
				if a.p.Format != ctl.FormatSimple {
					return ctl.Exitf(ctl.ExitBadArgs, "print-value-only is only for `--write-out=simple`")
				}
				a.p.ValueOnly = true
			}
			if o.CountOnly && a.p.Format != ctl.FormatFields && a.p.Format != ctl.FormatJSON {
				return ctl.Exitf(ctl.ExitBadArgs, "--count-only is only for `--write-out=fields` or `--write-out=json`")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.Get(ctx, key, opts...)
			cancel()
			if err != nil {
				return c.explain(err)
			}
			return a.p.Get(resp)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func (a *app) putCommand() *cobra.Command {
	var o ctl.PutOptions
	cmd := &cobra.Command{
		Use:   "put [options] <key> <value> (<value> can also be given from stdin)",
		Short: "Puts the given key into the store",
		Long: `
Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
`,
		ValidArgsFunction: a.completeKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			key, value, opts, err := o.Op(args, a.readAllStdin)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.Put(ctx, key, value, opts...)
			cancel()
			if err != nil {
				return c.explain(err)
			}
			return a.p.Put(resp)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func (a *app) delCommand() *cobra.Command {
	var o ctl.DelOptions
	cmd := &cobra.Command{
		Use:               "del [options] <key> [range_end]",
		Short:             "Removes the specified key or range of keys [key, range_end)",
		ValidArgsFunction: a.completeKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			key, opts, err := o.Op(args)
			if err != nil {
				return err
			}
			if len(args) == 2 && !o.Range {
				// A second argument deletes a whole range, easy to do by
				// accident (a key with a space, unquoted): say so on stderr.
				a.errOut.Write([]byte(ctl.ImplicitRangeWarning(args[0], args[1])))
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.Delete(ctx, key, opts...)
			cancel()
			if err != nil {
				return c.explain(err)
			}
			return a.p.Del(resp)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func (a *app) compactionCommand() *cobra.Command {
	var physical bool
	cmd := &cobra.Command{
		Use:     "compaction [options] <revision>",
		Aliases: []string{"compact"},
		Short:   "Compacts the event history in etcd",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "compaction command needs 1 argument")
			}
			rev, err := parseInt64(args[0])
			if err != nil {
				return ctl.Exit(ctl.ExitError, err)
			}
			var opts []clientv3.CompactOption
			if physical {
				opts = append(opts, clientv3.WithCompactPhysical())
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			_, err = c.Compact(ctx, rev, opts...)
			cancel()
			if err != nil {
				return c.explain(err)
			}
			fmt.Fprintln(a.out, "compacted revision", rev)
			return nil
		},
	}
	cmd.Flags().BoolVar(&physical, "physical", false, "'true' to wait for compaction to physically remove all old revisions")
	return cmd
}

// completeKeys completes a key argument with the keys stored under the
// prefix typed so far (at most 100; nothing if the cluster is not
// reachable within a second).
func (a *app) completeKeys(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	if err := applyEnv(cmd.Root().PersistentFlags(), os.Environ()); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	a.g.DialTimeout = time.Second
	c, err := a.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(c.ctx, time.Second)
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithKeysOnly(), clientv3.WithLimit(100)}
	key := toComplete
	if key == "" {
		key = "\x00"
		opts = append(opts, clientv3.WithFromKey())
	} else {
		opts = append(opts, clientv3.WithPrefix())
	}
	resp, err := c.Get(ctx, key, opts...)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, kv := range resp.Kvs {
		if k := string(kv.Key); !strings.ContainsAny(k, " \t\n") {
			out = append(out, k)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
