package rt

import (
	"context"
	"log/slog"
	"strings"
)

// rpcLogger adapts slog to go-capnp's logger, demoting to Debug the noise
// go-capnp logs at ERROR when a connection closes normally: the peer's
// orderly close (EOF on the stream), a peer that left before its answer
// (broken pipe, reset: a client that gave up, or exited), and releases
// and finishes still queued as the transport goes away.
type rpcLogger struct{ l *slog.Logger }

func noise(msg string) bool {
	return strings.Contains(msg, "send release") ||
		strings.Contains(msg, "connection closed") ||
		strings.Contains(msg, "context canceled") ||
		strings.Contains(msg, "send finish") ||
		strings.HasSuffix(msg, ": EOF") || msg == "EOF" ||
		strings.Contains(msg, "use of closed network connection") ||
		strings.Contains(msg, "file already closed") ||
		strings.HasSuffix(msg, ": broken pipe") ||
		strings.HasSuffix(msg, ": connection reset by peer")
}

func (r rpcLogger) Debug(msg string, args ...any) { r.l.Debug(msg, args...) }
func (r rpcLogger) Info(msg string, args ...any)  { r.l.Info(msg, args...) }
func (r rpcLogger) Warn(msg string, args ...any) {
	if noise(msg) {
		r.l.Debug(msg, args...)
		return
	}
	r.l.Warn(msg, args...)
}
func (r rpcLogger) Error(msg string, args ...any) {
	if noise(msg) {
		r.l.Debug(msg, args...)
		return
	}
	r.l.Error(msg, args...)
}

// discardHandler drops every record.
type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }
