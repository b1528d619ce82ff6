package upstream

import (
	"context"
	"errors"
	"testing"
	"time"

	"capnproto.org/go/capnp/v3"
)

// go-capnp v3.1.0-alpha.2's Future.Client returns a cached pipelined
// client without unlocking the promise (answer.go). In the RPC layer a
// second CapDescriptor.receiverAnswer naming the same unreturned answer
// takes that path, and the answer's Return then deadlocks the connection.
// libmultiprocess clients never send that (their calls on a thread are
// synchronous), but the C++ interop peer's "pipeline" scenario does.
//
// This test fails when the bug is gone: then add {"pipeline"} to
// TestInteropCppClientGoServer in rt/interop_test.go and delete this.
// (While the bug is present, the probe leaves one goroutine blocked; it is
// in this package's own test binary on purpose.)
func TestGoCapnpFutureClientLockLeak(t *testing.T) {
	p := capnp.NewPromise(capnp.Method{}, nopPipelineCaller{}, nil)
	f := p.Answer().Future().Field(0, nil)
	f.Client()
	f.Client()
	done := make(chan struct{})
	go func() {
		p.Reject(errors.New("probe"))
		p.ReleaseClients()
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("go-capnp no longer leaks the promise lock in Future.Client: enable the C++ pipeline interop scenario")
	case <-time.After(time.Second):
	}
}

type nopPipelineCaller struct{}

func (nopPipelineCaller) PipelineSend(_ context.Context, _ []capnp.PipelineOp, s capnp.Send) (*capnp.Answer, capnp.ReleaseFunc) {
	return capnp.ErrorAnswer(s.Method, errors.New("probe")), func() {}
}

func (nopPipelineCaller) PipelineRecv(_ context.Context, _ []capnp.PipelineOp, r capnp.Recv) capnp.PipelineCaller {
	r.Reject(errors.New("probe"))
	return nil
}
