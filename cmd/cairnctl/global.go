package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/cairndb/cairn/internal/ctl"
)

// Defaults of the global flags, etcdctl's.
const (
	defaultDialTimeout      = 2 * time.Second
	defaultCommandTimeout   = 5 * time.Second
	defaultKeepAliveTime    = 2 * time.Second
	defaultKeepAliveTimeout = 6 * time.Second
)

// globalFlags are the flags every command takes, settable as ETCDCTL_<NAME>.
type globalFlags struct {
	Endpoints          []string
	Debug              bool
	WriteOut           string
	Hex                bool
	DialTimeout        time.Duration
	CommandTimeout     time.Duration
	KeepAliveTime      time.Duration
	KeepAliveTimeout   time.Duration
	MaxRequestBytes    int
	MaxRecvBytes       int
	InsecureTransport  bool
	InsecureDiscovery  bool
	InsecureSkipVerify bool
	Cert, Key, CACert  string
	User, Password     string
	DiscoverySrv       string
	DiscoverySrvName   string
}

// app is one invocation of cairnctl: its streams, flags and the clients it
// opened (closed by close).
type app struct {
	in          io.Reader
	out, errOut io.Writer
	g           globalFlags
	p           *ctl.Printer
	flags       *pflag.FlagSet // the global flags

	mu    sync.Mutex
	conns []*conn
}

func newApp(in io.Reader, out, errOut io.Writer) *app {
	return &app{in: in, out: out, errOut: errOut}
}

func (a *app) close() {
	a.mu.Lock()
	conns := a.conns
	a.conns = nil
	a.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "cairnctl",
		Short: "A simple command line client for Cairn and etcd3.",
		Long: "cairnctl is Cairn's command line client. It takes etcdctl v3's commands, flags,\n" +
			"ETCDCTL_* environment variables and output formats.",
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: a.preRun,
	}
	cobra.EnablePrefixMatching = true
	fs := root.PersistentFlags()
	a.flags = fs
	g := &a.g
	fs.StringSliceVar(&g.Endpoints, "endpoints", []string{"127.0.0.1:2379"}, "gRPC endpoints")
	fs.BoolVar(&g.Debug, "debug", false, "enable client-side debug logging")
	fs.StringVarP(&g.WriteOut, "write-out", "w", "simple", "set the output format (fields, json, protobuf, simple, table)")
	fs.BoolVar(&g.Hex, "hex", false, "print byte strings as hex encoded strings")
	fs.DurationVar(&g.DialTimeout, "dial-timeout", defaultDialTimeout, "dial timeout for client connections")
	fs.DurationVar(&g.CommandTimeout, "command-timeout", defaultCommandTimeout, "timeout for short running command (excluding dial timeout)")
	fs.DurationVar(&g.KeepAliveTime, "keepalive-time", defaultKeepAliveTime, "keepalive time for client connections")
	fs.DurationVar(&g.KeepAliveTimeout, "keepalive-timeout", defaultKeepAliveTimeout, "keepalive timeout for client connections")
	fs.IntVar(&g.MaxRequestBytes, "max-request-bytes", 0, "client-side request send limit in bytes (if 0, it defaults to 2.0 MiB (2 * 1024 * 1024).)")
	fs.IntVar(&g.MaxRecvBytes, "max-recv-bytes", 0, "client-side response receive limit in bytes (if 0, it defaults to \"math.MaxInt32\")")
	fs.BoolVar(&g.InsecureTransport, "insecure-transport", true, "disable transport security for client connections")
	fs.BoolVar(&g.InsecureDiscovery, "insecure-discovery", true, "accept insecure SRV records describing cluster endpoints")
	fs.BoolVar(&g.InsecureSkipVerify, "insecure-skip-tls-verify", false, "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)")
	fs.StringVar(&g.Cert, "cert", "", "identify secure client using this TLS certificate file")
	fs.StringVar(&g.Key, "key", "", "identify secure client using this TLS key file")
	fs.StringVar(&g.CACert, "cacert", "", "verify certificates of TLS-enabled secure servers using this CA bundle")
	fs.StringVar(&g.User, "user", "", "username[:password] for authentication (prompt if password is not supplied)")
	fs.StringVar(&g.Password, "password", "", "password for authentication (if this option is used, --user option shouldn't include password)")
	fs.StringVarP(&g.DiscoverySrv, "discovery-srv", "d", "", "domain name to query for SRV records describing cluster endpoints")
	fs.StringVar(&g.DiscoverySrvName, "discovery-srv-name", "", "service name to query when using DNS discovery")

	root.AddCommand(
		a.getCommand(), a.putCommand(), a.delCommand(), a.txnCommand(), a.compactionCommand(),
		a.alarmCommand(), a.defragCommand(), a.endpointCommand(), a.moveLeaderCommand(), a.downgradeCommand(),
		a.watchCommand(), a.versionCommand(), a.leaseCommand(), a.memberCommand(), a.snapshotCommand(),
		a.makeMirrorCommand(), a.lockCommand(), a.electCommand(), a.authCommand(), a.userCommand(),
		a.roleCommand(), a.checkCommand(),
	)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{err: err, hint: fmt.Sprintf("Run '%s --help' for usage.", c.CommandPath())}
	})
	return root
}

// usageError is a command line that does not parse. Like etcdctl, cairnctl
// exits 1 and ends with the "Error:" line; a hint comes before it.
type usageError struct {
	err  error
	hint string
}

func (e *usageError) Error() string { return e.err.Error() }

// preRun applies ETCDCTL_* variables to the global flags that were not given
// on the command line, then sets up the output printer.
func (a *app) preRun(cmd *cobra.Command, _ []string) error {
	if err := applyEnv(cmd.Root().PersistentFlags(), os.Environ()); err != nil {
		return err
	}
	if a.g.Debug {
		cmd.Root().PersistentFlags().VisitAll(func(f *pflag.Flag) {
			fmt.Fprintf(a.errOut, "%s=%v\n", envName(f.Name), f.Value)
		})
	}
	p, err := ctl.NewPrinter(a.g.WriteOut, a.g.Hex, a.out, a.errOut)
	if err != nil {
		return err
	}
	a.p = p
	return nil
}

// envName is the environment variable of a global flag: ETCDCTL_ and the
// flag's name upper-cased, dashes as underscores.
func envName(flag string) string {
	return "ETCDCTL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag of fs not given on the command line from its
// ETCDCTL_* variable. A flag given on the command line wins over the
// variable (etcdctl refuses the combination instead).
func applyEnv(fs *pflag.FlagSet, environ []string) error {
	env := make(map[string]string)
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "ETCDCTL_") {
			env[k] = v
		}
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		v, ok := env[envName(f.Name)]
		if !ok || f.Changed || err != nil {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = ctl.Exitf(ctl.ExitBadArgs, "invalid value %q for %s: %v", v, envName(f.Name), serr)
		}
	})
	return err
}

// commandCtx bounds a short command by --command-timeout, under the
// connection's context (which ends early when the connection fails).
func (a *app) commandCtx(parent context.Context) (context.Context, context.CancelFunc) {
	if a.g.CommandTimeout <= 0 {
		return context.WithCancel(parent)
	}
	return context.WithTimeout(parent, a.g.CommandTimeout)
}

// logger is the client's logger: silent unless --debug.
func (a *app) logger() *zap.Logger {
	if !a.g.Debug {
		return zap.NewNop()
	}
	cfg := zap.NewDevelopmentConfig()
	cfg.OutputPaths = []string{"stderr"}
	lg, err := cfg.Build()
	if err != nil {
		return zap.NewNop()
	}
	return lg
}

// stderrIsTerminal decides whether progress bars are drawn.
func (a *app) stderrIsTerminal() bool {
	f, ok := a.errOut.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// readPassword asks for a password on the terminal without echo; without a
// terminal it reads one line of standard input.
func (a *app) readPassword(prompt string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		fmt.Fprint(a.errOut, prompt)
		return readLine(a.in)
	}
	defer tty.Close()
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		fmt.Fprint(a.errOut, prompt)
		return readLine(a.in)
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprint(tty, prompt)
	pw, err := readLine(tty)
	fmt.Fprintln(tty)
	return pw, err
}

// readLine reads up to a newline, byte by byte so nothing after it is
// consumed.
func readLine(r io.Reader) (string, error) {
	var sb strings.Builder
	b := make([]byte, 1)
	for {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return strings.TrimSuffix(sb.String(), "\r"), nil
			}
			sb.WriteByte(b[0])
		}
		if err != nil {
			if errors.Is(err, io.EOF) && sb.Len() > 0 {
				return sb.String(), nil
			}
			return sb.String(), err
		}
	}
}

// readAllStdin reads standard input to the end (put's value, etc.).
func (a *app) readAllStdin() (string, error) {
	b, err := io.ReadAll(a.in)
	return string(b), err
}

// client returns a client for the global endpoints (or those found by DNS
// discovery); it is closed when the command ends.
func (a *app) client() (*conn, error) {
	eps, err := a.endpoints()
	if err != nil {
		return nil, err
	}
	acc, err := a.globalAccess(true)
	if err != nil {
		return nil, err
	}
	return a.dial(eps, acc)
}

// noArgs rejects positional arguments with etcdctl's message.
func noArgs(name string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 0 {
			return ctl.Exitf(ctl.ExitBadArgs, "%s command does not accept any arguments", name)
		}
		return nil
	}
}

// access is how a client reaches and authenticates to its endpoints.
type access struct {
	tls            *tls.Config
	user, password string
}

// globalAccess is the access of the global flags; withAuth adds
// --user/--password (asking for the password if needed, once).
func (a *app) globalAccess(withAuth bool) (access, error) {
	tlsCfg, err := a.tlsConfig()
	if err != nil {
		return access{}, ctl.Exit(ctl.ExitBadArgs, err)
	}
	acc := access{tls: tlsCfg}
	if withAuth && a.g.User != "" {
		user, pass := a.g.User, a.g.Password
		if pass == "" {
			if u, p, ok := strings.Cut(user, ":"); ok {
				user, pass = u, p
			} else {
				pass, err = a.readPassword("Password: ")
				if err != nil {
					return access{}, ctl.Exit(ctl.ExitError, err)
				}
				a.g.User, a.g.Password = user, pass // ask once
			}
		}
		acc.user, acc.password = user, pass
	}
	return acc, nil
}

// clientv3Config is the client configuration for eps with the global
// timeouts and limits.
func (a *app) clientv3Config(eps []string, acc access) *clientv3.Config {
	return &clientv3.Config{
		Endpoints:            eps,
		DialTimeout:          a.g.DialTimeout,
		DialKeepAliveTime:    a.g.KeepAliveTime,
		DialKeepAliveTimeout: a.g.KeepAliveTimeout,
		MaxCallSendMsgSize:   a.g.MaxRequestBytes,
		MaxCallRecvMsgSize:   a.g.MaxRecvBytes,
		TLS:                  acc.tls,
		Username:             acc.user,
		Password:             acc.password,
		Logger:               a.logger(),
	}
}
