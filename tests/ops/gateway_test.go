package ops

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairndb/cairn/tests/framework"
)

func itoa(n int) string        { return strconv.Itoa(n) }
func hex(id uint64) string     { return fmt.Sprintf("%x", id) }
func b64(s string) string      { return base64.StdEncoding.EncodeToString([]byte(s)) }
func unb64(s string) string    { b, _ := base64.StdEncoding.DecodeString(s); return string(b) }
func jsonBody(v any) io.Reader { b, _ := json.Marshal(v); return bytes.NewReader(b) }

// postJSON posts a JSON body and decodes the JSON reply into out.
func postJSON(t testing.TB, hc *http.Client, url string, in, out any) int {
	t.Helper()
	resp, err := hc.Post(url, "application/json", jsonBody(in))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("POST %s: %d %q: %v", url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// Gateway JSON shapes (protojson with the proto field names; int64 as
// strings, bytes as base64).
type gwHeader struct {
	ClusterID string `json:"cluster_id"`
	MemberID  string `json:"member_id"`
	Revision  string `json:"revision"`
	RaftTerm  string `json:"raft_term"`
}

type gwKV struct {
	Key            string `json:"key"`
	Value          string `json:"value"`
	CreateRevision string `json:"create_revision"`
	ModRevision    string `json:"mod_revision"`
	Version        string `json:"version"`
}

type gwRange struct {
	Header gwHeader `json:"header"`
	Kvs    []gwKV   `json:"kvs"`
	Count  string   `json:"count"`
}

type gwWatchLine struct {
	Result *struct {
		Header   gwHeader `json:"header"`
		WatchID  string   `json:"watch_id"`
		Created  bool     `json:"created"`
		Canceled bool     `json:"canceled"`
		Events   []struct {
			Type string `json:"type"`
			Kv   gwKV   `json:"kv"`
		} `json:"events"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// TestGatewayJSON drives the grpc-gateway JSON API: put, range and watch
// under /v3/ (and /v3beta/), an error's status and body, as etcd's
// gateway answers them.
func TestGatewayJSON(t *testing.T) {
	t.Parallel()
	c := framework.NewCluster(t, framework.ClusterConfig{Size: 1})
	u := c.Members[0].ClientURL
	hc := &http.Client{Timeout: 10 * time.Second}

	var put struct {
		Header gwHeader `json:"header"`
		PrevKv *gwKV    `json:"prev_kv"`
	}
	if code := postJSON(t, hc, u+"/v3/kv/put", map[string]any{"key": b64("/gw/a"), "value": b64("1")}, &put); code != 200 {
		t.Fatalf("put: %d", code)
	}
	if put.Header.Revision == "" || put.Header.ClusterID != fmt.Sprint(c.ID()) || put.Header.MemberID != fmt.Sprint(c.Members[0].ID()) {
		t.Errorf("put header %+v, want revision and cluster_id %d, member_id %d as decimal strings", put.Header, c.ID(), c.Members[0].ID())
	}
	rev1, _ := strconv.ParseInt(put.Header.Revision, 10, 64)
	code := postJSON(t, hc, u+"/v3/kv/put", map[string]any{"key": b64("/gw/a"), "value": b64("2"), "prev_kv": true}, &put)
	if code != 200 || put.PrevKv == nil || unb64(put.PrevKv.Value) != "1" {
		t.Errorf("put with prev_kv: %d %+v, want prev value 1", code, put.PrevKv)
	}
	postJSON(t, hc, u+"/v3/kv/put", map[string]any{"key": b64("/gw/b"), "value": b64("3")}, nil)

	var rr gwRange
	if code := postJSON(t, hc, u+"/v3/kv/range", map[string]any{"key": b64("/gw/a")}, &rr); code != 200 {
		t.Fatalf("range: %d", code)
	}
	if len(rr.Kvs) != 1 || unb64(rr.Kvs[0].Key) != "/gw/a" || unb64(rr.Kvs[0].Value) != "2" || rr.Kvs[0].Version != "2" ||
		rr.Kvs[0].CreateRevision != strconv.FormatInt(rev1, 10) || rr.Count != "1" {
		t.Errorf("range /gw/a: %+v", rr)
	}
	// A prefix range (range_end = prefix + 1) through the /v3beta/ alias.
	rr = gwRange{}
	if code := postJSON(t, hc, u+"/v3beta/kv/range", map[string]any{"key": b64("/gw/"), "range_end": b64("/gw0")}, &rr); code != 200 {
		t.Fatalf("v3beta range: %d", code)
	}
	if len(rr.Kvs) != 2 || rr.Count != "2" || unb64(rr.Kvs[1].Key) != "/gw/b" {
		t.Errorf("v3beta prefix range: %+v", rr)
	}
	// An error: etcd's status and message, mapped to HTTP 400.
	var gerr struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if code := postJSON(t, hc, u+"/v3/kv/range", map[string]any{}, &gerr); code != 400 || gerr.Code != 3 || gerr.Message != "etcdserver: key is not provided" {
		t.Errorf("range without a key: %d %+v, want 400 code 3 \"etcdserver: key is not provided\"", code, gerr)
	}

	t.Run("watch", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", u+"/v3/watch",
			jsonBody(map[string]any{"create_request": map[string]any{"key": b64("/gw/"), "range_end": b64("/gw0"), "prev_kv": true}}))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST /v3/watch: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("POST /v3/watch: %d %q", resp.StatusCode, b)
		}
		type line struct {
			l   gwWatchLine
			err error
		}
		lines := make(chan line, 16)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if strings.TrimSpace(sc.Text()) == "" {
					continue
				}
				var l gwWatchLine
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					lines <- line{err: fmt.Errorf("watch line %q: %w", sc.Text(), err)}
					return
				}
				lines <- line{l: l}
			}
		}()
		next := func() gwWatchLine {
			t.Helper()
			select {
			case ln, ok := <-lines:
				if !ok {
					t.Fatal("watch stream ended")
				}
				if ln.err != nil {
					t.Fatal(ln.err)
				}
				l := ln.l
				if l.Result == nil {
					t.Fatalf("watch line without result: %+v", l)
				}
				return l
			case <-time.After(5 * time.Second):
				t.Fatal("no watch response within 5s")
			}
			return gwWatchLine{}
		}
		first := next()
		if !first.Result.Created || len(first.Result.Events) != 0 {
			t.Fatalf("first watch response: %+v, want created", first.Result)
		}
		postJSON(t, hc, u+"/v3/kv/put", map[string]any{"key": b64("/gw/c"), "value": b64("4")}, nil)
		postJSON(t, hc, u+"/v3/kv/deleterange", map[string]any{"key": b64("/gw/a")}, nil)
		var events []string
		for len(events) < 2 {
			l := next()
			for _, ev := range l.Result.Events {
				typ := ev.Type
				if typ == "" {
					typ = "PUT" // the zero enum value is omitted
				}
				events = append(events, typ+" "+unb64(ev.Kv.Key)+"="+unb64(ev.Kv.Value))
			}
		}
		if strings.Join(events, ",") != "PUT /gw/c=4,DELETE /gw/a=" {
			t.Errorf("watch events %q, want PUT /gw/c=4, DELETE /gw/a", events)
		}
	})
}
