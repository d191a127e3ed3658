package server

import (
	"context"
	"errors"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/mvcc"
)

// runAutoCompaction is etcd's --auto-compaction-mode/-retention, run by the
// leader:
//   - periodic, retention d: every d/10 (at most every hour) it compacts to
//     the revision the store had d ago, from revisions it sampled;
//   - revision, retention n: every 5 minutes it compacts to current - n.
func (s *Server) runAutoCompaction() {
	defer s.wg.Done()
	period, keep, err := s.cfg.CompactionRetention()
	if err != nil || (period == 0 && keep == 0) {
		return
	}
	interval := 5 * time.Minute
	if period > 0 {
		interval = period / 10
		if period >= time.Hour {
			interval = time.Hour / 10
		}
		if interval < time.Second {
			interval = time.Second
		}
	}
	s.lg.Info("auto compaction enabled", zap.String("mode", s.cfg.AutoCompactionMode), zap.String("retention", s.cfg.AutoCompactionRetention), zap.Duration("interval", interval))
	type sample struct {
		at  time.Time
		rev int64
	}
	var samples []sample
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stopc:
			return
		case <-t.C:
		}
		if !s.node.IsLeader() {
			samples = nil
			continue
		}
		now := time.Now()
		cur := s.rev()
		var target int64
		if period > 0 {
			samples = append(samples, sample{now, cur})
			// The newest sample at least `period` old is the target.
			i := 0
			for i < len(samples) && now.Sub(samples[i].at) >= period {
				target = samples[i].rev
				i++
			}
			if i > 0 {
				samples = samples[i-1:]
			}
		} else {
			target = cur - keep
		}
		if target <= 0 || target <= s.compactRev() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.reqTimeout)
		_, err := s.Compact(ctx, &pb.CompactionRequest{Revision: target})
		cancel()
		switch {
		case err == nil:
			s.lg.Info("completed auto compaction", zap.Int64("revision", target))
		case errors.Is(err, mvcc.ErrCompacted):
		default:
			s.lg.Warn("auto compaction failed", zap.Int64("revision", target), zap.Error(err))
		}
	}
}
