package auth

import (
	"bytes"
	"sort"

	"go.etcd.io/etcd/api/v3/authpb"
)

// AuthInfo is who a request comes from, and the auth revision its token was
// made at.
type AuthInfo struct {
	Username string
	Revision uint64
}

// span is [key, end); end == nil means "to the end of the keyspace".
type span struct{ key, end []byte }

// toSpan turns etcd's (key, range_end) into a span: an empty range_end is
// the single key, "\x00" means every key from key on.
func toSpan(key, end []byte) span {
	switch {
	case len(end) == 0:
		return span{key, append(append([]byte(nil), key...), 0)}
	case len(end) == 1 && end[0] == 0:
		return span{key, nil}
	}
	return span{key, end}
}

// covered reports whether want lies inside the union of have.
func covered(have []span, want span) bool {
	if want.end != nil && bytes.Compare(want.key, want.end) >= 0 {
		return true // an empty range
	}
	sort.Slice(have, func(i, j int) bool { return bytes.Compare(have[i].key, have[j].key) < 0 })
	cur := want.key // every key below cur is covered
	for _, h := range have {
		if bytes.Compare(h.key, cur) > 0 {
			return false // nothing later starts at or before cur: a gap
		}
		if h.end == nil {
			return true
		}
		if bytes.Compare(h.end, cur) > 0 {
			cur = h.end
		}
		if want.end != nil && bytes.Compare(cur, want.end) >= 0 {
			return true
		}
	}
	return false
}

// IsAdmin reports whether user holds the root role.
func (s *Store) IsAdmin(user string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.mu.users[user]
	return ok && hasRole(u, RootRole)
}

// Permitted checks that user may access [key, end) for typ (READ or WRITE).
func (s *Store) Permitted(ai AuthInfo, key, end []byte, typ authpb.Permission_Type) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.mu.enabled {
		return nil
	}
	if ai.Username == "" {
		return ErrUserEmpty
	}
	if ai.Revision != 0 && ai.Revision < s.mu.rev {
		return ErrAuthOldRevision
	}
	u, ok := s.mu.users[ai.Username]
	if !ok {
		return ErrPermissionDenied
	}
	if hasRole(u, RootRole) {
		return nil
	}
	var have []span
	for _, rn := range u.Roles {
		r, ok := s.mu.roles[rn]
		if !ok {
			continue
		}
		for _, p := range r.KeyPermission {
			if p.PermType == authpb.READWRITE || p.PermType == typ {
				have = append(have, toSpan(p.Key, p.RangeEnd))
			}
		}
	}
	if covered(have, toSpan(key, end)) {
		return nil
	}
	return ErrPermissionDenied
}

// AdminPermitted checks that user may run an administrative request.
func (s *Store) AdminPermitted(ai AuthInfo) error {
	s.mu.RLock()
	enabled, rev := s.mu.enabled, s.mu.rev
	s.mu.RUnlock()
	if !enabled {
		return nil
	}
	if ai.Username == "" {
		return ErrUserEmpty
	}
	if ai.Revision != 0 && ai.Revision < rev {
		return ErrAuthOldRevision
	}
	if !s.IsAdmin(ai.Username) {
		return ErrPermissionDenied
	}
	return nil
}
