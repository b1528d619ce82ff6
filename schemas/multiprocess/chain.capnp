# Chain: the node's view of the block chain, mempool, fee estimates and
# settings, as used by a wallet process (or any other chain client).

@0x94f21a4864bd2c65;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";
using Ipc = import "/bitcoinipc.capnp";
using Common = import "common.capnp";
using Handler = import "handler.capnp";

$Cxx.namespace("ipc::capnp::messages");
$Proxy.include("interfaces/chain.h");
$Proxy.include("rpc/server.h");
$Proxy.includeTypes("ipc/capnp/chain-types.h");
$Go.package("multiprocesscapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess/multiprocesscapnp");

interface Chain @0xddfb1d54c24414b3 $Proxy.wrap("interfaces::Chain") {
  # Read access to the node's chain state and mempool, transaction
  # broadcasting, notifications, RPC registration and settings.

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  getHeight @1 (context :Proxy.Context) -> (result :Int32, hasResult :Bool);
  # Height of the active chain tip; hasResult is false when the chain is
  # empty (no genesis block loaded).

  getBlockHash @2 (context :Proxy.Context, height :Int32) -> (result :Data $Ipc.domain(hash));
  # Hash of the active-chain block at the given height.

  haveBlockOnDisk @3 (context :Proxy.Context, height :Int32) -> (result :Bool);
  # Whether the block data at this active-chain height is stored (false
  # when it was pruned or not yet downloaded).

  findLocatorFork @4 (context :Proxy.Context, locator :Data) -> (result :Int32, hasResult :Bool);
  # Height of the latest active-chain block that also appears in the
  # serialized block locator; hasResult is false if none does.

  hasBlockFilterIndex @5 (context :Proxy.Context, filterType :UInt8) -> (result :Bool);
  # Whether a block filter index of this type (0 = basic) is available.

  blockFilterMatchesAny @6 (context :Proxy.Context, filterType :UInt8, blockHash :Data $Ipc.domain(hash), filterSet :List(Data)) -> (result :Bool, hasResult :Bool);
  # Whether the block's filter matches any element of filterSet (such as
  # output scripts). hasResult is false if the filter is not available.

  findBlock @7 (context :Proxy.Context, hash :Data $Ipc.domain(hash), block :FoundBlockParam) -> (block :FoundBlockResult, result :Bool);
  # Looks a block up by hash and returns the fields asked for in block.
  # result is false if the block is unknown.

  findFirstBlockWithTimeAndHeight @8 (context :Proxy.Context, minTime :Int64, minHeight :Int32, block :FoundBlockParam) -> (block :FoundBlockResult, result :Bool);
  # Finds the first active-chain block with a timestamp of at least
  # minTime (unix seconds) and a height of at least minHeight.

  findAncestorByHeight @9 (context :Proxy.Context, blockHash :Data $Ipc.domain(hash), ancestorHeight :Int32, ancestor :FoundBlockParam) -> (ancestor :FoundBlockResult, result :Bool);
  # Finds the ancestor of blockHash at ancestorHeight.

  findAncestorByHash @10 (context :Proxy.Context, blockHash :Data $Ipc.domain(hash), ancestorHash :Data $Ipc.domain(hash), ancestor :FoundBlockParam) -> (ancestor :FoundBlockResult, result :Bool);
  # Checks that ancestorHash is an ancestor of blockHash and returns its
  # details; result is false if it is not.

  findCommonAncestor @11 (context :Proxy.Context, blockHash1 :Data $Ipc.domain(hash), blockHash2 :Data $Ipc.domain(hash), ancestor :FoundBlockParam, block1 :FoundBlockParam, block2 :FoundBlockParam) -> (ancestor :FoundBlockResult, block1 :FoundBlockResult, block2 :FoundBlockResult, result :Bool);
  # Finds the most recent common ancestor of two blocks, and also returns
  # details of the two blocks themselves.

  findCoins @12 (context :Proxy.Context, coins :List(Common.Pair(Data, Data))) -> (coins :List(Common.Pair(Data, Data)));
  # Looks up unspent coins. Keys are serialized outpoints; the values are
  # filled in with the serialized coins (empty when spent or unknown).

  guessVerificationProgress @13 (context :Proxy.Context, blockHash :Data $Ipc.domain(hash)) -> (result :Float64);
  # Estimated fraction (0 to 1) of all transactions verified up to the
  # given block.

  hasBlocks @14 (context :Proxy.Context, blockHash :Data $Ipc.domain(hash), minHeight :Int32, maxHeight :Int32, hasMaxHeight :Bool) -> (result :Bool);
  # Whether block data is available for all ancestors of blockHash from
  # minHeight up to maxHeight (or up to blockHash if not hasMaxHeight).

  isRBFOptIn @15 (context :Proxy.Context, tx :Data $Ipc.domain(tx)) -> (result :Int32);
  # The transaction's BIP125 replaceability (C++ RBFTransactionState:
  # 0 unknown, 1 replaceable, 2 final).

  isInMempool @16 (context :Proxy.Context, txid :Data $Ipc.domain(hash)) -> (result :Bool);
  # Whether the transaction is in the mempool.

  hasDescendantsInMempool @17 (context :Proxy.Context, txid :Data $Ipc.domain(hash)) -> (result :Bool);
  # Whether the mempool holds transactions that spend this one.

  broadcastTransaction @18 (context :Proxy.Context, tx :Data $Ipc.domain(tx), maxTxFee :Int64 $Ipc.domain(amount), broadcastMethod :Int32) -> (error :Text, result :Bool);
  # Adds the transaction to the mempool and relays it as broadcastMethod
  # says. Fails if its fee exceeds maxTxFee (satoshis); error says why.

  getTransactionAncestry @19 (context :Proxy.Context, txid :Data $Ipc.domain(hash)) -> (ancestors :UInt64, descendants :UInt64, ancestorsize :UInt64, ancestorfees :Int64 $Ipc.domain(amount));
  # Mempool ancestor and descendant counts of the transaction (including
  # itself), with its ancestors' total virtual size and fees.

  calculateIndividualBumpFees @20 (context :Proxy.Context, outpoints :List(Data), targetFeerate :Data) -> (result :List(Common.PairInt64(Data)));
  # For each serialized outpoint, the fee (satoshis) needed to bump its
  # unconfirmed ancestors to the serialized target feerate.

  calculateCombinedBumpFee @21 (context :Proxy.Context, outpoints :List(Data), targetFeerate :Data) -> (result :Int64 $Ipc.domain(amount), hasResult :Bool);
  # The total bump fee (satoshis) for spending all outpoints together;
  # hasResult is false if it cannot be calculated.

  getPackageLimits @22 (context :Proxy.Context) -> (ancestors :UInt32, descendants :UInt32);
  # The mempool's ancestor and descendant count limits.

  checkChainLimits @23 (context :Proxy.Context, tx :Data $Ipc.domain(tx)) -> (result :Common.ResultVoid);
  # Checks whether the transaction would exceed the mempool chain limits;
  # the result's error says which limit.

  estimateSmartFee @24 (context :Proxy.Context, numBlocks :Int32, conservative :Bool, wantCalc :Bool) -> (calc :Common.FeeCalculation, result :Data);
  # Estimates the feerate (serialized CFeeRate) needed to confirm within
  # numBlocks blocks; calc is filled in when wantCalc.

  estimateMaxBlocks @25 (context :Proxy.Context) -> (result :UInt32);
  # The largest confirmation target the fee estimator supports.

  mempoolMinFee @26 (context :Proxy.Context) -> (result :Data);
  # The mempool's current minimum feerate (serialized CFeeRate).

  relayMinFee @27 (context :Proxy.Context) -> (result :Data);
  # The minimum relay feerate, -minrelaytxfee (serialized CFeeRate).

  relayIncrementalFee @28 (context :Proxy.Context) -> (result :Data);
  # The incremental relay feerate for replacements (serialized CFeeRate).

  relayDustFee @29 (context :Proxy.Context) -> (result :Data);
  # The feerate used to decide dust, -dustrelayfee (serialized CFeeRate).

  havePruned @30 (context :Proxy.Context) -> (result :Bool);
  # Whether any block files have been pruned.

  getPruneHeight @31 (context :Proxy.Context) -> (result :Int32, hasResult :Bool);
  # Height of the first block that is no longer stored; hasResult is
  # false if nothing was pruned.

  isReadyToBroadcast @32 (context :Proxy.Context) -> (result :Bool);
  # Whether the node has finished loading and can relay transactions.

  isInitialBlockDownload @33 (context :Proxy.Context) -> (result :Bool);
  # True while the node is still catching up with the network.

  shutdownRequested @34 (context :Proxy.Context) -> (result :Bool);
  # Whether the node is shutting down.

  initMessage @35 (context :Proxy.Context, message :Text) -> ();
  # Shows a progress message during startup.

  initWarning @36 (context :Proxy.Context, message :Common.BilingualStr) -> ();
  # Reports a startup warning to the user.

  initError @37 (context :Proxy.Context, message :Common.BilingualStr) -> ();
  # Reports a startup error to the user.

  showProgress @38 (context :Proxy.Context, title :Text, progress :Int32, resumePossible :Bool) -> ();
  # Reports the progress (percent) of a long operation such as a rescan.

  handleNotifications @39 (context :Proxy.Context, notifications :ChainNotifications) -> (result :Handler.Handler);
  # Registers for block, transaction and tip notifications; they stop
  # when the returned handler is destroyed.

  waitForNotificationsIfTipChanged @40 (context :Proxy.Context, oldTip :Data $Ipc.domain(hash)) -> ();
  # Waits until pending notifications are delivered, if the tip is no
  # longer oldTip.

  waitForNotifications @41 (context :Proxy.Context) -> ();
  # Waits until all pending notifications are delivered.

  handleRpc @42 (context :Proxy.Context, command :RPCCommand) -> (result :Handler.Handler);
  # Adds an RPC method served by the caller; it is removed when the
  # returned handler is destroyed.

  rpcEnableDeprecated @43 (context :Proxy.Context, method :Text) -> (result :Bool);
  # Whether -deprecatedrpc enables the named deprecated feature.

  getSetting @44 (context :Proxy.Context, name :Text) -> (result :Text $Ipc.domain(json));
  # The effective value of a setting, as JSON (null if unset).

  getSettingsList @45 (context :Proxy.Context, name :Text) -> (result :List(Text) $Ipc.domain(json));
  # All values given for a list setting, each as JSON.

  getRwSetting @46 (context :Proxy.Context, name :Text) -> (result :Text $Ipc.domain(json));
  # The value of a setting in settings.json, as JSON (null if unset).

  updateRwSetting @47 (context :Proxy.Context, name :Text, update :SettingsUpdateCallback) -> (result :Bool);
  # Changes a settings.json value through the callback, which gets the
  # current value and returns the new one. False if writing failed.

  overwriteRwSetting @48 (context :Proxy.Context, name :Text, value :Text $Ipc.domain(json), action :Int32) -> (result :Bool);
  # Replaces a settings.json value (JSON); action says whether to write
  # the file. False if writing failed.

  deleteRwSettings @49 (context :Proxy.Context, name :Text, action :Int32) -> (result :Bool);
  # Removes a settings.json value; action says whether to write the file.

  requestMempoolTransactions @50 (context :Proxy.Context, notifications :ChainNotifications) -> ();
  # Sends transactionAddedToMempool for every transaction now in the
  # mempool to the given notifications object.

  hasAssumedValidChain @51 (context :Proxy.Context) -> (result :Bool);
  # Whether an assumeutxo snapshot chainstate is still being validated in
  # the background.
}

interface ChainNotifications @0x9ac9db48ba219039 $Proxy.wrap("interfaces::Chain::Notifications") {
  # Receives chain and mempool events; registered with
  # Chain.handleNotifications.

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  transactionAddedToMempool @1 (context :Proxy.Context, tx :Data $Ipc.domain(tx)) -> ();
  # A transaction entered the mempool.

  transactionRemovedFromMempool @2 (context :Proxy.Context, tx :Data $Ipc.domain(tx), reason :Int32) -> ();
  # A transaction left the mempool for a reason other than being mined
  # (C++ MemPoolRemovalReason).

  blockConnected @3 (context :Proxy.Context, role :ChainstateRole, block :BlockInfo) -> ();
  # A block was connected to the chainstate named by role.

  blockDisconnected @4 (context :Proxy.Context, block :BlockInfo) -> ();
  # A block was disconnected from the active chain (a reorg).

  updatedBlockTip @5 (context :Proxy.Context) -> ();
  # The active chain tip changed.

  chainStateFlushed @6 (context :Proxy.Context, role :ChainstateRole, locator :Data) -> ();
  # The chainstate was written to disk up to the serialized block locator.
}

interface ChainClient @0xe12e54f4b0c4b578 $Proxy.wrap("interfaces::ChainClient") {
  # A component that runs on top of Chain (such as the wallet) and that
  # the node starts, stops and verifies.

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  registerRpcs @1 (context :Proxy.Context) -> ();
  # Registers the client's RPC methods with the node.

  verify @2 (context :Proxy.Context) -> (result :Bool);
  # Checks the client's configuration and data before loading.

  load @3 (context :Proxy.Context) -> (result :Bool);
  # Loads the client's data (for example, wallets).

  start @4 (context :Proxy.Context, scheduler :Void) -> ();
  # Starts background work. The scheduler cannot cross the process
  # boundary and is sent as Void.

  stop @5 (context :Proxy.Context) -> ();
  # Stops background work and releases resources.

  setMockTime @6 (context :Proxy.Context, time :Int64) -> ();
  # Sets the mock clock (unix seconds; 0 uses the real clock). For tests.

  schedulerMockForward @7 (context :Proxy.Context, deltaSeconds :Int64 $Ipc.domain(seconds)) -> ();
  # Advances the client's scheduler by deltaSeconds. For tests.
}

struct RPCCommand @0xcf447f100da2859a $Proxy.wrap("CRPCCommand") {
  # An RPC method served by a chain client (Chain.handleRpc).

  category @0 :Text;
  # Help category, such as "wallet".

  name @1 :Text;
  # The method name.

  actor @2 :ActorCallback;
  # Called to run the method.

  argNames @3 :List(RPCArg);
  # The method's parameter names, in positional order.

  uniqueId @4 :Int64 $Proxy.name("unique_id");
  # Identifies the command among methods of the same name.
}

struct RPCArg @0x8cb8812c575d5584 {
  # One parameter of an RPCCommand.

  name @0 :Text;
  # The parameter name.

  namedOnly @1 :Bool;
  # The parameter can only be passed by name, not by position.
}

interface ActorCallback @0xef421ff8403487a5 $Proxy.wrap("ProxyCallback<CRPCCommand::Actor>") {
  # Runs an RPC method registered with Chain.handleRpc.

  call @0 (context :Proxy.Context, request :JSONRPCRequest, response :Text $Ipc.domain(json), lastCallback :Bool) -> (error :Text $Proxy.exception("std::exception"), rpcError :Text $Proxy.exception("UniValue") $Ipc.domain(json), typeError :Text $Proxy.exception("UniValue::type_error"), helpResult :HelpResult $Proxy.exception("HelpResult"), response :Text $Ipc.domain(json), result :Bool);
  # Runs the request and returns the JSON result in response. result is
  # false if the method declined and the next handler should try
  # (lastCallback says whether there is one). The exception fields
  # carry a thrown error: a message, a JSON-RPC error object, a JSON
  # type error, or help text.
}

struct HelpResult @0xc38a63499212f3e4 {
  # Help text thrown by an RPC method asked for its help.

  message @0 :Text;
  # The help text.
}

struct JSONRPCRequest @0xd804f4dad81929c9 $Proxy.wrap("JSONRPCRequest") {
  # A parsed JSON-RPC request.

  id @0 :Text $Ipc.domain(json);
  # The request id, as JSON.

  method @1 :Text $Proxy.name("strMethod");
  # The method name.

  params @2 :Text $Ipc.domain(json);
  # The parameters, as a JSON array or object.

  mode @3 :Int32;
  # What the request is for: 0 execute, 1 get help, 2 get argument names.

  uri @4 :Text $Proxy.name("URI");
  # The HTTP path the request arrived on, such as "/wallet/<name>".

  authUser @5 :Text;
  # The authenticated RPC user.

  peerAddr @6 :Text;
  # The client's network address.

  version @7 :Int32 $Proxy.name("m_json_version");
  # The JSON-RPC version of the request (1 for 1.0, 2 for 2.0).
}

struct FoundBlockParam @0xedde51f40e3cad2a {
  # Which details of a block a find* method of Chain should return.

  wantHash @0 :Bool;
  # Return the block hash.

  wantHeight @1 :Bool;
  # Return the block height.

  wantTime @2 :Bool;
  # Return the block's header timestamp.

  wantMaxTime @3 :Bool;
  # Return the largest timestamp of the block and its ancestors.

  wantMtpTime @4 :Bool;
  # Return the median time past.

  wantInActiveChain @5 :Bool;
  # Return whether the block is in the active chain.

  wantLocator @6 :Bool;
  # Return a block locator for the block.

  nextBlock @7 :FoundBlockParam;
  # What to return about the block's successor in the active chain;
  # null for nothing.

  wantData @8 :Bool;
  # Return the full serialized block.
}

struct FoundBlockResult @0x980d6d9f8f8630fe {
  # The details of a block asked for with FoundBlockParam; fields not
  # asked for are left empty.

  hash @0 :Data $Ipc.domain(hash);
  # The block hash.

  height @1 :Int32;
  # The block height.

  time @2 :Int64;
  # The header timestamp, in unix seconds.

  maxTime @3 :Int64;
  # The largest timestamp of the block and its ancestors (unix seconds).

  mtpTime @4 :Int64;
  # The median time past (unix seconds).

  inActiveChain @5 :Bool;
  # Whether the block is in the active chain.

  locator @6 :Data;
  # A serialized block locator for the block.

  nextBlock @7 :FoundBlockResult;
  # Details of the successor, when asked for.

  data @8 :Data $Ipc.domain(block);
  # The serialized block.

  found @9 :Bool;
  # Whether the block was found at all.
}

struct BlockInfo @0x9515caf33b457880 $Proxy.wrap("interfaces::BlockInfo") {
  # A block that was connected or disconnected, as sent to
  # ChainNotifications.

  hash @0 :Data $Proxy.skip $Ipc.domain(hash);
  # The block hash.

  prevHash @1 :Data $Proxy.skip $Ipc.domain(hash);
  # The hash of the previous block; empty for the genesis block.

  height @2 :Int32 = -1;
  # The block height; -1 when unknown.

  fileNumber @3 :Int32 = -1 $Proxy.name("file_number");
  # Number of the blk*.dat file holding the block; -1 when unknown.

  dataPos @4 :UInt32 $Proxy.name("data_pos");
  # Offset of the block within that file.

  data @5 :Data $Proxy.skip $Ipc.domain(block);
  # The serialized block, when available.

  undoData @6 :Data $Proxy.skip;
  # The block's serialized undo data, when available.

  chainTimeMax @7 :UInt32 $Proxy.name("chain_time_max");
  # The largest timestamp of the block and its ancestors (unix seconds).
}

struct ChainstateRole @0xfc64a127a9c6d56a $Proxy.wrap("kernel::ChainstateRole") {
  # Which chainstate an event is about, when an assumeutxo snapshot is in
  # use.

  validated @0 :Bool;
  # The chainstate is fully validated (not an unvalidated snapshot).

  historical @1 :Bool;
  # The chainstate is the background one validating snapshot history.
}

interface SettingsUpdateCallback @0x995e7b64fb44bec5 $Proxy.wrap("ProxyCallback<interfaces::SettingsUpdate>") {
  # Edits a settings.json value for Chain.updateRwSetting.

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, value :Text $Ipc.domain(json)) -> (value :Text $Ipc.domain(json), result :Int32, hasResult :Bool);
  # Gets the current value (JSON) and returns the new one. result, when
  # hasResult, says whether to write the file (C++ SettingsAction).
}
