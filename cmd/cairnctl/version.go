package main

import (
	"github.com/spf13/cobra"

	"github.com/cairndb/cairn/internal/version"
)

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Prints the version of cairnctl",
		Run: func(cmd *cobra.Command, args []string) {
			// The etcd lines first, as etcdctl prints them: scripts and
			// tools read them. Cairn's own version follows.
			a.printf("etcdctl version: %s\n", version.Etcd)
			a.printf("API version: %s\n", version.APIVersion)
			a.printf("cairnctl version: %s\n", version.Cairn)
		},
	}
}
