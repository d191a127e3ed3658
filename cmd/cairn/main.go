// Command cairn is a Cairn server: one member of a cluster. It takes etcd's
// flags, ETCD_* environment variables and config file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/config"
	"github.com/cairndb/cairn/internal/errs"
	"github.com/cairndb/cairn/internal/logutil"
	"github.com/cairndb/cairn/internal/server"
	"github.com/cairndb/cairn/internal/tlsutil"
	"github.com/cairndb/cairn/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "snapshot" {
		return snapshotCmd(args[1:])
	}
	if len(args) > 0 && args[0] == "pki" {
		return pkiCmd(args[1:])
	}
	cfg, warnings, err := config.Parse(args, os.Environ(), os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cairn: %v\n", err)
		return 2
	}
	if cfg.PrintVersion {
		fmt.Printf("etcd Version: %s\n", version.Etcd)
		fmt.Printf("Cairn Version: %s\n", version.Cairn)
		fmt.Printf("Git SHA: %s\n", "not provided")
		fmt.Printf("Go Version: %s\n", runtime.Version())
		fmt.Printf("Go OS/Arch: %s/%s\n", runtime.GOOS, runtime.GOARCH)
		return 0
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "cairn: %v\n", err)
		return 2
	}
	lg, err := logutil.New(cfg.LogLevel, cfg.LogFormat, cfg.LogOutputs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cairn: %v\n", err)
		return 2
	}
	defer lg.Sync()
	for _, w := range warnings {
		lg.Warn(w)
	}
	lg.Info("starting Cairn",
		zap.String("etcd-version", version.Etcd),
		zap.String("cairn-version", version.Cairn),
		zap.String("name", cfg.Name),
		zap.String("data-dir", cfg.DataDir))

	s, err := server.New(cfg, lg)
	if err != nil {
		lg.Error("failed to start", zap.Error(err))
		fmt.Fprintf(os.Stderr, "cairn: %v\n", err)
		return 1
	}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	select {
	case err := <-errc:
		if err != nil {
			lg.Error("failed to serve", zap.Error(err))
			fmt.Fprintf(os.Stderr, "cairn: %v\n", err)
			s.Stop(context.Background())
			return 1
		}
	case sig := <-sigc:
		return shutdown(lg, s, sig)
	case err := <-s.Fatal():
		return fatal(lg, s, err)
	}
	select {
	case sig := <-sigc:
		return shutdown(lg, s, sig)
	case err := <-s.Fatal():
		return fatal(lg, s, err)
	}
}

// fatal stops the member for a reason found while running. A member removed
// from the cluster exits 0, as etcd does, so a supervisor does not restart it.
func fatal(lg *zap.Logger, s *server.Server, err error) int {
	lg.Error("stopping", zap.Error(err))
	s.Stop(context.Background())
	if errors.Is(err, errs.ErrIDRemoved) {
		return 0
	}
	return 1
}

func shutdown(lg *zap.Logger, s *server.Server, sig os.Signal) int {
	lg.Info("received signal; shutting down", zap.String("signal", sig.String()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Stop(ctx)
	lg.Sync()
	// Like etcd, re-raise the signal so the exit status says how we ended
	// (systemd counts death by SIGTERM as a clean stop); as PID 1 exit 0.
	if os.Getpid() == 1 {
		return 0
	}
	if ss, ok := sig.(syscall.Signal); ok {
		signal.Reset(ss)
		_ = syscall.Kill(os.Getpid(), ss)
		time.Sleep(time.Second)
		return 128 + int(ss)
	}
	return 1
}

// snapshotCmd: `cairn snapshot restore FILE --data-dir DIR` writes a backup
// made by `etcdctl snapshot save` into a new data dir.
func snapshotCmd(args []string) int {
	fs := flag.NewFlagSet("cairn snapshot restore", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "directory to restore into (must not exist or be empty)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cairn snapshot restore FILE --data-dir DIR")
		fmt.Fprintln(fs.Output(), "Then start cairn with --data-dir DIR and the new cluster's --initial-cluster flags.")
		fs.PrintDefaults()
	}
	if len(args) == 0 || args[0] != "restore" {
		fs.Usage()
		return 2
	}
	var file string
	rest := args[1:]
	if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		file, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
	}
	if file == "" || *dataDir == "" {
		fs.Usage()
		return 2
	}
	if err := server.RestoreBackup(file, *dataDir); err != nil {
		fmt.Fprintf(os.Stderr, "cairn: %v\n", err)
		return 1
	}
	fmt.Printf("restored %s into %s\n", file, *dataDir)
	return 0
}

// pkiCmd: `cairn pki --dir DIR --members name=host,...` makes the CA and the
// certificates a TLS cluster needs, in one step.
func pkiCmd(args []string) int {
	fs := flag.NewFlagSet("cairn pki", flag.ContinueOnError)
	dir := fs.String("dir", "pki", "directory to write the certificates into")
	members := fs.String("members", "", "members as name=host[,name=host...]; a name may repeat to add hosts")
	clientCN := fs.String("client-cn", "client", "common name of the client certificate (an auth user such as root)")
	days := fs.Int("days", 365, "validity of the certificates in days (the CA gets ten times that)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cairn pki --dir DIR --members etcd1=10.0.1.10,etcd2=10.0.1.11,etcd3=10.0.1.12")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ms, err := tlsutil.ParseMembers(*members)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cairn pki: %v\n", err)
		fs.Usage()
		return 2
	}
	files, err := tlsutil.WriteBundle(tlsutil.BundleOptions{Dir: *dir, Members: ms, ClientCN: *clientCN, Validity: time.Duration(*days) * 24 * time.Hour})
	if err != nil {
		fmt.Fprintf(os.Stderr, "cairn pki: %v\n", err)
		return 1
	}
	for _, f := range files {
		fmt.Println(f)
	}
	return 0
}
