package main

import (
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairndb/cairn/internal/ctl"
)

func parseInt64(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

// leaseID parses a lease ID argument, hexadecimal as etcdctl prints it.
func leaseID(s string) (clientv3.LeaseID, error) {
	id, err := strconv.ParseInt(s, 16, 64)
	if err != nil {
		return 0, ctl.Exitf(ctl.ExitBadArgs, "bad lease ID arg (%v), expecting ID in Hex", err)
	}
	return clientv3.LeaseID(id), nil
}

// memberID parses a member ID argument, hexadecimal.
func memberID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, ctl.Exitf(ctl.ExitBadArgs, "bad member ID arg (%v), expecting ID in Hex", err)
	}
	return id, nil
}

func (a *app) printf(format string, args ...any) { fmt.Fprintf(a.out, format, args...) }
