package robustness

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// OpKind is the kind of a client operation the model knows.
type OpKind uint8

const (
	// OpGet is a linearizable Range of one key (Input.Key) or of the whole
	// key set (Input.Key empty).
	OpGet OpKind = iota
	// OpPut puts Input.Key=Input.Value, attached to Input.Lease if non-zero.
	OpPut
	// OpDelete deletes the single key Input.Key.
	OpDelete
	// OpTxn is a compare-and-swap: if mod_revision(Key) == Expect (0: the
	// key is absent) then put Key=Value, else get Key.
	OpTxn
	// OpGrant grants lease Input.Lease (the client picks the ID).
	OpGrant
	// OpRevoke revokes lease Input.Lease, deleting its keys.
	OpRevoke
	// OpSerialGet is a serializable Range of the whole key set. It is not
	// part of the linearizability check: serializable reads may be stale.
	// They are checked against the store's history instead.
	OpSerialGet
)

var opNames = [...]string{"get", "put", "delete", "txn", "lease-grant", "lease-revoke", "serializable-get"}

func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return fmt.Sprintf("op(%d)", k)
}

// writes reports whether an operation of this kind may change the store.
func (k OpKind) writes() bool {
	return k == OpPut || k == OpDelete || k == OpTxn || k == OpRevoke || k == OpGrant
}

// Input is what a client asked.
type Input struct {
	Kind   OpKind
	Key    string // "" in a Get: the whole key set
	Value  string
	Lease  int64
	Expect int64
}

// Output is what a client was told. An Output with Unknown set stands for a
// request whose outcome the client does not know (timeout, lost
// connection): the model lets it take effect at any point after its call,
// and porcupine, which gives it an infinite return time, may place it after
// every other operation, which is the same as "it never happened".
type Output struct {
	Unknown       bool
	LeaseNotFound bool // a definite "requested lease not found" (decided at apply)
	Rev           int64
	KVs           []KeyValue // Get; Txn whose compare failed
	Deleted       int64      // Delete
	Succeeded     bool       // Txn
}

// KeyValue is one key as Range returns it.
type KeyValue struct {
	Key       string
	Value     string
	CreateRev int64
	ModRev    int64
	Version   int64
	Lease     int64
}

func (kv KeyValue) String() string {
	s := fmt.Sprintf("%s=%s@%d(c%d,v%d)", kv.Key, kv.Value, kv.ModRev, kv.CreateRev, kv.Version)
	if kv.Lease != 0 {
		s += fmt.Sprintf("[l%x]", kv.Lease)
	}
	return s
}

// State is the model's state: the revision, the keys and the leases. It is
// treated as immutable: Step copies what it changes.
type State struct {
	Rev    int64
	KVs    map[string]KeyValue
	Leases map[int64]bool
}

// NewState returns a state at rev holding kvs and leases.
func NewState(rev int64, kvs []KeyValue, leases []int64) State {
	s := State{Rev: rev, KVs: map[string]KeyValue{}, Leases: map[int64]bool{}}
	for _, kv := range kvs {
		s.KVs[kv.Key] = kv
	}
	for _, l := range leases {
		s.Leases[l] = true
	}
	return s
}

// read returns the keys a Get of key ("" for all) sees, in key order.
func (s State) read(key string) []KeyValue {
	if key != "" {
		if kv, ok := s.KVs[key]; ok {
			return []KeyValue{kv}
		}
		return nil
	}
	keys := slices.Sorted(maps.Keys(s.KVs))
	out := make([]KeyValue, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.KVs[k])
	}
	return out
}

func (s State) withKVs() State {
	return State{Rev: s.Rev, KVs: maps.Clone(s.KVs), Leases: s.Leases}
}

// put returns the state after putting key=value (attached to lease) as a
// new revision.
func (s State) put(key, value string, lease int64) State {
	n := s.withKVs()
	n.Rev++
	kv := KeyValue{Key: key, Value: value, CreateRev: n.Rev, ModRev: n.Rev, Version: 1, Lease: lease}
	if old, ok := s.KVs[key]; ok {
		kv.CreateRev = old.CreateRev
		kv.Version = old.Version + 1
	}
	n.KVs[key] = kv
	return n
}

// Apply returns the state after in and the output a client would get.
func (s State) Apply(in Input) (State, Output) {
	switch in.Kind {
	case OpGet:
		return s, Output{Rev: s.Rev, KVs: s.read(in.Key)}
	case OpPut:
		if in.Lease != 0 && !s.Leases[in.Lease] {
			return s, Output{LeaseNotFound: true}
		}
		n := s.put(in.Key, in.Value, in.Lease)
		return n, Output{Rev: n.Rev}
	case OpDelete:
		if _, ok := s.KVs[in.Key]; !ok {
			return s, Output{Rev: s.Rev}
		}
		n := s.withKVs()
		n.Rev++
		delete(n.KVs, in.Key)
		return n, Output{Rev: n.Rev, Deleted: 1}
	case OpTxn:
		if s.KVs[in.Key].ModRev != in.Expect {
			return s, Output{Rev: s.Rev, KVs: s.read(in.Key)}
		}
		n := s.put(in.Key, in.Value, 0)
		return n, Output{Rev: n.Rev, Succeeded: true}
	case OpGrant:
		n := State{Rev: s.Rev, KVs: s.KVs, Leases: maps.Clone(s.Leases)}
		n.Leases[in.Lease] = true
		return n, Output{Rev: s.Rev}
	case OpRevoke:
		if !s.Leases[in.Lease] {
			return s, Output{LeaseNotFound: true}
		}
		n := State{Rev: s.Rev, KVs: s.KVs, Leases: maps.Clone(s.Leases)}
		delete(n.Leases, in.Lease)
		deleted := false
		for k, kv := range s.KVs {
			if kv.Lease == in.Lease {
				if !deleted {
					n.KVs = maps.Clone(s.KVs)
					n.Rev++
					deleted = true
				}
				delete(n.KVs, k)
			}
		}
		return n, Output{Rev: n.Rev}
	}
	panic(fmt.Sprintf("robustness: model cannot apply %v", in.Kind))
}

// Step is the model's transition: ok reports whether a client could have
// been told out for in at state s.
func (s State) Step(in Input, out Output) (bool, State) {
	n, want := s.Apply(in)
	if out.Unknown {
		return true, n
	}
	if want.LeaseNotFound || out.LeaseNotFound {
		return want.LeaseNotFound == out.LeaseNotFound, n
	}
	if want.Rev != out.Rev || want.Deleted != out.Deleted || want.Succeeded != out.Succeeded {
		return false, n
	}
	if in.Kind == OpGet || (in.Kind == OpTxn && !want.Succeeded) {
		if !slices.Equal(want.KVs, out.KVs) {
			return false, n
		}
	}
	return true, n
}

// Equal compares two states.
func (s State) Equal(o State) bool {
	return s.Rev == o.Rev && maps.Equal(s.KVs, o.KVs) && maps.Equal(s.Leases, o.Leases)
}

// Hash is consistent with Equal.
func (s State) Hash() uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|", s.Rev)
	for _, kv := range s.read("") {
		fmt.Fprintf(h, "%s|", kv)
	}
	for _, l := range slices.Sorted(maps.Keys(s.Leases)) {
		fmt.Fprintf(h, "%d,", l)
	}
	return h.Sum64()
}

func (s State) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rev %d {", s.Rev)
	for i, kv := range s.read("") {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(kv.String())
	}
	b.WriteString("} leases [")
	for i, l := range slices.Sorted(maps.Keys(s.Leases)) {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%x", l)
	}
	b.WriteString("]")
	return b.String()
}

// DescribeOp renders an operation for the visualization and reports.
func DescribeOp(in Input, out Output) string {
	var req string
	switch in.Kind {
	case OpGet, OpSerialGet:
		k := in.Key
		if k == "" {
			k = "*"
		}
		req = fmt.Sprintf("%v(%s)", in.Kind, k)
	case OpPut:
		req = fmt.Sprintf("put(%s=%s", in.Key, in.Value)
		if in.Lease != 0 {
			req += fmt.Sprintf(", lease %x", in.Lease)
		}
		req += ")"
	case OpDelete:
		req = fmt.Sprintf("delete(%s)", in.Key)
	case OpTxn:
		req = fmt.Sprintf("txn(if mod(%s)==%d then put %s=%s else get)", in.Key, in.Expect, in.Key, in.Value)
	case OpGrant, OpRevoke:
		req = fmt.Sprintf("%v(%x)", in.Kind, in.Lease)
	}
	switch {
	case out.Unknown:
		return req + " -> unknown"
	case out.LeaseNotFound:
		return req + " -> lease not found"
	}
	res := fmt.Sprintf("rev %d", out.Rev)
	switch in.Kind {
	case OpGet, OpSerialGet:
		res += fmt.Sprintf(" %v", out.KVs)
	case OpDelete:
		res += fmt.Sprintf(" deleted %d", out.Deleted)
	case OpTxn:
		if out.Succeeded {
			res += " succeeded"
		} else {
			res += fmt.Sprintf(" failed %v", out.KVs)
		}
	}
	return req + " -> " + res
}

// NewModel returns the porcupine model of the key set starting at init.
func NewModel(init State) porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return init },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			return state.(State).Step(input.(Input), output.(Output))
		},
		Equal: func(a, b interface{}) bool { return a.(State).Equal(b.(State)) },
		Hash:  func(s interface{}) uint64 { return s.(State).Hash() },
		DescribeOperation: func(input, output interface{}) string {
			return DescribeOp(input.(Input), output.(Output))
		},
		DescribeState: func(s interface{}) string { return s.(State).String() },
		DescribeOperationMetadata: func(info interface{}) string {
			if info == nil {
				return ""
			}
			return fmt.Sprint(info)
		},
	}
}
