package ctl

import (
	"bufio"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The configuration guide's txn heredoc (section 7), byte for byte: the
// -i prompts as headings, an unquoted 0 and no final blank line. etcdctl
// rejects it; cairnctl takes it.
const guideTxn = `compares:
version("/config/api/lock") = 0

success requests:
put /config/api/lock "acquired"

failure requests:
get /config/api/lock
`

// etcdctl's strict form of the same transaction.
const strictTxn = "version(\"/config/api/lock\") = \"0\"\n\nput /config/api/lock \"acquired\"\n\nget /config/api/lock\n\n"

func readTxn(t *testing.T, in string, prompts *[]string) *Txn {
	t.Helper()
	var prompt func(string)
	if prompts != nil {
		prompt = func(s string) { *prompts = append(*prompts, s) }
	}
	txn, err := ReadTxn(bufio.NewReader(strings.NewReader(in)), prompt)
	if err != nil {
		t.Fatalf("ReadTxn(%q): %v", in, err)
	}
	return txn
}

// checkLockTxn checks the guide's transaction: one version compare, a put
// on success, a get on failure.
func checkLockTxn(t *testing.T, txn *Txn) {
	t.Helper()
	if len(txn.Cmps) != 1 || len(txn.Then) != 1 || len(txn.Else) != 1 {
		t.Fatalf("got %d compares, %d success and %d failure requests, want 1 each", len(txn.Cmps), len(txn.Then), len(txn.Else))
	}
	c := txn.Cmps[0]
	if string(c.Key) != "/config/api/lock" || c.Target != pb.Compare_VERSION || c.Result != pb.Compare_EQUAL ||
		c.TargetUnion.(*pb.Compare_Version).Version != 0 {
		t.Errorf("compare %+v", c)
	}
	if !txn.Then[0].IsPut() || string(txn.Then[0].KeyBytes()) != "/config/api/lock" || string(txn.Then[0].ValueBytes()) != "acquired" {
		t.Errorf("success request %+v", txn.Then[0])
	}
	if !txn.Else[0].IsGet() || string(txn.Else[0].KeyBytes()) != "/config/api/lock" {
		t.Errorf("failure request %+v", txn.Else[0])
	}
}

func TestReadTxnGuideAndStrict(t *testing.T) {
	for name, in := range map[string]string{
		"guide":               guideTxn,
		"guide-no-newline":    strings.TrimSuffix(guideTxn, "\n"),
		"guide-crlf":          strings.ReplaceAll(guideTxn, "\n", "\r\n"),
		"strict":              strictTxn,
		"strict-no-final":     strings.TrimSuffix(strictTxn, "\n"),
		"prompts-verbatim":    "compares:\nversion(\"/config/api/lock\") = \"0\"\n\nsuccess requests (get, put, del):\nput /config/api/lock \"acquired\"\n\nfailure requests (get, put, del):\nget /config/api/lock\n\n",
		"headings-no-blanks":  "compares:\nversion(\"/config/api/lock\") = 0\nsuccess requests:\nput /config/api/lock acquired\nfailure requests:\nget /config/api/lock\n",
		"blank-after-heading": "compares:\n\nversion(\"/config/api/lock\") = 0\n\nsuccess requests:\n\nput /config/api/lock \"acquired\"\n\nfailure requests:\n\nget /config/api/lock\n",
		"short-headings":      "if:\nver(/config/api/lock) == 0\nthen:\nput /config/api/lock 'acquired'\nelse:\nget /config/api/lock\n",
		"comments":            "# take the lock\nversion(\"/config/api/lock\") = 0\n\n# success\nput /config/api/lock \"acquired\"\n\nget /config/api/lock\n",
	} {
		t.Run(name, func(t *testing.T) { checkLockTxn(t, readTxn(t, in, nil)) })
	}
}

func TestReadTxnPromptsInOrder(t *testing.T) {
	for _, in := range []string{strictTxn, guideTxn, "\n\n\n", "version(\"k\") = \"1\"\n"} {
		var prompts []string
		readTxn(t, in, &prompts)
		if strings.Join(prompts, "|") != strings.Join(TxnPrompts[:], "|") {
			t.Errorf("input %q: prompts %q", in, prompts)
		}
	}
}

func TestReadTxnStopsAtThirdBlankLine(t *testing.T) {
	// Anything after the strict form's end is not read: the command commits
	// without waiting for the end of its input.
	r := bufio.NewReader(strings.NewReader(strictTxn + "put not read\n"))
	txn, err := ReadTxn(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLockTxn(t, txn)
	rest, _ := r.ReadString('\n')
	if rest != "put not read\n" {
		t.Errorf("left %q unread, want the line after the txn", rest)
	}
}

func TestReadTxnEmptySections(t *testing.T) {
	txn := readTxn(t, "\nput a b\n\n\n", nil)
	if len(txn.Cmps) != 0 || len(txn.Then) != 1 || len(txn.Else) != 0 {
		t.Errorf("got %+v", txn)
	}
}

func TestReadTxnErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "no input",
		"bogus\n\n\n\n":                "malformed comparison: bogus",
		"version(\"k\") = x\n\n\n\n":   "invalid txn compare request",
		"value(\"k\") ~ \"v\"\n\n\n\n": "malformed comparison",
		"foo(\"k\") = \"v\"\n\n\n\n":   "unknown target foo",
		"\nput k\n\n\n":                "invalid txn request: put k",
		"\nfrob k v\n\n\n":             "invalid txn request: frob k v",
		"\nget --bogus k\n\n\n":        "invalid txn request",
		"\nput k \"open\n\n\n":         "invalid txn request",
	} {
		_, err := ReadTxn(bufio.NewReader(strings.NewReader(in)), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadTxn(%q) error %v, want %q", in, err, want)
			continue
		}
		if CodeOf(err) != ExitInvalidInput {
			t.Errorf("ReadTxn(%q) exit code %d, want %d", in, CodeOf(err), ExitInvalidInput)
		}
	}
}

func TestParseCompare(t *testing.T) {
	for _, c := range []struct {
		line   string
		target pb.Compare_CompareTarget
		result pb.Compare_CompareResult
	}{
		{`mod("key1") > "0"`, pb.Compare_MOD, pb.Compare_GREATER},
		{`m("key1") < "5"`, pb.Compare_MOD, pb.Compare_LESS},
		{`c("key1") = "3"`, pb.Compare_CREATE, pb.Compare_EQUAL},
		{`create("key1") != "3"`, pb.Compare_CREATE, pb.Compare_NOT_EQUAL},
		{`val("key1") = "v"`, pb.Compare_VALUE, pb.Compare_EQUAL},
		{`value("key1") != v`, pb.Compare_VALUE, pb.Compare_NOT_EQUAL},
		{`ver("key1") = "1"`, pb.Compare_VERSION, pb.Compare_EQUAL},
		{`lease("key1") = "694d77aa9e38260f"`, pb.Compare_LEASE, pb.Compare_EQUAL},
	} {
		cmp, err := ParseCompare(c.line)
		if err != nil {
			t.Errorf("ParseCompare(%q): %v", c.line, err)
			continue
		}
		if cmp.Target != c.target || cmp.Result != c.result || string(cmp.Key) != "key1" {
			t.Errorf("ParseCompare(%q) = %+v", c.line, cmp)
		}
	}
	cmp, _ := ParseCompare(`lease("k") = "694d77aa9e38260f"`)
	if got := cmp.TargetUnion.(*pb.Compare_Lease).Lease; got != 0x694d77aa9e38260f {
		t.Errorf("lease compare value %x", got)
	}
	cmp, _ = ParseCompare(`val("k\n") = "a b\tc"`)
	if string(cmp.Key) != "k\n" || string(cmp.TargetUnion.(*pb.Compare_Value).Value) != "a b\tc" {
		t.Errorf("escapes: %+v", cmp)
	}
}

func TestParseTxnOp(t *testing.T) {
	op, err := ParseTxnOp(`get a --prefix --limit=3`)
	if err != nil || !op.IsGet() || string(op.RangeBytes()) != "b" {
		t.Errorf("get --prefix: %+v, %v", op, err)
	}
	op, err = ParseTxnOp(`put k v --lease=1f --prev-kv`)
	if err != nil || !op.IsPut() || op.ValueBytes() == nil || string(op.ValueBytes()) != "v" {
		t.Errorf("put: %+v, %v", op, err)
	}
	op, err = ParseTxnOp(`del k --prefix`)
	if err != nil || !op.IsDelete() || string(op.RangeBytes()) != "l" {
		t.Errorf("del --prefix: %+v, %v", op, err)
	}
	if _, err = ParseTxnOp(`delete k`); err != nil {
		t.Errorf("delete alias: %v", err)
	}
	var _ clientv3.Op = op
}
