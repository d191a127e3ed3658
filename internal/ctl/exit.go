package ctl

import (
	"errors"
	"fmt"
)

// Exit codes, as etcdctl's (pkg/cobrautl/error.go). Scripts test them.
const (
	ExitSuccess       = 0
	ExitError         = 1
	ExitBadConnection = 2
	ExitInvalidInput  = 3 // for txn, watch command
	ExitBadFeature    = 4 // provided a valid flag with an unsupported value
	ExitInterrupted   = 5
	ExitIO            = 6
	ExitBadArgs       = 128
)

// ExitErr is an error that carries the process exit code. cmd/cairnctl
// prints "Error: <Err>" on stderr and exits with Code.
type ExitErr struct {
	Code int
	Err  error
	// Silent is set when the message was already written (as etcdctl's
	// `endpoint status` does before exiting 1 without an "Error:" line).
	Silent bool
}

func (e *ExitErr) Error() string { return e.Err.Error() }
func (e *ExitErr) Unwrap() error { return e.Err }

// Exitf returns an ExitErr with a formatted message.
func Exitf(code int, format string, args ...any) error {
	return &ExitErr{Code: code, Err: fmt.Errorf(format, args...)}
}

// Exit wraps err with an exit code; a nil err stays nil.
func Exit(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitErr{Code: code, Err: err}
}

// ExitSilently makes the process exit with code without printing anything
// more.
func ExitSilently(code int) error {
	return &ExitErr{Code: code, Err: errors.New("exit"), Silent: true}
}

// CodeOf returns the exit code err asks for: ExitErr's code, else
// ExitError.
func CodeOf(err error) int {
	if err == nil {
		return ExitSuccess
	}
	var e *ExitErr
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitError
}
