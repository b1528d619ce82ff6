package zmqnotify

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that a subscriber leaves no goroutine behind once its
// context ends. zmq4's PUB socket (the tests' publisher) leaves its
// writer goroutine running after Close, which is zmq4's, not ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/go-zeromq/zmq4.(*pubMWriter).run"))
}
