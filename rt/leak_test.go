package rt

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the tests leave no goroutine behind: readers,
// executors and forwarded calls all end with their connections.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
