package ctl

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Output formats of -w/--write-out.
const (
	FormatSimple   = "simple"
	FormatJSON     = "json"
	FormatFields   = "fields"
	FormatProtobuf = "protobuf"
	FormatTable    = "table"
)

// Printer writes command results in one of etcdctl's output formats. The
// layouts are etcdctl 3.6's byte for byte; see the package comment.
//
// Every method returns an ExitErr with ExitBadFeature when the format does
// not apply to that result (etcdctl's "table not supported as output
// format"), and nothing is written then.
type Printer struct {
	Format string
	// Hex prints keys and values as \x-escaped hex (simple), and IDs in hex
	// (fields, and json of member list).
	Hex bool
	// ValueOnly prints only the values of key-values (get
	// --print-value-only; simple format only).
	ValueOnly bool
	Out       io.Writer
	// Err receives the lines etcdctl writes to stderr, such as an
	// unhealthy endpoint.
	Err io.Writer
}

// NewPrinter checks format and returns a printer for it.
func NewPrinter(format string, isHex bool, out, errOut io.Writer) (*Printer, error) {
	switch format {
	case FormatSimple, FormatJSON, FormatFields, FormatProtobuf, FormatTable:
	default:
		return nil, Exit(ExitBadFeature, errors.New("unsupported output format"))
	}
	return &Printer{Format: format, Hex: isHex, Out: out, Err: errOut}, nil
}

func (p *Printer) unsupported() error {
	return Exitf(ExitBadFeature, "%s not supported as output format", p.Format)
}

func (p *Printer) printf(format string, args ...any) { fmt.Fprintf(p.Out, format, args...) }
func (p *Printer) println(args ...any)               { fmt.Fprintln(p.Out, args...) }

// json writes v as etcdctl does: encoding/json of the Go response struct
// (proto field names, int64 as numbers, bytes as base64), one line.
func (p *Printer) json(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return Exit(ExitError, err)
	}
	_, err = fmt.Fprintln(p.Out, string(b))
	return err
}

type pbMarshaler interface{ Marshal() ([]byte, error) }

// protobuf writes the wire encoding of v, with no separator.
func (p *Printer) protobuf(v any) error {
	m, ok := v.(pbMarshaler)
	if !ok {
		return Exitf(ExitBadFeature, "marshal unsupported for type %T (%v)", v, v)
	}
	b, err := m.Marshal()
	if err != nil {
		return Exit(ExitError, err)
	}
	_, err = p.Out.Write(b)
	return err
}

// rpc prints a plain gRPC response in json or protobuf; simple, fields and
// table are the caller's.
func (p *Printer) rpc(v any) error {
	switch p.Format {
	case FormatJSON:
		return p.json(v)
	case FormatProtobuf:
		return p.protobuf(v)
	}
	return p.unsupported()
}

// HexBytes is etcdctl's --hex rendering of a byte string: each byte as \xNN.
func HexBytes(b []byte) string {
	h := hex.EncodeToString(b)
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		sb.WriteString(`\x`)
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}

// kv prints a key-value in the simple format: the key line (unless
// ValueOnly), then the value line.
func (p *Printer) kv(kv *mvccpb.KeyValue) {
	k, v := string(kv.Key), string(kv.Value)
	if p.Hex {
		k, v = HexBytes(kv.Key), HexBytes(kv.Value)
	}
	if !p.ValueOnly {
		p.println(k)
	}
	p.println(v)
}

// fieldsHdr prints a response header in the fields format. The revision is
// left out when 0: it only means something for key-value responses.
func (p *Printer) fieldsHdr(h *pb.ResponseHeader) {
	if h == nil {
		h = &pb.ResponseHeader{}
	}
	if p.Hex {
		p.println(`"ClusterID" :`, fmt.Sprintf("%x", h.ClusterId))
		p.println(`"MemberID" :`, fmt.Sprintf("%x", h.MemberId))
	} else {
		p.println(`"ClusterID" :`, h.ClusterId)
		p.println(`"MemberID" :`, h.MemberId)
	}
	if h.Revision > 0 {
		p.println(`"Revision" :`, h.Revision)
	}
	p.println(`"RaftTerm" :`, h.RaftTerm)
}

func (p *Printer) fieldsKV(pfx string, kv *mvccpb.KeyValue) {
	p.printf("\"%sKey\" : %q\n", pfx, string(kv.Key))
	p.printf("\"%sCreateRevision\" : %d\n", pfx, kv.CreateRevision)
	p.printf("\"%sModRevision\" : %d\n", pfx, kv.ModRevision)
	p.printf("\"%sVersion\" : %d\n", pfx, kv.Version)
	p.printf("\"%sValue\" : %q\n", pfx, string(kv.Value))
	if p.Hex {
		p.printf("\"%sLease\" : %016x\n", pfx, kv.Lease)
	} else {
		p.printf("\"%sLease\" : %d\n", pfx, kv.Lease)
	}
}

// fieldsID prints an ID line: decimal, or with --hex as %x (pad16 selects
// %016x, used for lease IDs).
func (p *Printer) fieldsID(name string, id uint64, pad16 bool) {
	switch {
	case p.Hex && pad16:
		p.printf("\"%s\" : %016x\n", name, id)
	case p.Hex:
		p.printf("\"%s\" : %x\n", name, id)
	default:
		p.printf("\"%s\" : %d\n", name, id)
	}
}

// Get prints a range response.
func (p *Printer) Get(r *clientv3.GetResponse) error {
	switch p.Format {
	case FormatSimple:
		for _, kv := range r.Kvs {
			p.kv(kv)
		}
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		for _, kv := range r.Kvs {
			p.fieldsKV("", kv)
		}
		p.println(`"More" :`, r.More)
		p.println(`"Count" :`, r.Count)
		return nil
	}
	return p.rpc((*pb.RangeResponse)(r))
}

// Put prints a put response.
func (p *Printer) Put(r *clientv3.PutResponse) error {
	switch p.Format {
	case FormatSimple:
		p.println("OK")
		if r.PrevKv != nil {
			p.kv(r.PrevKv)
		}
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		if r.PrevKv != nil {
			p.fieldsKV("Prev", r.PrevKv)
		}
		return nil
	}
	return p.rpc((*pb.PutResponse)(r))
}

// Del prints a delete-range response.
func (p *Printer) Del(r *clientv3.DeleteResponse) error {
	switch p.Format {
	case FormatSimple:
		p.println(r.Deleted)
		for _, kv := range r.PrevKvs {
			p.kv(kv)
		}
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		p.println(`"Deleted" :`, r.Deleted)
		for _, kv := range r.PrevKvs {
			p.fieldsKV("Prev", kv)
		}
		return nil
	}
	return p.rpc((*pb.DeleteRangeResponse)(r))
}

// Txn prints a txn response: SUCCESS or FAILURE, then each operation's
// output after a blank line.
func (p *Printer) Txn(r *clientv3.TxnResponse) error {
	switch p.Format {
	case FormatSimple:
		if r.Succeeded {
			p.println("SUCCESS")
		} else {
			p.println("FAILURE")
		}
		for _, op := range r.Responses {
			p.println()
			p.txnOp(op)
		}
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		p.println(`"Succeeded" :`, r.Succeeded)
		for _, op := range r.Responses {
			p.txnOp(op)
		}
		return nil
	}
	return p.rpc((*pb.TxnResponse)(r))
}

func (p *Printer) txnOp(op *pb.ResponseOp) {
	switch v := op.Response.(type) {
	case *pb.ResponseOp_ResponseDeleteRange:
		p.Del((*clientv3.DeleteResponse)(v.ResponseDeleteRange))
	case *pb.ResponseOp_ResponsePut:
		p.Put((*clientv3.PutResponse)(v.ResponsePut))
	case *pb.ResponseOp_ResponseRange:
		p.Get((*clientv3.GetResponse)(v.ResponseRange))
	case *pb.ResponseOp_ResponseTxn:
		p.Txn((*clientv3.TxnResponse)(v.ResponseTxn))
	default:
		if p.Format == FormatFields {
			p.printf("\"Unknown\" : %q\n", fmt.Sprintf("%+v", v))
		} else {
			p.printf("unexpected response %+v\n", op)
		}
	}
}

// Watch prints one watch response: per event its type, the previous
// key-value if asked for, then the key-value.
func (p *Printer) Watch(r clientv3.WatchResponse) error {
	switch p.Format {
	case FormatSimple:
		for _, e := range r.Events {
			p.println(e.Type)
			if e.PrevKv != nil {
				p.kv(e.PrevKv)
			}
			p.kv(e.Kv)
		}
		return nil
	case FormatFields:
		p.fieldsHdr(&r.Header)
		for _, e := range r.Events {
			p.println(`"Type" :`, e.Type)
			if e.PrevKv != nil {
				p.fieldsKV("Prev", e.PrevKv)
			}
			p.fieldsKV("", e.Kv)
		}
		return nil
	case FormatJSON:
		return p.json(&r)
	case FormatProtobuf:
		evs := make([]*mvccpb.Event, len(r.Events))
		for i, ev := range r.Events {
			evs[i] = (*mvccpb.Event)(ev)
		}
		hdr := r.Header
		return p.protobuf(&pb.WatchResponse{Header: &hdr, Events: evs, CompactRevision: r.CompactRevision,
			Canceled: r.Canceled, Created: r.Created})
	}
	return p.unsupported()
}

// Grant prints a lease grant.
func (p *Printer) Grant(r *clientv3.LeaseGrantResponse) error {
	switch p.Format {
	case FormatSimple:
		p.printf("lease %016x granted with TTL(%ds)\n", r.ID, r.TTL)
		return nil
	case FormatFields:
		p.fieldsHdr(r.ResponseHeader)
		p.fieldsID("ID", uint64(r.ID), true)
		p.println(`"TTL" :`, r.TTL)
		return nil
	case FormatJSON:
		return p.json(*r)
	}
	return p.rpc(*r)
}

// Revoke prints a lease revocation.
func (p *Printer) Revoke(id clientv3.LeaseID, r *clientv3.LeaseRevokeResponse) error {
	switch p.Format {
	case FormatSimple:
		p.printf("lease %016x revoked\n", id)
		return nil
	case FormatFields:
		p.fieldsHdr(r.Header)
		return nil
	}
	return p.rpc((*pb.LeaseRevokeResponse)(r))
}

// KeepAlive prints one keep-alive response.
func (p *Printer) KeepAlive(r *clientv3.LeaseKeepAliveResponse) error {
	switch p.Format {
	case FormatSimple:
		p.printf("lease %016x keepalived with TTL(%d)\n", r.ID, r.TTL)
		return nil
	case FormatFields:
		p.fieldsHdr(r.ResponseHeader)
		p.fieldsID("ID", uint64(r.ID), true)
		p.println(`"TTL" :`, r.TTL)
		return nil
	case FormatJSON:
		return p.json(*r)
	}
	return p.rpc(*r)
}

// TimeToLive prints a lease's remaining time, and its keys when asked.
func (p *Printer) TimeToLive(r *clientv3.LeaseTimeToLiveResponse, keys bool) error {
	switch p.Format {
	case FormatSimple:
		if r.GrantedTTL == 0 && r.TTL == -1 {
			p.printf("lease %016x already expired\n", r.ID)
			return nil
		}
		txt := fmt.Sprintf("lease %016x granted with TTL(%ds), remaining(%ds)", r.ID, r.GrantedTTL, r.TTL)
		if keys {
			ks := make([]string, len(r.Keys))
			for i := range r.Keys {
				ks[i] = string(r.Keys[i])
			}
			txt += fmt.Sprintf(", attached keys(%v)", ks)
		}
		p.println(txt)
		return nil
	case FormatFields:
		p.fieldsHdr(r.ResponseHeader)
		p.fieldsID("ID", uint64(r.ID), true)
		p.println(`"TTL" :`, r.TTL)
		p.println(`"GrantedTTL" :`, r.GrantedTTL)
		for _, k := range r.Keys {
			p.printf("\"Key\" : %q\n", string(k))
		}
		return nil
	case FormatJSON:
		return p.json(r)
	}
	return p.rpc(r)
}

// Leases prints the lease list.
func (p *Printer) Leases(r *clientv3.LeaseLeasesResponse) error {
	switch p.Format {
	case FormatSimple:
		p.printf("found %d leases\n", len(r.Leases))
		for _, l := range r.Leases {
			p.printf("%016x\n", l.ID)
		}
		return nil
	case FormatFields:
		p.fieldsHdr(r.ResponseHeader)
		for _, l := range r.Leases {
			p.fieldsID("ID", uint64(l.ID), true)
		}
		return nil
	case FormatJSON:
		return p.json(r)
	}
	return p.rpc(r)
}
