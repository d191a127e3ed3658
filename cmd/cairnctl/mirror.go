package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/mirror"

	"github.com/cairndb/cairn/internal/ctl"
)

type mirrorOptions struct {
	destCACert, destCert, destKey string
	destInsecureTransport         bool
	prefix, destPrefix            string
	noDestPrefix                  bool
	maxTxnOps                     uint
	rev                           int64
	destUser, destPassword        string
}

func (a *app) makeMirrorCommand() *cobra.Command {
	var o mirrorOptions
	cmd := &cobra.Command{
		Use:   "make-mirror [options] <destination>",
		Short: "Makes a mirror at the destination etcd cluster",
		Long: `Copies every key (under --prefix) to the destination cluster, then keeps
copying changes as they happen. Prints the number of keys copied every 30s.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "make-mirror takes one destination argument")
			}
			if o.noDestPrefix && len(o.destPrefix) > 0 {
				return ctl.Exitf(ctl.ExitBadArgs, "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one")
			}
			dc, err := a.destClient(args[0], &o)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return ctl.Exit(ctl.ExitError, c.explain(a.makeMirror(c.ctx, c.Client, dc.Client, &o)))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.prefix, "prefix", "", "Key-value prefix to mirror")
	f.Int64Var(&o.rev, "rev", 0, "Specify the kv revision to start to mirror")
	f.StringVar(&o.destPrefix, "dest-prefix", "", "destination prefix to mirror a prefix to a different prefix in the destination cluster")
	f.BoolVar(&o.noDestPrefix, "no-dest-prefix", false, "mirror key-values to the root of the destination cluster")
	f.StringVar(&o.destCert, "dest-cert", "", "Identify secure client using this TLS certificate file for the destination cluster")
	f.StringVar(&o.destKey, "dest-key", "", "Identify secure client using this TLS key file")
	f.StringVar(&o.destCACert, "dest-cacert", "", "Verify certificates of TLS enabled secure servers using this CA bundle")
	f.BoolVar(&o.destInsecureTransport, "dest-insecure-transport", true, "Disable transport security for client connections")
	f.UintVar(&o.maxTxnOps, "max-txn-ops", 128, "Maximum number of operations permitted in a transaction during syncing updates.")
	f.StringVar(&o.destUser, "dest-user", "", "Destination username[:password] for authentication (prompt if password is not supplied)")
	f.StringVar(&o.destPassword, "dest-password", "", "Destination password for authentication (if this option is used, --user option shouldn't include password)")
	return cmd
}

// destClient connects to the mirror's destination with the --dest-* TLS
// and auth flags and the global timeouts.
func (a *app) destClient(ep string, o *mirrorOptions) (*conn, error) {
	var tlsCfg *tls.Config
	if o.destCert != "" || o.destKey != "" || o.destCACert != "" {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		if o.destCert != "" || o.destKey != "" {
			pair, err := tls.LoadX509KeyPair(o.destCert, o.destKey)
			if err != nil {
				return nil, ctl.Exit(ctl.ExitBadArgs, err)
			}
			tlsCfg.Certificates = []tls.Certificate{pair}
		}
		if o.destCACert != "" {
			pem, err := os.ReadFile(o.destCACert)
			if err != nil {
				return nil, ctl.Exit(ctl.ExitBadArgs, err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			tlsCfg.RootCAs = pool
		}
	}
	if tlsCfg == nil && !o.destInsecureTransport {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	user, pass := o.destUser, o.destPassword
	if user != "" && pass == "" {
		if u, p, ok := strings.Cut(user, ":"); ok {
			user, pass = u, p
		} else {
			var err error
			if pass, err = a.readPassword("Destination Password: "); err != nil {
				return nil, ctl.Exit(ctl.ExitError, err)
			}
		}
	}
	return a.dial([]string{ep}, access{tls: tlsCfg, user: user, password: pass})
}

func (a *app) makeMirror(ctx context.Context, c, dc *clientv3.Client, o *mirrorOptions) error {
	var total atomic.Int64
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintln(a.out, total.Load())
			case <-ctx.Done():
				return
			}
		}
	}()
	destPrefix := o.destPrefix
	if !o.noDestPrefix && destPrefix == "" {
		destPrefix = o.prefix
	}
	rename := func(key []byte) string { return strings.Replace(string(key), o.prefix, destPrefix, 1) }

	startRev := max(o.rev-1, 0)
	s := mirror.NewSyncer(c, o.prefix, startRev)
	if startRev == 0 {
		// Copy what there is, then follow the changes after it.
		rc, errc := s.SyncBase(ctx)
		for r := range rc {
			for _, kv := range r.Kvs {
				if _, err := dc.Put(ctx, rename(kv.Key), string(kv.Value)); err != nil {
					return err
				}
				total.Add(1)
			}
		}
		if err := <-errc; err != nil {
			return err
		}
	}
	for wr := range s.SyncUpdates(ctx) {
		if wr.CompactRevision != 0 {
			return rpctypes.ErrCompacted
		}
		if err := wr.Err(); err != nil {
			return err
		}
		var lastRev int64
		var ops []clientv3.Op
		flush := func() error {
			if len(ops) == 0 {
				return nil
			}
			_, err := dc.Txn(ctx).Then(ops...).Commit()
			ops = ops[:0]
			return err
		}
		for _, ev := range wr.Events {
			// One destination txn per source revision, split at
			// --max-txn-ops.
			if next := ev.Kv.ModRevision; lastRev != 0 && next > lastRev {
				if err := flush(); err != nil {
					return err
				}
			}
			lastRev = ev.Kv.ModRevision
			if len(ops) == int(o.maxTxnOps) {
				if err := flush(); err != nil {
					return err
				}
			}
			switch ev.Type {
			case mvccpb.PUT:
				ops = append(ops, clientv3.OpPut(rename(ev.Kv.Key), string(ev.Kv.Value)))
			case mvccpb.DELETE:
				ops = append(ops, clientv3.OpDelete(rename(ev.Kv.Key)))
			}
			total.Add(1)
		}
		if err := flush(); err != nil {
			return err
		}
	}
	return ctx.Err()
}
