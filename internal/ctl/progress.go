package ctl

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress draws a one-line progress bar on a terminal:
//
//	snapshot [=============>              ]  45% 12 MB / 27 MB  3.1 MB/s
//
// It redraws at most ten times a second, in place (\r). A nil *Progress,
// or one made with enabled false (stderr is not a terminal), does nothing,
// so callers never check. Methods may be called from any goroutine.
type Progress struct {
	mu      sync.Mutex
	w       io.Writer
	label   string
	total   int64
	cur     int64
	bytes   bool // show sizes and a rate rather than counts
	start   time.Time
	last    time.Time
	drawn   bool
	now     func() time.Time
	barSize int
}

// NewProgress returns a bar writing to w, or nil when not enabled. total
// may be 0 when unknown (no percentage is shown then); bytes selects byte
// units.
func NewProgress(w io.Writer, enabled bool, label string, total int64, bytes bool) *Progress {
	if !enabled {
		return nil
	}
	return &Progress{w: w, label: label, total: total, bytes: bytes, start: time.Now(), now: time.Now, barSize: 30}
}

// SetTotal changes the total once it becomes known.
func (p *Progress) SetTotal(total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.total = total
	p.mu.Unlock()
}

// Add advances the bar by n.
func (p *Progress) Add(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur += n
	p.drawLocked(false)
}

// Set moves the bar to n.
func (p *Progress) Set(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = n
	p.drawLocked(false)
}

// Label changes the text before the bar.
func (p *Progress) Label(s string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.label = s
	p.drawLocked(true)
}

// Done draws the final state and ends the line; clear erases the line
// instead, leaving the terminal as it was.
func (p *Progress) Done(clear bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if clear {
		if p.drawn {
			fmt.Fprint(p.w, "\r\033[K")
		}
		return
	}
	p.drawLocked(true)
	fmt.Fprintln(p.w)
}

func (p *Progress) drawLocked(force bool) {
	now := p.now()
	if !force && p.drawn && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last, p.drawn = now, true
	fmt.Fprint(p.w, "\r\033[K"+p.lineLocked(now))
}

func (p *Progress) lineLocked(now time.Time) string {
	var b strings.Builder
	b.WriteString(p.label)
	if p.total > 0 {
		frac := float64(p.cur) / float64(p.total)
		frac = min(max(frac, 0), 1)
		fill := int(frac * float64(p.barSize))
		b.WriteString(" [")
		b.WriteString(strings.Repeat("=", fill))
		if fill < p.barSize {
			b.WriteString(">")
			b.WriteString(strings.Repeat(" ", p.barSize-fill-1))
		}
		fmt.Fprintf(&b, "] %3.0f%%", frac*100)
	}
	el := now.Sub(p.start)
	if p.bytes {
		if p.total > 0 {
			fmt.Fprintf(&b, " %s / %s", Bytes(uint64(p.cur)), Bytes(uint64(p.total)))
		} else {
			fmt.Fprintf(&b, " %s", Bytes(uint64(p.cur)))
		}
		if el > 0 {
			fmt.Fprintf(&b, "  %s/s", Bytes(uint64(float64(p.cur)/el.Seconds())))
		}
	} else if p.total > 0 {
		fmt.Fprintf(&b, " %d/%d", p.cur, p.total)
	} else {
		fmt.Fprintf(&b, " %d", p.cur)
	}
	fmt.Fprintf(&b, " %s", el.Round(100*time.Millisecond))
	return b.String()
}
