package framework

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// BinaryEnv names the environment variable that selects the server binary
// under test. Unset, the harness builds ./cmd/cairn.
const BinaryEnv = "CAIRN_TEST_BINARY"

var build struct {
	once sync.Once
	dir  string // temp dir holding the built binary; removed by RunMain
	path string
	err  error
}

// BinaryPath returns the server binary to run: $CAIRN_TEST_BINARY if set,
// otherwise ./cmd/cairn built from the module root into a temporary
// directory, once per test process. A failed build fails every caller.
func BinaryPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinaryEnv); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatalf("framework: %s=%q: %v", BinaryEnv, p, err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("framework: %s=%q: %v", BinaryEnv, p, err)
		}
		return abs
	}
	build.once.Do(func() { build.path, build.err = buildCairn() })
	if build.err != nil {
		t.Fatalf("framework: building the server: %v", build.err)
	}
	return build.path
}

func buildCairn() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "cairn-test-bin-")
	if err != nil {
		return "", err
	}
	build.dir = dir
	out := filepath.Join(dir, "cairn")
	cmd := exec.Command(goTool(), "build", "-o", out, "./cmd/cairn")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/cairn in %s: %w\n%s", root, err, b)
	}
	return out, nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if p := "/usr/local/go/bin/go"; fileExists(p) {
		return p
	}
	return "go"
}

// ModuleRoot walks up from the working directory to the directory holding
// go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("framework: no go.mod above the working directory")
		}
		dir = parent
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// RunMain runs the tests and then removes the binary BinaryPath built.
// Call it from TestMain:
//
//	func TestMain(m *testing.M) { framework.RunMain(m) }
func RunMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}
