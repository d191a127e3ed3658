package robustness

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cairndb/cairn/tests/framework"
)

// A full disk is made for real: the member's data dir moves onto a tmpfs
// of its own (mounted by the harness, which needs root), and a filler file
// then takes every free byte of it. Without root the fault is skipped and
// the run says so.

// tmpfs is a small file system mounted for one member's data dir.
type tmpfs struct {
	dir string // mount point
}

func (t *tmpfs) dataDir() string { return filepath.Join(t.dir, "data") }
func (t *tmpfs) filler() string  { return filepath.Join(t.dir, "filler") }

// mountTmpfs mounts a tmpfs of size bytes at a new directory under parent.
func mountTmpfs(parent string, size int64) (*tmpfs, error) {
	dir, err := os.MkdirTemp(parent, "tmpfs-")
	if err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("size=%d,mode=0700", size)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("mount -t tmpfs -o %s tmpfs %s: %w", opts, dir, err)
	}
	return &tmpfs{dir: dir}, nil
}

// unmount detaches the file system; a process still using it keeps it
// until it exits.
func (t *tmpfs) unmount() error {
	if err := syscall.Unmount(t.dir, syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("umount %s: %w", t.dir, err)
	}
	return os.Remove(t.dir)
}

// fill writes a filler file until the file system has no space left.
func (t *tmpfs) fill() (int64, error) {
	f, err := os.OpenFile(t.filler(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for i := 0; i < 1<<16; i++ {
		w, err := f.Write(buf)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			// Take the last partial page too.
			for j := 0; j < 1<<12; j++ {
				w, err = f.Write(buf[:512])
				n += int64(w)
				if err != nil {
					break
				}
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, errors.New("robustness: the tmpfs never filled up")
}

func (t *tmpfs) free() error {
	err := os.Remove(t.filler())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// copyTree copies the regular files and directories under src to dst.
func copyTree(src, dst string) (int64, error) {
	var total int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		n, err := io.Copy(out, in)
		total += n
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	})
	return total, err
}

// diskFull fills the disk under m's data dir while the clients run, frees
// it, and brings the member back if it stopped. The first time, it moves
// the member's data dir onto a tmpfs of its own.
func (n *nemesis) diskFull(rec *FaultRecord, m *member) error {
	rec.Targets = []string{m.name}
	if n.r.noTmpfs != "" {
		rec.Detail = "skipped: " + n.r.noTmpfs
		return nil
	}
	fsys := n.r.tmpfs[m.idx]
	if fsys == nil {
		// Move the data dir: stop the member (a crash is fine), copy, and
		// start it on the copy.
		if err := m.fm.Signal(syscall.SIGKILL); err != nil {
			return err
		}
		if _, err := m.fm.WaitExit(framework.DefaultStopTimeout); err != nil {
			return err
		}
		size := int64(512 << 20)
		if used, err := dirSize(m.fm.DataDir); err == nil && 4*used > size {
			size = 4 * used
		}
		var err error
		fsys, err = mountTmpfs(n.r.scratch, size)
		if err != nil {
			n.r.noTmpfs = err.Error()
			n.notef("disk-full faults are skipped: %v", err)
			rec.Detail = "skipped: " + err.Error()
			return n.r.launch(m)
		}
		n.r.tmpfs[m.idx] = fsys
		if _, err := copyTree(m.fm.DataDir, fsys.dataDir()); err != nil {
			return fmt.Errorf("copying %s onto the tmpfs: %w", m.fm.DataDir, err)
		}
		m.fm.DataDir = fsys.dataDir()
		if err := n.r.launch(m); err != nil {
			return err
		}
	}
	filled, err := fsys.fill()
	if err != nil {
		return fmt.Errorf("filling %s: %w", fsys.dir, err)
	}
	d := time.Duration(2000+n.rng.IntN(3000)) * time.Millisecond
	exited := false
	select {
	case <-m.fm.Exited():
		exited = true
	case <-time.After(d):
	}
	if err := fsys.free(); err != nil {
		return err
	}
	how := "kept running"
	if exited {
		how = fmt.Sprintf("exited (%v): %s", m.fm.ProcessState(), lastMeaningfulLine(m.fm))
		if err := n.r.launch(m); err != nil {
			return fmt.Errorf("restart after the disk was freed: %w", err)
		}
	}
	rec.Detail = fmt.Sprintf("filled %s (%d MiB filler) for up to %v; the member %s; space freed", fsys.dir, filled>>20, d.Round(time.Millisecond), how)
	if exited && strings.Contains(how, "panic") {
		n.notef("%s stopped on a full disk with a Go panic rather than a clear error: %s", m.name, lastMeaningfulLine(m.fm))
	}
	return nil
}

func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			total += info.Size()
		}
		return nil
	})
	return total, err
}

// lastMeaningfulLine is the first "panic:" line of the member's last run,
// or its last line that says error, to describe how it ended.
func lastMeaningfulLine(m *framework.Member) string {
	b, _ := os.ReadFile(m.LogPath)
	s := string(b)
	if i := strings.LastIndex(s, "=== framework: launch #"); i >= 0 {
		s = s[i:]
	}
	lines := strings.Split(s, "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") {
			return l
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "error") {
			return truncate(lines[i], 300)
		}
	}
	return "(no error in the log)"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
