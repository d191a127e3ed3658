package api

import (
	"context"
	"errors"
	"google.golang.org/grpc/status"
	"io"
	"math/bits"
	"math/rand/v2"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/watch"
)

// WatchStream is one watch stream on the server side (watch.Stream).
type WatchStream interface {
	// Request hands a client request over, in order; it blocks while too
	// many control responses are unsent.
	Request(ctx context.Context, r *pb.WatchRequest) error
	// Deny refuses a create request in order, with etcd's reply.
	Deny(ctx context.Context, reason string) error
	// ProgressTick asks for the periodic progress notifications.
	ProgressTick()
	// Ready is signalled when responses are queued; Pop takes them.
	Ready() <-chan struct{}
	Pop(buf []watch.Response, maxBytes int) []watch.Response
	// Close ends the stream's watchers.
	Close()
}

// WatchBackend is what the Watch service needs from the server.
type WatchBackend interface {
	NewWatchStream() WatchStream
	// CheckWatch says whether the stream's caller may watch [key, end).
	CheckWatch(ctx context.Context, key, end []byte) error
}

// WatchOptions tune the Watch service.
type WatchOptions struct {
	// ProgressInterval is the period of progress notifications
	// (--watch-progress-notify-interval); a random tenth is added per
	// stream, as etcd does. Values under 100ms are raised to it.
	ProgressInterval time.Duration
	// MaxRequestBytes is the server's request limit with the gRPC
	// overhead: fragmenting watchers get responses below it.
	MaxRequestBytes int
	// Stopping is closed when the server shuts down: streams end with
	// etcd's "server stopped" so clients move to another member.
	Stopping <-chan struct{}
	Logger   *zap.Logger
}

// minProgressInterval is etcd's lower bound on the progress interval.
const minProgressInterval = 100 * time.Millisecond

// popBytes bounds what the send loop takes from the queue at once: taken
// responses no longer count against the stream's budget.
const popBytes = 32 << 10

type watchServer struct {
	pb.UnimplementedWatchServer
	b    WatchBackend
	opts WatchOptions
}

// NewWatchServer returns etcd's Watch service over b.
func NewWatchServer(b WatchBackend, opts WatchOptions) pb.WatchServer {
	if opts.ProgressInterval > 0 && opts.ProgressInterval < minProgressInterval {
		opts.ProgressInterval = minProgressInterval
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &watchServer{b: b, opts: opts}
}

// Watch serves one stream. Three goroutines take part: this one waits for
// the end, the send loop (which this one stops and waits for) and the
// receive loop, which ends when the stream's Recv fails — at the latest
// when this handler returns and gRPC cancels the stream. It cannot be
// waited for here: Recv does not watch our context.
func (ws *watchServer) Watch(gs pb.Watch_WatchServer) error {
	st := ws.b.NewWatchStream()
	ctx, cancel := context.WithCancel(gs.Context())
	sendc := make(chan error, 1)
	go func() { sendc <- ws.sendLoop(ctx, gs, st) }()
	recvc := make(chan error, 1)
	go func() { recvc <- ws.recvLoop(ctx, gs, st) }()

	var err error
	sendDone := false
	select {
	case err = <-recvc:
	case err = <-sendc:
		sendDone = true
	case <-gs.Context().Done():
		err = gs.Context().Err()
	case <-ws.opts.Stopping:
		err = rpctypes.ErrGRPCStopped
	}
	cancel()
	st.Close()
	if !sendDone {
		<-sendc
	}
	switch {
	case errors.Is(err, context.Canceled):
		err = rpctypes.ErrGRPCWatchCanceled
	case errors.Is(err, watch.ErrStopped):
		err = rpctypes.ErrGRPCStopped
	}
	return err
}

// recvLoop hands requests to the stream. A client that closes its sending
// side keeps its watchers (as with etcd): the loop then waits for the end.
func (ws *watchServer) recvLoop(ctx context.Context, gs pb.Watch_WatchServer, st WatchStream) error {
	for {
		req, err := gs.Recv()
		if errors.Is(err, io.EOF) {
			<-ctx.Done()
			return ctx.Err()
		}
		if err != nil {
			return err
		}
		if c := req.GetCreateRequest(); c != nil {
			if err := ws.b.CheckWatch(gs.Context(), c.Key, c.RangeEnd); err != nil {
				if err := st.Deny(ctx, denyReason(err)); err != nil {
					return err
				}
				continue
			}
		}
		if err := st.Request(ctx, req); err != nil {
			return err
		}
	}
}

func (ws *watchServer) sendLoop(ctx context.Context, gs pb.Watch_WatchServer, st WatchStream) error {
	var tickc <-chan time.Time
	if iv := ws.opts.ProgressInterval; iv > 0 {
		iv += time.Duration(rand.Int64N(int64(iv)/10 + 1))
		t := time.NewTicker(iv)
		defer t.Stop()
		tickc = t.C
	}
	var buf []watch.Response
	for {
		select {
		case <-st.Ready():
			for {
				buf = st.Pop(buf[:0], popBytes)
				if len(buf) == 0 {
					break
				}
				for i := range buf {
					if err := ws.send(gs, &buf[i]); err != nil {
						return err
					}
					buf[i] = watch.Response{}
				}
			}
		case <-tickc:
			st.ProgressTick()
		case <-ctx.Done():
			return nil
		}
	}
}

func (ws *watchServer) send(gs pb.Watch_WatchServer, r *watch.Response) error {
	send := func(wr *pb.WatchResponse) error { return gs.SendMsg(&onceMarshaled{WatchResponse: wr}) }
	if r.Fragment {
		return sendFragments(r.WatchResponse, ws.opts.MaxRequestBytes, send)
	}
	return send(r.WatchResponse)
}

// onceMarshaled is a WatchResponse that encodes itself once. gRPC's proto
// codec sizes a message before encoding it, and for gogo-generated types
// (which have Marshal but no size method protobuf-go knows) sizing means
// encoding: every watch response would be encoded twice. The wire bytes
// are the same.
type onceMarshaled struct {
	*pb.WatchResponse
	b []byte
}

func (m *onceMarshaled) Marshal() ([]byte, error) {
	if m.b == nil {
		b, err := m.WatchResponse.Marshal()
		if err != nil {
			return nil, err
		}
		m.b = b
	}
	return m.b, nil
}

// sendFragments sends wr in pieces below limit bytes when it is larger and
// has more than one event, as etcd does for watchers that asked for
// fragments: every piece but the last has fragment set, and the client
// joins them. A piece holds at least one event, so a single event above
// the limit still goes alone.
func sendFragments(wr *pb.WatchResponse, limit int, send func(*pb.WatchResponse) error) error {
	if wr.Size() < limit || len(wr.Events) < 2 {
		return send(wr)
	}
	rest := wr.Events
	for len(rest) > 0 {
		cur := &pb.WatchResponse{
			Header:          wr.Header,
			WatchId:         wr.WatchId,
			Created:         wr.Created,
			Canceled:        wr.Canceled,
			CompactRevision: wr.CompactRevision,
			CancelReason:    wr.CancelReason,
			Fragment:        true,
		}
		size := cur.Size()
		n := 0
		for n < len(rest) {
			size += eventFieldSize(rest[n])
			if n > 0 && size >= limit {
				break
			}
			n++
		}
		cur.Events = rest[:n]
		rest = rest[n:]
		if len(rest) == 0 {
			cur.Fragment = false
		}
		if err := send(cur); err != nil {
			return err
		}
	}
	return nil
}

// eventFieldSize is what one event adds to an encoded WatchResponse:
// field tag, length, message.
func eventFieldSize(ev *mvccpb.Event) int {
	n := ev.Size()
	return 1 + (bits.Len64(uint64(n)|1)+6)/7 + n
}

// denyReason is the cancel_reason etcd gives: the error's etcd message.
func denyReason(err error) string {
	if st, ok := status.FromError(toGRPCError(err)); ok {
		return st.Message()
	}
	return err.Error()
}
