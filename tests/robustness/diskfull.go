package robustness

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/cairndb/cairn/tests/framework"
)

// A full disk is made for real: the member's data dir moves onto a tmpfs
// of its own (mounted by the harness, which needs root), and a filler file
// then takes every free byte of it. Without root the fault is skipped and
// the run says so. Every tmpfs is unmounted when the test ends, after the
// members on it are stopped.

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

// grow resizes the file system to size bytes.
func (t *tmpfs) grow(size int64) error {
	if err := syscall.Mount("tmpfs", t.dir, "tmpfs", syscall.MS_REMOUNT, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		return fmt.Errorf("mount -o remount,size=%d %s: %w", size, t.dir, err)
	}
	return nil
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
// it, and brings the member back if it stopped.
//
// Pebble preallocates its WAL ahead of the writes (Cairn caps that at
// 4 MiB, internal/storage/prealloc.go), so a member writes on into space
// it reserved before the disk filled. The fault therefore moves the member
// (SIGKILL, copy, restart) onto a new tmpfs with 32 MiB free, where the
// filler takes every free byte: the WAL has little reserved, and a full
// disk stops the member soon. Afterwards the tmpfs grows, so the member
// does not run out of space by itself before it is moved again.
func (n *nemesis) diskFull(rec *FaultRecord, m *member) error {
	rec.Targets = []string{m.name}
	if n.r.noTmpfs != "" {
		rec.Detail = "skipped: " + n.r.noTmpfs
		return nil
	}
	if err := m.fm.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	if _, err := m.fm.WaitExit(framework.DefaultStopTimeout); err != nil {
		return err
	}
	used, err := dirSize(m.fm.DataDir)
	if err != nil {
		return err
	}
	fsys, err := mountTmpfs(n.r.scratch, (used+32<<20+4095)&^4095)
	if err != nil {
		n.r.noTmpfs = err.Error()
		n.notef("no-tmpfs", "disk-full faults are skipped: %v", err)
		rec.Detail = "skipped: " + err.Error()
		return n.r.launch(m)
	}
	n.r.tmpfsMounts = append(n.r.tmpfsMounts, fsys)
	if _, err := copyTree(m.fm.DataDir, fsys.dataDir()); err != nil {
		return fmt.Errorf("copying %s onto the tmpfs: %w", m.fm.DataDir, err)
	}
	old := n.r.tmpfs[m.idx]
	n.r.tmpfs[m.idx] = fsys
	m.fm.DataDir = fsys.dataDir()
	if old != nil {
		if err := old.unmount(); err != nil {
			return err
		}
		n.r.tmpfsMounts = slices.DeleteFunc(n.r.tmpfsMounts, func(x *tmpfs) bool { return x == old })
	}
	if err := n.r.launch(m); err != nil {
		return fmt.Errorf("starting %s on the tmpfs: %w", m.name, err)
	}

	// A filler keeps taking every byte that becomes free until the fault
	// ends, as another process filling the disk would.
	stopFill := make(chan struct{})
	fillDone := make(chan error, 1)
	var filled int64
	go func() {
		var err error
		for i := 0; i < 100000; i++ {
			var n int64
			n, err = fsys.fill()
			filled += n
			if err != nil {
				break
			}
			select {
			case <-stopFill:
				fillDone <- nil
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		<-stopFill
		fillDone <- err
	}()
	d := time.Duration(2000+n.rng.IntN(3000)) * time.Millisecond
	var steps []string
	select {
	case <-m.fm.Exited():
		steps = append(steps, fmt.Sprintf("exited (%v): %s", m.fm.ProcessState(), lastMeaningfulLine(m.fm)))
	case <-time.After(d):
		steps = append(steps, fmt.Sprintf("kept running for %v on the full disk", d.Round(time.Millisecond)))
	}
	close(stopFill)
	fillErr := <-fillDone
	if err := fsys.free(); err != nil {
		return err
	}
	if fillErr != nil {
		return fmt.Errorf("filling %s: %w", fsys.dir, fillErr)
	}
	if err := fsys.grow(1 << 30); err != nil {
		return err
	}
	if !m.fm.Running() {
		if err := n.r.launch(m); err != nil {
			return fmt.Errorf("restart after the disk was freed: %w", err)
		}
		steps = append(steps, "restarted after the space was freed")
	}
	rec.Detail = fmt.Sprintf("filled %s (%d MiB filler); the member %s", fsys.dir, filled>>20, strings.Join(steps, "; "))
	for _, s := range steps {
		if strings.Contains(s, "panic:") || strings.Contains(s, "fatal error:") {
			n.notef("diskfull-panic", "%s stopped on a full disk with a Go panic and stack trace rather than a clear error: %s", m.name, s)
			break
		}
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
		if strings.Contains(lines[i], "error") || strings.Contains(lines[i], `"fatal"`) {
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
