package gen_test

import (
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess/multiprocesscapnp"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/v30/v30capnp"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/v31/v31capnp"
	"github.com/bitcoin-ipc/bitcoin-ipc/gen/v32/v32capnp"
)

// coreInitID is Bitcoin Core's Init (init.capnp), the interface rt
// bootstraps by default.
const coreInitID = 0x8838c700ba5cba65

// TestCoreInitBootstrapIsDefault: the generated WithInitBootstrap of every
// Core set names the interface rt already uses by default, so passing it
// (or not) leaves the bootstrap and construct messages unchanged.
func TestCoreInitBootstrapIsDefault(t *testing.T) {
	for set, id := range map[string]uint64{
		"v30":          v30capnp.Init_TypeID,
		"v31":          v31capnp.Init_TypeID,
		"v32":          v32capnp.Init_TypeID,
		"multiprocess": multiprocesscapnp.Init_TypeID,
	} {
		if id != coreInitID {
			t.Errorf("%s: Init is %#x, want Core's %#x", set, id, uint64(coreInitID))
		}
	}
}
