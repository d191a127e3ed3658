package storage

import (
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// walPreallocCap bounds how much disk space pebble reserves ahead of a WAL
// in one go. Pebble reserves 110% of the memtable size (35 MiB here) at
// each step, and keeps several WALs (a short-lived one per memtable while
// memtables grow from 256 KiB at start, and recycled ones), so an idle data
// dir holding a few MiB of log showed over 200 MiB of disk blocks. A few
// MiB ahead keep what preallocation buys (the next writes find their
// blocks reserved) at a fraction of the space.
const walPreallocCap = 4 << 20

// capPreallocFS hands pebble WAL files whose Preallocate reserves at most
// walPreallocCap at a time.
type capPreallocFS struct{ vfs.FS }

func (fs capPreallocFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return wrapWAL(name, f), err
}

func (fs capPreallocFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return wrapWAL(newname, f), err
}

func wrapWAL(name string, f vfs.File) vfs.File {
	if f == nil || !strings.HasSuffix(name, ".log") {
		return f
	}
	return capPreallocFile{f}
}

type capPreallocFile struct{ vfs.File }

func (f capPreallocFile) Preallocate(offset, length int64) error {
	return f.File.Preallocate(offset, min(length, walPreallocCap))
}
