package framework

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The proxy forwards, black-holes a blocked sender's connections, leaves
// other senders alone, and heals.
func TestProxyBlocksBySender(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "from "+r.Header.Get("X-Cairn-From"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	px, err := StartProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)

	// A keep-alive client per sender, as a member's transport has.
	clients := map[string]*http.Client{}
	get := func(from string) (string, error) {
		c, ok := clients[from]
		if !ok {
			c = &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{}}
			clients[from] = c
		}
		req, _ := http.NewRequest(http.MethodGet, px.URL+"/x", nil)
		if from != "" {
			req.Header.Set("X-Cairn-From", from)
		}
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	want := func(from string, ok bool) {
		t.Helper()
		got, err := get(from)
		if ok && (err != nil || got != "from "+from) {
			t.Errorf("sender %q: %q, %v; want it forwarded", from, got, err)
		}
		if !ok && err == nil {
			t.Errorf("sender %q: %q; want it cut off", from, got)
		}
	}
	want("a1", true)
	want("b2", true)
	want("", true)

	px.Block(0xa1)
	want("a1", false) // its open connection was closed, the new one black-holed
	want("a1", false)
	want("b2", true) // on its kept-alive connection
	want("", true)
	if got := px.Blocked(); len(got) != 1 || got[0] != 0xa1 {
		t.Errorf("Blocked() = %x, want [a1]", got)
	}

	px.BlockUnknown(true)
	want("", false)
	want("b2", true)

	px.UnblockAll()
	want("a1", true)
	want("", true)
	want("b2", true)

	px.Block(0xb2)
	px.Unblock(0xb2)
	want("b2", true)
}

func TestSenderID(t *testing.T) {
	for head, want := range map[string]uint64{
		"POST /cairn/raft HTTP/1.1\r\nHost: x\r\nX-Cairn-From: 1f\r\n\r\n": 0x1f,
		"GET /raft/stream/message/2 HTTP/1.1\r\nx-server-from: ab\r\n\r\n": 0xab,
		"GET /cairn/members HTTP/1.1\r\nHost: x\r\n\r\n":                   0,
		"POST / HTTP/1.1\r\nX-Cairn-From: zz\r\n\r\nbody":                  0,
	} {
		if got := senderID([]byte(head)); got != want {
			t.Errorf("senderID(%q) = %x, want %x", strings.SplitN(head, "\r\n", 2)[0], got, want)
		}
	}
}
