package storage

import (
	"io"
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

// zeros is what the space ahead of a new WAL is filled with.
var zeros [1 << 20]byte

// Preallocate reserves the next walPreallocCap bytes of a WAL by writing
// zeros past its end and syncing them once, rather than with fallocate's
// KEEP_SIZE: then each record's fdatasync finds its blocks written and the
// file long enough, and flushes data only, where otherwise it also commits
// the new file size and the extents' conversion to the journal (on ext4 a
// 1 KiB append plus fdatasync measured 225-235 µs with KEEP_SIZE, 175 µs
// into written zeros). Pebble reads the zeros after the last record as the
// end of the log, as it does the old records of a recycled WAL, which keeps
// its size and is left alone here. If the zeros cannot be written (a full
// disk), it falls back to reserving what the file system allows.
func (f capPreallocFile) Preallocate(offset, length int64) error {
	length = min(length, walPreallocCap)
	end := offset + length
	fi, err := f.File.Stat()
	if err != nil {
		return f.File.Preallocate(offset, length)
	}
	// Pebble asks for space from where it reserved last; records may
	// already be written there. Only past the file's end is free.
	from := max(offset, fi.Size())
	if from >= end {
		return nil
	}
	if err := WriteZeros(f.File, from, end); err != nil {
		return f.File.Preallocate(offset, length)
	}
	return f.File.Sync()
}

// WriteZeros writes zeros over [from, to) of f.
func WriteZeros(f io.WriterAt, from, to int64) error {
	for off := from; off < to; {
		n := min(to-off, int64(len(zeros)))
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}
