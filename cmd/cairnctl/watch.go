package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/internal/ctl"
)

var (
	errBadArgsNum            = errors.New("bad number of arguments")
	errBadArgsNumConflictEnv = errors.New("bad number of arguments (found conflicting environment key)")
	errBadArgsNumSeparator   = errors.New("bad number of arguments (found separator --, but no commands)")
)

// watchOptions are the flags of watch, also accepted on the lines of
// watch -i.
type watchOptions struct {
	prefix, prevKV, progressNotify bool
	rev                            int64
}

func (o *watchOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.prefix, "prefix", false, "Watch on a prefix if prefix is set")
	fs.Int64Var(&o.rev, "rev", 0, "Revision to start watching")
	fs.BoolVar(&o.prevKV, "prev-kv", false, "get the previous key-value pair before the event happens")
	fs.BoolVar(&o.progressNotify, "progress-notify", false, "get periodic watch progress notification from server")
}

func (a *app) watchCommand() *cobra.Command {
	var (
		o           watchOptions
		interactive bool
	)
	cmd := &cobra.Command{
		Use:   "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
		Short: "Watches events stream on keys or prefixes",
		Long: `Watches events stream on keys or prefixes, [key or prefix, range_end) if range_end is given.
After --, a command to run on every event, with ETCD_WATCH_REVISION, ETCD_WATCH_KEY,
ETCD_WATCH_EVENT_TYPE and ETCD_WATCH_VALUE in its environment. The key may also
come from ETCDCTL_WATCH_KEY (and ETCDCTL_WATCH_RANGE_END).

With -i, reads commands from standard input: "watch [options] <key> [range_end] [-- cmd...]"
starts a watch, "progress" asks every watch for a progress notification.`,
		ValidArgsFunction: a.completeKeys,
		RunE: func(cmd *cobra.Command, args []string) error {
			envKey, envRange := os.Getenv("ETCDCTL_WATCH_KEY"), os.Getenv("ETCDCTL_WATCH_RANGE_END")
			if envKey == "" && envRange != "" {
				return ctl.Exitf(ctl.ExitBadArgs, "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=%q", envRange)
			}
			if interactive {
				return a.watchInteractive(envKey, envRange)
			}
			keys, execArgs, err := splitWatchArgs(args, cmd.ArgsLenAtDash(), envKey, envRange)
			if err != nil {
				return ctl.Exit(ctl.ExitBadArgs, err)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			w := &watcher{a: a, c: c}
			wc, err := w.start(keys, o)
			if err != nil {
				return ctl.Exit(ctl.ExitBadArgs, err)
			}
			if err := w.print(wc, execArgs); err != nil {
				return err
			}
			if cerr := context.Cause(c.ctx); cerr != nil && !errors.Is(cerr, context.Canceled) {
				return c.explain(cerr)
			}
			return ctl.Exit(ctl.ExitInterrupted, errors.New("watch is canceled by the server"))
		},
	}
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "Interactive mode")
	o.addFlags(cmd.Flags())
	return cmd
}

// splitWatchArgs separates the key arguments from the command after --,
// and takes the key from the environment when it is set there.
func splitWatchArgs(args []string, dash int, envKey, envRange string) (keys, execArgs []string, err error) {
	keys = args
	if dash >= 0 {
		keys, execArgs = args[:dash], args[dash:]
		if len(execArgs) == 0 {
			return nil, nil, errBadArgsNumSeparator
		}
	}
	if envKey != "" {
		if len(keys) > 0 {
			return nil, nil, errBadArgsNumConflictEnv
		}
		keys = []string{envKey}
		if envRange != "" {
			keys = append(keys, envRange)
		}
	}
	if len(keys) == 0 || len(keys) > 2 {
		return nil, nil, errBadArgsNum
	}
	return keys, execArgs, nil
}

// watcher prints the responses of one or more watches on one client.
type watcher struct {
	a  *app
	c  *conn
	mu sync.Mutex // serialises output of concurrent watches
}

func (w *watcher) start(keys []string, o watchOptions) (clientv3.WatchChan, error) {
	opts := []clientv3.OpOption{clientv3.WithRev(o.rev)}
	if len(keys) == 2 {
		if o.prefix {
			return nil, errors.New("`range_end` and `--prefix` are mutually exclusive")
		}
		opts = append(opts, clientv3.WithRange(keys[1]))
	}
	if o.prefix {
		opts = append(opts, clientv3.WithPrefix())
	}
	if o.prevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if o.progressNotify {
		opts = append(opts, clientv3.WithProgressNotify())
	}
	return w.c.Watch(clientv3.WithRequireLeader(w.c.ctx), keys[0], opts...), nil
}

// print prints every response until the channel closes, running execArgs
// once per event.
func (w *watcher) print(wc clientv3.WatchChan, execArgs []string) error {
	a := w.a
	for resp := range wc {
		w.mu.Lock()
		if resp.Canceled {
			fmt.Fprintf(a.errOut, "watch was canceled (%v)\n", resp.Err())
		}
		if resp.IsProgressNotify() {
			fmt.Fprintf(a.out, "progress notify: %d\n", resp.Header.Revision)
		}
		err := a.p.Watch(resp)
		w.mu.Unlock()
		if err != nil {
			return err
		}
		for _, ev := range resp.Events {
			if len(execArgs) == 0 {
				break
			}
			cmd := exec.CommandContext(w.c.ctx, execArgs[0], execArgs[1:]...)
			cmd.Env = append(os.Environ(),
				fmt.Sprintf("ETCD_WATCH_REVISION=%d", resp.Header.Revision),
				fmt.Sprintf("ETCD_WATCH_EVENT_TYPE=%q", ev.Type),
				fmt.Sprintf("ETCD_WATCH_KEY=%q", ev.Kv.Key),
				fmt.Sprintf("ETCD_WATCH_VALUE=%q", ev.Kv.Value))
			cmd.Stdout, cmd.Stderr = a.out, a.errOut
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(a.errOut, "command %q error (%v)\n", execArgs, err)
				return ctl.ExitSilently(ctl.ExitError)
			}
		}
	}
	return nil
}

// watchInteractive reads watch and progress commands from standard input.
// At the end of the input it keeps printing the watches it started until
// they end.
func (a *app) watchInteractive(envKey, envRange string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	w := &watcher{a: a, c: c}
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	r := bufio.NewReader(a.in)
	for {
		line, rerr := r.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) != "" {
			if err := w.interactiveLine(line, envKey, envRange, &wg, errc); err != nil {
				return err
			}
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				return ctl.Exitf(ctl.ExitInvalidInput, "error reading watch request line: %v", rerr)
			}
			break
		}
		select {
		case err := <-errc:
			return err
		default:
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case err := <-errc:
		return err
	case <-done:
		return nil
	}
}

func (w *watcher) interactiveLine(line, envKey, envRange string, wg *sync.WaitGroup, errc chan error) error {
	a := w.a
	args, err := ctl.Argify(line)
	if err != nil || len(args) == 0 {
		fmt.Fprintf(a.errOut, "Invalid command: %s (watch and progress supported)\n", line)
		return nil
	}
	switch args[0] {
	case "watch":
		var o watchOptions
		fs := pflag.NewFlagSet("watch", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o.addFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			fmt.Fprintf(a.errOut, "Invalid command %s (%v)\n", line, err)
			return nil
		}
		keys, execArgs, err := splitWatchArgs(fs.Args(), fs.ArgsLenAtDash(), envKey, envRange)
		if err != nil {
			fmt.Fprintf(a.errOut, "Invalid command %s (%v)\n", line, err)
			return nil
		}
		wc, err := w.start(keys, o)
		if err != nil {
			fmt.Fprintf(a.errOut, "Invalid command %s (%v)\n", line, err)
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.print(wc, execArgs); err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		}()
	case "progress":
		if err := w.c.RequestProgress(clientv3.WithRequireLeader(w.c.ctx)); err != nil {
			return ctl.Exit(ctl.ExitError, w.c.explain(err))
		}
	default:
		fmt.Fprintf(a.errOut, "Invalid command %s (only support watch)\n", line)
	}
	return nil
}
