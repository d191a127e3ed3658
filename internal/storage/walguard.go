package storage

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The WAL guard. Pebble replays whatever WAL files it finds at open; if the
// one in use was deleted it opens without it, silently dropping every write
// that was only in that WAL (acknowledged and fsynced writes, and the raft
// term and vote). To refuse such a data dir, the number of each WAL pebble
// creates is recorded in walGuardFile; at open, a WAL numbered at least
// that must still be there. Pebble deletes a WAL only after a newer one
// exists, so the check never refuses a sound data dir; a guard that lags by
// one WAL (a crash right after a rotation) only narrows what it detects.
const walGuardFile = "CAIRN-WAL-GUARD"

func walGuardListener(fs vfs.FS, dir string) *pebble.EventListener {
	return &pebble.EventListener{
		WALCreated: func(info pebble.WALCreateInfo) {
			// A failure here is not fatal: the guard is a check, not data.
			_ = writeWALGuard(fs, dir, uint64(info.FileNum))
		},
	}
}

func writeWALGuard(fs vfs.FS, dir string, num uint64) error {
	tmp := fs.PathJoin(dir, walGuardFile+".tmp")
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, strconv.FormatUint(num, 10)+"\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return fs.Rename(tmp, fs.PathJoin(dir, walGuardFile))
}

// checkWALGuard refuses a database whose newest recorded WAL is gone.
func checkWALGuard(fs vfs.FS, dir string) error {
	f, err := fs.Open(fs.PathJoin(dir, walGuardFile))
	if err != nil {
		return nil // a new data dir, or one from before the guard
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("storage: read %s: %w", fs.PathJoin(dir, walGuardFile), err)
	}
	want, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return fmt.Errorf("storage: %s is damaged (%q); the data dir is damaged: restore it from a backup or a healthy member", fs.PathJoin(dir, walGuardFile), b)
	}
	names, err := fs.List(dir)
	if err != nil {
		return fmt.Errorf("storage: list %s: %w", dir, err)
	}
	for _, n := range names {
		num, ok := strings.CutSuffix(n, ".log")
		if !ok {
			continue
		}
		if v, err := strconv.ParseUint(num, 10, 64); err == nil && v >= want {
			return nil
		}
	}
	return fmt.Errorf("storage: open %s: the write-ahead log %06d.log is missing, so the writes it held would be lost (the data dir is damaged; restore it from a backup or a healthy member)", dir, want)
}
