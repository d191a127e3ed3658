package lease

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDependencies polices the package's imports and code: the clock is injected (Config.Clock), and it does no network or raft I/O.
func TestDependencies(t *testing.T) {
	banned := []string{"net", "google.golang.org/grpc", "go.etcd.io/etcd/server", "go.etcd.io/raft", "math/rand", "crypto/rand", "os"}
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

// allowTimeNow permits time.Now only in realClock.Now, the default Clock.
func allowTimeNow(_ string, af *ast.File, sel *ast.SelectorExpr) bool {
	for _, d := range af.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv == nil || fd.Name.Name != "Now" || len(fd.Recv.List) != 1 {
			continue
		}
		if id, ok := fd.Recv.List[0].Type.(*ast.Ident); ok && id.Name == "realClock" && fd.Pos() <= sel.Pos() && sel.End() <= fd.End() {
			return true
		}
	}
	return false
}
