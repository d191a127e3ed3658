// Command cairnctl is Cairn's command-line client. It takes etcdctl v3's
// commands, flags, ETCDCTL_* environment variables, output formats and exit
// codes, so that scripts written for etcdctl run unchanged; see
// internal/ctl for the printers and parsers behind it.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairndb/cairn/internal/ctl"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := newApp(stdin, stdout, stderr)
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.Execute()
	a.close()
	if err == nil {
		return ctl.ExitSuccess
	}
	var ee *ctl.ExitErr
	if errors.As(err, &ee) && ee.Silent {
		return ee.Code
	}
	code := ctl.CodeOf(err)
	msg := err.Error()
	if cerr := a.connectError(err); cerr != nil {
		msg = cerr.Error()
	} else if st := grpcStatus(err); st != nil && st.Code() == codes.Unimplemented {
		msg = "the server does not support this command yet (" + st.Message() + ")"
	} else if ue := (*usageError)(nil); errors.As(err, &ue) {
		fmt.Fprintln(stderr, ue.hint)
		code = ctl.ExitError
	} else if !errors.As(err, &ee) && isUsageError(err) {
		// cobra's own errors (unknown command): etcdctl exits 1 after
		// printing them.
		code = ctl.ExitError
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", root.CommandPath())
	}
	fmt.Fprintln(stderr, "Error:", msg)
	return code
}

// grpcStatus is the gRPC status inside err, if any.
func grpcStatus(err error) *status.Status {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus()
	}
	return nil
}

// isUsageError reports cobra's argument parsing errors.
func isUsageError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") || strings.HasPrefix(s, "unknown flag") ||
		strings.HasPrefix(s, "unknown shorthand flag") || strings.Contains(s, "flag needs an argument") ||
		strings.HasPrefix(s, "invalid argument")
}
