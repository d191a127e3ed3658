// Package logutil builds the zap logger from etcd's logging flags.
package logutil

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a logger for --log-level, --log-format and --log-outputs.
// Outputs: "default" and "stderr" mean stderr, "stdout", or a file path.
// "systemd/journal" falls back to stderr (journald captures it under systemd).
func New(level, format string, outputs []string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid log level %q", level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	var encoder zapcore.Encoder
	switch format {
	case "", "json":
		encoder = zapcore.NewJSONEncoder(enc)
	case "console":
		encoder = zapcore.NewConsoleEncoder(enc)
	default:
		return nil, fmt.Errorf("invalid log format %q (want json or console)", format)
	}
	var sinks []zapcore.WriteSyncer
	if len(outputs) == 0 {
		outputs = []string{"default"}
	}
	for _, o := range outputs {
		switch o {
		case "default", "stderr", "systemd/journal":
			sinks = append(sinks, zapcore.Lock(os.Stderr))
		case "stdout":
			sinks = append(sinks, zapcore.Lock(os.Stdout))
		default:
			f, err := os.OpenFile(o, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				return nil, fmt.Errorf("open log output %s: %w", o, err)
			}
			sinks = append(sinks, zapcore.AddSync(f))
		}
	}
	core := zapcore.NewCore(encoder, zapcore.NewMultiWriteSyncer(sinks...), zap.NewAtomicLevelAt(lvl))
	return zap.New(core, zap.AddCaller(), zap.ErrorOutput(zapcore.Lock(os.Stderr))), nil
}
