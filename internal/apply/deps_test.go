package apply

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDependencies polices the package's imports and code: it is the deterministic state machine: no clock, randomness, network or goroutines (DESIGN §3, STYLE habit 1).
func TestDependencies(t *testing.T) {
	banned := []string{"net", "google.golang.org/grpc", "go.etcd.io/etcd/server", "go.etcd.io/raft", "math/rand", "crypto/rand", "time", "os"}
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := f.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, b := range banned {
				if path == b || strings.HasPrefix(path, b+"/") {
					t.Errorf("%s imports %s", name, path)
				}
			}
		}
		ast.Inspect(af, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s starts a goroutine at offset %d", name, n.Pos())
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok && id.Name == "time" && n.Sel.Name == "Now" && !allowTimeNow(name, af, n) {
					t.Errorf("%s reads the wall clock (time.Now) at offset %d; use the injected Clock", name, n.Pos())
				}
			}
			return true
		})
	}
}

func allowTimeNow(string, *ast.File, *ast.SelectorExpr) bool { return false }
