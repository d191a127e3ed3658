package server

import (
	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// notifySystemd tells systemd (Type=notify) that the member serves, or that
// it is stopping. Without $NOTIFY_SOCKET it does nothing.
func (s *Server) notifySystemd(state string) {
	if state == daemon.SdNotifyReady {
		s.lg.Info("notifying init daemon")
	}
	sent, err := daemon.SdNotify(false, state)
	switch {
	case err != nil:
		s.lg.Warn("failed to notify systemd for readiness", zap.String("state", state), zap.Error(err))
	case sent && state == daemon.SdNotifyReady:
		s.lg.Info("successfully notified init daemon")
	}
}
