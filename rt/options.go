package rt

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/rt/internal/engine"
)

type options struct {
	logger        *slog.Logger
	name          string
	maxThreads    int
	clientThreads int
	serverPool    uint32
	ctx           *Context
	initID        uint64
	callTimeout   time.Duration
	limits        engine.Limits // limits.go
	serverErrors  func(*Method, error) error
}

// Option configures a connection.
type Option func(*options)

// WithLogger sends the connection's logs to l. Debug level logs each call
// (like -debug=ipc), and LevelTrace adds arguments.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithName names this process in Thread names the peer sees.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithMaxThreads bounds the Threads a peer may create on this connection
// with makeThread and makePool (default 256). Further requests fail.
func WithMaxThreads(n int) Option { return func(o *options) { o.maxThreads = n } }

// WithClientThreads bounds how many of the peer's Threads this side keeps
// for concurrent calls (default 64); more concurrent calls wait.
func WithClientThreads(n int) Option { return func(o *options) { o.clientThreads = n } }

// WithServerPool asks the peer for a pool of n threads (ThreadMap.makePool,
// Bitcoin Core master and later) and sends calls without a thread, which
// the peer then runs on its pool. Older peers fail the makePool call.
func WithServerPool(n uint32) Option { return func(o *options) { o.serverPool = n } }

// WithContext shares an application Context with the connection.
func WithContext(c *Context) Option { return func(o *options) { o.ctx = c } }

// WithInitInterfaceID sets the type ID of the bootstrap interface whose
// method 0 is construct (default: Bitcoin Core's Init). Both sides of a
// connection need it. Generated packages wrap it for each such interface
// X as WithXBootstrap(), which is what applications use.
func WithInitInterfaceID(id uint64) Option { return func(o *options) { o.initID = id } }

// WithCallTimeout bounds construct and every call made on the connection:
// a call the peer has not answered after d fails with an error that
// matches context.DeadlineExceeded, as if its ctx had that deadline (an
// earlier deadline of ctx still applies). The peer may still run the
// call. 0, the default, means no bound; ContextWithCallTimeout changes the
// bound for the calls made with one context.
func WithCallTimeout(d time.Duration) Option { return func(o *options) { o.callTimeout = d } }

type callTimeoutKey struct{}

// ContextWithCallTimeout makes calls under ctx use d (0: no bound)
// instead of the connection's WithCallTimeout, e.g. for a call that is
// asked to wait longer than the usual bound.
func ContextWithCallTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, callTimeoutKey{}, d)
}

// boundCall applies the call timeout to ctx.
func (c *Conn) boundCall(ctx context.Context) (context.Context, context.CancelFunc) {
	var d time.Duration
	if c != nil {
		d = c.opts.callTimeout
	}
	if v, ok := ctx.Value(callTimeoutKey{}).(time.Duration); ok {
		d = v
	}
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// WithServerErrors lets a server choose the text of its errors: f gets
// each error a method's handler returns (the implementation's, or the
// generated code's when it cannot decode the parameters) and returns the
// error to send instead, for example an exception.Std with the text a C++
// server would throw. Errors of the runtime itself (threads, limits) and
// panics are not passed to f.
func WithServerErrors(f func(m *Method, err error) error) Option {
	return func(o *options) { o.serverErrors = f }
}

// LevelTrace is the slog level of trace logs (method arguments).
const LevelTrace = slog.LevelDebug - 4

func newOptions(opts []Option) options {
	o := options{maxThreads: 256, clientThreads: 64, initID: initInterfaceID}
	for _, f := range opts {
		f(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(discardHandler{})
	}
	if o.name == "" {
		o.name = fmt.Sprintf("go-%d", os.Getpid())
	}
	if o.ctx == nil {
		o.ctx = &Context{}
	}
	return o
}
