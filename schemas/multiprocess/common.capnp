# Types shared by several of Bitcoin Core's IPC interfaces: block
# references, fee estimation results, settings, error strings and the
# generic containers (Result, Pair, ...) that stand in for C++ templates.

@0xcd2c6232cb484a28;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";
using Ipc = import "/bitcoinipc.capnp";

$Cxx.namespace("ipc::capnp::messages");
$Proxy.include("ipc/capnp/common.h");
$Proxy.includeTypes("ipc/capnp/common-types.h");
$Go.package("multiprocesscapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess/multiprocesscapnp");

struct BlockRef @0xb3be4b8949350369 $Proxy.wrap("interfaces::BlockRef") {
  # Identifies a block of the active chain.

  hash @0 :Data $Ipc.domain(hash);
  # The block hash, 32 bytes in internal (little-endian) byte order.

  height @1 :Int32;
  # The block's height in the active chain.
}

struct PSBTFillOptions @0xa8d1e62f64b3c3ca $Proxy.wrap("common::PSBTFillOptions") {
  # How a wallet should fill in a partially signed transaction.

  sign @0 :Bool = true;
  # Add signatures where the wallet can.

  sighashType @1 :Int32 $Proxy.name("sighash_type");
  # Signature hash type to sign with; only used when hasSighashType.

  hasSighashType @2 :Bool;
  # Whether sighashType is set; otherwise the default type is used.

  finalize @3 :Bool = true;
  # Finalize inputs that are completely signed.

  bip32Derivs @4 :Bool $Proxy.name("bip32_derivs");
  # Include BIP32 derivation paths for public keys the wallet knows.
}

struct FeeCalculation @0xa1146c2d9df953f0 $Proxy.wrap("FeeCalculation") {
  # Details of how a fee estimate was reached (Chain.estimateSmartFee).

  est @0 :EstimationResult;
  # The bucket statistics the estimate came from.

  reason @1 :Int32;
  # Why the estimate has its value (C++ FeeReason enum).

  desiredTarget @2 :Int32;
  # Confirmation target requested, in blocks.

  returnedTarget @3 :Int32;
  # Confirmation target the estimate is actually for, in blocks.

  bestHeight @4 :UInt32 $Proxy.name("best_height");
  # Chain height the estimator had seen when it answered.
}

struct EstimationResult @0xb15b142936c65fa7 $Proxy.wrap("EstimationResult") {
  # Fee estimator statistics for one estimate.

  pass @0 :EstimatorBucket;
  # The lowest-feerate bucket range that met the success threshold.

  fail @1 :EstimatorBucket;
  # The highest-feerate bucket range that failed it.

  decay @2 :Float64;
  # Exponential decay applied to the estimator's history.

  scale @3 :UInt32;
  # Number of blocks each target period stands for.
}

struct EstimatorBucket @0x9f5f7cf3583faae9 $Proxy.wrap("EstimatorBucket") {
  # A feerate range of the fee estimator and what happened to the
  # transactions in it.

  start @0 :Float64;
  # Lowest feerate of the range, in satoshis per kvB.

  end @1 :Float64;
  # Highest feerate of the range, in satoshis per kvB.

  withinTarget @2 :Float64;
  # Decayed count of transactions confirmed within the target.

  totalConfirmed @3 :Float64;
  # Decayed count of all confirmed transactions.

  inMempool @4 :Float64;
  # Transactions still in the mempool past the target.

  leftMempool @5 :Float64;
  # Transactions that left the mempool without confirming.
}

struct Settings @0xf25872482c47d6d9 $Proxy.wrap("common::Settings") {
  # The node's settings from all sources. Values are UniValue JSON text.

  forcedSettings @0 :List(Pair(Text, Text)) $Proxy.name("forced_settings");
  # Settings forced by the software, name to JSON value.

  commandLineOptions @1 :List(Pair(Text, List(Text))) $Proxy.name("command_line_options");
  # Command-line options, name to the JSON values given for it.

  rwSettings @2 :List(Pair(Text, Text)) $Proxy.name("rw_settings");
  # Read-write settings from settings.json, name to JSON value.

  roConfig @3 :List(Pair(Text, List(Pair(Text, List(Text))))) $Proxy.name("ro_config");
  # Read-only bitcoin.conf settings: section to (name to JSON values).
}

struct GlobalArgs @0xb574578dd61d491c $Proxy.count(0) {
  # The global argument state a process passes to one it spawns.

  settings @0 :Settings;
  # All settings, as above.

  configPath @1 :Text;
  # Path of the configuration file that was read.
}

struct BilingualStr @0x8ab5bd30b9c0e6b8 $Proxy.wrap("bilingual_str") {
  # A message in English and in the user's language.

  original @0 :Text;
  # The untranslated (English) text.

  translated @1 :Text;
  # The translated text; equal to original when there is no translation.
}

struct Result @0xe9ccda4c4ecfcc58 (Value) {
  # A value or an error message (C++ util::Result<T>). On success error
  # is null; on failure value is null.

  value @0 :Value;
  # The value on success.

  error @1 :BilingualStr;
  # The error message on failure.
}

struct ResultVoid @0xc55a33a945f4410c (Value) {
  # Success or an error message (C++ util::Result<void>).

  error @0 :BilingualStr;
  # The error message on failure; null on success.
}

struct Expected @0xc72bb3d5de0f2a3f (Value, Error) {
  # Either a value or an error (C++ util::Expected<T, E>).

  union {
    value @0 :Value;
    # The value on success.

    error @1 :Error;
    # The error on failure.
  }
}

struct Pair @0x8ef2f6fc4199a71e (Key, Value) {
  # One entry of a map, or one element of a pair.

  key @0 :Key;
  value @1 :Value;
}

struct PairInt64 @0xb6061f707b66a314 (Key) {
  # A map entry with an Int64 value.

  key @0 :Key;
  value @1 :Int64;
}

struct PairUInt64 @0xa23cd3610997e98d (Key) {
  # A map entry with a UInt64 value.

  key @0 :Key;
  value @1 :UInt64;
}
