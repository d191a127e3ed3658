package ops

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/cairndb/cairn/tests/framework"
)

type httpResult struct {
	code   int
	header http.Header
	body   string
}

func doHTTP(t testing.TB, method, url string) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return httpResult{resp.StatusCode, resp.Header, string(b)}
}

// checkLines compares a /livez or /readyz body as a set of check lines
// (etcd runs the checks in map order) followed by the last line.
func checkLines(t testing.TB, what, body string, wantChecks []string, wantLast string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if !strings.HasSuffix(body, "\n") || len(lines) == 0 || lines[len(lines)-1] != wantLast {
		t.Errorf("%s: body %q, want check lines then %q", what, body, wantLast+"\n")
		return
	}
	got := append([]string(nil), lines[:len(lines)-1]...)
	want := append([]string(nil), wantChecks...)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: check lines %q, want %q (body %q)", what, got, want, body)
	}
}

// TestHTTPEndpoints checks each HTTP endpoint of the client port for status,
// headers and body as etcd 3.6 serves them, healthy and with alarms
// raised, and the endpoints of the --listen-metrics-urls listener.
func TestHTTPEndpoints(t *testing.T) {
	t.Parallel()
	murl := "http://127.0.0.1:" + itoa(freePorts(t, 1)[0])
	c := framework.NewCluster(t, framework.ClusterConfig{Size: 1, Args: []string{"--listen-metrics-urls=" + murl}})
	m := c.Members[0]
	u := m.ClientURL

	healthy := `{"health":"true","reason":""}`
	t.Run("health", func(t *testing.T) {
		for _, p := range []string{"/health", "/health?exclude=NOSPACE", "/health?serializable=true", "/health?serializable=false"} {
			r := doHTTP(t, "GET", u+p)
			if r.code != 200 || r.body != healthy {
				t.Errorf("GET %s: %d %q, want 200 %s", p, r.code, r.body, healthy)
			}
			if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("GET %s: Content-Type %q, want text/plain; charset=utf-8 (as etcd)", p, ct)
			}
		}
		for _, method := range []string{"POST", "PUT", "DELETE"} {
			r := doHTTP(t, method, u+"/health")
			if r.code != 405 || r.header.Get("Allow") != "GET" || r.body != "Method Not Allowed\n" {
				t.Errorf("%s /health: %d Allow=%q %q, want 405 Allow: GET \"Method Not Allowed\\n\"", method, r.code, r.header.Get("Allow"), r.body)
			}
		}
	})

	t.Run("livez-readyz", func(t *testing.T) {
		for _, p := range []string{"/livez", "/readyz", "/livez/serializable_read", "/readyz/linearizable_read",
			"/readyz/serializable_read", "/readyz/data_corruption", "/readyz/non_learner", "/readyz?exclude=linearizable_read"} {
			r := doHTTP(t, "GET", u+p)
			if r.code != 200 || r.body != "ok\n" {
				t.Errorf("GET %s: %d %q, want 200 \"ok\\n\"", p, r.code, r.body)
			}
			if r.header.Get("Content-Type") != "text/plain; charset=utf-8" || r.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("GET %s: Content-Type %q, X-Content-Type-Options %q", p, r.header.Get("Content-Type"), r.header.Get("X-Content-Type-Options"))
			}
		}
		// ?verbose lists the checks run, then "ok" (etcd's format, as in
		// its documentation: "[+]serializable_read ok\nok\n").
		r := doHTTP(t, "GET", u+"/livez?verbose")
		checkLines(t, "GET /livez?verbose", r.body, []string{"[+]serializable_read ok"}, "ok")
		r = doHTTP(t, "GET", u+"/livez/serializable_read?verbose")
		checkLines(t, "GET /livez/serializable_read?verbose", r.body, []string{"[+]serializable_read ok"}, "ok")
		r = doHTTP(t, "GET", u+"/readyz?verbose")
		checkLines(t, "GET /readyz?verbose", r.body,
			[]string{"[+]data_corruption ok", "[+]serializable_read ok", "[+]linearizable_read ok", "[+]non_learner ok"}, "ok")
		// An excluded check is not run and not listed; excluding an
		// unknown check is no error.
		r = doHTTP(t, "GET", u+"/readyz?verbose&exclude=linearizable_read&exclude=no_such_check")
		if r.code != 200 {
			t.Errorf("GET /readyz?verbose&exclude=...: %d", r.code)
		}
		checkLines(t, "GET /readyz?verbose&exclude=linearizable_read&exclude=no_such_check", r.body,
			[]string{"[+]data_corruption ok", "[+]serializable_read ok", "[+]non_learner ok"}, "ok")
		// A sub-path that names no check is not found, as in etcd (one
		// handler per registered check).
		for _, p := range []string{"/livez/no_such_check", "/readyz/no_such_check", "/livez/data_corruption"} {
			if r := doHTTP(t, "GET", u+p); r.code != 404 {
				t.Errorf("GET %s: %d %q, want 404", p, r.code, r.body)
			}
		}
		for _, p := range []string{"/livez", "/readyz", "/livez/serializable_read"} {
			if r := doHTTP(t, "POST", u+p); r.code != 405 || r.header.Get("Allow") != "GET" {
				t.Errorf("POST %s: %d Allow=%q, want 405 Allow: GET", p, r.code, r.header.Get("Allow"))
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		r := doHTTP(t, "GET", u+"/version")
		if r.code != 200 || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET /version: %d %q %q", r.code, r.header.Get("Content-Type"), r.body)
		}
		var v map[string]string
		if err := json.Unmarshal([]byte(r.body), &v); err != nil {
			t.Fatalf("GET /version: %q: %v", r.body, err)
		}
		if len(v) != 3 || !strings.HasPrefix(v["etcdserver"], "3.6.") || v["etcdcluster"] != "3.6.0" || v["storage"] != "3.6.0" {
			t.Errorf("GET /version: %q, want {\"etcdserver\":\"3.6.x\",\"etcdcluster\":\"3.6.0\",\"storage\":\"3.6.0\"}", r.body)
		}
		if r := doHTTP(t, "GET", u+"/no-such-path"); r.code != 404 {
			t.Errorf("GET /no-such-path: %d, want 404", r.code)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		s := scrapeMetrics(t, u+"/metrics")
		for _, om := range opsMetrics {
			if om.name == "etcd_network_peer_round_trip_time_seconds" || om.name == "grpc_server_handled_total" {
				continue // no peers; only after a handled call
			}
			if s[om.name] == nil {
				t.Errorf("/metrics has no %s", om.name)
			}
		}
		if v := s.must(t, m.Name, "etcd_server_id", map[string]string{"server_id": hex(m.ID())}); v != 1 {
			t.Errorf("etcd_server_id{server_id=%x} = %v", m.ID(), v)
		}
	})

	t.Run("metrics-listener", func(t *testing.T) {
		// --listen-metrics-urls serves /metrics and the health endpoints
		// only.
		s := scrapeMetrics(t, murl+"/metrics")
		if s["etcd_server_has_leader"] == nil {
			t.Errorf("%s/metrics has no etcd_server_has_leader", murl)
		}
		if r := doHTTP(t, "GET", murl+"/health"); r.code != 200 || r.body != healthy {
			t.Errorf("GET %s/health: %d %q", murl, r.code, r.body)
		}
		for _, p := range []string{"/livez", "/readyz"} {
			if r := doHTTP(t, "GET", murl+p); r.code != 200 || r.body != "ok\n" {
				t.Errorf("GET %s%s: %d %q", murl, p, r.code, r.body)
			}
		}
		for _, p := range []string{"/version", "/v3/kv/range"} {
			if r := doHTTP(t, "GET", murl+p); r.code != 404 {
				t.Errorf("GET %s%s: %d, want 404 (the metrics listener serves only /metrics and health)", murl, p, r.code)
			}
		}
	})

	// Alarms: NOSPACE fails /health unless excluded and leaves /livez and
	// /readyz alone; CORRUPT fails /readyz's data_corruption check.
	t.Run("alarms", func(t *testing.T) {
		cli := m.Client(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		mc := pb.NewMaintenanceClient(cli.ActiveConnection())
		if _, err := mc.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: m.ID(), Alarm: pb.AlarmType_NOSPACE}); err != nil {
			t.Fatalf("activate NOSPACE: %v", err)
		}
		r := doHTTP(t, "GET", u+"/health")
		if r.code != 503 || strings.TrimSpace(r.body) != `{"health":"false","reason":"ALARM NOSPACE"}` {
			t.Errorf("GET /health with NOSPACE: %d %q, want 503 {\"health\":\"false\",\"reason\":\"ALARM NOSPACE\"}", r.code, r.body)
		}
		if r := doHTTP(t, "GET", u+"/health?exclude=NOSPACE"); r.code != 200 || r.body != healthy {
			t.Errorf("GET /health?exclude=NOSPACE with NOSPACE: %d %q, want 200", r.code, r.body)
		}
		if r := doHTTP(t, "GET", murl+"/health"); r.code != 503 {
			t.Errorf("GET %s/health with NOSPACE: %d %q, want 503", murl, r.code, r.body)
		}
		for _, p := range []string{"/livez", "/readyz"} {
			if r := doHTTP(t, "GET", u+p); r.code != 200 || r.body != "ok\n" {
				t.Errorf("GET %s with NOSPACE: %d %q, want 200 ok", p, r.code, r.body)
			}
		}
		if _, err := mc.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: m.ID(), Alarm: pb.AlarmType_CORRUPT}); err != nil {
			t.Fatalf("activate CORRUPT: %v", err)
		}
		r = doHTTP(t, "GET", u+"/readyz")
		if r.code != 503 || !strings.Contains(r.body, "[-]data_corruption failed: ") {
			t.Errorf("GET /readyz with CORRUPT: %d %q, want 503 with a [-]data_corruption failed line", r.code, r.body)
		}
		if r := doHTTP(t, "GET", u+"/readyz?exclude=data_corruption"); r.code != 200 {
			t.Errorf("GET /readyz?exclude=data_corruption with CORRUPT: %d %q, want 200", r.code, r.body)
		}
		if r := doHTTP(t, "GET", u+"/livez"); r.code != 200 {
			t.Errorf("GET /livez with CORRUPT: %d %q, want 200 (livez has no data_corruption check)", r.code, r.body)
		}
		r = doHTTP(t, "GET", u+"/health?exclude=NOSPACE")
		if r.code != 503 || strings.TrimSpace(r.body) != `{"health":"false","reason":"ALARM CORRUPT"}` {
			t.Errorf("GET /health?exclude=NOSPACE with NOSPACE and CORRUPT: %d %q, want 503 ALARM CORRUPT", r.code, r.body)
		}
		if r := doHTTP(t, "GET", u+"/health?exclude=NOSPACE&exclude=CORRUPT"); r.code != 200 || r.body != healthy {
			t.Errorf("GET /health?exclude=NOSPACE&exclude=CORRUPT: %d %q, want 200", r.code, r.body)
		}
		s := scrapeMetrics(t, u+"/metrics")
		if ok, _ := s.value("etcd_server_health_success", nil); ok < 1 {
			t.Errorf("etcd_server_health_success = %v", ok)
		}
		if bad, _ := s.value("etcd_server_health_failures", nil); bad < 1 {
			t.Errorf("etcd_server_health_failures = %v after failed /health calls", bad)
		}
	})
}
