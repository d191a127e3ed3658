package raftnode

import (
	"fmt"

	"go.uber.org/zap"
)

// raftLogger adapts zap to raft's Logger without touching raft's globals.
type raftLogger struct{ s *zap.SugaredLogger }

func newRaftLogger(lg *zap.Logger) *raftLogger {
	return &raftLogger{s: lg.WithOptions(zap.AddCallerSkip(1)).Sugar()}
}

func (l *raftLogger) Debug(v ...interface{})                 { l.s.Debug(v...) }
func (l *raftLogger) Debugf(format string, v ...interface{}) { l.s.Debugf(format, v...) }
func (l *raftLogger) Error(v ...interface{})                 { l.s.Error(v...) }
func (l *raftLogger) Errorf(format string, v ...interface{}) { l.s.Errorf(format, v...) }
func (l *raftLogger) Info(v ...interface{})                  { l.s.Info(v...) }
func (l *raftLogger) Infof(format string, v ...interface{})  { l.s.Infof(format, v...) }
func (l *raftLogger) Warning(v ...interface{})               { l.s.Warn(v...) }
func (l *raftLogger) Warningf(format string, v ...interface{}) {
	l.s.Warnf(format, v...)
}
func (l *raftLogger) Fatal(v ...interface{}) { panic(fmt.Sprint(v...)) }
func (l *raftLogger) Fatalf(format string, v ...interface{}) {
	panic(fmt.Sprintf(format, v...))
}
func (l *raftLogger) Panic(v ...interface{}) { panic(fmt.Sprint(v...)) }
func (l *raftLogger) Panicf(format string, v ...interface{}) {
	panic(fmt.Sprintf(format, v...))
}
