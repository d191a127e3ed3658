package main

import (
	"bufio"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cairndb/cairn/internal/ctl"
)

func (a *app) txnCommand() *cobra.Command {
	var interactive bool
	cmd := &cobra.Command{
		Use:   "txn [options]",
		Short: "Txn processes all the requests in one transaction",
		Long: `Txn reads a transaction from standard input: compares, a blank line,
success requests, a blank line, failure requests, a blank line.

  mod("key1") > "0"

  put key1 "overwrote-key1"

  put key1 "created-key1"
  put key2 "some extra key"

Compares are <target>("<key>") <op> "<value>": target is version (ver),
create (c), mod (m), value (val) or lease; op is =, !=, < or >.
Requests are get, put and del lines with their flags.

cairnctl also accepts what guides print: the section headings of -i
("compares:", "success requests:", "failure requests:"), unquoted compare
values (version("k") = 0), # comments, and input that ends without the
final blank line.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return ctl.Exitf(ctl.ExitBadArgs, "txn command does not accept argument")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var prompt func(string)
			if interactive {
				prompt = func(s string) { fmt.Fprintln(a.out, s) }
			}
			t, err := ctl.ReadTxn(bufio.NewReader(a.in), prompt)
			if err != nil {
				return err
			}
			ctx, cancel := a.commandCtx(c.ctx)
			resp, err := c.Txn(ctx).If(t.Cmps...).Then(t.Then...).Else(t.Else...).Commit()
			cancel()
			if err != nil {
				return c.explain(err)
			}
			return a.p.Txn(resp)
		},
	}
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "Input transaction in interactive mode")
	return cmd
}
