package cluster

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Regression test for a bug the robustness soak found (docs/reliability.md,
// "Findings"): a follower replaced its state with a snapshot from the
// leader before raft had decided to take it. Raft ignores a snapshot at or
// below its commit index (the entries got there first), so the follower
// then ran on an older state while raft went on from its newer index, and
// its revision fell behind the other members' at the same applied index.
//
// Here a snapshot message far below the follower's commit index, carrying
// an empty state, is sent to the follower's peer port as the leader would
// send it. Raft must ignore it and the follower must keep every key.
func TestStaleSnapshotIgnored(t *testing.T) {
	e := newEnv(t, 3)
	if e.is34 {
		t.Skip("sends Cairn's own peer protocol; etcd's differs")
	}
	lead := e.waitLeader(e.all(), leaderWithin)
	e.putMany(lead, "snap/", 50)
	follower := others(e.all(), lead)[0]
	e.checkHashKV(e.all())
	st, err := e.status(lead, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st.RaftIndex < 10 {
		t.Fatalf("leader's raft index %d, want at least 10", st.RaftIndex)
	}

	m := raftpb.Message{
		Type: raftpb.MsgSnap,
		From: e.pc.IDs[lead],
		To:   e.pc.IDs[follower],
		Term: st.RaftTerm,
		Snapshot: &raftpb.Snapshot{Metadata: raftpb.SnapshotMetadata{
			Index:     3,
			Term:      st.RaftTerm,
			ConfState: raftpb.ConfState{Voters: e.pc.IDs},
		}},
	}
	hdr, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// An empty state: no records, then the end record (empty key, the
	// 8-byte count 0).
	body := []byte{0, 8, 0, 0, 0, 0, 0, 0, 0, 0}
	req, err := http.NewRequest(http.MethodPost, e.pc.Members[follower].PeerURL+"/cairn/snapshot", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Cairn-Cluster-Id", strconv.FormatUint(st.Header.ClusterId, 16))
	req.Header.Set("X-Cairn-From", strconv.FormatUint(e.pc.IDs[lead], 16))
	req.Header.Set("X-Cairn-To", strconv.FormatUint(e.pc.IDs[follower], 16))
	req.Header.Set("X-Cairn-Snapshot-Message", base64.StdEncoding.EncodeToString(hdr))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("snapshot POST: %s %s", resp.Status, msg)
	}

	// The follower keeps its state, and still follows the log.
	if got := e.getLocal(follower, "snap/"); len(got) != 50 {
		t.Fatalf("after a stale snapshot %s serves %d of the 50 keys", e.name(follower), len(got))
	}
	e.put(lead, "snap/after", "x")
	e.checkHashKV(e.all())
	if got := e.getLocal(follower, "snap/"); len(got) != 51 {
		t.Fatalf("%s serves %d of the 51 keys", e.name(follower), len(got))
	}
}
