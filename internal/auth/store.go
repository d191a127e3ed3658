// Package auth keeps etcd's users, roles and permissions, and the tokens
// that authenticated clients carry.
//
// The replicated part changes only in the apply path (deterministic; every
// change bumps the auth revision). Password hashing (bcrypt, slow) happens
// before proposing, on the member that got the request, so apply only
// stores hashes. Tokens are etcd's "simple" tokens: made by the member that
// checked the password, then recorded on every member through raft, each
// expiring after --auth-token-ttl seconds unused.
//
// Keys (prefix "a/", replicated state):
//
//	"a/enabled"      1 byte
//	"a/rev"          auth revision, 8 bytes big-endian
//	"a/u/" + name    authpb.User (password hash, roles)
//	"a/r/" + name    authpb.Role (permissions)
package auth

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/crypto/bcrypt"
)

// RootUser and RootRole are etcd's administrator user and role.
const (
	RootUser = "root"
	RootRole = "root"
)

// Errors, each mapped by the api package to etcd's exact gRPC error.
var (
	ErrRootUserNotExist     = errors.New("auth: root user does not exist")
	ErrRootRoleNotExist     = errors.New("auth: root user does not have root role")
	ErrUserEmpty            = errors.New("auth: user name is empty")
	ErrUserAlreadyExist     = errors.New("auth: user name already exists")
	ErrUserNotFound         = errors.New("auth: user name not found")
	ErrRoleEmpty            = errors.New("auth: role name is empty")
	ErrRoleAlreadyExist     = errors.New("auth: role name already exists")
	ErrRoleNotFound         = errors.New("auth: role name not found")
	ErrRoleNotGranted       = errors.New("auth: role is not granted to the user")
	ErrPermissionNotGranted = errors.New("auth: permission is not granted to the role")
	ErrAuthNotEnabled       = errors.New("auth: authentication is not enabled")
	ErrAuthFailed           = errors.New("auth: authentication failed, invalid user ID or password")
	ErrPermissionDenied     = errors.New("auth: permission denied")
	ErrInvalidAuthToken     = errors.New("auth: invalid auth token")
	ErrInvalidAuthMgmt      = errors.New("auth: invalid auth management")
	ErrAuthOldRevision      = errors.New("auth: revision of auth store is old")
)

var (
	keyEnabled = []byte("a/enabled")
	keyRev     = []byte("a/rev")
	userPrefix = []byte("a/u/")
	rolePrefix = []byte("a/r/")
)

// Store is the auth state of one member. Reads from any goroutine; changes
// from the apply goroutine (the Apply* methods), into the batch given.
type Store struct {
	mu struct {
		sync.RWMutex
		enabled bool
		rev     uint64
		users   map[string]*authpb.User
		roles   map[string]*authpb.Role
	}
	tokens *tokens
}

// Open loads the auth state (small: users and roles only).
func Open(db pebble.Reader, tokenTTLSeconds int) (*Store, error) {
	s := &Store{tokens: newTokens(tokenTTLSeconds)}
	return s, s.Reload(db)
}

// Reload rereads the state (after a snapshot install).
func (s *Store) Reload(db pebble.Reader) error {
	users := map[string]*authpb.User{}
	roles := map[string]*authpb.Role{}
	var enabled bool
	var rev uint64
	if v, c, err := db.Get(keyEnabled); err == nil {
		enabled = len(v) == 1 && v[0] == 1
		c.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	if v, c, err := db.Get(keyRev); err == nil {
		if len(v) == 8 {
			rev = binary.BigEndian.Uint64(v)
		}
		c.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	for _, p := range [][]byte{userPrefix, rolePrefix} {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		if err != nil {
			return err
		}
		for it.First(); it.Valid(); it.Next() {
			if bytes.Equal(p, userPrefix) {
				u := &authpb.User{}
				if err := u.Unmarshal(it.Value()); err != nil {
					it.Close()
					return fmt.Errorf("auth: user record %q is damaged: %w", it.Key(), err)
				}
				users[string(u.Name)] = u
			} else {
				r := &authpb.Role{}
				if err := r.Unmarshal(it.Value()); err != nil {
					it.Close()
					return fmt.Errorf("auth: role record %q is damaged: %w", it.Key(), err)
				}
				roles[string(r.Name)] = r
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.mu.enabled, s.mu.rev, s.mu.users, s.mu.roles = enabled, rev, users, roles
	s.mu.Unlock()
	return nil
}

// Close stops the token sweeper.
func (s *Store) Close() { s.tokens.stop() }

// Enabled reports whether authentication is on.
func (s *Store) Enabled() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.enabled
}

// Revision is the auth revision.
func (s *Store) Revision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.mu.rev
}

// HashPassword hashes a password for a proposal (not in apply: it is slow
// and random).
func HashPassword(password string, cost int) ([]byte, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	return bcrypt.GenerateFromPassword([]byte(password), cost)
}

// CheckPassword verifies a user's password against the local state.
func (s *Store) CheckPassword(name, password string) error {
	s.mu.RLock()
	u, ok := s.mu.users[name]
	s.mu.RUnlock()
	if !ok || (u.Options != nil && u.Options.NoPassword) || len(u.Password) == 0 {
		return ErrAuthFailed
	}
	if bcrypt.CompareHashAndPassword(u.Password, []byte(password)) != nil {
		return ErrAuthFailed
	}
	return nil
}

// --- apply path -----------------------------------------------------------

func (s *Store) bumpLocked(b *pebble.Batch) {
	s.mu.rev++
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], s.mu.rev)
	must(b.Set(keyRev, v[:], nil))
}

func must(err error) {
	if err != nil {
		panic(fmt.Sprintf("auth: write into the apply batch: %v", err))
	}
}

func (s *Store) putUserLocked(b *pebble.Batch, u *authpb.User) {
	v, err := u.Marshal()
	must(err)
	must(b.Set(append(append([]byte(nil), userPrefix...), u.Name...), v, nil))
	s.mu.users[string(u.Name)] = u
}

func (s *Store) putRoleLocked(b *pebble.Batch, r *authpb.Role) {
	v, err := r.Marshal()
	must(err)
	must(b.Set(append(append([]byte(nil), rolePrefix...), r.Name...), v, nil))
	s.mu.roles[string(r.Name)] = r
}

func hasRole(u *authpb.User, role string) bool {
	for _, r := range u.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Enable turns authentication on; root must exist and hold the root role.
func (s *Store) Enable(b *pebble.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.enabled {
		return nil
	}
	u, ok := s.mu.users[RootUser]
	if !ok {
		return ErrRootUserNotExist
	}
	if !hasRole(u, RootRole) {
		return ErrRootRoleNotExist
	}
	s.mu.enabled = true
	must(b.Set(keyEnabled, []byte{1}, nil))
	s.bumpLocked(b)
	return nil
}

// Disable turns authentication off.
func (s *Store) Disable(b *pebble.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mu.enabled {
		return
	}
	s.mu.enabled = false
	must(b.Set(keyEnabled, []byte{0}, nil))
	s.bumpLocked(b)
	s.tokens.clear()
}

// UserAdd adds a user with an already hashed password.
func (s *Store) UserAdd(b *pebble.Batch, r *pb.AuthUserAddRequest) error {
	if r.Name == "" {
		return ErrUserEmpty
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.users[r.Name]; ok {
		return ErrUserAlreadyExist
	}
	u := &authpb.User{Name: []byte(r.Name), Options: r.Options}
	if r.Options == nil || !r.Options.NoPassword {
		u.Password = []byte(r.HashedPassword)
	}
	s.putUserLocked(b, u)
	s.bumpLocked(b)
	return nil
}

// UserDelete removes a user.
func (s *Store) UserDelete(b *pebble.Batch, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.enabled && name == RootUser {
		return ErrInvalidAuthMgmt
	}
	if _, ok := s.mu.users[name]; !ok {
		return ErrUserNotFound
	}
	must(b.Delete(append(append([]byte(nil), userPrefix...), name...), nil))
	delete(s.mu.users, name)
	s.bumpLocked(b)
	s.tokens.dropUser(name)
	return nil
}

// UserChangePassword sets a user's (hashed) password.
func (s *Store) UserChangePassword(b *pebble.Batch, name string, hashed []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.mu.users[name]
	if !ok {
		return ErrUserNotFound
	}
	c := *u
	c.Password = hashed
	s.putUserLocked(b, &c)
	s.bumpLocked(b)
	s.tokens.dropUser(name)
	return nil
}

// UserGrantRole gives a user a role.
func (s *Store) UserGrantRole(b *pebble.Batch, name, role string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.mu.users[name]
	if !ok {
		return ErrUserNotFound
	}
	if _, ok := s.mu.roles[role]; !ok && role != RootRole {
		return ErrRoleNotFound
	}
	if hasRole(u, role) {
		return nil
	}
	c := *u
	c.Roles = append(append([]string(nil), u.Roles...), role)
	sort.Strings(c.Roles)
	s.putUserLocked(b, &c)
	s.bumpLocked(b)
	return nil
}

// UserRevokeRole takes a role from a user.
func (s *Store) UserRevokeRole(b *pebble.Batch, name, role string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.enabled && name == RootUser && role == RootRole {
		return ErrInvalidAuthMgmt
	}
	u, ok := s.mu.users[name]
	if !ok {
		return ErrUserNotFound
	}
	if !hasRole(u, role) {
		return ErrRoleNotGranted
	}
	c := *u
	c.Roles = nil
	for _, r := range u.Roles {
		if r != role {
			c.Roles = append(c.Roles, r)
		}
	}
	s.putUserLocked(b, &c)
	s.bumpLocked(b)
	return nil
}

// RoleAdd adds a role.
func (s *Store) RoleAdd(b *pebble.Batch, name string) error {
	if name == "" {
		return ErrRoleEmpty
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.roles[name]; ok {
		return ErrRoleAlreadyExist
	}
	s.putRoleLocked(b, &authpb.Role{Name: []byte(name)})
	s.bumpLocked(b)
	return nil
}

// RoleDelete removes a role, and takes it from every user.
func (s *Store) RoleDelete(b *pebble.Batch, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.enabled && name == RootRole {
		return ErrInvalidAuthMgmt
	}
	if _, ok := s.mu.roles[name]; !ok {
		return ErrRoleNotFound
	}
	must(b.Delete(append(append([]byte(nil), rolePrefix...), name...), nil))
	delete(s.mu.roles, name)
	names := make([]string, 0, len(s.mu.users))
	for n := range s.mu.users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u := s.mu.users[n]
		if hasRole(u, name) {
			c := *u
			c.Roles = nil
			for _, r := range u.Roles {
				if r != name {
					c.Roles = append(c.Roles, r)
				}
			}
			s.putUserLocked(b, &c)
		}
	}
	s.bumpLocked(b)
	return nil
}

// RoleGrantPermission adds (or replaces) a permission of a role.
func (s *Store) RoleGrantPermission(b *pebble.Batch, name string, p *authpb.Permission) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.mu.roles[name]
	if !ok {
		return ErrRoleNotFound
	}
	c := &authpb.Role{Name: r.Name}
	replaced := false
	for _, q := range r.KeyPermission {
		if bytes.Equal(q.Key, p.Key) && bytes.Equal(q.RangeEnd, p.RangeEnd) {
			c.KeyPermission = append(c.KeyPermission, &authpb.Permission{PermType: p.PermType, Key: p.Key, RangeEnd: p.RangeEnd})
			replaced = true
			continue
		}
		c.KeyPermission = append(c.KeyPermission, q)
	}
	if !replaced {
		c.KeyPermission = append(c.KeyPermission, &authpb.Permission{PermType: p.PermType, Key: p.Key, RangeEnd: p.RangeEnd})
	}
	sort.Slice(c.KeyPermission, func(i, j int) bool {
		if k := bytes.Compare(c.KeyPermission[i].Key, c.KeyPermission[j].Key); k != 0 {
			return k < 0
		}
		return bytes.Compare(c.KeyPermission[i].RangeEnd, c.KeyPermission[j].RangeEnd) < 0
	})
	s.putRoleLocked(b, c)
	s.bumpLocked(b)
	return nil
}

// RoleRevokePermission removes a permission from a role.
func (s *Store) RoleRevokePermission(b *pebble.Batch, name string, key, end []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.mu.roles[name]
	if !ok {
		return ErrRoleNotFound
	}
	c := &authpb.Role{Name: r.Name}
	found := false
	for _, q := range r.KeyPermission {
		if bytes.Equal(q.Key, key) && bytes.Equal(q.RangeEnd, end) {
			found = true
			continue
		}
		c.KeyPermission = append(c.KeyPermission, q)
	}
	if !found {
		return ErrPermissionNotGranted
	}
	s.putRoleLocked(b, c)
	s.bumpLocked(b)
	return nil
}

// --- reads ----------------------------------------------------------------

// User returns a copy of a user.
func (s *Store) User(name string) (*authpb.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.mu.users[name]
	if !ok {
		return nil, ErrUserNotFound
	}
	c := *u
	return &c, nil
}

// Users lists user names in order.
func (s *Store) Users() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.mu.users))
	for n := range s.mu.users {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Role returns a role's permissions; root has read-write on everything.
func (s *Store) Role(name string) ([]*authpb.Permission, error) {
	if name == RootRole {
		return []*authpb.Permission{{PermType: authpb.READWRITE, Key: []byte{}, RangeEnd: []byte{0}}}, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.mu.roles[name]
	if !ok {
		return nil, ErrRoleNotFound
	}
	return r.KeyPermission, nil
}

// Roles lists role names in order.
func (s *Store) Roles() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.mu.roles))
	for n := range s.mu.roles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
