# Annotations of bitcoin-ipc's own. They steer the Go code generator
# (capnpc-go-ipc) and have no effect on the wire: a schema carrying them
# compiles to the same type IDs, ordinals, defaults and offsets.

@0xabcc9345b3a6cbae;

using Go = import "/go.capnp";
$Go.package("ipcschema");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/ipcschema");

enum Domain {
  # The Go domain type a Data, Text or numeric field converts to.
  raw @0;       # no conversion
  hash @1;      # Data, 32 bytes little-endian -> chainhash.Hash
  tx @2;        # Data, consensus serialization with witness -> *wire.MsgTx (empty = nil)
  block @3;     # Data -> *wire.MsgBlock
  header @4;    # Data, 80 bytes -> wire.BlockHeader
  txOut @5;     # Data, serialized CTxOut -> *wire.TxOut
  json @6;      # Text holding UniValue JSON -> json.RawMessage
  amount @7;    # Int64 satoshis -> btcutil.Amount
  millis @8;    # Float64 milliseconds -> time.Duration (DBL_MAX = no timeout)
  seconds @9;   # Int64 seconds -> time.Duration
  script @10;   # Data, raw script bytes without length prefix -> []byte
}

annotation domain @0x86f19f2feb8e6d44 (field, param) :Domain;
# Converts the field to a Go domain type in generated glue. On a List the
# conversion applies to each element.
