package bench

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("bench: invalid config")

// Consistency levels of the range workload, as etcd's benchmark spells them.
const (
	Linearizable = "l"
	Serializable = "s"
)

// Config describes one load run. Build it with Default, set fields, then call
// Validate once before Run.
type Config struct {
	// Endpoints are the client URLs or host:port pairs of the cluster.
	Endpoints []string
	// Conns is the number of gRPC connections (one clientv3.Client each).
	Conns int
	// Clients is the number of concurrent clients (goroutines with one request
	// in flight each); client i uses connection i % Conns.
	Clients int

	// KeySize is the key length in bytes. Keys are the key index in decimal,
	// zero-padded to KeySize, so KeySpace may not exceed 10^KeySize.
	KeySize int
	// ValSize is the value length in bytes.
	ValSize int
	// KeySpace is the number of distinct keys.
	KeySpace int
	// RandomValues makes every put store a different incompressible value
	// (a slice of a random buffer) instead of the same printable one, so
	// that a store that compresses its data cannot make it look smaller.
	RandomValues bool
	// FirstKey is where sequential keys start: request n uses key
	// (FirstKey + n) % KeySpace.
	FirstKey int
	// SeqKeys picks key (request number % KeySpace) instead of a uniformly
	// random key.
	SeqKeys bool
	// Preload writes every key of the key space once before timing starts, for
	// the workloads that need existing keys (range, delete, txn-cas).
	Preload bool

	// Total is the number of requests to issue; 0 means no limit (then
	// Duration must be set).
	Total int64
	// Duration bounds the timed run; 0 means no limit (then Total must be
	// set). With both set the run stops at whichever comes first.
	Duration time.Duration
	// Rate is the target request rate in requests per second over all
	// clients; 0 means as fast as the clients go.
	Rate float64

	// Consistency is the range workload's read consistency: Linearizable or
	// Serializable.
	Consistency string

	// Watchers is the watch workload's number of watchers, spread over the
	// connections (watcher i on connection i % Conns).
	Watchers int
	// WatchPrefix makes the watchers watch a prefix, and the writer put keys
	// of the key space under it, instead of all watching one key.
	WatchPrefix bool
	// Writers is the watch workload's number of concurrent writers, each
	// with one put in flight (1: events/s is bound by one put's latency,
	// mostly an fsync; more: by delivery).
	Writers int

	// RequestTimeout bounds each request. A request that times out counts as
	// an error.
	RequestTimeout time.Duration
	// DialTimeout bounds the connection set-up.
	DialTimeout time.Duration

	// MaxExactSamples is how many latency samples are kept exactly (8 bytes
	// each). Beyond it, samples go to a log-linear histogram with under 0.4 %
	// relative error and the result is marked inexact.
	MaxExactSamples int64
}

// Default returns the defaults of the cairn-bench flags.
func Default() Config {
	return Config{
		Endpoints:       []string{"127.0.0.1:2379"},
		Conns:           1,
		Clients:         1,
		KeySize:         8,
		ValSize:         256,
		KeySpace:        10000,
		Preload:         true,
		Total:           10000,
		Consistency:     Linearizable,
		Watchers:        1000,
		Writers:         1,
		RequestTimeout:  10 * time.Second,
		DialTimeout:     5 * time.Second,
		MaxExactSamples: 16 << 20,
	}
}

// Validate reports the first inconsistency in c.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case len(c.Endpoints) == 0:
		return bad("no endpoints")
	case c.Conns < 1:
		return bad("conns must be at least 1, got %d", c.Conns)
	case c.Clients < 1:
		return bad("clients must be at least 1, got %d", c.Clients)
	case c.KeySize < 1:
		return bad("key-size must be at least 1, got %d", c.KeySize)
	case c.ValSize < 0:
		return bad("val-size must not be negative, got %d", c.ValSize)
	case c.KeySpace < 1:
		return bad("key-space must be at least 1, got %d", c.KeySpace)
	case c.FirstKey < 0 || c.FirstKey >= c.KeySpace:
		return bad("first-key must be in [0, key-space %d), got %d", c.KeySpace, c.FirstKey)
	case c.FirstKey != 0 && !c.SeqKeys:
		return bad("first-key needs seq-keys")
	case c.KeySize < 19 && int64(c.KeySpace) > int64(math.Pow10(c.KeySize)):
		return bad("key-space %d needs keys longer than key-size %d", c.KeySpace, c.KeySize)
	case c.Total < 0:
		return bad("total must not be negative, got %d", c.Total)
	case c.Duration < 0:
		return bad("duration must not be negative, got %s", c.Duration)
	case c.Total == 0 && c.Duration == 0:
		return bad("set total or duration")
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return bad("rate must be a non-negative number, got %v", c.Rate)
	case c.Consistency != Linearizable && c.Consistency != Serializable:
		return bad("consistency must be %q or %q, got %q", Linearizable, Serializable, c.Consistency)
	case c.Writers < 1:
		return bad("writers must be at least 1, got %d", c.Writers)
	case c.Watchers < 1:
		return bad("watchers must be at least 1, got %d", c.Watchers)
	case c.RequestTimeout <= 0:
		return bad("request timeout must be positive, got %s", c.RequestTimeout)
	case c.DialTimeout <= 0:
		return bad("dial timeout must be positive, got %s", c.DialTimeout)
	case c.MaxExactSamples < 0:
		return bad("max exact samples must not be negative, got %d", c.MaxExactSamples)
	}
	return nil
}
