package auth

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// tokens are etcd's simple tokens: an opaque string naming a user and the
// auth revision at which it was made, valid until unused for the TTL.
type tokens struct {
	ttl   time.Duration
	mu    sync.Mutex
	m     map[string]*tokenInfo
	stopc chan struct{}
	done  chan struct{}
	once  sync.Once
}

type tokenInfo struct {
	AuthInfo
	expiry time.Time
}

func newTokens(ttlSeconds int) *tokens {
	if ttlSeconds <= 0 {
		ttlSeconds = 300
	}
	t := &tokens{ttl: time.Duration(ttlSeconds) * time.Second, m: map[string]*tokenInfo{}, stopc: make(chan struct{}), done: make(chan struct{})}
	go t.sweep()
	return t
}

func (t *tokens) sweep() {
	defer close(t.done)
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for {
		select {
		case <-t.stopc:
			return
		case now := <-tk.C:
			t.mu.Lock()
			for k, v := range t.m {
				if now.After(v.expiry) {
					delete(t.m, k)
				}
			}
			t.mu.Unlock()
		}
	}
}

func (t *tokens) stop() {
	t.once.Do(func() { close(t.stopc) })
	<-t.done
}

func (t *tokens) clear() {
	t.mu.Lock()
	t.m = map[string]*tokenInfo{}
	t.mu.Unlock()
}

func (t *tokens) dropUser(name string) {
	t.mu.Lock()
	for k, v := range t.m {
		if v.Username == name {
			delete(t.m, k)
		}
	}
	t.mu.Unlock()
}

const tokenLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// NewSimpleToken makes a token for a proposal: 16 random letters and the
// raft request ID, as etcd's simple tokens look.
func NewSimpleToken(reqID uint64) (string, error) {
	b := make([]byte, 16)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(tokenLetters))))
		if err != nil {
			return "", err
		}
		b[i] = tokenLetters[n.Int64()]
	}
	return fmt.Sprintf("%s.%d", b, reqID), nil
}

// Assign records a token (apply path, on every member). The expiry is local
// time: tokens are a member-local cache of a replicated fact.
func (s *Store) Assign(token, user string) {
	rev := s.Revision()
	s.tokens.mu.Lock()
	s.tokens.m[token] = &tokenInfo{AuthInfo: AuthInfo{Username: user, Revision: rev}, expiry: time.Now().Add(s.tokens.ttl)}
	s.tokens.mu.Unlock()
}

// Lookup resolves a token and extends its life.
func (s *Store) Lookup(token string) (AuthInfo, error) {
	s.tokens.mu.Lock()
	defer s.tokens.mu.Unlock()
	v, ok := s.tokens.m[token]
	if !ok {
		return AuthInfo{}, ErrInvalidAuthToken
	}
	v.expiry = time.Now().Add(s.tokens.ttl)
	return v.AuthInfo, nil
}
