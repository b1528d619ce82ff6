package rt_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// Debug logs name the request, method and thread, like -debug=ipc; only
// LevelTrace adds the arguments.
func TestServerLogLevels(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, rt.LevelTrace} {
		var buf testutil.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))
		p := newPair(t, []rt.Option{rt.WithLogger(log)})
		if _, err := p.calc.Add(testutil.Context(t), 1234567, 1); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "IPC server request") && strings.Contains(l, "method=Calc.add") && !strings.Contains(l, "args") {
				line = l
			}
		}
		if line == "" || !strings.Contains(line, "thread=") || !strings.Contains(line, "(from go-") || !strings.Contains(line, " n=") {
			t.Fatalf("level %v: no debug line with request number and thread:\n%s", level, out)
		}
		hasArgs := strings.Contains(out, "a = 1234567")
		if level == slog.LevelDebug && hasArgs {
			t.Fatalf("arguments logged at debug:\n%s", out)
		}
		if level == rt.LevelTrace && !hasArgs {
			t.Fatalf("arguments not logged at trace:\n%s", out)
		}
	}
}
