// Package version says which etcd API Cairn implements and Cairn's own
// version.
package version

const (
	// Etcd is the etcd server version Cairn reports where clients look
	// (Status.version, /version, cairn --version): Cairn implements etcd's
	// 3.6 API.
	Etcd = "3.6.0"
	// Cluster is the cluster version reported by /version.
	Cluster = "3.6.0"
	// Storage is the storage version reported by Status and /version.
	Storage = "3.6.0"
	// Cairn is Cairn's own version.
	Cairn = "0.1.0"
	// APIVersion is the major.minor API version.
	APIVersion = "3.6"
)
