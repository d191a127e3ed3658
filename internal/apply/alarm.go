package apply

import (
	"encoding/binary"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

var alarmPrefix = []byte("m/alarms/")

func alarmKey(member uint64, t pb.AlarmType) []byte {
	k := make([]byte, len(alarmPrefix)+12)
	copy(k, alarmPrefix)
	binary.BigEndian.PutUint64(k[len(alarmPrefix):], member)
	binary.BigEndian.PutUint32(k[len(alarmPrefix)+8:], uint32(t))
	return k
}

// Alarms is the replicated set of raised alarms. Changes come from apply;
// reads from anywhere.
type Alarms struct {
	mu struct {
		sync.RWMutex
		set map[alarmID]bool
	}
}

type alarmID struct {
	member uint64
	t      pb.AlarmType
}

// LoadAlarms reads the raised alarms.
func LoadAlarms(db pebble.Reader) (*Alarms, error) {
	a := &Alarms{}
	return a, a.Reload(db)
}

// Reload rereads the alarms (after a snapshot install).
func (a *Alarms) Reload(db pebble.Reader) error {
	set := map[alarmID]bool{}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: alarmPrefix, UpperBound: []byte("m/alarms0")})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()[len(alarmPrefix):]
		if len(k) == 12 {
			set[alarmID{binary.BigEndian.Uint64(k), pb.AlarmType(binary.BigEndian.Uint32(k[8:]))}] = true
		}
	}
	a.mu.Lock()
	a.mu.set = set
	a.mu.Unlock()
	return it.Error()
}

// List returns the raised alarms of member (0 = all) and type (NONE = all),
// ordered by member then type.
func (a *Alarms) List(member uint64, t pb.AlarmType) []*pb.AlarmMember {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []*pb.AlarmMember
	for id := range a.mu.set {
		if (member == 0 || id.member == member) && (t == pb.AlarmType_NONE || id.t == t) {
			out = append(out, &pb.AlarmMember{MemberID: id.member, Alarm: id.t})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].MemberID != out[j].MemberID {
			return out[i].MemberID < out[j].MemberID
		}
		return out[i].Alarm < out[j].Alarm
	})
	return out
}

// Has reports whether an alarm of type t is raised on any member.
func (a *Alarms) Has(t pb.AlarmType) bool { return len(a.List(0, t)) > 0 }

// apply raises or clears an alarm in b; it returns the alarms it changed.
func (a *Alarms) apply(b *pebble.Batch, r *pb.AlarmRequest) []*pb.AlarmMember {
	switch r.Action {
	case pb.AlarmRequest_GET:
		return a.List(r.MemberID, r.Alarm)
	case pb.AlarmRequest_ACTIVATE:
		if r.Alarm == pb.AlarmType_NONE {
			return nil
		}
		if err := b.Set(alarmKey(r.MemberID, r.Alarm), nil, nil); err != nil {
			panic(err)
		}
		a.mu.Lock()
		a.mu.set[alarmID{r.MemberID, r.Alarm}] = true
		a.mu.Unlock()
		return []*pb.AlarmMember{{MemberID: r.MemberID, Alarm: r.Alarm}}
	case pb.AlarmRequest_DEACTIVATE:
		var changed []*pb.AlarmMember
		for _, am := range a.List(r.MemberID, r.Alarm) {
			if err := b.Delete(alarmKey(am.MemberID, am.Alarm), nil); err != nil {
				panic(err)
			}
			a.mu.Lock()
			delete(a.mu.set, alarmID{am.MemberID, am.Alarm})
			a.mu.Unlock()
			changed = append(changed, am)
		}
		return changed
	}
	return nil
}
