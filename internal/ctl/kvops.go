package ctl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// GetOptions are the flags of `get`, also accepted by get lines of txn.
type GetOptions struct {
	Consistency    string
	Order          string
	SortBy         string
	Limit          int64
	Prefix         bool
	FromKey        bool
	Rev            int64
	KeysOnly       bool
	CountOnly      bool
	PrintValueOnly bool
	MinModRev      int64
	MaxModRev      int64
	MinCreateRev   int64
	MaxCreateRev   int64
}

// AddFlags defines the get flags on fs with etcdctl's names and defaults.
func (o *GetOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Consistency, "consistency", "l", "Linearizable(l) or Serializable(s)")
	fs.StringVar(&o.Order, "order", "", "Order of results; ASCEND or DESCEND (ASCEND by default)")
	fs.StringVar(&o.SortBy, "sort-by", "", "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION")
	fs.Int64Var(&o.Limit, "limit", 0, "Maximum number of results")
	fs.BoolVar(&o.Prefix, "prefix", false, "Get keys with matching prefix")
	fs.BoolVar(&o.FromKey, "from-key", false, "Get keys that are greater than or equal to the given key using byte compare")
	fs.Int64Var(&o.Rev, "rev", 0, "Specify the kv revision")
	fs.BoolVar(&o.KeysOnly, "keys-only", false, "Get only the keys")
	fs.BoolVar(&o.CountOnly, "count-only", false, "Get only the count")
	fs.BoolVar(&o.PrintValueOnly, "print-value-only", false, `Only write values when using the "simple" output format`)
	fs.Int64Var(&o.MinModRev, "min-mod-rev", 0, "Minimum modify revision")
	fs.Int64Var(&o.MaxModRev, "max-mod-rev", 0, "Maximum modify revision")
	fs.Int64Var(&o.MinCreateRev, "min-create-rev", 0, "Minimum create revision")
	fs.Int64Var(&o.MaxCreateRev, "max-create-rev", 0, "Maximum create revision")
}

// Op builds the range request from the positional arguments
// (<key> [range_end]).
func (o *GetOptions) Op(args []string) (string, []clientv3.OpOption, error) {
	if len(args) == 0 || len(args) > 2 {
		return "", nil, Exitf(ExitBadArgs, "get command needs one argument as key and an optional argument as range_end")
	}
	if o.Prefix && o.FromKey {
		return "", nil, Exitf(ExitBadArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one")
	}
	if o.KeysOnly && o.CountOnly {
		return "", nil, Exitf(ExitBadArgs, "`--keys-only` and `--count-only` cannot be set at the same time, choose one")
	}
	var opts []clientv3.OpOption
	switch o.Consistency {
	case "s":
		opts = append(opts, clientv3.WithSerializable())
	case "l":
	default:
		return "", nil, Exitf(ExitBadFeature, "unknown consistency flag %q", o.Consistency)
	}
	key := args[0]
	if len(args) > 1 {
		if o.Prefix || o.FromKey {
			return "", nil, Exitf(ExitBadArgs, "too many arguments, only accept one argument when `--prefix` or `--from-key` is set")
		}
		opts = append(opts, clientv3.WithRange(args[1]))
	}
	opts = append(opts, clientv3.WithLimit(o.Limit))
	if o.Rev > 0 {
		opts = append(opts, clientv3.WithRev(o.Rev))
	}
	order := clientv3.SortNone
	switch strings.ToUpper(o.Order) {
	case "ASCEND":
		order = clientv3.SortAscend
	case "DESCEND":
		order = clientv3.SortDescend
	case "":
	default:
		return "", nil, Exitf(ExitBadFeature, "bad sort order %v", o.Order)
	}
	target := clientv3.SortByKey
	switch strings.ToUpper(o.SortBy) {
	case "CREATE":
		target = clientv3.SortByCreateRevision
	case "KEY":
		target = clientv3.SortByKey
	case "MODIFY":
		target = clientv3.SortByModRevision
	case "VALUE":
		target = clientv3.SortByValue
	case "VERSION":
		target = clientv3.SortByVersion
	case "":
	default:
		return "", nil, Exitf(ExitBadFeature, "bad sort target %v", o.SortBy)
	}
	opts = append(opts, clientv3.WithSort(target, order))
	if o.Prefix {
		if len(key) == 0 {
			key = "\x00"
			opts = append(opts, clientv3.WithFromKey())
		} else {
			opts = append(opts, clientv3.WithPrefix())
		}
	}
	if o.FromKey {
		if len(key) == 0 {
			key = "\x00"
		}
		opts = append(opts, clientv3.WithFromKey())
	}
	if o.KeysOnly {
		opts = append(opts, clientv3.WithKeysOnly())
	}
	if o.CountOnly {
		opts = append(opts, clientv3.WithCountOnly())
	}
	if o.MinCreateRev > 0 {
		opts = append(opts, clientv3.WithMinCreateRev(o.MinCreateRev))
	}
	if o.MaxCreateRev > 0 {
		opts = append(opts, clientv3.WithMaxCreateRev(o.MaxCreateRev))
	}
	if o.MinModRev > 0 {
		opts = append(opts, clientv3.WithMinModRev(o.MinModRev))
	}
	if o.MaxModRev > 0 {
		opts = append(opts, clientv3.WithMaxModRev(o.MaxModRev))
	}
	return key, opts, nil
}

// PutOptions are the flags of `put`, also accepted by put lines of txn.
type PutOptions struct {
	Lease       string
	PrevKV      bool
	IgnoreValue bool
	IgnoreLease bool
}

// AddFlags defines the put flags on fs.
func (o *PutOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Lease, "lease", "0", "lease ID (in hexadecimal) to attach to the key")
	fs.BoolVar(&o.PrevKV, "prev-kv", false, "return the previous key-value pair before modification")
	fs.BoolVar(&o.IgnoreValue, "ignore-value", false, "updates the key using its current value")
	fs.BoolVar(&o.IgnoreLease, "ignore-lease", false, "updates the key using its current lease")
}

// errPutArgs is etcdctl's message for a put without its arguments.
var errPutArgs = errors.New("put command needs 1 argument and input from stdin or 2 arguments")

// Op builds the put request from <key> [value]. stdin supplies the value
// when it is not an argument (nil: the value is required).
func (o *PutOptions) Op(args []string, stdin func() (string, error)) (string, string, []clientv3.OpOption, error) {
	if len(args) == 0 {
		return "", "", nil, Exit(ExitBadArgs, errPutArgs)
	}
	key := args[0]
	if o.IgnoreValue && len(args) > 1 {
		return "", "", nil, Exitf(ExitBadArgs, "put command needs only 1 argument when 'ignore-value' is set")
	}
	var value string
	if !o.IgnoreValue {
		switch {
		case len(args) > 1:
			value = args[1]
		case stdin != nil:
			v, err := stdin()
			if err != nil || v == "" {
				return "", "", nil, Exit(ExitBadArgs, errPutArgs)
			}
			value = v
		default:
			return "", "", nil, Exit(ExitBadArgs, errPutArgs)
		}
	}
	id, err := strconv.ParseInt(o.Lease, 16, 64)
	if err != nil {
		return "", "", nil, Exitf(ExitBadArgs, "bad lease ID (%v), expecting ID in Hex", err)
	}
	var opts []clientv3.OpOption
	if id != 0 {
		opts = append(opts, clientv3.WithLease(clientv3.LeaseID(id)))
	}
	if o.PrevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if o.IgnoreValue {
		opts = append(opts, clientv3.WithIgnoreValue())
	}
	if o.IgnoreLease {
		opts = append(opts, clientv3.WithIgnoreLease())
	}
	return key, value, opts, nil
}

// DelOptions are the flags of `del`, also accepted by del lines of txn.
type DelOptions struct {
	Prefix  bool
	PrevKV  bool
	FromKey bool
	Range   bool
}

// AddFlags defines the del flags on fs.
func (o *DelOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.Prefix, "prefix", false, "delete keys with matching prefix")
	fs.BoolVar(&o.PrevKV, "prev-kv", false, "return deleted key-value pairs")
	fs.BoolVar(&o.FromKey, "from-key", false, "delete keys that are greater than or equal to the given key using byte compare")
	fs.BoolVar(&o.Range, "range", false, "delete range of keys")
}

// Op builds the delete request from <key> [range_end].
func (o *DelOptions) Op(args []string) (string, []clientv3.OpOption, error) {
	if len(args) == 0 || len(args) > 2 {
		return "", nil, Exitf(ExitBadArgs, "del command needs one argument as key and an optional argument as range_end")
	}
	if o.Prefix && o.FromKey {
		return "", nil, Exitf(ExitBadArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one")
	}
	var opts []clientv3.OpOption
	key := args[0]
	if len(args) > 1 {
		if o.Prefix || o.FromKey {
			return "", nil, Exitf(ExitBadArgs, "too many arguments, only accept one argument when `--prefix` or `--from-key` is set")
		}
		opts = append(opts, clientv3.WithRange(args[1]))
	}
	if o.Prefix {
		if len(key) == 0 {
			key = "\x00"
			opts = append(opts, clientv3.WithFromKey())
		} else {
			opts = append(opts, clientv3.WithPrefix())
		}
	}
	if o.PrevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if o.FromKey {
		if len(key) == 0 {
			key = "\x00"
		}
		opts = append(opts, clientv3.WithFromKey())
	}
	return key, opts, nil
}

// ImplicitRangeWarning is what `del <key> <range_end>` without --range
// prints on stderr (etcdctl 3.5 warns too; 3.6 also waits two seconds).
func ImplicitRangeWarning(key, end string) string {
	return fmt.Sprintf("Warning: keys from %q up to %q will be deleted; add `--range` to say this is meant.\n", key, end)
}
