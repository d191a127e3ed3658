package framework

import (
	"crypto/sha1"
	"encoding/binary"
	"slices"
	"strings"
)

// ComputeMemberID returns the member ID etcd derives for a member of a new
// cluster: the first 8 bytes, big-endian, of sha1(join(sort(peerURLs)) +
// token). Runtime-added members (MemberAdd) also mix in the time; this
// function covers only members listed in --initial-cluster.
func ComputeMemberID(peerURLs []string, token string) uint64 {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	b := []byte(strings.Join(urls, ""))
	b = append(b, token...)
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// ComputeClusterID returns the cluster ID etcd derives from the member IDs of
// a new cluster: the first 8 bytes, big-endian, of the sha1 of the sorted IDs,
// each written as 8 bytes big-endian.
func ComputeClusterID(memberIDs []uint64) uint64 {
	ids := slices.Clone(memberIDs)
	slices.Sort(ids)
	b := make([]byte, 8*len(ids))
	for i, id := range ids {
		binary.BigEndian.PutUint64(b[8*i:], id)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}
