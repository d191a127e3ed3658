package framework

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ClusterConfig describes a new cluster whose members all start together
// with the same --initial-cluster.
type ClusterConfig struct {
	Size  int      // number of members; 0 means 1
	Token string   // --initial-cluster-token; empty means DefaultToken
	Args  []string // extra flags for every member
}

// Cluster is a set of members bootstrapped together.
type Cluster struct {
	Members []*Member
	Token   string
}

// startAttempts bounds the retries when another process took a port
// between FreePort and the server's bind.
const startAttempts = 3

// NewCluster starts a new cluster and waits until every member serves a
// linearizable Get.
func NewCluster(t testing.TB, cfg ClusterConfig) *Cluster {
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
		c := newCluster(t, cfg)
		lastErr = c.launch(bin)
		if lastErr == nil {
			return c
		}
		for _, m := range c.Members {
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

func newCluster(t testing.TB, cfg ClusterConfig) *Cluster {
	c := &Cluster{Token: cfg.Token}
	var initial []string
	for i := 0; i < cfg.Size; i++ {
		m := NewMember(t, MemberConfig{
			Name:  fmt.Sprintf("m%d", i),
			Token: cfg.Token,
			Args:  append([]string(nil), cfg.Args...),
		})
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.Members {
		m.cfg.InitialCluster = strings.Join(initial, ",")
	}
	return c
}

func (c *Cluster) launch(bin string) error {
	for _, m := range c.Members {
		if err := m.Launch(bin); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultReadyTimeout)
	defer cancel()
	for _, m := range c.Members {
		if err := m.WaitReady(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) bindConflict() bool {
	for _, m := range c.Members {
		if m.LogContains("address already in use") {
			return true
		}
	}
	return false
}

// InitialCluster is the --initial-cluster value every member got.
func (c *Cluster) InitialCluster() string { return c.Members[0].cfg.InitialCluster }

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// Client returns a client connected to every member, closed when the test
// ends. Use Members[i].Client for one member.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return NewClient(t, c.Endpoints()...)
}

// MemberIDs are the computed IDs of the members, in member order.
func (c *Cluster) MemberIDs() []uint64 {
	var ids []uint64
	for _, m := range c.Members {
		ids = append(ids, m.ID())
	}
	return ids
}

// ID is the computed cluster ID.
func (c *Cluster) ID() uint64 { return ComputeClusterID(c.MemberIDs()) }

// Leader returns the member that running members agree leads, failing the
// test if they disagree or none leads.
func (c *Cluster) Leader(t testing.TB) *Member {
	t.Helper()
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var lead uint64
	for _, m := range c.Members {
		if !m.Running() {
			continue
		}
		st, err := cli.Status(ctx, m.ClientURL)
		if err != nil {
			t.Fatalf("framework: Status(%s): %v", m.Name, err)
		}
		if lead != 0 && st.Leader != lead {
			t.Fatalf("framework: members disagree on the leader: %x and %x", lead, st.Leader)
		}
		lead = st.Leader
	}
	for _, m := range c.Members {
		if m.ID() == lead {
			return m
		}
	}
	t.Fatalf("framework: no member leads (leader %x)", lead)
	return nil
}
