package ops

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/cairndb/cairn/tests/framework"
)

// scrape is one parsed /metrics page.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t testing.TB, url string) scrape {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("GET %s: Content-Type %q, want Prometheus text format 0.0.4", url, ct)
	}
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: parse: %v", url, err)
	}
	return mfs
}

// value sums the series of a family whose labels include want: gauges and
// counters by value, histograms by sample count. ok is false when the
// family or a matching series is missing.
func (s scrape) value(name string, want map[string]string) (v float64, ok bool) {
	mf := s[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if !labelsMatch(m, want) {
			continue
		}
		ok = true
		switch mf.GetType() {
		case dto.MetricType_GAUGE:
			v += m.GetGauge().GetValue()
		case dto.MetricType_COUNTER:
			v += m.GetCounter().GetValue()
		case dto.MetricType_HISTOGRAM:
			v += float64(m.GetHistogram().GetSampleCount())
		case dto.MetricType_UNTYPED:
			v += m.GetUntyped().GetValue()
		}
	}
	return v, ok
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// must returns the value of a series that must exist.
func (s scrape) must(t testing.TB, who, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := s.value(name, labels)
	if !ok {
		t.Errorf("%s: /metrics has no %s%v", who, name, labels)
	}
	return v
}

// opsMetrics are the metrics the issue lists, with their Prometheus types.
var opsMetrics = []struct {
	name string
	typ  dto.MetricType
}{
	{"etcd_server_has_leader", dto.MetricType_GAUGE},
	{"etcd_server_leader_changes_seen_total", dto.MetricType_COUNTER},
	{"etcd_server_proposals_committed_total", dto.MetricType_GAUGE},
	{"etcd_server_proposals_applied_total", dto.MetricType_GAUGE},
	{"etcd_server_proposals_pending", dto.MetricType_GAUGE},
	{"etcd_server_proposals_failed_total", dto.MetricType_COUNTER},
	{"etcd_disk_wal_fsync_duration_seconds", dto.MetricType_HISTOGRAM},
	{"etcd_disk_backend_commit_duration_seconds", dto.MetricType_HISTOGRAM},
	{"etcd_mvcc_db_total_size_in_bytes", dto.MetricType_GAUGE},
	{"etcd_network_peer_round_trip_time_seconds", dto.MetricType_HISTOGRAM},
	{"grpc_server_handled_total", dto.MetricType_COUNTER},
}

// metricsCluster is three plain members, each also serving
// --listen-metrics-urls on its own port.
type metricsCluster struct {
	Members    []*framework.Member
	MetricsURL []string // http://127.0.0.1:port of each member's metrics listener
}

func newMetricsCluster(t *testing.T, n int) *metricsCluster {
	t.Helper()
	bin := framework.BinaryPath(t)
	cp, pp, mp := freePorts(t, n), freePorts(t, n), freePorts(t, n)
	var initial []string
	for i := 0; i < n; i++ {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, pp[i]))
	}
	mc := &metricsCluster{}
	for i := 0; i < n; i++ {
		murl := fmt.Sprintf("http://127.0.0.1:%d", mp[i])
		m := framework.NewMember(t, framework.MemberConfig{
			Name: fmt.Sprintf("m%d", i), ClientPort: cp[i], PeerPort: pp[i],
			InitialCluster: strings.Join(initial, ","),
			Args:           []string{"--listen-metrics-urls=" + murl},
		})
		mc.Members = append(mc.Members, m)
		mc.MetricsURL = append(mc.MetricsURL, murl)
	}
	for _, m := range mc.Members {
		if err := m.Launch(bin); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), framework.DefaultReadyTimeout)
	defer cancel()
	for _, m := range mc.Members {
		if err := m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return mc
}

// scrapeAll scrapes member i's /metrics on the client port for member 0
// and on the metrics listener for the others, so both are exercised.
func (mc *metricsCluster) scrapeAll(t testing.TB) []scrape {
	t.Helper()
	var out []scrape
	for i, m := range mc.Members {
		url := mc.MetricsURL[i] + "/metrics"
		if i == 0 {
			url = m.ClientURL + "/metrics"
		}
		out = append(out, scrapeMetrics(t, url))
	}
	return out
}

func (mc *metricsCluster) leader(t testing.TB) int {
	t.Helper()
	c := &framework.Cluster{Members: mc.Members}
	l := c.Leader(t)
	for i, m := range mc.Members {
		if m == l {
			return i
		}
	}
	t.Fatal("no leader")
	return -1
}

// TestMetricsUnderLoad checks that the metrics operators alert on exist
// with etcd's names and types, and move: under a write load, across a
// leader change, and when the member loses its quorum.
func TestMetricsUnderLoad(t *testing.T) {
	t.Parallel()
	start := time.Now()
	mc := newMetricsCluster(t, 3)
	ms := mc.Members

	before := mc.scrapeAll(t)
	for i, s := range before {
		for _, om := range opsMetrics {
			if om.name == "etcd_network_peer_round_trip_time_seconds" || om.name == "grpc_server_handled_total" {
				continue // observed every 5s / only once a call was handled
			}
			mf := s[om.name]
			if mf == nil {
				t.Errorf("%s: /metrics has no %s", ms[i].Name, om.name)
				continue
			}
			if mf.GetType() != om.typ {
				t.Errorf("%s: %s is a %v, want %v (as etcd)", ms[i].Name, om.name, mf.GetType(), om.typ)
			}
		}
		if v := s.must(t, ms[i].Name, "etcd_server_has_leader", nil); v != 1 {
			t.Errorf("%s: etcd_server_has_leader = %v, want 1", ms[i].Name, v)
		}
		if v := s.must(t, ms[i].Name, "etcd_server_leader_changes_seen_total", nil); v < 1 {
			t.Errorf("%s: etcd_server_leader_changes_seen_total = %v, want >= 1 (the first election)", ms[i].Name, v)
		}
		if v := s.must(t, ms[i].Name, "etcd_mvcc_db_total_size_in_bytes", nil); v <= 0 {
			t.Errorf("%s: etcd_mvcc_db_total_size_in_bytes = %v, want > 0", ms[i].Name, v)
		}
	}

	// Load: puts and ranges through every member.
	const workers, perWorker = 6, 40
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	handledPuts := make([]int, len(ms))
	value := strings.Repeat("v", 1024)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		target := w % len(ms)
		handledPuts[target] += perWorker
		cli := ms[target].Client(t)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for k := 0; k < perWorker; k++ {
				key := fmt.Sprintf("/load/%d/%d", w, k)
				if _, err := cli.Put(ctx, key, value); err != nil {
					errc <- fmt.Errorf("put %s: %w", key, err)
					return
				}
				if _, err := cli.Get(ctx, key); err != nil {
					errc <- fmt.Errorf("get %s: %w", key, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	const puts = workers * perWorker

	// The round-trip time is observed every 5s: wait for two rounds.
	if d := 11*time.Second - time.Since(start); d > 0 {
		time.Sleep(d)
	}
	after := mc.scrapeAll(t)
	ids := map[int]uint64{}
	for i, m := range ms {
		ids[i] = m.ID()
	}
	for i, s := range after {
		who, b := ms[i].Name, before[i]
		grow := func(name string, labels map[string]string, min float64) {
			t.Helper()
			v0, _ := b.value(name, labels)
			v1 := s.must(t, who, name, labels)
			if v1-v0 < min {
				t.Errorf("%s: %s%v went from %v to %v under %d puts, want it to grow by >= %v", who, name, labels, v0, v1, puts, min)
			}
		}
		grow("etcd_server_proposals_committed_total", nil, puts)
		grow("etcd_server_proposals_applied_total", nil, puts)
		grow("etcd_disk_wal_fsync_duration_seconds", nil, 1)
		grow("etcd_disk_backend_commit_duration_seconds", nil, 1)
		grow("etcd_mvcc_db_total_size_in_bytes", nil, 1)
		grow("grpc_server_handled_total", map[string]string{
			"grpc_type": "unary", "grpc_service": "etcdserverpb.KV", "grpc_method": "Put", "grpc_code": "OK",
		}, float64(handledPuts[i]))
		grow("grpc_server_handled_total", map[string]string{
			"grpc_type": "unary", "grpc_service": "etcdserverpb.KV", "grpc_method": "Range", "grpc_code": "OK",
		}, float64(handledPuts[i]))
		c, _ := s.value("etcd_server_proposals_committed_total", nil)
		a, _ := s.value("etcd_server_proposals_applied_total", nil)
		if a > c {
			t.Errorf("%s: proposals applied %v > committed %v", who, a, c)
		}
		if v, _ := s.value("etcd_server_proposals_pending", nil); v != 0 {
			t.Errorf("%s: etcd_server_proposals_pending = %v with no load, want 0", who, v)
		}
		for j := range ms {
			if j == i {
				continue
			}
			to := map[string]string{"To": fmt.Sprintf("%x", ids[j])}
			if v := s.must(t, who, "etcd_network_peer_round_trip_time_seconds", to); v < 1 {
				t.Errorf("%s: etcd_network_peer_round_trip_time_seconds%v has %v samples after %v, want >= 1", who, to, v, time.Since(start).Round(time.Second))
			}
		}
	}

	// A leader change moves etcd_server_leader_changes_seen_total on every
	// member.
	lead := mc.leader(t)
	next := (lead + 1) % len(ms)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := ms[lead].Client(t).MoveLeader(ctx, ids[next]); err != nil {
		t.Fatalf("MoveLeader to %s: %v", ms[next].Name, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := range ms {
		v0, _ := after[i].value("etcd_server_leader_changes_seen_total", nil)
		for {
			s := mc.scrapeAll(t)[i]
			v1, _ := s.value("etcd_server_leader_changes_seen_total", nil)
			if v1 > v0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: etcd_server_leader_changes_seen_total stayed %v after MoveLeader", ms[i].Name, v1)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Quorum lost: the last member has no leader, /health says so, a put
	// stays pending and then fails.
	last := ms[0]
	ms[1].Stop(t)
	ms[2].Stop(t)
	deadline = time.Now().Add(10 * time.Second)
	for {
		s := scrapeMetrics(t, last.ClientURL+"/metrics")
		if v, _ := s.value("etcd_server_has_leader", nil); v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: etcd_server_has_leader still 1 10s after losing its quorum", last.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if code, body, err := get(hc, last.ClientURL+"/health"); err != nil || code != 503 || strings.TrimSpace(body) != `{"health":"false","reason":"RAFT NO LEADER"}` {
		t.Errorf("%s without quorum: /health = %d %q %v, want 503 {\"health\":\"false\",\"reason\":\"RAFT NO LEADER\"}", last.Name, code, body, err)
	}
	if code, body, err := get(hc, last.ClientURL+"/health?serializable=true"); err != nil || code != 200 || body != `{"health":"true","reason":""}` {
		t.Errorf("%s without quorum: /health?serializable=true = %d %q %v, want 200 {\"health\":\"true\",\"reason\":\"\"}", last.Name, code, body, err)
	}
	if code, body, err := get(hc, last.ClientURL+"/livez"); err != nil || code != 200 || body != "ok\n" {
		t.Errorf("%s without quorum: /livez = %d %q %v, want 200 ok", last.Name, code, body, err)
	}
	s0 := scrapeMetrics(t, last.ClientURL+"/metrics")
	failed0, _ := s0.value("etcd_server_proposals_failed_total", nil)
	cli := last.Client(t)
	putDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := cli.Put(ctx, "/no-quorum", "x")
		putDone <- err
	}()
	time.Sleep(1 * time.Second)
	if v, _ := scrapeMetrics(t, last.ClientURL+"/metrics").value("etcd_server_proposals_pending", nil); v < 1 {
		t.Errorf("%s: etcd_server_proposals_pending = %v while a put waits for a quorum, want >= 1", last.Name, v)
	}
	if err := <-putDone; err == nil {
		t.Errorf("%s: put without a quorum succeeded", last.Name)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		s := scrapeMetrics(t, last.ClientURL+"/metrics")
		failed, _ := s.value("etcd_server_proposals_failed_total", nil)
		pending, _ := s.value("etcd_server_proposals_pending", nil)
		if failed > failed0 && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: after a put failed for want of a quorum, etcd_server_proposals_failed_total %v -> %v and pending %v; want it to grow and pending 0", last.Name, failed0, failed, pending)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}
