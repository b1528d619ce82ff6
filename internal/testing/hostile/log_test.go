package hostile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// logCapture keeps every record at or above level, flattened to text.
type logCapture struct {
	level slog.Level
	mu    sync.Mutex
	lines []string
	attrs []slog.Attr
}

func (c *logCapture) Enabled(_ context.Context, l slog.Level) bool { return l >= c.level }
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range c.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Resolve())
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Resolve())
		return true
	})
	c.mu.Lock()
	c.lines = append(c.lines, b.String())
	c.mu.Unlock()
	return nil
}
func (c *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	return &logView{c, as}
}
func (c *logCapture) WithGroup(string) slog.Handler { return c }

// logView is a capture with attributes added by Logger.With.
type logView struct {
	c     *logCapture
	attrs []slog.Attr
}

func (v *logView) Enabled(ctx context.Context, l slog.Level) bool { return v.c.Enabled(ctx, l) }
func (v *logView) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(v.attrs...)
	return v.c.Handle(ctx, r)
}
func (v *logView) WithAttrs(as []slog.Attr) slog.Handler {
	return &logView{v.c, append(append([]slog.Attr(nil), v.attrs...), as...)}
}
func (v *logView) WithGroup(string) slog.Handler { return v }

func (c *logCapture) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

const secret = "hunter2-Sup3rS3cret-passphrase"

type rpcEcho struct{ v32.UnimplementedRpcServer }

func (rpcEcho) ExecuteRpc(_ context.Context, req json.RawMessage, uri, user string) (json.RawMessage, error) {
	var r struct{ Method string }
	json.Unmarshal(req, &r)
	if r.Method == "fail" {
		return nil, errors.New("wallet is locked")
	}
	return json.RawMessage(`{"result":null,"error":null,"id":1}`), nil
}

type rpcInit struct{ v32.UnimplementedInitServer }

func (rpcInit) MakeRpc(context.Context) (v32.Rpc, error) { return rpcEcho{}, nil }

// rt logs each call at Debug level (like -debug=ipc) without its
// arguments: the text of an RPC request, which can carry a wallet
// passphrase, must not appear in the logs of either side at Debug level,
// whether the call succeeds or fails.
func TestRpcRequestNotLoggedAtDebug(t *testing.T) {
	a, b, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	serverLog := &logCapture{level: slog.LevelDebug}
	clientLog := &logCapture{level: slog.LevelDebug}
	server := rt.Serve(b, func(*rt.Conn) *rt.Cap { return v32.InitServer(rpcInit{}) }, rt.WithLogger(slog.New(serverLog)))
	defer server.Close()
	ctx, cancel := context.WithTimeout(context.Background(), callWait)
	defer cancel()
	client, err := rt.Connect(ctx, a, rt.WithLogger(slog.New(clientLog)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	init := v32.NewInitClient(client)
	defer init.Release()
	rpc, err := init.MakeRpc(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Release(rpc)
	for _, method := range []string{"walletpassphrase", "fail"} {
		req := json.RawMessage(fmt.Sprintf(`{"jsonrpc":"1.0","id":1,"method":%q,"params":[%q,60]}`, method, secret))
		_, err := rpc.ExecuteRpc(ctx, req, "/wallet/w1", "user")
		if (err != nil) != (method == "fail") {
			t.Fatalf("%s: %v", method, err)
		}
	}
	for side, c := range map[string]*logCapture{"server": serverLog, "client": clientLog} {
		text := c.text()
		if !strings.Contains(text, "Rpc.executeRpc") {
			t.Fatalf("%s logged no call at Debug level (is logging on?):\n%s", side, text)
		}
		if strings.Contains(text, secret) {
			t.Errorf("%s log contains the RPC request text:\n%s", side, text)
		}
	}
}
