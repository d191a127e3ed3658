package server

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/errs"
	"github.com/cairndb/cairn/internal/version"
)

// Downgrade serves Maintenance.Downgrade as etcd 3.6 does: VALIDATE checks
// that the target is one minor version below the cluster version and that
// no job is in progress, ENABLE does the same and then records the job
// through raft, CANCEL clears an enabled job through raft. The job is only
// bookkeeping here: Cairn members never run another binary, so nothing ever
// completes it, and the cluster version stays 3.6 (docs/compatibility.md).
// Admin only when auth is on, checked before anything else as etcd does.
func (s *Server) Downgrade(ctx context.Context, r *pb.DowngradeRequest) (*pb.DowngradeResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	var err error
	switch r.Action {
	case pb.DowngradeRequest_VALIDATE:
		_, err = s.downgradeValidate(ctx, r.Version)
	case pb.DowngradeRequest_ENABLE:
		err = s.downgradeEnable(ctx, r.Version)
	case pb.DowngradeRequest_CANCEL:
		err = s.downgradeCancel(ctx)
	default:
		return nil, errs.ErrUnknownMethod
	}
	if err != nil {
		return nil, err
	}
	// etcd answers the cluster version as major.minor ("3.6").
	return &pb.DowngradeResponse{Header: s.header(s.rev()), Version: clusterMinor()}, nil
}

// downgradeValidate returns the target version ("3.5.0") when the cluster
// may start a downgrade to v. Like etcd it reads the job linearizably, and
// checks the target before the job in progress.
func (s *Server) downgradeValidate(ctx context.Context, v string) (string, error) {
	target, ok := parseDowngradeTarget(v)
	if !ok {
		return "", errs.ErrWrongDowngradeVersionFormat
	}
	if err := s.linearizableReadNotify(ctx); err != nil {
		return "", err
	}
	cv, _ := parseDowngradeTarget(version.Cluster)
	if target != (majorMinor{cv.major, cv.minor - 1}) {
		return "", errs.ErrInvalidDowngradeTargetVersion
	}
	if s.downgrade.Info().Enabled {
		return "", errs.ErrDowngradeInProcess
	}
	return target.String(), nil
}

func (s *Server) downgradeEnable(ctx context.Context, v string) error {
	target, err := s.downgradeValidate(ctx, v)
	if err != nil {
		s.lg.Warn("reject downgrade request", zap.Error(err))
		return err
	}
	return s.proposeDowngrade(ctx, &membershippb.DowngradeInfoSetRequest{Enabled: true, Ver: target})
}

func (s *Server) downgradeCancel(ctx context.Context) error {
	if err := s.linearizableReadNotify(ctx); err != nil {
		return err
	}
	if !s.downgrade.Info().Enabled {
		return errs.ErrNoInflightDowngrade
	}
	return s.proposeDowngrade(ctx, &membershippb.DowngradeInfoSetRequest{Enabled: false})
}

func (s *Server) proposeDowngrade(ctx context.Context, r *membershippb.DowngradeInfoSetRequest) error {
	res, err := s.propose(ctx, &pb.InternalRaftRequest{DowngradeInfoSet: r})
	if err != nil {
		return err
	}
	return res.Err
}

// downgradeInfo is what Status reports about the job.
func (s *Server) downgradeInfo() *pb.DowngradeInfo {
	d := s.downgrade.Info()
	return &pb.DowngradeInfo{TargetVersion: d.TargetVersion, Enabled: d.Enabled}
}

// majorMinor is a cluster version: etcd keeps only major.minor of it.
type majorMinor struct{ major, minor int64 }

// String is the version as etcd writes a target ("3.5.0").
func (v majorMinor) String() string { return fmt.Sprintf("%d.%d.0", v.major, v.minor) }

// clusterMinor is the cluster version as etcd's Downgrade answers it.
func clusterMinor() string {
	v, _ := parseDowngradeTarget(version.Cluster)
	return fmt.Sprintf("%d.%d", v.major, v.minor)
}

// parseDowngradeTarget reads a downgrade target as etcd does: a semantic
// version ("3.5.0", "3.5.1-rc.0+meta"), or major.minor ("3.5") taken as
// major.minor.0. Only major and minor are kept.
func parseDowngradeTarget(v string) (majorMinor, bool) {
	if mm, ok := parseSemver(v); ok {
		return mm, true
	}
	return parseSemver(v + ".0")
}

var semverIdent = regexp.MustCompile(`^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$`)

// parseSemver accepts major.minor.patch with an optional -prerelease and
// +metadata, by the rules etcd's semver package applies.
func parseSemver(v string) (majorMinor, bool) {
	core, meta, hasMeta := strings.Cut(v, "+")
	core, pre, hasPre := strings.Cut(core, "-")
	if (hasMeta && meta != "" && !semverIdent.MatchString(meta)) || (hasPre && pre != "" && !semverIdent.MatchString(pre)) {
		return majorMinor{}, false
	}
	parts := strings.SplitN(core, ".", 3)
	if len(parts) != 3 {
		return majorMinor{}, false
	}
	var n [3]int64
	for i, p := range parts {
		x, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return majorMinor{}, false
		}
		n[i] = x
	}
	return majorMinor{n[0], n[1]}, true
}
