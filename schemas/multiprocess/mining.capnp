# Mining: the interface that mining software (for example a Stratum v2
# template provider) uses to get block templates and submit blocks.

@0xc77d03df6a41b505;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";
using Ipc = import "/bitcoinipc.capnp";
using Common = import "common.capnp";

$Cxx.namespace("ipc::capnp::messages");
$Proxy.include("interfaces/mining.h");
$Proxy.includeTypes("ipc/capnp/mining-types.h");
$Go.package("multiprocesscapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess/multiprocesscapnp");

const maxMoney @0x895d3c3ab1c80b14 :Int64 = 2100000000000000;
# 21 million bitcoin in satoshis; the "no threshold" fee default.

const maxDouble @0x90fa0dee435f19a6 :Float64 = 1.7976931348623157e308;
# DBL_MAX; as a timeout in milliseconds it means "wait forever".

const defaultBlockReservedWeight @0xd79ce061d3167841 :UInt32 = 8000;
# Weight reserved for the coinbase and block header by default.

const defaultCoinbaseOutputMaxAdditionalSigops @0x9c05d9dcd5e01942 :UInt32 = 400;
# Sigops reserved for the coinbase outputs by default.

interface Mining @0xf9c68436df3af39e $Proxy.wrap("interfaces::Mining") {
  # Block template construction, tip tracking and block submission.

  isTestChain @0 (context :Proxy.Context) -> (result :Bool);
  # True on test networks (testnet, signet, regtest).

  isInitialBlockDownload @1 (context :Proxy.Context) -> (result :Bool);
  # True while the node is still catching up with the network.

  getTip @2 (context :Proxy.Context) -> (result :Common.BlockRef, hasResult :Bool $Go.name("hasResultFlag"));
  # The current chain tip; absent while the node has no chain yet.

  waitTipChanged @3 (context :Proxy.Context, currentTip :Data $Ipc.domain(hash), timeout :Float64 = .maxDouble $Ipc.domain(millis)) -> (result :Common.BlockRef);
  # Waits until the tip differs from currentTip or the timeout (in
  # milliseconds) passes, and returns the tip then. The result is null if
  # the wait was interrupted or the node is shutting down.

  createNewBlock @4 (context :Proxy.Context, options :BlockCreateOptions, cooldown :Bool = true) -> (result :BlockTemplate);
  # Builds a new block template on the current tip. With cooldown, it
  # first waits for the tip to settle while the node catches up. The
  # result is null if the call was interrupted.

  checkBlock @5 (context :Proxy.Context, block :Data $Ipc.domain(block), options :BlockCheckOptions) -> (reason :Text, debug :Text, result :Bool);
  # Checks a block without connecting it. On failure result is false and
  # reason holds Core's rejection reason (for example "high-hash").

  interrupt @6 () -> ();
  # Wakes every pending waitTipChanged and createNewBlock call.

  submitBlock @7 (context :Proxy.Context, block :Data $Ipc.domain(block)) -> (reason :Text, debug :Text, result :Bool);
  # Validates and connects a complete block, as the submitblock RPC does.

  getTransactionsByTxID @8 (context :Proxy.Context, txids :List(Data) $Ipc.domain(hash)) -> (result :List(Data) $Ipc.domain(tx));
  # Looks transactions up in the mempool by txid. A missing transaction
  # comes back as empty Data at its position.

  getTransactionsByWitnessID @9 (context :Proxy.Context, wtxids :List(Data) $Ipc.domain(hash)) -> (result :List(Data) $Ipc.domain(tx));
  # As getTransactionsByTxID, by witness txid.
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

  getCoinbaseTx @5 (context :Proxy.Context) -> (result :CoinbaseTx);
  # What a coinbase transaction for this template must contain.

  getCoinbaseMerklePath @6 (context :Proxy.Context) -> (result :List(Data) $Ipc.domain(hash));
  # The merkle branch from the coinbase to the merkle root.

  submitSolution @10 (context :Proxy.Context, version :UInt32, timestamp :UInt32, nonce :UInt32, coinbase :Data $Ipc.domain(tx)) -> (reason :Text, debug :Text, result :Bool);
  # Completes the template with the given header fields and coinbase
  # transaction and submits the block. On failure reason says why.

  waitNext @8 (context :Proxy.Context, options :BlockWaitOptions) -> (result :BlockTemplate);
  # Waits for a better template: a new tip, or fees that rose by the
  # options' threshold. Null on timeout or interruption.

  interruptWait @9 () -> ();
  # Wakes a pending waitNext call on this template.

  submitSolutionOld7 @7 (context :Proxy.Context, version :UInt32, timestamp :UInt32, nonce :UInt32, coinbase :Data $Ipc.domain(tx)) -> (result :Bool);
  # The v31 submitSolution. Always fails.
}

struct BlockCreateOptions @0x80fca083ef81a559 $Proxy.wrap("node::BlockCreateOptions") {
  # Options for Mining.createNewBlock.

  useMempool @0 :Bool = true $Proxy.name("use_mempool");
  # Fill the template with mempool transactions.

  blockReservedWeight @1 :UInt64 = .defaultBlockReservedWeight $Proxy.name("block_reserved_weight");
  # Weight units kept free for the header and the coinbase transaction.

  coinbaseOutputMaxAdditionalSigops @2 :UInt64 = .defaultCoinbaseOutputMaxAdditionalSigops $Proxy.name("coinbase_output_max_additional_sigops");
  # Sigops kept free for the coinbase outputs.
}

struct BlockWaitOptions @0x9ba437d9de0c452e $Proxy.wrap("node::BlockWaitOptions") {
  # Options for BlockTemplate.waitNext.

  timeout @0 :Float64 = .maxDouble $Proxy.name("timeout") $Ipc.domain(millis);
  # How long to wait, in milliseconds; maxDouble waits forever.

  feeThreshold @1 :Int64 = .maxMoney $Proxy.name("fee_threshold") $Ipc.domain(amount);
  # Return early once total fees rose by at least this much (satoshis).
}

struct BlockCheckOptions @0x89f3f39b6c9dd162 $Proxy.wrap("node::BlockCheckOptions") {
  # Options for Mining.checkBlock.

  checkMerkleRoot @0 :Bool = true $Proxy.name("check_merkle_root");
  # Verify the header's merkle root.

  checkPow @1 :Bool = true $Proxy.name("check_pow");
  # Verify the proof of work.
}

struct CoinbaseTx @0xdc399c6d34ae7e69 $Proxy.wrap("node::CoinbaseTx") {
  # The constraints a miner's coinbase transaction must meet.

  version @0 :UInt32 $Proxy.name("version");
  # Transaction version.

  sequence @1 :UInt32 $Proxy.name("sequence");
  # nSequence of the coinbase input.

  scriptSigPrefix @2 :Data $Proxy.name("script_sig_prefix") $Ipc.domain(script);
  # Bytes the coinbase scriptSig must start with (the BIP34 height push).

  witness @3 :Data $Proxy.name("witness");
  # The coinbase input's witness reserved value; absent when the block
  # needs no witness commitment.

  blockRewardRemaining @4 :Int64 $Proxy.name("block_reward_remaining") $Ipc.domain(amount);
  # Subsidy plus fees left for the miner's outputs, in satoshis.

  requiredOutputs @5 :List(Data) $Proxy.name("required_outputs") $Ipc.domain(txOut);
  # Outputs the coinbase must include, such as the witness commitment.

  lockTime @6 :UInt32 $Proxy.name("lock_time");
  # nLockTime of the coinbase transaction.
}
