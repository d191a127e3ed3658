package framework

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// ProxiedCluster is a cluster whose peer traffic passes through one Proxy
// per member, so a test can partition it. Members[i] is advertised to the
// cluster as Proxies[i].URL (its PeerURL) and listens on its own port
// behind it; IDs[i] is its member ID.
//
// Members added at run time (PrepareMember, then Join) get the ID the
// MemberAdd response carried. A removed member stays in the slices; tests
// keep track of which indexes still belong to the cluster.
type ProxiedCluster struct {
	Token   string
	Members []*Member
	Proxies []*Proxy
	IDs     []uint64

	listen []string // each member's real --listen-peer-urls value
	args   []string // extra flags of every member
}

// NewProxiedCluster starts a new cluster of cfg.Size members behind proxies
// and waits until every member serves a linearizable Get.
func NewProxiedCluster(t testing.TB, cfg ClusterConfig) *ProxiedCluster {
	t.Helper()
	if cfg.Size == 0 {
		cfg.Size = 1
	}
	if cfg.Token == "" {
		cfg.Token = DefaultToken
	}
	bin := BinaryPath(t)
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		pc := &ProxiedCluster{Token: cfg.Token, args: append([]string(nil), cfg.Args...)}
		var initial []string
		for i := 0; i < cfg.Size; i++ {
			m, px, listen := pc.newMember(t, fmt.Sprintf("m%d", i), "new")
			pc.Members = append(pc.Members, m)
			pc.Proxies = append(pc.Proxies, px)
			pc.IDs = append(pc.IDs, m.ID())
			pc.listen = append(pc.listen, listen)
			initial = append(initial, m.Name+"="+m.PeerURL)
		}
		for _, m := range pc.Members {
			m.cfg.InitialCluster = strings.Join(initial, ",")
		}
		c := &Cluster{Members: pc.Members, Token: pc.Token}
		lastErr = c.launch(bin)
		if lastErr == nil {
			return pc
		}
		for _, m := range pc.Members {
			m.kill()
		}
		if !c.bindConflict() {
			break
		}
		t.Logf("framework: port conflict, retrying with new ports: %v", lastErr)
	}
	t.Fatal(lastErr)
	return nil
}

// newMember prepares a member behind a new proxy; it does not start it.
func (pc *ProxiedCluster) newMember(t testing.TB, name, state string) (*Member, *Proxy, string) {
	t.Helper()
	m := NewMember(t, MemberConfig{Name: name, Token: pc.Token, State: state})
	px, err := StartProxy(strings.TrimPrefix(m.PeerURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	listen := m.PeerURL
	m.PeerURL = px.URL
	m.cfg.InitialCluster = m.Name + "=" + m.PeerURL
	// A repeated flag keeps its last value: the member listens on its own
	// port while it advertises the proxy's.
	m.cfg.Args = append(append([]string(nil), pc.args...), "--listen-peer-urls="+listen)
	return m, px, listen
}

// PrepareMember makes a member that is not yet part of the cluster, behind
// its own proxy. Add it with MemberAdd (peer URL m.PeerURL), then Join.
func (pc *ProxiedCluster) PrepareMember(t testing.TB, name string) (*Member, *Proxy) {
	t.Helper()
	m, px, listen := pc.newMember(t, name, "existing")
	pc.Members = append(pc.Members, m)
	pc.Proxies = append(pc.Proxies, px)
	pc.IDs = append(pc.IDs, 0)
	pc.listen = append(pc.listen, listen)
	return m, px
}

// Index returns the position of m in Members.
func (pc *ProxiedCluster) Index(m *Member) int {
	for i, x := range pc.Members {
		if x == m {
			return i
		}
	}
	return -1
}

// Join starts member i, prepared by PrepareMember and added with MemberAdd
// under id, with --initial-cluster-state=existing and an --initial-cluster
// naming the members in the cluster (indexes in) and itself. It waits
// until the member serves a linearizable Get unless wait is false (a
// learner refuses linearizable reads).
func (pc *ProxiedCluster) Join(t testing.TB, i int, id uint64, in []int, wait bool) {
	t.Helper()
	m := pc.Members[i]
	pc.IDs[i] = id
	var initial []string
	for _, j := range in {
		if j != i {
			initial = append(initial, pc.Members[j].Name+"="+pc.Members[j].PeerURL)
		}
	}
	initial = append(initial, m.Name+"="+m.PeerURL)
	m.cfg.InitialCluster = strings.Join(initial, ",")
	m.cfg.State = "existing"
	if wait {
		m.Start(t)
		return
	}
	if err := m.Launch(BinaryPath(t)); err != nil {
		t.Fatal(err)
	}
}

// SetMemberArgs replaces member i's extra flags from its next start on,
// keeping the flags that put it behind its proxy.
func (pc *ProxiedCluster) SetMemberArgs(i int, args ...string) {
	pc.Members[i].SetArgs(append(append([]string(nil), args...), "--listen-peer-urls="+pc.listen[i])...)
}

// SetInitialCluster replaces member i's --initial-cluster,
// --initial-cluster-token and --initial-cluster-state from its next start
// on. An empty value keeps the current one.
func (pc *ProxiedCluster) SetInitialCluster(i int, initial, token, state string) {
	m := pc.Members[i]
	if initial != "" {
		m.cfg.InitialCluster = initial
	}
	if token != "" {
		m.cfg.Token = token
	}
	if state != "" {
		m.cfg.State = state
	}
}

// InitialCluster is the --initial-cluster of member i.
func (pc *ProxiedCluster) InitialCluster(i int) string { return pc.Members[i].cfg.InitialCluster }

// Cut blocks the directed link from member from to member to.
func (pc *ProxiedCluster) Cut(from, to int) { pc.Proxies[to].Block(pc.IDs[from]) }

// Partition cuts every link, both ways, between members of different
// groups. Members in no group keep all their links.
func (pc *ProxiedCluster) Partition(groups ...[]int) {
	for a := range groups {
		for b := range groups {
			if a == b {
				continue
			}
			for _, i := range groups[a] {
				for _, j := range groups[b] {
					pc.Cut(i, j)
				}
			}
		}
	}
}

// Isolate cuts member i off from every other member, both ways, including
// connections that name no sender.
func (pc *ProxiedCluster) Isolate(i int) {
	var rest []int
	for j := range pc.Members {
		if j != i {
			rest = append(rest, j)
		}
	}
	pc.Partition([]int{i}, rest)
	pc.Proxies[i].BlockUnknown(true)
}

// Heal restores every link.
func (pc *ProxiedCluster) Heal() {
	for _, px := range pc.Proxies {
		px.UnblockAll()
	}
}

// Endpoints are the client URLs of the members at the given indexes, or of
// every member when none are given.
func (pc *ProxiedCluster) Endpoints(idx ...int) []string {
	if len(idx) == 0 {
		for i := range pc.Members {
			idx = append(idx, i)
		}
	}
	var eps []string
	for _, i := range idx {
		eps = append(eps, pc.Members[i].ClientURL)
	}
	return eps
}

// ID is the cluster ID computed from the bootstrap members' IDs. It stays
// the cluster's ID when members are added or removed.
func (pc *ProxiedCluster) ID(bootstrap int) uint64 {
	return ComputeClusterID(pc.IDs[:bootstrap])
}

// WaitAllReady waits until the members at idx serve a linearizable Get.
func (pc *ProxiedCluster) WaitAllReady(ctx context.Context, idx ...int) error {
	for _, i := range idx {
		if err := pc.Members[i].WaitReady(ctx); err != nil {
			return err
		}
	}
	return nil
}
