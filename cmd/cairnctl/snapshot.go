package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairndb/cairn/internal/ctl"
)

func (a *app) snapshotCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot <subcommand>",
		Short: "Manages etcd node snapshots",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "save <filename>",
		Short: "Stores an etcd node backend snapshot to a given file",
		RunE:  a.snapshotSave,
	}, &cobra.Command{
		Use:   "status <filename>",
		Short: "Gets backend snapshot status of a given file",
		Long: `Gets the hash, revision, number of keys, size and storage version of a
snapshot file saved from Cairn. (etcdctl 3.6 moved this command to etcdutl.)`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return ctl.Exitf(ctl.ExitBadArgs, "snapshot status requires exactly one argument")
			}
			st, err := ctl.ReadSnapshotStatus(args[0])
			if err != nil {
				return ctl.Exit(ctl.ExitError, err)
			}
			return a.p.DBStatus(st)
		},
	}, &cobra.Command{
		Use:   "restore <filename> --data-dir <dir>",
		Short: "Restores a snapshot into a new data directory (done by the server binary)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return ctl.Exitf(ctl.ExitBadFeature,
				"snapshot restore works on a data directory, not over the network: run `cairn snapshot restore <filename> --data-dir <dir>` (etcd: etcdutl snapshot restore)")
		},
		DisableFlagParsing: true,
	})
	return cmd
}

// snapshotSave streams a snapshot from the one endpoint into path.part,
// checks its size and sha256 trailer, syncs it and renames it to path.
func (a *app) snapshotSave(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return ctl.Exitf(ctl.ExitBadArgs, "snapshot save expects one argument")
	}
	path := args[0]
	eps, err := a.endpoints()
	if err != nil {
		return err
	}
	if len(eps) != 1 {
		return ctl.Exitf(ctl.ExitInterrupted, "snapshot must be requested to one selected node, not multiple %v", eps)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	// No timeout unless --command-timeout is given: a snapshot may be big.
	ctx, cancel := context.WithCancel(c.ctx)
	if a.flagChanged("command-timeout") {
		ctx, cancel = a.commandCtx(c.ctx)
	}
	defer cancel()
	version, err := a.saveSnapshot(ctx, c, path)
	if err != nil {
		return ctl.Exit(ctl.ExitInterrupted, c.explain(err))
	}
	fmt.Fprintf(a.out, "Snapshot saved at %s\n", path)
	if version != "" {
		fmt.Fprintf(a.out, "Server version %s\n", version)
	}
	return nil
}

func (a *app) saveSnapshot(ctx context.Context, c *conn, path string) (version string, err error) {
	part := path + ".part"
	defer func() {
		if err != nil {
			os.Remove(part)
		}
	}()
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("could not open %s (%w)", part, err)
	}
	defer f.Close()
	stream, err := pb.NewMaintenanceClient(c.ActiveConnection()).Snapshot(ctx, &pb.SnapshotRequest{})
	if err != nil {
		return "", err
	}
	bar := ctl.NewProgress(a.errOut, a.stderrIsTerminal(), "snapshot", 0, true)
	var size int64
	first := true
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			bar.Done(true)
			return "", err
		}
		if first {
			bar.SetTotal(int64(resp.RemainingBytes) + int64(len(resp.Blob)))
			first = false
		}
		if resp.Version != "" {
			version = resp.Version
		}
		if _, err := f.Write(resp.Blob); err != nil {
			bar.Done(true)
			return "", err
		}
		size += int64(len(resp.Blob))
		bar.Add(int64(len(resp.Blob)))
	}
	bar.Done(false)
	if err := ctl.CheckSnapshotSize(size); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(part, path); err != nil {
		return "", fmt.Errorf("could not rename %s to %s (%w)", part, path, err)
	}
	return version, nil
}
