# Wallet: access to one loaded wallet, and WalletLoader, which creates,
# loads and lists wallets. Used by the GUI and by a node whose wallet runs
# in a separate process.

@0xe234cce74feea00c;

using Cxx = import "/capnp/c++.capnp";
using Go = import "/go.capnp";
using Proxy = import "/mp/proxy.capnp";
using Ipc = import "/bitcoinipc.capnp";
using Chain = import "chain.capnp";
using Common = import "common.capnp";
using Handler = import "handler.capnp";

$Cxx.namespace("ipc::capnp::messages");
$Proxy.include("ipc/capnp/wallet.h");
$Proxy.includeTypes("ipc/capnp/wallet-types.h");
$Go.package("multiprocesscapnp");
$Go.import("github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess/multiprocesscapnp");

interface Wallet @0xc5f5ca46c6495fcf $Proxy.wrap("interfaces::Wallet") {
  # One loaded wallet: encryption, addresses, coins, transactions,
  # balances and change notifications. Amounts are in satoshis.

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  encryptWallet @1 (context :Proxy.Context, walletPassphrase :Data) -> (result :Bool);
  # Encrypts the wallet with the passphrase.

  isCrypted @2 (context :Proxy.Context) -> (result :Bool);
  # Whether the wallet is encrypted.

  lock @3 (context :Proxy.Context) -> (result :Bool);
  # Locks an encrypted wallet.

  unlock @4 (context :Proxy.Context, walletPassphrase :Data) -> (result :Bool);
  # Unlocks an encrypted wallet; false if the passphrase is wrong.

  isLocked @5 (context :Proxy.Context) -> (result :Bool);
  # Whether the wallet is encrypted and locked.

  changeWalletPassphrase @6 (context :Proxy.Context, oldWalletPassphrase :Data, newWalletPassphrase :Data) -> (result :Bool);
  # Changes the encryption passphrase.

  abortRescan @7 (context :Proxy.Context) -> ();
  # Stops a running rescan.

  backupWallet @8 (context :Proxy.Context, filename :Text) -> (result :Bool);
  # Copies the wallet file to filename.

  getWalletName @9 (context :Proxy.Context) -> (result :Text);
  # The wallet's name ("" for the default wallet).

  getNewDestination @10 (context :Proxy.Context, outputType :Int32, label :Text) -> (result :Common.Result(TxDestination));
  # Hands out a new receiving address of the given output type (C++
  # OutputType) with the label, or an error.

  getPubKey @11 (context :Proxy.Context, script :Data, address :Data) -> (pubKey :Data, result :Bool);
  # The public key for a key ID (address), looked up through the script
  # pubkey manager; false if the wallet does not know it.

  signMessage @12 (context :Proxy.Context, message :Text, pkhash :Data) -> (signature :Text, result :Int32);
  # Signs a message with the key of a P2PKH address; signature is
  # base64. result is the C++ SigningResult (0 = OK).

  isSpendable @13 (context :Proxy.Context, dest :TxDestination) -> (result :Bool);
  # Whether the wallet can spend coins sent to the destination.

  setAddressBook @14 (context :Proxy.Context, dest :TxDestination, name :Text, purpose :Int32) -> (result :Bool);
  # Adds or updates an address book entry.

  delAddressBook @15 (context :Proxy.Context, dest :TxDestination) -> (result :Bool);
  # Removes an address book entry.

  getAddress @16 (context :Proxy.Context, dest :TxDestination, wantName :Bool, wantPurpose :Bool) -> (name :Text, purpose :Int32, result :Bool);
  # Looks up an address book entry; false if there is none.

  getAddresses @17 (context :Proxy.Context) -> (result :List(WalletAddress));
  # All address book entries.

  getAddressReceiveRequests @18 (context :Proxy.Context) -> (result :List(Data));
  # All stored payment requests (serialized, as the GUI wrote them).

  setAddressReceiveRequest @19 (context :Proxy.Context, dest :TxDestination, id :Data, value :Data) -> (result :Bool);
  # Stores (or, with empty value, erases) a payment request.

  displayAddress @20 (context :Proxy.Context, dest :TxDestination) -> (result :Common.ResultVoid);
  # Shows the address on the external signer for checking.

  lockCoin @21 (context :Proxy.Context, output :Data, writeToDb :Bool) -> (result :Bool);
  # Excludes the serialized outpoint from coin selection; writeToDb
  # keeps the lock across restarts.

  unlockCoin @22 (context :Proxy.Context, output :Data) -> (result :Bool);
  # Makes a locked outpoint spendable again.

  isLockedCoin @23 (context :Proxy.Context, output :Data) -> (result :Bool);
  # Whether the outpoint is locked.

  listLockedCoins @24 (context :Proxy.Context) -> (outputs :List(Data));
  # All locked outpoints, serialized.

  createTransaction @25 (context :Proxy.Context, recipients :List(Recipient), coinControl :CoinControl, sign :Bool, changePos :Int32) -> (changePos :Int32, fee :Int64 $Ipc.domain(amount), result :Common.Result(Data));
  # Builds (and, with sign, signs) a transaction paying the recipients.
  # changePos is the wanted change output position (-1 for random) and
  # comes back as the actual one; fee is the fee paid. The result holds
  # the serialized transaction or an error.

  commitTransaction @26 (context :Proxy.Context, tx :Data $Ipc.domain(tx), valueMap :List(Common.Pair(Text, Text)), orderForm :List(Common.Pair(Text, Text))) -> ();
  # Adds the transaction to the wallet and broadcasts it.

  transactionCanBeAbandoned @27 (context :Proxy.Context, txid :Data $Ipc.domain(hash)) -> (result :Bool);
  # Whether abandonTransaction would succeed.

  abandonTransaction @28 (context :Proxy.Context, txid :Data $Ipc.domain(hash)) -> (result :Bool);
  # Marks an unconfirmed, unbroadcast transaction and its descendants as
  # abandoned so their inputs can be spent again.

  transactionCanBeBumped @29 (context :Proxy.Context, txid :Data $Ipc.domain(hash)) -> (result :Bool);
  # Whether the transaction's fee can be bumped.

  createBumpTransaction @30 (context :Proxy.Context, txid :Data $Ipc.domain(hash), coinControl :CoinControl) -> (errors :List(Common.BilingualStr), oldFee :Int64 $Ipc.domain(amount), newFee :Int64 $Ipc.domain(amount), mtx :Data $Ipc.domain(tx), result :Bool);
  # Builds an unsigned fee-bumping replacement (mtx) for the transaction.

  signBumpTransaction @31 (context :Proxy.Context, mtx :Data $Ipc.domain(tx)) -> (mtx :Data $Ipc.domain(tx), result :Bool);
  # Signs a replacement made by createBumpTransaction.

  commitBumpTransaction @32 (context :Proxy.Context, txid :Data $Ipc.domain(hash), mtx :Data $Ipc.domain(tx)) -> (errors :List(Common.BilingualStr), bumpedTxid :Data $Ipc.domain(hash), result :Bool);
  # Broadcasts the signed replacement of txid and records it in the
  # wallet; bumpedTxid is the replacement's txid.

  getTx @33 (context :Proxy.Context, txid :Data $Ipc.domain(hash)) -> (result :Data $Ipc.domain(tx));
  # The wallet transaction with this txid; empty if unknown.

  getWalletTx @34 (context :Proxy.Context, txid :Data $Ipc.domain(hash)) -> (result :WalletTx);
  # The wallet's details of a transaction.

  getWalletTxs @35 (context :Proxy.Context) -> (result :List(WalletTx));
  # Details of all wallet transactions.

  tryGetTxStatus @36 (context :Proxy.Context, txid :Data $Ipc.domain(hash)) -> (txStatus :WalletTxStatus, numBlocks :Int32, blockTime :Int64, result :Bool);
  # The transaction's status, with the chain height and tip time (unix
  # seconds) it refers to. False if the wallet was busy or the
  # transaction is unknown.

  getWalletTxDetails @37 (context :Proxy.Context, txid :Data $Ipc.domain(hash)) -> (txStatus :WalletTxStatus, orderForm :List(Common.Pair(Text, Text)), inMempool :Bool, numBlocks :Int32, result :WalletTx);
  # A transaction with its status and order form, for display.

  getBalances @38 (context :Proxy.Context) -> (result :WalletBalances);
  # The wallet's balances.

  fillPSBT @39 (context :Proxy.Context, sighashType :Int32, sign :Bool, bip32derivs :Bool, wantNSigned :Bool) -> (nSigned :UInt64, psbt :Data, complete :Bool, result :Int32);
  # Fills in (and optionally signs) a PSBT. complete says whether it is
  # ready to extract; nSigned counts inputs signed when wantNSigned.
  # result is the C++ PSBTError, if any.

  tryGetBalances @40 (context :Proxy.Context) -> (balances :WalletBalances, blockHash :Data $Ipc.domain(hash), result :Bool);
  # The balances and the tip hash they refer to; false if the wallet was
  # busy.

  getBalance @41 (context :Proxy.Context) -> (result :Int64 $Ipc.domain(amount));
  # The trusted spendable balance.

  getAvailableBalance @42 (context :Proxy.Context, coinControl :CoinControl) -> (result :Int64 $Ipc.domain(amount));
  # The balance coin selection could spend under these constraints.

  txinIsMine @43 (context :Proxy.Context, txin :Data) -> (result :Bool);
  # Whether the serialized transaction input spends a wallet output.

  txoutIsMine @44 (context :Proxy.Context, txout :Data $Ipc.domain(txOut)) -> (result :Bool);
  # Whether the output pays the wallet.

  getDebit @45 (context :Proxy.Context, txin :Data) -> (result :Int64 $Ipc.domain(amount));
  # The value of the wallet output the serialized input spends, or 0.

  getCredit @46 (context :Proxy.Context, txout :Data $Ipc.domain(txOut)) -> (result :Int64 $Ipc.domain(amount));
  # The output's value if it pays the wallet, or 0.

  listCoins @47 (context :Proxy.Context) -> (result :List(Common.Pair(TxDestination, List(Common.Pair(Data, WalletTxOut)))));
  # Spendable coins grouped by destination: for each destination, the
  # serialized outpoints and their outputs.

  getCoins @48 (context :Proxy.Context, outputs :List(Data)) -> (result :List(WalletTxOut));
  # The wallet outputs for the serialized outpoints, in the same order.

  getRequiredFee @49 (context :Proxy.Context, txBytes :UInt32) -> (result :Int64 $Ipc.domain(amount));
  # The minimum fee a transaction of txBytes virtual bytes must pay.

  getMinimumFee @50 (context :Proxy.Context, txBytes :UInt32, coinControl :CoinControl, wantReturnedTarget :Bool, wantReason :Bool) -> (returnedTarget :Int32, reason :Int32, result :Int64 $Ipc.domain(amount));
  # The fee the wallet would pay for txBytes virtual bytes, with the
  # confirmation target and the reason (C++ FeeReason) behind it.

  getConfirmTarget @51 (context :Proxy.Context) -> (result :UInt32);
  # The default confirmation target, in blocks.

  hdEnabled @52 (context :Proxy.Context) -> (result :Bool);
  # Whether the wallet derives keys from an HD seed.

  canGetAddresses @53 (context :Proxy.Context) -> (result :Bool);
  # Whether the wallet can hand out new addresses.

  privateKeysDisabled @54 (context :Proxy.Context) -> (result :Bool);
  # Whether the wallet is watch-only (holds no private keys).

  taprootEnabled @55 (context :Proxy.Context) -> (result :Bool);
  # Whether the wallet can make taproot addresses.

  hasExternalSigner @56 (context :Proxy.Context) -> (result :Bool);
  # Whether signing is done by an external signer.

  getDefaultAddressType @57 (context :Proxy.Context) -> (result :Int32);
  # The default output type for new addresses (C++ OutputType).

  getDefaultMaxTxFee @58 (context :Proxy.Context) -> (result :Int64 $Ipc.domain(amount));
  # The largest fee the wallet pays without refusing (-maxtxfee).

  remove @59 (context :Proxy.Context) -> ();
  # Unloads the wallet.

  handleUnload @60 (context :Proxy.Context, callback :UnloadWalletCallback) -> (result :Handler.Handler);
  # Calls back when the wallet is about to be unloaded.

  handleShowProgress @61 (context :Proxy.Context, callback :ShowWalletProgressCallback) -> (result :Handler.Handler);
  # Calls back with the progress of long operations such as rescans.

  handleStatusChanged @62 (context :Proxy.Context, callback :StatusChangedCallback) -> (result :Handler.Handler);
  # Calls back when the encryption or lock status changes.

  handleAddressBookChanged @63 (context :Proxy.Context, callback :AddressBookChangedCallback) -> (result :Handler.Handler);
  # Calls back when an address book entry changes.

  handleTransactionChanged @64 (context :Proxy.Context, callback :TransactionChangedCallback) -> (result :Handler.Handler);
  # Calls back when a wallet transaction is added or changes.

  handleCanGetAddressesChanged @65 (context :Proxy.Context, callback :CanGetAddressesChangedCallback) -> (result :Handler.Handler);
  # Calls back when canGetAddresses may have changed.
}

interface UnloadWalletCallback @0x87a230ae23c56a66 $Proxy.wrap("ProxyCallback<interfaces::Wallet::UnloadFn>") {
  # Told that a wallet is being unloaded (Wallet.handleUnload).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context) -> ();
  # The wallet is being unloaded.
}

interface ShowWalletProgressCallback @0xa31e41c2528bd1f1 $Proxy.wrap("ProxyCallback<interfaces::Wallet::ShowProgressFn>") {
  # Receives progress reports (Wallet.handleShowProgress).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, title :Text, progress :Int32) -> ();
  # Progress of the titled operation, in percent (100 when done).
}

interface StatusChangedCallback @0xde63c88146b7284e $Proxy.wrap("ProxyCallback<interfaces::Wallet::StatusChangedFn>") {
  # Told that encryption or lock status changed (Wallet.handleStatusChanged).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context) -> ();
  # The status changed.
}

interface AddressBookChangedCallback @0xad868d169d144a1b $Proxy.wrap("ProxyCallback<interfaces::Wallet::AddressBookChangedFn>") {
  # Told about address book changes (Wallet.handleAddressBookChanged).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, address :TxDestination, label :Text, isMine :Bool, purpose :Int32, status :Int32) -> ();
  # An entry changed; status is the C++ ChangeType (new, updated,
  # deleted) and purpose the C++ AddressPurpose.
}

interface TransactionChangedCallback @0x96d115fd9b806538 $Proxy.wrap("ProxyCallback<interfaces::Wallet::TransactionChangedFn>") {
  # Told about wallet transaction changes
  # (Wallet.handleTransactionChanged).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, txid :Data $Ipc.domain(hash), status :Int32) -> ();
  # The transaction changed; status is the C++ ChangeType.
}

interface CanGetAddressesChangedCallback @0xbbfeaf2e5d6b3539 $Proxy.wrap("ProxyCallback<interfaces::Wallet::CanGetAddressesChangedFn>") {
  # Told that canGetAddresses may have changed
  # (Wallet.handleCanGetAddressesChanged).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context) -> ();
  # Whether the wallet can hand out addresses may have changed.
}

interface WalletLoader @0xba10da251bfac23a extends(Chain.ChainClient) $Proxy.wrap("interfaces::WalletLoader") {
  # Creates, loads and lists wallets; started and stopped by the node as
  # a chain client.

  createWallet @0 (context :Proxy.Context, name :Text, passphrase :Text, flags :UInt64) -> (warning :List(Common.BilingualStr), result :Common.Result(Wallet));
  # Creates and loads a new wallet with the given creation flags (C++
  # WalletFlags); an empty passphrase leaves it unencrypted.

  loadWallet @1 (context :Proxy.Context, name :Text) -> (warning :List(Common.BilingualStr), result :Common.Result(Wallet));
  # Loads an existing wallet.

  getWalletDir @2 (context :Proxy.Context) -> (result :Text);
  # The directory that holds the wallets.

  restoreWallet @3 (context :Proxy.Context, backupFile :Data, name :Text, loadAfterRestore :Bool) -> (warning :List(Common.BilingualStr), result :Common.Result(Wallet));
  # Restores a wallet from a backup file (a path) under the given name.

  migrateWallet @4 (context :Proxy.Context, name :Text, passphrase :Text) -> (result :Common.Result(WalletMigrationResult));
  # Migrates a legacy wallet to a descriptor wallet.

  isEncrypted @5 (context :Proxy.Context, name :Text) -> (result :Bool);
  # Whether the named wallet, loaded or not, is encrypted.

  listWalletDir @6 (context :Proxy.Context) -> (result :List(Common.Pair(Text, Text)));
  # The wallets found in the wallet directory: name and format.

  getWallets @7 (context :Proxy.Context) -> (result :List(Wallet));
  # The loaded wallets.

  handleLoadWallet @8 (context :Proxy.Context, callback :LoadWalletCallback) -> (result :Handler.Handler);
  # Calls back whenever a wallet is loaded.
}

interface LoadWalletCallback @0x868d77561f46af8f $Proxy.wrap("ProxyCallback<interfaces::WalletLoader::LoadWalletFn>") {
  # Told about newly loaded wallets (WalletLoader.handleLoadWallet).

  destroy @0 (context :Proxy.Context) -> ();
  # Releases the server object.

  call @1 (context :Proxy.Context, wallet :Wallet) -> ();
  # A wallet was loaded.
}

struct Key @0xb5c9f51176c0c62b {
  # A private key.

  secret @0 :Data;
  # The 32-byte secret.

  isCompressed @1 :Bool;
  # Whether the matching public key is used in compressed form.
}

struct TxDestination @0xe1ccbc48ef7cd882 {
  # Where an output pays to. Exactly one field is set; all empty means no
  # destination (an unrecognized script).

  pubKey @0 :Data;
  # P2PK: the public key.

  pkHash @1 :Data;
  # P2PKH: the 20-byte public key hash.

  scriptHash @2 :Data;
  # P2SH: the 20-byte script hash.

  witnessV0ScriptHash @3 :Data;
  # P2WSH: the 32-byte script hash.

  witnessV0KeyHash @4 :Data;
  # P2WPKH: the 20-byte public key hash.

  witnessV1Taproot @5 :Data;
  # P2TR: the 32-byte x-only output key.

  witnessUnknown @6 :WitnessUnknown;
  # A witness program of a version without defined meaning.
}

struct WitnessUnknown @0xc2a6166742989d79 {
  # A witness output of an undefined version.

  version @0 :UInt32;
  # The witness version.

  program @1 :Data;
  # The witness program.
}

struct WalletAddress @0xfb0e71648708372b $Proxy.wrap("interfaces::WalletAddress") {
  # An address book entry.

  dest @0 :TxDestination;
  # The address.

  isMine @1 :Bool $Proxy.name("is_mine");
  # Whether the wallet owns it.

  name @2 :Text;
  # The label.

  purpose @3 :Int32;
  # Send or receive (C++ AddressPurpose).
}

struct Recipient @0x982b22690a3da9ea $Proxy.wrap("wallet::CRecipient") {
  # A payment for Wallet.createTransaction.

  dest @0 :TxDestination;
  # Where to pay.

  amount @1 :Int64 $Proxy.name("nAmount") $Ipc.domain(amount);
  # How much to pay, in satoshis.

  subtractFeeFromAmount @2 :Bool $Proxy.name("fSubtractFeeFromAmount");
  # Take the fee out of this payment rather than adding it on top.
}

struct CoinControl @0xdbc08b904bdebc60 {
  # Constraints on coin selection and fees for a transaction. The has*
  # fields say whether the field after them is set.

  destChange @0 :TxDestination;
  # Where change goes; empty for a new change address.

  hasChangeType @1 :Bool;
  changeType @2 :Int32;
  # Output type of the change (C++ OutputType).

  includeUnsafeInputs @3 :Bool;
  # Allow spending unconfirmed outputs received from others.

  allowOtherInputs @4 :Bool;
  # Allow inputs beyond the selected ones.

  allowWatchOnly @5 :Bool;
  # Allow watch-only inputs.

  overrideFeeRate @6 :Bool;
  # Use feeRate even if it is below the wallet's minimum.

  hasFeeRate @7 :Bool $Go.name("hasFeeRateFlag");
  feeRate @8 :Data;
  # The feerate to pay (serialized CFeeRate).

  hasConfirmTarget @9 :Bool;
  confirmTarget @10 :Int32;
  # Confirmation target for fee estimation, in blocks.

  hasSignalRbf @11 :Bool;
  signalRbf @12 :Bool;
  # Signal BIP125 replaceability.

  avoidPartialSpends @13 :Bool;
  # Spend all outputs to an address together.

  avoidAddressReuse @14 :Bool;
  # Avoid spending from addresses that were already spent from.

  feeMode @15 :Int32;
  # Fee estimation mode (C++ FeeEstimateMode).

  minDepth @16 :Int32;
  # Minimum confirmations of inputs.

  maxDepth @17 :Int32;
  # Maximum confirmations of inputs.

  hasLockTime @18 :UInt32;
  lockTime @19 :UInt32;
  # nLockTime of the transaction.

  hasVersion @20 :UInt32;
  version @21 :UInt32;
  # Transaction version.

  hasMaxTxWeight @22 :UInt32;
  maxTxWeight @23 :UInt32;
  # Largest transaction weight allowed.

  setSelected @24 :List(Data);
  # Serialized outpoints that must be spent.
}

struct WalletTx @0x86892aeaef975f87 $Proxy.wrap("interfaces::WalletTx") {
  # A wallet transaction with the wallet's view of its inputs and outputs.

  tx @0 :Data $Ipc.domain(tx);
  # The transaction.

  txinIsMine @1 :List(Bool) $Proxy.name("txin_is_mine");
  # For each input, whether it spends a wallet output.

  txoutIsMine @2 :List(Bool) $Proxy.name("txout_is_mine");
  # For each output, whether it pays the wallet.

  txoutIsChange @3 :List(Bool) $Proxy.name("txout_is_change");
  # For each output, whether it is change.

  txoutAddress @4 :List(TxDestination) $Proxy.name("txout_address");
  # For each output, its destination.

  txoutAddressIsMine @5 :List(Bool) $Proxy.name("txout_address_is_mine");
  # For each output, whether the wallet owns its destination.

  credit @6 :Int64 $Ipc.domain(amount);
  # Total of the outputs paying the wallet, in satoshis.

  debit @7 :Int64 $Ipc.domain(amount);
  # Total of the wallet outputs spent, in satoshis.

  change @8 :Int64 $Ipc.domain(amount);
  # Total of the change outputs, in satoshis.

  time @9 :Int64;
  # When the wallet first saw the transaction (unix seconds).

  valueMap @10 :List(Common.Pair(Text, Text)) $Proxy.name("value_map");
  # Key-value metadata stored with the transaction.

  isCoinbase @11 :Bool $Proxy.name("is_coinbase");
  # Whether it is a coinbase transaction.
}

struct WalletTxOut @0xefff1af99995c89f $Proxy.wrap("interfaces::WalletTxOut") {
  # A wallet output.

  txout @0 :Data $Ipc.domain(txOut);
  # The output.

  time @1 :Int64;
  # When the wallet first saw its transaction (unix seconds).

  depthInMainChain @2 :Int32 $Proxy.name("depth_in_main_chain");
  # Confirmations; 0 for unconfirmed, negative if conflicted.

  isSpent @3 :Bool $Proxy.name("is_spent");
  # Whether the output is spent.
}

struct WalletTxStatus @0xac78f05d040fb9e0 $Proxy.wrap("interfaces::WalletTxStatus") {
  # The confirmation state of a wallet transaction.

  blockHeight @0 :Int32 $Proxy.name("block_height");
  # Height of the block holding it.

  blocksToMaturity @1 :Int32 $Proxy.name("blocks_to_maturity");
  # Blocks until a coinbase output can be spent (0 otherwise).

  depthInMainChain @2 :Int32 $Proxy.name("depth_in_main_chain");
  # Confirmations; 0 for unconfirmed, negative if conflicted.

  timeReceived @3 :UInt32 $Proxy.name("time_received");
  # When the wallet received it (unix seconds).

  lockTime @4 :UInt32 $Proxy.name("lock_time");
  # The transaction's nLockTime.

  isTrusted @5 :Bool $Proxy.name("is_trusted");
  # Whether its outputs count toward the trusted balance.

  isAbandoned @6 :Bool $Proxy.name("is_abandoned");
  # Whether it was abandoned.

  isCoinbase @7 :Bool $Proxy.name("is_coinbase");
  # Whether it is a coinbase transaction.

  isInMainChain @8 :Bool $Proxy.name("is_in_main_chain");
  # Whether it is confirmed in the active chain.
}

struct WalletBalances @0xf7921ca03f2518e8 $Proxy.wrap("interfaces::WalletBalances") {
  # The wallet's balances, in satoshis.

  balance @0 :Int64 $Ipc.domain(amount);
  # Trusted, spendable balance.

  unconfirmedBalance @1 :Int64 $Proxy.name("unconfirmed_balance") $Ipc.domain(amount);
  # Balance in untrusted unconfirmed transactions.

  immatureBalance @2 :Int64 $Proxy.name("immature_balance") $Ipc.domain(amount);
  # Balance in coinbase outputs that are not yet mature.
}

struct WalletMigrationResult @0x8cba75b87c124dd7 $Proxy.wrap("interfaces::WalletMigrationResult") {
  # The outcome of WalletLoader.migrateWallet.

  wallet @0 :Wallet;
  # The migrated wallet.

  watchonlyWalletName @1 :Text $Proxy.name("watchonly_wallet_name");
  # Name of the wallet created for watch-only scripts; empty if none.

  solvablesWalletName @2 :Text $Proxy.name("solvables_wallet_name");
  # Name of the wallet created for solvable scripts; empty if none.

  backupPath @3 :Text $Proxy.name("backup_path");
  # Where the pre-migration backup was written.
}
