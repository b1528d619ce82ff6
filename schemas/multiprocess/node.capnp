# Node: control and status of a bitcoin-node process, as used by the GUI
# (bitcoin-gui) when it runs the node in a separate process.

@0x92546c47dc734b2e;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";
using Ipc = import "/bitcoinipc.capnp";
using Common = import "common.capnp";
using Handler = import "handler.capnp";
using Wallet = import "wallet.capnp";

$Cxx.namespace("ipc::capnp::messages");
$Proxy.include("ipc/capnp/node.h");
$Proxy.includeTypes("ipc/capnp/node-types.h");
$Go.package("multiprocesscapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess/multiprocesscapnp");

interface Node @0xece87a85e7d7c91d $Proxy.wrap("interfaces::Node") {
  # Startup and shutdown, settings, peers, bans, mempool and chain status,
  # RPC, and notification registration for a user interface.

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  initLogging @1 (context :Proxy.Context) -> ();
  # Sets up logging from the settings.

  initParameterInteraction @2 (context :Proxy.Context) -> ();
  # Adjusts settings that depend on each other.

  getWarnings @3 (context :Proxy.Context) -> (result :Common.BilingualStr);
  # Current warnings for the user (such as an unknown chain upgrade).

  getLogCategories @4 (context :Proxy.Context) -> (result :UInt64);
  # Bit mask of the enabled debug log categories.

  getExitStatus @5 (context :Proxy.Context) -> (result :Int32);
  # The exit code the node process will use.

  baseInitialize @6 (context :Proxy.Context, globalArgs :Common.GlobalArgs) -> (error :Text $Proxy.exception("std::exception"), result :Bool);
  # Applies the global arguments and runs the basic startup checks.
  # error carries an exception's message.

  appInitMain @7 (context :Proxy.Context) -> (tipInfo :BlockAndHeaderTipInfo, error :Text $Proxy.exception("std::exception"), result :Bool);
  # Starts the node: loads the chain and starts networking. tipInfo
  # describes the tips on success.

  appShutdown @8 (context :Proxy.Context) -> ();
  # Stops the node.

  startShutdown @9 (context :Proxy.Context) -> ();
  # Asks the node to shut down.

  shutdownRequested @10 (context :Proxy.Context) -> (result :Bool);
  # Whether a shutdown was asked for.

  isSettingIgnored @11 (name :Text) -> (result :Bool);
  # Whether the settings.json value of this setting is (or would be)
  # ignored because the command line also sets it.

  getPersistentSetting @12 (name :Text) -> (result :Text $Ipc.domain(json));
  # The setting's value from settings.json or bitcoin.conf, ignoring the
  # command line, as JSON (null if unset).

  updateRwSetting @13 (name :Text, value :Text $Ipc.domain(json)) -> ();
  # Sets (or, with JSON null, removes) a settings.json value.

  forceSetting @14 (name :Text, value :Text $Ipc.domain(json)) -> ();
  # Overrides a setting for this run only, with a JSON value.

  resetSettings @15 () -> ();
  # Clears settings.json, keeping a backup in settings.json.bak.

  mapPort @16 (context :Proxy.Context, useNatPnP :Bool) -> ();
  # Turns NAT-PMP/PCP port mapping on or off.

  getProxy @17 (context :Proxy.Context, net :Int32) -> (proxyInfo :ProxyInfo, result :Bool);
  # The proxy for a network (C++ Network); false if there is none.

  getNodeCount @18 (context :Proxy.Context, flags :Int32) -> (result :UInt64);
  # Number of peers in the given directions (C++ ConnectionDirection).

  getNodesStats @19 (context :Proxy.Context) -> (stats :List(NodeStats), result :Bool);
  # Statistics for every connected peer.

  getBanned @20 (context :Proxy.Context) -> (banmap :Banmap, result :Bool);
  # The ban list.

  ban @21 (context :Proxy.Context, netAddr :Data, banTimeOffset :Int64) -> (result :Bool);
  # Bans a serialized network address for banTimeOffset seconds.

  unban @22 (context :Proxy.Context, ip :Data) -> (result :Bool);
  # Lifts the ban on a serialized subnet.

  disconnectByAddress @23 (context :Proxy.Context, address :Data) -> (result :Bool);
  # Disconnects peers at a serialized network address.

  disconnectById @24 (context :Proxy.Context, id :Int64) -> (result :Bool);
  # Disconnects the peer with this id.

  listExternalSigners @25 (context :Proxy.Context) -> (result :List(ExternalSigner));
  # The external signers found by -signer.

  getTotalBytesRecv @26 (context :Proxy.Context) -> (result :Int64);
  # Bytes received from all peers since startup.

  getTotalBytesSent @27 (context :Proxy.Context) -> (result :Int64);
  # Bytes sent to all peers since startup.

  getMempoolSize @28 (context :Proxy.Context) -> (result :UInt64);
  # Number of transactions in the mempool.

  getMempoolDynamicUsage @29 (context :Proxy.Context) -> (result :UInt64);
  # Memory used by the mempool, in bytes.

  getMempoolMaxUsage @30 (context :Proxy.Context) -> (result :UInt64);
  # The mempool's memory limit, in bytes.

  getHeaderTip @31 (context :Proxy.Context) -> (height :Int32, blockTime :Int64, result :Bool);
  # Height and timestamp (unix seconds) of the best known header; false
  # if there is none.

  getNumBlocks @32 (context :Proxy.Context) -> (result :Int32);
  # Height of the active chain tip.

  getNetLocalAddresses @33 (context :Proxy.Context) -> (result :List(Common.Pair(Data, LocalServiceInfo)));
  # The node's own addresses (serialized) as advertised to peers.

  getBestBlockHash @34 (context :Proxy.Context) -> (result :Data $Ipc.domain(hash));
  # Hash of the active chain tip.

  getLastBlockTime @35 (context :Proxy.Context) -> (result :Int64);
  # Timestamp of the active chain tip, in unix seconds.

  getVerificationProgress @36 (context :Proxy.Context) -> (result :Float64);
  # Estimated fraction (0 to 1) of the chain verified.

  isInitialBlockDownload @37 (context :Proxy.Context) -> (result :Bool);
  # True while the node is still catching up with the network.

  isLoadingBlocks @38 (context :Proxy.Context) -> (result :Bool);
  # Whether the node is importing or reindexing blocks.

  setNetworkActive @39 (context :Proxy.Context, active :Bool) -> ();
  # Turns networking on or off.

  getNetworkActive @40 (context :Proxy.Context) -> (result :Bool);
  # Whether networking is on.

  getDustRelayFee @41 (context :Proxy.Context) -> (result :Data);
  # The feerate used to decide dust (serialized CFeeRate).

  executeRpc @42 (context :Proxy.Context, command :Text, params :Text $Ipc.domain(json), uri :Text) -> (error :Text $Proxy.exception("std::exception"), rpcError :Text $Proxy.exception("UniValue") $Ipc.domain(json), result :Text $Ipc.domain(json));
  # Runs an RPC method with JSON params as if it had arrived at uri, and
  # returns its JSON result. rpcError carries a JSON-RPC error object.

  listRpcCommands @43 (context :Proxy.Context) -> (result :List(Text));
  # Names of all RPC methods.

  getUnspentOutput @44 (context :Proxy.Context, output :Data) -> (result :Data);
  # The serialized unspent coin at a serialized outpoint; empty if the
  # output is spent or unknown.

  broadcastTransaction @45 (context :Proxy.Context, tx :Data $Ipc.domain(tx), maxTxFee :Int64 $Ipc.domain(amount)) -> (error :Text, result :Int32);
  # Adds the transaction to the mempool and relays it, refusing it if the
  # fee exceeds maxTxFee (satoshis). result is the C++ TransactionError
  # (0 = OK); error says why.

  customWalletLoader @46 (context :Proxy.Context) -> (result :Wallet.WalletLoader) $Proxy.name("walletLoader");
  # The node's wallet loader.

  handleInitMessage @47 (context :Proxy.Context, callback :InitMessageCallback) -> (result :Handler.Handler);
  # Calls back with startup progress messages.

  handleMessageBox @48 (context :Proxy.Context, callback :MessageBoxCallback) -> (result :Handler.Handler);
  # Calls back to show a message to the user.

  handleQuestion @49 (context :Proxy.Context, callback :QuestionCallback) -> (result :Handler.Handler);
  # Calls back to ask the user a question.

  handleShowProgress @50 (context :Proxy.Context, callback :ShowNodeProgressCallback) -> (result :Handler.Handler);
  # Calls back with the progress of long operations.

  handleInitWallet @51 (context :Proxy.Context, callback :InitWalletCallback) -> (result :Handler.Handler);
  # Calls back when wallets are about to be loaded.

  handleNotifyNumConnectionsChanged @52 (context :Proxy.Context, callback :NotifyNumConnectionsChangedCallback) -> (result :Handler.Handler);
  # Calls back when the number of peers changes.

  handleNotifyNetworkActiveChanged @53 (context :Proxy.Context, callback :NotifyNetworkActiveChangedCallback) -> (result :Handler.Handler);
  # Calls back when networking is turned on or off.

  handleNotifyAlertChanged @54 (context :Proxy.Context, callback :NotifyAlertChangedCallback) -> (result :Handler.Handler);
  # Calls back when the warnings change.

  handleBannedListChanged @55 (context :Proxy.Context, callback :BannedListChangedCallback) -> (result :Handler.Handler);
  # Calls back when the ban list changes.

  handleNotifyBlockTip @56 (context :Proxy.Context, callback :NotifyBlockTipCallback) -> (result :Handler.Handler);
  # Calls back when the active chain tip changes.

  handleNotifyHeaderTip @57 (context :Proxy.Context, callback :NotifyHeaderTipCallback) -> (result :Handler.Handler);
  # Calls back when the best header changes.
}

interface ExternalSigner @0xfbf1fccd8f75eb78 $Proxy.wrap("interfaces::ExternalSigner") {
  # A hardware or other external signing device.

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  getName @1 (context :Proxy.Context) -> (result :Text);
  # The device's name.
}

interface InitMessageCallback @0x955d952241295e4c $Proxy.wrap("ProxyCallback<interfaces::Node::InitMessageFn>") {
  # Receives startup progress messages (Node.handleInitMessage).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, message :Text) -> ();
  # A new startup message.
}

interface MessageBoxCallback @0xc4e60505ab00fed6 $Proxy.wrap("ProxyCallback<interfaces::Node::MessageBoxFn>") {
  # Shows messages to the user (Node.handleMessageBox).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, message :Common.BilingualStr, caption :Text, style :UInt32) -> (result :Bool);
  # Shows the message; style holds CClientUIInterface flags (icon,
  # buttons). Returns the user's answer where one is asked for.
}

interface QuestionCallback @0xe2637348d576dcaf $Proxy.wrap("ProxyCallback<interfaces::Node::QuestionFn>") {
  # Asks the user questions (Node.handleQuestion).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, message :Common.BilingualStr, nonInteractiveMessage :Text, caption :Text, style :UInt32) -> (result :Bool);
  # Asks the question; nonInteractiveMessage is used where nobody can
  # answer. Returns whether the user agreed.
}

interface ShowNodeProgressCallback @0xa0c733bacdde6cac $Proxy.wrap("ProxyCallback<interfaces::Node::ShowProgressFn>") {
  # Receives progress reports (Node.handleShowProgress).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, title :Text, progress :Int32, resumePossible :Bool) -> ();
  # Progress of the titled operation, in percent (100 when done);
  # resumePossible says whether it can be continued after an interruption.
}

interface InitWalletCallback @0x800f919151a3d94d $Proxy.wrap("ProxyCallback<interfaces::Node::InitWalletFn>") {
  # Told that wallets are about to be loaded (Node.handleInitWallet).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context) -> ();
  # Wallet loading is starting.
}

interface NotifyNumConnectionsChangedCallback @0xd28fa815a3700dca $Proxy.wrap("ProxyCallback<interfaces::Node::NotifyNumConnectionsChangedFn>") {
  # Told the peer count (Node.handleNotifyNumConnectionsChanged).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, newNumConnections :Int32) -> ();
  # The new number of peers.
}

interface NotifyNetworkActiveChangedCallback @0x9d0290be20a9ec6c $Proxy.wrap("ProxyCallback<interfaces::Node::NotifyNetworkActiveChangedFn>") {
  # Told when networking is turned on or off
  # (Node.handleNotifyNetworkActiveChanged).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, networkActive :Bool) -> ();
  # Whether networking is now on.
}

interface NotifyAlertChangedCallback @0xb1691cf5ab373886 $Proxy.wrap("ProxyCallback<interfaces::Node::NotifyAlertChangedFn>") {
  # Told when the warnings change (Node.handleNotifyAlertChanged).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context) -> ();
  # The warnings changed; fetch them with Node.getWarnings.
}

interface BannedListChangedCallback @0x93d235d8153ab33b $Proxy.wrap("ProxyCallback<interfaces::Node::BannedListChangedFn>") {
  # Told when the ban list changes (Node.handleBannedListChanged).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context) -> ();
  # The ban list changed; fetch it with Node.getBanned.
}

interface NotifyBlockTipCallback @0xd7a817fb90738585 $Proxy.wrap("ProxyCallback<interfaces::Node::NotifyBlockTipFn>") {
  # Told about new chain tips (Node.handleNotifyBlockTip).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, syncState :Int32, tip :BlockTip, verificationProgress :Float64) -> ();
  # The new tip, the sync state (C++ SynchronizationState) and the
  # estimated fraction (0 to 1) of the chain verified.
}

interface NotifyHeaderTipCallback @0x9d0b34fb1eeed2c5 $Proxy.wrap("ProxyCallback<interfaces::Node::NotifyHeaderTipFn>") {
  # Told about new best headers (Node.handleNotifyHeaderTip).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, syncState :Int32, tip :BlockTip, verificationProgress :Float64) -> ();
  # The new header tip, the sync state (C++ SynchronizationState) and
  # the estimated fraction (0 to 1) of the chain verified.
}

struct ProxyInfo @0xb85c2ec6d667f0df $Proxy.wrap("::Proxy") {
  # A proxy the node connects through.

  proxy @0 :Data;
  # The proxy's serialized address.

  torStreamIsolation @1 :Bool $Proxy.name("m_tor_stream_isolation");
  # Whether each connection uses distinct credentials for Tor stream
  # isolation.
}

struct NodeStats @0xb45fb3131e4d7fe0 $Proxy.wrap("CNodeStats") {
  # Statistics of one connected peer. Times are unix seconds, durations
  # microseconds.

  nodeid @0 :Int64 $Proxy.name("nodeid");
  # The peer id.

  lastSend @1 :Int64 $Proxy.name("m_last_send");
  # When data was last sent.

  lastRecv @2 :Int64 $Proxy.name("m_last_recv");
  # When data was last received.

  lastTXTime @3 :Int64 $Proxy.name("m_last_tx_time");
  # When the peer last sent a new mempool transaction.

  lastBlockTime @4 :Int64 $Proxy.name("m_last_block_time");
  # When the peer last sent a new block.

  timeConnected @5 :Int64 $Proxy.name("m_connected");
  # When the connection was made.

  addrName @6 :Text $Proxy.name("m_addr_name");
  # The peer's address as text.

  version @7 :Int32 $Proxy.name("nVersion");
  # The peer's protocol version.

  cleanSubVer @8 :Text $Proxy.name("cleanSubVer");
  # The peer's user agent, sanitized.

  inbound @9 :Bool $Proxy.name("fInbound");
  # Whether the peer connected to us.

  bip152HighbandwidthTo @10 :Bool $Proxy.name("m_bip152_highbandwidth_to");
  # We asked the peer for high-bandwidth compact block relay.

  bip152HighbandwidthFrom @11 :Bool $Proxy.name("m_bip152_highbandwidth_from");
  # The peer asked us for high-bandwidth compact block relay.

  startingHeight @12 :Int32 $Proxy.name("m_starting_height");
  # The chain height the peer reported at connection.

  sendBytes @13 :UInt64 $Proxy.name("nSendBytes");
  # Total bytes sent.

  sendBytesPerMsgType @14 :List(Common.PairUInt64(Text)) $Proxy.name("mapSendBytesPerMsgType");
  # Bytes sent per message type.

  recvBytes @15 :UInt64 $Proxy.name("nRecvBytes");
  # Total bytes received.

  recvBytesPerMsgType @16 :List(Common.PairUInt64(Text)) $Proxy.name("mapRecvBytesPerMsgType");
  # Bytes received per message type.

  permissionFlags @17 :Int32 $Proxy.name("m_permission_flags");
  # The peer's permissions (C++ NetPermissionFlags).

  pingTime @18 :Int64 $Proxy.name("m_last_ping_time");
  # The last ping round trip, in microseconds.

  minPingTime @19 :Int64 $Proxy.name("m_min_ping_time");
  # The shortest ping round trip seen, in microseconds.

  addrLocal @20 :Text $Proxy.name("addrLocal");
  # Our address as the peer sees it.

  addr @21 :Data $Proxy.name("addr");
  # The peer's serialized address.

  addrBind @22 :Data $Proxy.name("addrBind");
  # Our serialized local address of the connection.

  network @23 :Int32 $Proxy.name("m_network");
  # The peer's network (C++ Network).

  mappedAs @24 :UInt32 $Proxy.name("m_mapped_as");
  # The autonomous system number the peer maps to (0 if unknown).

  connType @25 :Int32 $Proxy.name("m_conn_type");
  # The connection type (C++ ConnectionType).

  transportType @26 :UInt8 $Proxy.name("m_transport_type;");
  # The transport protocol (C++ TransportProtocolType: detecting, v1,
  # or v2 for BIP324).

  sessionId @27 :Text $Proxy.name("m_session_id");
  # The BIP324 session id, hex; empty for v1.

  stateStats @28 :NodeStateStats $Proxy.skip;
  # Validation-side statistics of the peer, when available.
}

struct NodeStateStats @0xecccc20ba54fece4 $Proxy.wrap("CNodeStateStats") {
  # Statistics the validation side keeps about a peer.

  syncHeight @0 :Int32 $Proxy.name("nSyncHeight");
  # Height of the last block we know the peer has; -1 if none.

  commonHeight @1 :Int32 $Proxy.name("nCommonHeight");
  # Height of the last block both we and the peer have; -1 if none.

  startingHeight @2 :Int32 $Proxy.name("m_starting_height");
  # The chain height the peer reported at connection.

  pingWait @3 :Int64 $Proxy.name("m_ping_wait");
  # How long an outstanding ping has been waiting, in microseconds.

  heightInFlight @4 :List(Int32) $Proxy.name("vHeightInFlight");
  # Heights of the blocks being downloaded from the peer.

  addressesProcessed @5 :UInt64 $Proxy.name("m_addr_processed");
  # Addresses from the peer that were processed.

  addressesRateLimited @6 :UInt64 $Proxy.name("m_addr_rate_limited");
  # Addresses from the peer dropped by rate limiting.

  addressRelayEnabled @7 :Bool $Proxy.name("m_addr_relay_enabled");
  # Whether we relay addresses to the peer.

  theirServices @8 :UInt64 $Proxy.name("their_services");
  # The service bits the peer advertises.

  presyncHeight @9 :Int64 $Proxy.name("presync_height");
  # Height of the peer's headers during headers presync; -1 if none.

  timeOffset @10 :Int64 $Proxy.name("time_offset");
  # The peer's clock minus ours, in seconds.
}

struct Banmap @0x8691f5ffd4852e9c {
  # The ban list.

  json @0 :Text $Ipc.domain(json);
  # The bans as JSON, in the format of banlist.json.
}

struct BlockTip @0xd507949ce6c6f781 $Proxy.wrap("interfaces::BlockTip") {
  # A chain or header tip.

  blockHeight @0 :Int32 $Proxy.name("block_height");
  # The tip's height.

  blockTime @1 :Int64 $Proxy.name("block_time");
  # The tip's timestamp, in unix seconds.

  blockHash @2 :Data $Proxy.name("block_hash") $Ipc.domain(hash);
  # The tip's hash.
}

struct BlockAndHeaderTipInfo @0x98f8b9129f9d8bfd $Proxy.wrap("interfaces::BlockAndHeaderTipInfo") {
  # The chain and header tips after startup (Node.appInitMain).

  blockHeight @0 :Int32 $Proxy.name("block_height");
  # Height of the active chain tip.

  blockTime @1 :Int64 $Proxy.name("block_time");
  # Timestamp of the active chain tip, in unix seconds.

  headerHeight @2 :Int32 $Proxy.name("header_height");
  # Height of the best header.

  headerTime @3 :Int64 $Proxy.name("header_time");
  # Timestamp of the best header, in unix seconds.

  verificationProgress @4 :Float64 $Proxy.name("verification_progress");
  # Estimated fraction (0 to 1) of the chain verified.
}

struct LocalServiceInfo @0x9c8fff1696ce17ff $Proxy.wrap("LocalServiceInfo") {
  # How the node advertises one of its own addresses.

  score @0 :Int32 $Proxy.name("nScore");
  # Preference score of the address.

  port @1 :UInt16 $Proxy.name("nPort");
  # The port advertised with it.
}
