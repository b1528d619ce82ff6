package rt

// Resource limits that keep a hostile or stalled peer from exhausting this
// process (see SECURITY.md). The engine enforces them on each connection:
// the incoming calls being served at once, the calls the peer keeps open
// (unfinished), the bytes of outgoing messages the peer has not read, and
// the size, traversal and nesting of every incoming message.

import (
	"github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine"
)

// Default limits. The read limits are Cap'n Proto's own (C++ and go-capnp).
const (
	DefaultMaxInFlight       = engine.DefaultMaxInFlight
	DefaultSendQueueLimit    = engine.DefaultMaxSendQueue
	DefaultMaxOpenCalls      = engine.DefaultMaxOpenAnswers
	DefaultMaxMessageSize    = 64 << 20
	DefaultTraversalLimit    = 64 << 20
	DefaultNestingDepthLimit = 64
)

// noLimit makes n <= 0 mean no limit in the engine's terms.
func noLimit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// WithMaxInFlight bounds the incoming calls this side serves at once on
// the connection (running, or queued on one of its Threads; default
// 1024). Further calls fail at once with an overloaded exception.
// n <= 0 means no limit.
func WithMaxInFlight(n int) Option {
	return func(o *options) { o.limits.MaxInFlight = noLimit(n) }
}

// WithSendQueueLimit bounds the bytes of outgoing messages waiting for
// the peer to read them (default 64 MiB). A message is always accepted
// when nothing is being written; beyond the limit the peer is taken as
// stalled and the connection is closed (pending calls fail with
// ErrDisconnected). New calls wait before the queue gets there: past 16
// MiB, or half the limit when that is less. bytes <= 0 keeps the default.
func WithSendQueueLimit(bytes int64) Option {
	return func(o *options) {
		if bytes > 0 {
			o.limits.MaxSendQueue = int(bytes)
			o.limits.MaxQueuedBytes = int(min(bytes/2+1, 16<<20))
		}
	}
}

// WithMaxOpenCalls bounds the calls the peer may keep open on this side:
// received and not yet finished by the peer (libmultiprocess and rt
// peers finish each call as its answer arrives; default 65536). A peer
// over the limit has the connection aborted. resultBytes is accepted for
// compatibility: the engine bounds the results it keeps in number, not in
// bytes. calls <= 0 means no limit.
func WithMaxOpenCalls(calls int, resultBytes int64) Option {
	return func(o *options) { o.limits.MaxOpenAnswers = noLimit(calls) }
}

// WithReadLimits sets the limits for each incoming message: its size, the
// bytes a reader may traverse in it and how deeply its pointers may nest
// (defaults 64 MiB, 64 MiB and 64, as in Cap'n Proto). A message over the
// size limit aborts the connection; reading past the traversal or depth
// limit fails the call that reads it, or aborts the connection when the
// message's own header is out of reach. Zero keeps a default.
func WithReadLimits(maxMessageSize, traversal uint64, depth uint) Option {
	return func(o *options) {
		if maxMessageSize > 0 {
			o.limits.MaxMessageSize = maxMessageSize
		}
		if traversal > 0 {
			o.limits.TraverseLimit = traversal
		}
		if depth > 0 {
			o.limits.DepthLimit = depth
		}
	}
}
