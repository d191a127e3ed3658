package ctl

import (
	"fmt"
	"strconv"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EpHealth is one endpoint's health, as `endpoint health` reports it.
type EpHealth struct {
	Ep     string `json:"endpoint"`
	Health bool   `json:"health"`
	Took   string `json:"took"`
	Error  string `json:"error,omitempty"`
}

// EpStatus is one endpoint's Status response.
type EpStatus struct {
	Ep   string                   `json:"Endpoint"`
	Resp *clientv3.StatusResponse `json:"Status"`
}

// EpHashKV is one endpoint's HashKV response.
type EpHashKV struct {
	Ep   string                   `json:"Endpoint"`
	Resp *clientv3.HashKVResponse `json:"HashKV"`
}

// MemberListRows are the columns of `member list`.
func MemberListRows(ms []*pb.Member) (hdr []string, rows [][]string) {
	hdr = []string{"ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"}
	for _, m := range ms {
		status := "started"
		if len(m.Name) == 0 {
			status = "unstarted"
		}
		rows = append(rows, []string{
			fmt.Sprintf("%x", m.ID),
			status,
			m.Name,
			strings.Join(m.PeerURLs, ","),
			strings.Join(m.ClientURLs, ","),
			fmt.Sprint(m.IsLearner),
		})
	}
	return hdr, rows
}

// EndpointStatusRows are the columns of `endpoint status` (etcdctl 3.6's:
// 3.4 lacks storage version, in use, percentage not in use, quota and the
// downgrade columns).
func EndpointStatusRows(sts []EpStatus) (hdr []string, rows [][]string) {
	hdr = []string{"endpoint", "ID", "version", "storage version", "db size", "in use", "percentage not in use", "quota",
		"is leader", "is learner", "raft term", "raft index", "raft applied index", "errors",
		"downgrade target version", "downgrade enabled"}
	for _, st := range sts {
		r := st.Resp
		var hdrID uint64
		if r.Header != nil {
			hdrID = r.Header.MemberId
		}
		notInUse := 0
		if r.DbSize > 0 {
			notInUse = int(100 - r.DbSizeInUse*100/r.DbSize)
		}
		rows = append(rows, []string{
			st.Ep,
			fmt.Sprintf("%x", hdrID),
			r.Version,
			r.StorageVersion,
			Bytes(uint64(r.DbSize)),
			Bytes(uint64(r.DbSizeInUse)),
			fmt.Sprintf("%d%%", notInUse),
			Bytes(uint64(r.DbSizeQuota)),
			fmt.Sprint(r.Leader == hdrID),
			fmt.Sprint(r.IsLearner),
			fmt.Sprint(r.RaftTerm),
			fmt.Sprint(r.RaftIndex),
			fmt.Sprint(r.RaftAppliedIndex),
			strings.Join(r.Errors, ", "),
			r.DowngradeInfo.GetTargetVersion(),
			strconv.FormatBool(r.DowngradeInfo.GetEnabled()),
		})
	}
	return hdr, rows
}

// EndpointHashKVRows are the columns of `endpoint hashkv`.
func EndpointHashKVRows(hs []EpHashKV) (hdr []string, rows [][]string) {
	hdr = []string{"endpoint", "hash", "hash_revision"}
	for _, h := range hs {
		rows = append(rows, []string{h.Ep, fmt.Sprint(h.Resp.Hash), fmt.Sprint(h.Resp.HashRevision)})
	}
	return hdr, rows
}

// EndpointHealthRows are the columns of `endpoint health -w table`.
func EndpointHealthRows(hs []EpHealth) (hdr []string, rows [][]string) {
	hdr = []string{"endpoint", "health", "took", "error"}
	for _, h := range hs {
		rows = append(rows, []string{h.Ep, fmt.Sprint(h.Health), h.Took, h.Error})
	}
	return hdr, rows
}

func (p *Printer) simpleRows(rows [][]string) {
	for _, r := range rows {
		p.println(strings.Join(r, ", "))
	}
}

func (p *Printer) table(hdr []string, rows [][]string) error {
	return WriteTable(p.Out, hdr, rows)
}

func (p *Printer) fieldsMember(m *pb.Member) {
	p.fieldsID("ID", m.ID, false)
	p.printf("\"Name\" : %q\n", m.Name)
	for _, u := range m.PeerURLs {
		p.printf("\"PeerURL\" : %q\n", u)
	}
	for _, u := range m.ClientURLs {
		p.printf("\"ClientURL\" : %q\n", u)
	}
	p.println(`"IsLearner" :`, m.IsLearner)
	p.println()
}

// MemberList prints the members.
func (p *Printer) MemberList(r *clientv3.MemberListResponse) error {
	hdr, rows := MemberListRows(r.Members)
	switch p.Format {
	case FormatSimple:
		p.simpleRows(rows)
		return nil
	case FormatTable:
		return p.table(hdr, rows)
	case FormatFields:
		p.fieldsHdr(r.Header)
		for _, m := range r.Members {
			p.fieldsMember(m)
		}
		return nil
	case FormatJSON:
		if p.Hex {
			return p.json(hexMemberList(r.Header, r.Members))
		}
	}
	return p.rpc((*pb.MemberListResponse)(r))
}

type hexHeader struct {
	ClusterID string `json:"cluster_id"`
	MemberID  string `json:"member_id"`
	Revision  int64  `json:"revision,omitempty"`
	RaftTerm  uint64 `json:"raft_term,omitempty"`
}

type hexMember struct {
	ID         string   `json:"ID"`
	Name       string   `json:"name,omitempty"`
	PeerURLs   []string `json:"peerURLs,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

type hexMembers struct {
	Header  *hexHeader   `json:"header,omitempty"`
	Members []*hexMember `json:"members,omitempty"`
}

// hexMemberList is the member list of -w json --hex: the cluster and member
// IDs as hex strings.
func hexMemberList(h *pb.ResponseHeader, ms []*pb.Member) hexMembers {
	var out hexMembers
	if h != nil {
		out.Header = &hexHeader{ClusterID: fmt.Sprintf("%x", h.ClusterId), MemberID: fmt.Sprintf("%x", h.MemberId),
			Revision: h.Revision, RaftTerm: h.RaftTerm}
	}
	for _, m := range ms {
		out.Members = append(out.Members, &hexMember{ID: fmt.Sprintf("%x", m.ID), Name: m.Name, PeerURLs: m.PeerURLs,
			ClientURLs: m.ClientURLs, IsLearner: m.IsLearner})
	}
	return out
}

// MemberAdd prints the added member (the ETCD_* lines of the simple format
// are the command's, since they need the new member's name).
func (p *Printer) MemberAdd(r *clientv3.MemberAddResponse) error {
	switch p.Format {
	case FormatSimple:
		learner := " "
		if r.Member.IsLearner {
			learner = " as learner "
		}
		p.printf("Member %16x added%sto cluster %16x\n", r.Member.ID, learner, r.Header.GetClusterId())
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		p.fieldsMember(r.Member)
		return nil
	}
	return p.rpc((*pb.MemberAddResponse)(r))
}

// MemberRemove prints a removal.
func (p *Printer) MemberRemove(id uint64, r *clientv3.MemberRemoveResponse) error {
	switch p.Format {
	case FormatSimple:
		p.printf("Member %16x removed from cluster %16x\n", id, r.Header.GetClusterId())
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		return nil
	}
	return p.rpc((*pb.MemberRemoveResponse)(r))
}

// MemberUpdate prints a peer URL update.
func (p *Printer) MemberUpdate(id uint64, r *clientv3.MemberUpdateResponse) error {
	switch p.Format {
	case FormatSimple:
		p.printf("Member %16x updated in cluster %16x\n", id, r.Header.GetClusterId())
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		return nil
	}
	return p.rpc((*pb.MemberUpdateResponse)(r))
}

// MemberPromote prints a learner promotion.
func (p *Printer) MemberPromote(id uint64, r *clientv3.MemberPromoteResponse) error {
	switch p.Format {
	case FormatSimple:
		p.printf("Member %16x promoted in cluster %16x\n", id, r.Header.GetClusterId())
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		return nil
	}
	return p.rpc((*pb.MemberPromoteResponse)(r))
}

// EndpointHealth prints health checks: healthy endpoints on stdout,
// unhealthy ones on stderr (simple format).
func (p *Printer) EndpointHealth(hs []EpHealth) error {
	switch p.Format {
	case FormatSimple:
		for _, h := range hs {
			if h.Error == "" {
				p.printf("%s is healthy: successfully committed proposal: took = %v\n", h.Ep, h.Took)
			} else {
				fmt.Fprintf(p.Err, "%s is unhealthy: failed to commit proposal: %v\n", h.Ep, h.Error)
			}
		}
		return nil
	case FormatTable:
		return p.table(EndpointHealthRows(hs))
	case FormatFields:
		for _, h := range hs {
			p.printf("\"Endpoint\" : %q\n", h.Ep)
			p.println(`"Health" :`, h.Health)
			p.println(`"Took" :`, h.Took)
			p.println(`"Error" :`, h.Error)
			p.println()
		}
		return nil
	case FormatJSON:
		return p.json(hs)
	}
	return p.unsupported()
}

// EndpointStatus prints Status responses.
func (p *Printer) EndpointStatus(sts []EpStatus) error {
	switch p.Format {
	case FormatSimple:
		_, rows := EndpointStatusRows(sts)
		p.simpleRows(rows)
		return nil
	case FormatTable:
		return p.table(EndpointStatusRows(sts))
	case FormatFields:
		for _, st := range sts {
			r := st.Resp
			p.fieldsHdr(r.Header)
			p.printf("\"Version\" : %q\n", r.Version)
			p.printf("\"StorageVersion\" : %q\n", r.StorageVersion)
			p.println(`"DBSize" :`, r.DbSize)
			p.println(`"DBSizeInUse" :`, r.DbSizeInUse)
			p.println(`"DBSizeQuota" :`, r.DbSizeQuota)
			p.fieldsID("Leader", r.Leader, false)
			p.println(`"IsLearner" :`, r.IsLearner)
			p.println(`"RaftIndex" :`, r.RaftIndex)
			p.println(`"RaftTerm" :`, r.RaftTerm)
			p.println(`"RaftAppliedIndex" :`, r.RaftAppliedIndex)
			p.println(`"Errors" :`, r.Errors)
			p.printf("\"Endpoint\" : %q\n", st.Ep)
			p.printf("\"DowngradeTargetVersion\" : %q\n", r.DowngradeInfo.GetTargetVersion())
			p.println(`"DowngradeEnabled" :`, r.DowngradeInfo.GetEnabled())
			p.println()
		}
		return nil
	case FormatJSON:
		return p.json(sts)
	}
	return p.unsupported()
}

// EndpointHashKV prints HashKV responses.
func (p *Printer) EndpointHashKV(hs []EpHashKV) error {
	switch p.Format {
	case FormatSimple:
		_, rows := EndpointHashKVRows(hs)
		p.simpleRows(rows)
		return nil
	case FormatTable:
		return p.table(EndpointHashKVRows(hs))
	case FormatFields:
		for _, h := range hs {
			p.fieldsHdr(h.Resp.Header)
			p.printf("\"Endpoint\" : %q\n", h.Ep)
			p.println(`"Hash" :`, h.Resp.Hash)
			p.println(`"HashRevision" :`, h.Resp.HashRevision)
			p.println()
		}
		return nil
	case FormatJSON:
		return p.json(hs)
	}
	return p.unsupported()
}

// Alarm prints alarms, one per line.
func (p *Printer) Alarm(r *clientv3.AlarmResponse) error {
	switch p.Format {
	case FormatSimple:
		for _, a := range r.Alarms {
			p.printf("%+v\n", a)
		}
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		for _, a := range r.Alarms {
			p.fieldsID("MemberID", a.MemberID, false)
			p.println(`"AlarmType" :`, a.Alarm)
			p.println()
		}
		return nil
	}
	return p.rpc((*pb.AlarmResponse)(r))
}

// MoveLeader prints a leadership transfer.
func (p *Printer) MoveLeader(leader, target uint64, r *clientv3.MoveLeaderResponse) error {
	switch p.Format {
	case FormatSimple:
		p.printf("Leadership transferred from %s to %s\n", strconv.FormatUint(leader, 16), strconv.FormatUint(target, 16))
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		return nil
	}
	return p.rpc((*pb.MoveLeaderResponse)(r))
}

// Downgrade prints the result of a downgrade action (validate, enable or
// cancel).
func (p *Printer) Downgrade(action string, r *clientv3.DowngradeResponse) error {
	switch p.Format {
	case FormatSimple:
		p.printf("Downgrade %s success, cluster version %s\n", action, r.Version)
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		p.printf("\"Version\" : %q\n", r.Version)
		return nil
	}
	return p.rpc((*pb.DowngradeResponse)(r))
}

// SnapshotStatus describes a snapshot file (`snapshot status`).
type SnapshotStatus struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
	Version   string `json:"version"`
}

// DBStatus prints a snapshot file's status in etcdutl 3.6's layout.
func (p *Printer) DBStatus(s SnapshotStatus) error {
	hdr := []string{"hash", "revision", "total keys", "total size", "version"}
	row := []string{fmt.Sprintf("%x", s.Hash), fmt.Sprint(s.Revision), fmt.Sprint(s.TotalKey), Bytes(uint64(s.TotalSize)), s.Version}
	switch p.Format {
	case FormatSimple:
		p.simpleRows([][]string{row})
		return nil
	case FormatTable:
		return p.table(hdr, [][]string{row})
	case FormatFields:
		p.println(`"Hash" :`, s.Hash)
		p.println(`"Revision" :`, s.Revision)
		p.println(`"Keys" :`, s.TotalKey)
		p.println(`"Size" :`, s.TotalSize)
		p.println(`"Version" :`, s.Version)
		return nil
	case FormatJSON:
		return p.json(s)
	}
	return p.unsupported()
}
