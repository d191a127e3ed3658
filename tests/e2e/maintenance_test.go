package e2e

import (
	"slices"
	"strings"
	"testing"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	const quota = 64 * 1024 * 1024
	e := newEnv(t, "--quota-backend-bytes=67108864")
	e.put(t, "a", "1", 2)

	st, err := e.cli.Status(e.ctx, e.m.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "status", st.Header, 2)
	if !strings.HasPrefix(st.Version, "3.") {
		t.Errorf("version %q, want 3.x", st.Version)
	}
	// etcd 3.4 reports 3.4.x; Cairn implements the 3.6 API and says so.
	if !e.is34 && !strings.HasPrefix(st.Version, "3.6.") {
		t.Errorf("version %q, want 3.6.x", st.Version)
	}
	if st.DbSize <= 0 || st.DbSizeInUse <= 0 || st.DbSizeInUse > st.DbSize {
		t.Errorf("dbSize %d dbSizeInUse %d, want 0 < in use <= size", st.DbSize, st.DbSizeInUse)
	}
	if st.Leader != e.m.ID() {
		t.Errorf("leader %x, want the member %x", st.Leader, e.m.ID())
	}
	if st.RaftIndex == 0 || st.RaftTerm == 0 || st.RaftAppliedIndex == 0 {
		t.Errorf("raftIndex %d raftTerm %d raftAppliedIndex %d, want all > 0", st.RaftIndex, st.RaftTerm, st.RaftAppliedIndex)
	}
	if st.RaftAppliedIndex > st.RaftIndex {
		t.Errorf("raftAppliedIndex %d > raftIndex %d", st.RaftAppliedIndex, st.RaftIndex)
	}
	if st.RaftTerm != st.Header.RaftTerm {
		t.Errorf("raftTerm %d, header raft_term %d", st.RaftTerm, st.Header.RaftTerm)
	}
	if len(st.Errors) != 0 || st.IsLearner {
		t.Errorf("errors %q isLearner %v, want none false", st.Errors, st.IsLearner)
	}
	// dbSizeQuota, storageVersion and downgradeInfo are new in 3.5/3.6;
	// etcd 3.4 leaves them unset.
	if !e.is34 {
		if st.DbSizeQuota != quota {
			t.Errorf("dbSizeQuota %d, want %d", st.DbSizeQuota, quota)
		}
		if !strings.HasPrefix(st.StorageVersion, "3.6") {
			t.Errorf("storageVersion %q, want 3.6.x", st.StorageVersion)
		}
		if st.DowngradeInfo == nil || st.DowngradeInfo.Enabled {
			t.Errorf("downgradeInfo %v, want present and not enabled", st.DowngradeInfo)
		}
	}

	// Every write is one more raft entry.
	before := st.RaftIndex
	e.put(t, "a", "2", 3)
	st, err = e.cli.Status(e.ctx, e.m.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	if st.RaftIndex != before+1 || st.RaftAppliedIndex != st.RaftIndex {
		t.Errorf("after one put: raftIndex %d (was %d) raftAppliedIndex %d", st.RaftIndex, before, st.RaftAppliedIndex)
	}
	e.checkHeader(t, "status after put", st.Header, 3)
}

func TestMemberList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	ml, err := e.cli.MemberList(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "member list", ml.Header, 0)
	if len(ml.Members) != 1 {
		t.Fatalf("%d members, want 1: %v", len(ml.Members), ml.Members)
	}
	m := ml.Members[0]
	if m.ID != e.m.ID() || m.Name != e.m.Name || m.IsLearner ||
		!slices.Equal(m.PeerURLs, []string{e.m.PeerURL}) || !slices.Equal(m.ClientURLs, []string{e.m.ClientURL}) {
		t.Errorf("member = %v, want ID %x name %q peer %s client %s", m, e.m.ID(), e.m.Name, e.m.PeerURL, e.m.ClientURL)
	}
}
