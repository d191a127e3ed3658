package storage

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func logFiles(t *testing.T, fs vfs.FS, dir string) []string {
	t.Helper()
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var logs []string
	for _, n := range names {
		if strings.HasSuffix(n, ".log") {
			logs = append(logs, n)
		}
	}
	slices.Sort(logs)
	return logs
}

// Reopening a sound database many times, across WAL rotations, never trips
// the guard; deleting the live WAL always does, naming the file.
func TestWALGuard(t *testing.T) {
	fs := vfs.NewMem()
	dir := DBDir("/data")
	for round := 0; round < 5; round++ {
		db, err := Open("/data", Options{FS: fs})
		if err != nil {
			t.Fatalf("round %d: reopen of a sound data dir refused: %v", round, err)
		}
		for i := 0; i < 50; i++ {
			if err := db.Set(fmt.Appendf(nil, "k%d-%d", round, i), []byte("v"), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}
		if round%2 == 1 {
			if err := db.Flush(); err != nil { // rotates the WAL
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	logs := logFiles(t, fs, dir)
	if len(logs) == 0 {
		t.Fatal("no WAL file in the database")
	}
	live := logs[len(logs)-1]
	if err := fs.Remove(fs.PathJoin(dir, live)); err != nil {
		t.Fatal(err)
	}
	_, err := Open("/data", Options{FS: fs})
	if err == nil {
		t.Fatalf("opened with the live WAL %s deleted", live)
	}
	if !strings.Contains(err.Error(), live+" is missing") {
		t.Errorf("error %q does not name the missing %s", err, live)
	}
}

// A damaged guard file is refused with an error naming it.
func TestWALGuardDamaged(t *testing.T) {
	fs := vfs.NewMem()
	db, err := Open("/data", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	f, err := fs.Create(fs.PathJoin(DBDir("/data"), walGuardFile), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("garbage"))
	f.Close()
	if _, err := Open("/data", Options{FS: fs}); err == nil || !strings.Contains(err.Error(), walGuardFile) {
		t.Fatalf("damaged guard: got %v, want an error naming %s", err, walGuardFile)
	}
}
