// Package probe tells which of Bitcoin Core's schema sets a node speaks, by
// asking Init for the methods that each release added and reading the
// "unimplemented method" answers. A server that implements only some of
// its schema's methods is still told apart: an answer that says the
// method exists but is not implemented counts as present. Every probe call
// is harmless: the objects it creates are released at once.
package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess"
	v31 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v31"
	v32 "github.com/bitcoin-ipc/bitcoin-ipc/gen/v32"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// Version names a schema set (and the generated package for it).
type Version string

// The schema sets, as named under gen/.
const (
	V30          Version = "v30"          // Bitcoin Core 30.x
	V31          Version = "v31"          // Bitcoin Core 31.x
	V32          Version = "v32"          // Bitcoin Core master (32.x)
	Multiprocess Version = "multiprocess" // the experimental Chain/Node/Wallet set
)

// Probe asks the node on conn which schema set it speaks:
// Init.makeRpc (@4) exists from v32 on, makeMining moved to @3 in v31, and
// makeChain (@5) exists only in the multiprocess set.
func Probe(ctx context.Context, conn *rt.Conn) (Version, error) {
	has4, err := present(ctx, conn, "Init.makeRpc", func(ctx context.Context) (any, error) {
		init := v32.NewInitClient(conn)
		defer init.Release()
		r, err := init.MakeRpc(ctx)
		return r, err
	})
	if err != nil {
		return "", err
	}
	if has4 {
		has5, err := present(ctx, conn, "Init.makeChain", func(ctx context.Context) (any, error) {
			init := multiprocess.NewInitClient(conn)
			defer init.Release()
			c, err := init.MakeChain(ctx)
			return c, err
		})
		if err != nil {
			return "", err
		}
		if has5 {
			return Multiprocess, nil
		}
		return V32, nil
	}
	has3, err := present(ctx, conn, "Init.makeMining (@3)", func(ctx context.Context) (any, error) {
		init := v31.NewInitClient(conn)
		defer init.Release()
		m, err := init.MakeMining(ctx)
		return m, err
	})
	if err != nil {
		return "", err
	}
	if has3 {
		return V31, nil
	}
	return V30, nil
}

// present runs one probe call on a thread of its own (a call refused at
// once can return before the peer answers makeThread; reusing that thread
// would name the unanswered result twice): unimplemented means absent.
// Each answer is logged at Debug as what it is, a probe answer.
func present(ctx context.Context, conn *rt.Conn, method string, call func(context.Context) (any, error)) (bool, error) {
	th, err := conn.NewThread()
	if err != nil {
		return false, fmt.Errorf("probe: %w", err)
	}
	defer th.Release()
	obj, err := call(rt.WithThread(ctx, th))
	rt.Release(obj)
	if err == nil {
		conn.Logger().Debug("IPC probe answer: method present", "method", method)
		return true, nil
	}
	var e *exception.Error
	if errors.As(err, &e) && e.Type == exception.Unimplemented {
		if declared(e.Description) {
			conn.Logger().Debug("IPC probe answer: method present (declared, not implemented)", "method", method)
			return true, nil
		}
		conn.Logger().Debug("IPC probe answer: method absent (unimplemented)", "method", method)
		return false, nil
	}
	return false, fmt.Errorf("probe: %w", err)
}

// rtNotImplemented is what a server built on package rt answers for a
// method of its schema that its implementation lacks (rt.Unimplemented).
const rtNotImplemented = "method not implemented"

// declared tells an "unimplemented" answer for a method the server's
// schema has (so the server is of that version or later, it just does not
// implement the method) from one for a method its schema lacks. A method
// missing from the schema is answered by the dispatch: rt's "Init: method
// 0x….4 not implemented", or Cap'n Proto C++'s "Method not implemented."
// naming only the methodId. A declared method is answered by the server:
// rt's text, or C++'s, which also names the method (methodName = ...).
func declared(description string) bool {
	return description == rtNotImplemented || strings.Contains(description, "methodName = ")
}
