package mvcc

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package free of network and RPC code: it is the
// deterministic state machine core.
func TestImports(t *testing.T) {
	banned := []string{"net", "google.golang.org/grpc", "go.etcd.io/etcd/server", "go.etcd.io/raft", "math/rand", "time"}
	allowTime := map[string]bool{"compact.go": true} // the compactor's retry backoff and logs
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := f.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, b := range banned {
				if path == b || strings.HasPrefix(path, b+"/") {
					if b == "time" && allowTime[name] {
						continue
					}
					t.Errorf("%s imports %s", name, path)
				}
			}
		}
	}
}
