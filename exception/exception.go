// Package exception is bitcoin-ipc's typed error for IPC calls: the Go form
// of a Cap'n Proto exception, and of ipc::Exception in Bitcoin Core.
//
// Every error a generated client returns for a failed call is an *Error.
// Match its kind with errors.Is against the sentinels (ErrDisconnected,
// ErrFailed, ...), and read its details with errors.As:
//
//	var e *exception.Error
//	if errors.As(err, &e) { log.Print(e.Type, e.What()) }
package exception

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"capnproto.org/go/capnp/v3/exc"
)

// Type is the kind of a Cap'n Proto exception.
type Type int

// The exception types, numbered as on the wire.
const (
	Failed        Type = Type(exc.Failed)
	Overloaded    Type = Type(exc.Overloaded)
	Disconnected  Type = Type(exc.Disconnected)
	Unimplemented Type = Type(exc.Unimplemented)
)

func (t Type) String() string {
	switch t {
	case Failed:
		return "failed"
	case Overloaded:
		return "overloaded"
	case Disconnected:
		return "disconnected"
	case Unimplemented:
		return "unimplemented"
	}
	return fmt.Sprintf("type(%d)", int(t))
}

// Sentinels for errors.Is. An *Error matches the sentinel of its Type, and
// local conditions have sentinels of their own.
var (
	ErrFailed        = errors.New("ipc: call failed")
	ErrOverloaded    = errors.New("ipc: peer overloaded")
	ErrDisconnected  = errors.New("ipc: disconnected")
	ErrUnimplemented = errors.New("ipc: method not implemented")
	// ErrDestroyed: the proxy was destroyed; nothing was sent.
	ErrDestroyed = errors.New("ipc: proxy used after destroy")
	// ErrReleased: the proxy was released; nothing was sent.
	ErrReleased = errors.New("ipc: proxy used after release")
)

// Error is a failed IPC call.
type Error struct {
	Type        Type
	Interface   string // schema interface, e.g. "Mining"; empty when unknown
	Method      string // schema method, e.g. "getTip"; empty when unknown
	Description string // the peer's text, or the local failure's
	Remote      bool   // the peer raised it, as opposed to this process
	local       error  // a local sentinel (ErrDestroyed, ErrReleased) or nil
	cause       error
}

// Error formats as "Mining.getTip: failed: <description>".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Interface != "" || e.Method != "" {
		b.WriteString(e.Interface)
		b.WriteByte('.')
		b.WriteString(e.Method)
		b.WriteString(": ")
	}
	if e.Remote {
		b.WriteString("remote ")
	}
	b.WriteString(e.Type.String())
	b.WriteString(": ")
	b.WriteString(e.Description)
	return b.String()
}

// What is the description without the "std::exception: " prefix that
// libmultiprocess adds to C++ exceptions: the C++ what() text.
func (e *Error) What() string {
	return strings.TrimPrefix(e.Description, StdPrefix)
}

// Is matches the sentinel of e's Type and local condition.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrFailed:
		return e.Type == Failed
	case ErrOverloaded:
		return e.Type == Overloaded
	case ErrDisconnected:
		return e.Type == Disconnected
	case ErrUnimplemented:
		return e.Type == Unimplemented
	}
	return e.local != nil && target == e.local
}

// Unwrap gives the underlying cause, such as context.Canceled.
func (e *Error) Unwrap() error { return e.cause }

// New makes an Error raised in this process.
func New(t Type, iface, method, description string) *Error {
	return &Error{Type: t, Interface: iface, Method: method, Description: description}
}

// StdPrefix is what libmultiprocess puts before the what() text of a
// std::exception that a C++ server method throws: the peer receives a
// failed exception with reason StdPrefix + what().
const StdPrefix = "std::exception: "

// Std makes the error a Go server returns where it stands in for a C++
// server method that throws a std::exception: a failed exception whose
// description is StdPrefix + what, exactly what Bitcoin Core sends. A C++
// client then shows "remote exception: std::exception: <what>", as for
// Core, and a Go client's What() gives what.
func Std(what string) *Error {
	return &Error{Type: Failed, Description: StdPrefix + what}
}

// Local makes the Error for a local condition such as ErrDestroyed.
func Local(t Type, sentinel error, iface, method string) *Error {
	return &Error{Type: t, Interface: iface, Method: method, Description: sentinel.Error(), local: sentinel}
}

// FromCapnp converts an error of a call that is not already an *Error
// into one for the given method: a context error, a go-capnp codec error
// (an *exc.Exception, such as a read limit reached while decoding), or
// any other local failure. rt converts the engine's exceptions itself
// and passes the rest here. A "<file>:<Iface>.<method>: " prefix in an
// exception's text is dropped from Description. Context cancellation
// stays reachable through errors.Is(err, context.Canceled).
func FromCapnp(err error, iface, method string) error {
	if err == nil {
		return nil
	}
	var ours *Error
	if errors.As(err, &ours) {
		return err
	}
	e := &Error{Type: Failed, Interface: iface, Method: method, cause: err}
	var ce *exc.Exception
	if errors.As(err, &ce) {
		e.Type = Type(ce.Type)
		e.Remote = true
		e.Description = trimCallName(rootText(ce), iface, method)
	} else {
		e.Description = err.Error()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		e.Remote = false
		e.Type = Failed
		e.Description = contextText(err)
	} else if e.Type == Disconnected {
		e.Remote = false
	}
	return e
}

func contextText(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return context.DeadlineExceeded.Error()
	}
	return context.Canceled.Error()
}

// rootText strips go-capnp's prefixes from an exception's text, leaving the
// peer's own description.
func rootText(ce *exc.Exception) string {
	var inner error = ce
	for {
		var next *exc.Exception
		u := errors.Unwrap(inner)
		if u == nil || !errors.As(u, &next) {
			break
		}
		inner = next
	}
	text := inner.Error()
	if ie, ok := inner.(*exc.Exception); ok && ie.Cause != nil {
		text = ie.Cause.Error()
	}
	// go-capnp's call prefix: "<file>.capnp:<Iface>.<method>: ".
	if i := strings.Index(text, ".capnp:"); i >= 0 && !strings.Contains(text[:i], " ") {
		if j := strings.Index(text[i:], ": "); j >= 0 {
			text = text[i+j+2:]
		}
	}
	return text
}

// trimCallName drops the name go-capnp gives a call sent without its
// schema file, "Init.construct: " or, for a call on a capability not yet
// resolved, "@0x0.@0: ": the Error names the call already.
func trimCallName(text, iface, method string) string {
	text = strings.TrimPrefix(text, iface+"."+method+": ")
	if rest, ok := strings.CutPrefix(text, "@0x"); ok {
		if i := strings.Index(rest, ": "); i >= 0 && !strings.Contains(rest[:i], " ") && strings.Contains(rest[:i], ".@") {
			text = rest[i+2:]
		}
	}
	return text
}
