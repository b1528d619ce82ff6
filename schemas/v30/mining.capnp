# Mining (Bitcoin Core 30.x): the interface that mining software uses to
# get block templates and submit blocks, as first released. Its option
# structs have no schema defaults, and createNewBlock and checkBlock take
# no context, so they run on the node's event loop.

@0xc77d03df6a41b505;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";
using Ipc = import "/bitcoinipc.capnp";
using Common = import "common.capnp";

$Cxx.namespace("ipc::capnp::messages");
$Proxy.include("interfaces/mining.h");
$Proxy.includeTypes("ipc/capnp/mining-types.h");
$Go.package("v30capnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/v30/v30capnp");

interface Mining @0xf9c68436df3af39e $Proxy.wrap("interfaces::Mining") {
  # Block template construction, tip tracking and block checks.

  isTestChain @0 (context :Proxy.Context) -> (result :Bool);
  # True on test networks (testnet, signet, regtest).

  isInitialBlockDownload @1 (context :Proxy.Context) -> (result :Bool);
  # True while the node is still catching up with the network.

  getTip @2 (context :Proxy.Context) -> (result :Common.BlockRef, hasResult :Bool $Go.name("hasResultFlag"));
  # The current chain tip; absent while the node has no chain yet.

  waitTipChanged @3 (context :Proxy.Context, currentTip :Data $Ipc.domain(hash), timeout :Float64 $Ipc.domain(millis)) -> (result :Common.BlockRef);
  # Waits until the tip differs from currentTip or the timeout (in
  # milliseconds) passes, and returns the tip then.

  createNewBlock @4 (options :BlockCreateOptions) -> (result :BlockTemplate);
  # Builds a new block template on the current tip. Set every option: v30
  # has no schema defaults, so a zero field means zero.

  checkBlock @5 (block :Data $Ipc.domain(block), options :BlockCheckOptions) -> (reason :Text, debug :Text, result :Bool);
  # Checks a block without connecting it. On failure result is false and
  # reason holds Core's rejection reason.
}

interface BlockTemplate @0xf9671ad841b2f622 $Proxy.wrap("interfaces::BlockTemplate") {
  # A block template built by Mining.createNewBlock.

  destroy @0 (context :Proxy.Context) -> ();
  # Frees the template on the node.

  getBlockHeader @1 (context :Proxy.Context) -> (result :Data $Ipc.domain(header));
  # The template's 80-byte block header.

  getBlock @2 (context :Proxy.Context) -> (result :Data $Ipc.domain(block));
  # The whole template block, with a placeholder coinbase transaction.

  getTxFees @3 (context :Proxy.Context) -> (result :List(Int64) $Ipc.domain(amount));
  # The fee of each transaction after the coinbase, in satoshis.

  getTxSigops @4 (context :Proxy.Context) -> (result :List(Int64));
  # The sigop cost of each transaction after the coinbase.

  getCoinbaseTx @5 (context :Proxy.Context) -> (result :Data $Ipc.domain(tx));
  # The template's placeholder coinbase transaction.

  getCoinbaseCommitment @6 (context :Proxy.Context) -> (result :Data $Ipc.domain(script));
  # The witness commitment output script the coinbase must carry.

  getWitnessCommitmentIndex @7 (context :Proxy.Context) -> (result :Int32);
  # Index of the witness commitment output in the coinbase, or -1.

  getCoinbaseMerklePath @8 (context :Proxy.Context) -> (result :List(Data) $Ipc.domain(hash));
  # The merkle branch from the coinbase to the merkle root.

  submitSolution @9 (context :Proxy.Context, version :UInt32, timestamp :UInt32, nonce :UInt32, coinbase :Data $Ipc.domain(tx)) -> (result :Bool);
  # Completes the template with the given header fields and coinbase
  # transaction and submits the block. True if the node accepted it.

  waitNext @10 (context :Proxy.Context, options :BlockWaitOptions) -> (result :BlockTemplate);
  # Waits for a better template: a new tip, or fees that rose by the
  # options' threshold. Null on timeout.
}

struct BlockCreateOptions @0x80fca083ef81a559 $Proxy.wrap("node::BlockCreateOptions") {
  # Options for Mining.createNewBlock (no defaults in v30).

  useMempool @0 :Bool $Proxy.name("use_mempool");
  # Fill the template with mempool transactions.

  blockReservedWeight @1 :UInt64 $Proxy.name("block_reserved_weight");
  # Weight units kept free for the header and the coinbase transaction.

  coinbaseOutputMaxAdditionalSigops @2 :UInt64 $Proxy.name("coinbase_output_max_additional_sigops");
  # Sigops kept free for the coinbase outputs.
}

struct BlockWaitOptions @0x9ba437d9de0c452e $Proxy.wrap("node::BlockWaitOptions") {
  # Options for BlockTemplate.waitNext (no defaults in v30).

  timeout @0 :Float64 $Proxy.name("timeout") $Ipc.domain(millis);
  # How long to wait, in milliseconds.

  feeThreshold @1 :Int64 $Proxy.name("fee_threshold") $Ipc.domain(amount);
  # Return early once total fees rose by at least this much (satoshis).
}

struct BlockCheckOptions @0x89f3f39b6c9dd162 $Proxy.wrap("node::BlockCheckOptions") {
  # Options for Mining.checkBlock (no defaults in v30).

  checkMerkleRoot @0 :Bool $Proxy.name("check_merkle_root");
  # Verify the header's merkle root.

  checkPow @1 :Bool $Proxy.name("check_pow");
  # Verify the proof of work.
}
