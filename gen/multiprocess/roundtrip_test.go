package multiprocess_test

// Go↔Go round trips through the generated clients and server adapters of
// the multiprocess set. Init is the bootstrap; every other interface is
// reached over the connection: from Init's factories (Echo, Mining, Rpc,
// Chain, Node, WalletLoader), from results (BlockTemplate, Handler,
// ExternalSigner, Wallet), as the ChainClient that WalletLoader extends, or
// as an interface param that the other side calls back (Chain given to
// makeWalletLoader, ChainNotifications, ActorCallback inside RPCCommand,
// SettingsUpdateCallback and every *Callback). For each, at least one
// method is checked for the params its server sees and the results its
// caller gets.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/bitcoin-ipc/bitcoin-ipc/exception"
	mp "github.com/bitcoin-ipc/bitcoin-ipc/gen/multiprocess"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/gentest"
	"github.com/bitcoin-ipc/bitcoin-ipc/internal/testing/testutil"
	"github.com/bitcoin-ipc/bitcoin-ipc/rt"
)

// typeOf names the dynamic type of v: received interfaces must be the
// generated clients ("*multiprocess.WalletClient").
func typeOf(v any) string { return fmt.Sprintf("%T", v) }

// release drops a received capability (a generated client).
func release(v any) {
	if r, ok := v.(interface{ Release() }); ok {
		r.Release()
	}
}

// ---- sample values ----

var (
	bil        = mp.BilingualStr{Original: "Disk space is low", Translated: "Espace disque faible"}
	dest       = mp.TxDestination{WitnessV0KeyHash: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}}
	destOther  = mp.TxDestination{WitnessUnknown: &mp.WitnessUnknown{Version: 2, Program: []byte{0xaa, 0xbb}}}
	tip        = mp.BlockTip{BlockHeight: 840000, BlockTime: 1713571767, BlockHash: gentest.Hash(40)}
	globalArgs = mp.GlobalArgs{
		Settings: &mp.Settings{
			ForcedSettings:     []mp.Pair[string, string]{{Key: "regtest", Value: "1"}},
			CommandLineOptions: []mp.Pair[string, []string]{{Key: "rpcauth", Value: []string{"a:1", "b:2"}}},
			RwSettings:         []mp.Pair[string, string]{{Key: "wallet", Value: `["w1"]`}},
			RoConfig:           []mp.Pair[string, []mp.Pair[string, []string]]{{Key: "main", Value: []mp.Pair[string, []string]{{Key: "dbcache", Value: []string{"450"}}}}},
		},
		ConfigPath: "/home/u/.bitcoin/bitcoin.conf",
	}
	foundParam = mp.FoundBlockParam{WantHash: true, WantTime: true, WantLocator: true, NextBlock: &mp.FoundBlockParam{WantHeight: true, WantData: true}}
	foundBlock = &mp.FoundBlockResult{
		Hash: gentest.Hash(30), Time: 1700000000, Locator: []byte{1, 2, 3}, Found: true,
		NextBlock: &mp.FoundBlockResult{Height: 101, Data: gentest.Block(31, 2), Found: true},
	}
	feeCalc = &mp.FeeCalculation{
		Est:    &mp.EstimationResult{Pass: &mp.EstimatorBucket{Start: 1000, End: 1100.5, WithinTarget: 9.5, TotalConfirmed: 10}, Decay: 0.998, Scale: 2},
		Reason: 3, DesiredTarget: 6, ReturnedTarget: 6, BestHeight: 840000,
	}
	nodeStats = []mp.NodeStats{{
		Nodeid: 7, AddrName: "1.2.3.4:8333", Version: 70016, CleanSubVer: "/Satoshi:27.0.0/", Inbound: true,
		SendBytesPerMsgType: []mp.PairUInt64[string]{{Key: "inv", Value: 1234}, {Key: "tx", Value: 99}},
		Addr:                []byte{1, 2, 3, 4}, SessionId: "ab01",
		StateStats: &mp.NodeStateStats{SyncHeight: 839999, HeightInFlight: []int32{840000, 840001}, PresyncHeight: -1},
	}, {Nodeid: 8, ConnType: 2}}
	walletTx = &mp.WalletTx{
		Tx: gentest.Tx(60), TxinIsMine: []bool{true}, TxoutIsMine: []bool{false, true}, TxoutIsChange: []bool{false, false},
		TxoutAddress: []mp.TxDestination{dest, destOther}, Credit: 12345, Debit: -1, Time: 1700000001,
		ValueMap: []mp.Pair[string, string]{{Key: "comment", Value: "rent"}}, IsCoinbase: false,
	}
	coins = []mp.Pair[mp.TxDestination, []mp.Pair[[]byte, mp.WalletTxOut]]{{
		Key: dest,
		Value: []mp.Pair[[]byte, mp.WalletTxOut]{{
			Key:   []byte{0xde, 0xad},
			Value: mp.WalletTxOut{Txout: wire.NewTxOut(50000, []byte{0x00, 0x14}), Time: 1700000002, DepthInMainChain: 6},
		}},
	}}
	coinControl = mp.CoinControl{DestChange: &dest, HasFeeRate: true, FeeRate: []byte{0x10, 0x27}, HasConfirmTarget: true, ConfirmTarget: 2,
		FeeMode: 1, MinDepth: 1, MaxDepth: 9999999, SetSelected: [][]byte{{1}, {2, 3}}}
	recipients = []mp.Recipient{{Dest: &dest, Amount: 100000, SubtractFeeFromAmount: true}, {Dest: &destOther, Amount: btcutil.Amount(1)}}
)

// ---- node side: Init and what it makes ----

type initImpl struct {
	mp.UnimplementedInitServer
	rec  *gentest.Recorder
	echo *echoImpl
}

func (i *initImpl) MakeEcho(context.Context) (mp.Echo, error) { return i.echo, nil }
func (i *initImpl) MakeMining(context.Context) (mp.Mining, error) {
	return &miningImpl{rec: i.rec}, nil
}
func (i *initImpl) MakeRpc(context.Context) (mp.Rpc, error)     { return &rpcImpl{rec: i.rec}, nil }
func (i *initImpl) MakeChain(context.Context) (mp.Chain, error) { return &chainImpl{rec: i.rec}, nil }
func (i *initImpl) MakeNode(context.Context) (mp.Node, error)   { return &nodeImpl{rec: i.rec}, nil }

// MakeWalletLoader calls the Chain it is given back (it lives in the client).
func (i *initImpl) MakeWalletLoader(ctx context.Context, args mp.GlobalArgs, chain mp.Chain) (mp.WalletLoader, error) {
	defer release(chain)
	h, err := chain.GetBlockHash(ctx, 7)
	height, err2 := chain.GetHeight(ctx)
	i.rec.Put("Init.makeWalletLoader", args, typeOf(chain), h, err, height, err2)
	return &loaderImpl{rec: i.rec}, nil
}

type echoImpl struct {
	mp.UnimplementedEchoServer
	destroys atomic.Int32
}

func (e *echoImpl) Echo(_ context.Context, s string) (string, error) { return s, nil }
func (e *echoImpl) Destroy(context.Context) error                    { e.destroys.Add(1); return nil }

type miningImpl struct {
	mp.UnimplementedMiningServer
	rec *gentest.Recorder
}

func (m *miningImpl) GetTransactionsByTxID(_ context.Context, ids []chainhash.Hash) ([]*wire.MsgTx, error) {
	m.rec.Put("Mining.getTransactionsByTxID", ids)
	return []*wire.MsgTx{nil, gentest.Tx(3)}, nil
}

func (m *miningImpl) CreateNewBlock(_ context.Context, o mp.BlockCreateOptions, cooldown bool) (mp.BlockTemplate, error) {
	m.rec.Put("Mining.createNewBlock", o, cooldown)
	return &templateImpl{rec: m.rec}, nil
}

type templateImpl struct {
	mp.UnimplementedBlockTemplateServer
	rec *gentest.Recorder
}

func (b *templateImpl) SubmitSolution(_ context.Context, version, timestamp, nonce uint32, coinbase *wire.MsgTx) (bool, string, string, error) {
	b.rec.Put("BlockTemplate.submitSolution", version, timestamp, nonce, coinbase)
	return false, "bad-cb-amount", "coinbase pays too much", nil
}

func (b *templateImpl) GetCoinbaseTx(context.Context) (*mp.CoinbaseTx, error) {
	return &mp.CoinbaseTx{Version: 2, Sequence: 0xfffffffe, ScriptSigPrefix: []byte{3, 1, 2, 3}, BlockRewardRemaining: 312500000,
		RequiredOutputs: []*wire.TxOut{wire.NewTxOut(0, []byte{0x6a, 0x24})}, LockTime: 839999}, nil
}

type rpcImpl struct {
	mp.UnimplementedRpcServer
	rec *gentest.Recorder
}

func (r *rpcImpl) ExecuteRpc(_ context.Context, req json.RawMessage, uri, user string) (json.RawMessage, error) {
	r.rec.Put("Rpc.executeRpc", req, uri, user)
	return json.RawMessage(`{"result":"0000abcd"}`), nil
}

type handlerImpl struct {
	mp.UnimplementedHandlerServer
	rec  *gentest.Recorder
	name string // what registered it
}

func (h *handlerImpl) Disconnect(context.Context) error {
	h.rec.Put("Handler.disconnect", h.name)
	return nil
}

// registered records what a handleX method's callback returned and gives
// the Handler for it.
func registered(rec *gentest.Recorder, key string, cb any, results ...any) (mp.Handler, error) {
	rec.Put(key, append([]any{typeOf(cb)}, results...)...)
	release(cb)
	return &handlerImpl{rec: rec, name: key}, nil
}

// chainImpl serves Chain in the node (makeChain) and in the client (the
// Chain given to makeWalletLoader).
type chainImpl struct {
	mp.UnimplementedChainServer
	rec *gentest.Recorder
}

func (c *chainImpl) GetHeight(context.Context) (*int32, error) { return nil, nil }

func (c *chainImpl) GetBlockHash(_ context.Context, height int32) (chainhash.Hash, error) {
	c.rec.Put("Chain.getBlockHash", height)
	return gentest.Hash(byte(height)), nil
}

func (c *chainImpl) FindBlock(_ context.Context, hash chainhash.Hash, p mp.FoundBlockParam) (bool, *mp.FoundBlockResult, error) {
	c.rec.Put("Chain.findBlock", hash, p)
	return true, foundBlock, nil
}

func (c *chainImpl) FindCoins(_ context.Context, coins []mp.Pair[[]byte, []byte]) ([]mp.Pair[[]byte, []byte], error) {
	c.rec.Put("Chain.findCoins", coins)
	out := make([]mp.Pair[[]byte, []byte], len(coins))
	for i, p := range coins {
		out[i] = mp.Pair[[]byte, []byte]{Key: p.Key, Value: append([]byte("coin:"), p.Key...)}
	}
	return out, nil
}

func (c *chainImpl) HasBlocks(_ context.Context, h chainhash.Hash, minHeight, maxHeight int32, hasMax bool) (bool, error) {
	c.rec.Put("Chain.hasBlocks", h, minHeight, maxHeight, hasMax)
	return !hasMax, nil
}

func (c *chainImpl) BroadcastTransaction(_ context.Context, tx *wire.MsgTx, maxFee btcutil.Amount, method int32) (bool, string, error) {
	c.rec.Put("Chain.broadcastTransaction", tx, maxFee, method)
	return false, "max-fee-exceeded", nil
}

func (c *chainImpl) EstimateSmartFee(_ context.Context, n int32, conservative, wantCalc bool) ([]byte, *mp.FeeCalculation, error) {
	c.rec.Put("Chain.estimateSmartFee", n, conservative, wantCalc)
	if !wantCalc {
		return []byte{0xe8, 0x03}, nil, nil
	}
	return []byte{0xe8, 0x03}, feeCalc, nil
}

func (c *chainImpl) CalculateIndividualBumpFees(_ context.Context, outpoints [][]byte, rate []byte) ([]mp.PairInt64[[]byte], error) {
	c.rec.Put("Chain.calculateIndividualBumpFees", outpoints, rate)
	return []mp.PairInt64[[]byte]{{Key: outpoints[0], Value: -5}, {Key: outpoints[1], Value: 1 << 40}}, nil
}

func (c *chainImpl) CheckChainLimits(_ context.Context, tx *wire.MsgTx) (*mp.ResultVoid[struct{}], error) {
	c.rec.Put("Chain.checkChainLimits", tx)
	return &mp.ResultVoid[struct{}]{Error: &bil}, nil
}

func (c *chainImpl) GetSettingsList(_ context.Context, name string) ([]json.RawMessage, error) {
	c.rec.Put("Chain.getSettingsList", name)
	return []json.RawMessage{json.RawMessage(`"a"`), json.RawMessage(`{"b":[1,2]}`)}, nil
}

// HandleNotifications calls the client's notifications back before it answers.
func (c *chainImpl) HandleNotifications(ctx context.Context, n mp.ChainNotifications) (mp.Handler, error) {
	e1 := n.TransactionAddedToMempool(ctx, gentest.Tx(50))
	e2 := n.BlockConnected(ctx, mp.ChainstateRole{Validated: true}, mp.BlockInfo{Hash: gentest.Hash(51), PrevHash: gentest.Hash(50), Height: 840000,
		FileNumber: -1, DataPos: 8, Data: gentest.Block(51, 2), UndoData: []byte{9, 9}, ChainTimeMax: 1713571767})
	e3 := n.UpdatedBlockTip(ctx) // not implemented by the client
	return registered(c.rec, "Chain.handleNotifications", n, e1, e2, errors.Is(e3, exception.ErrUnimplemented))
}

// HandleRpc calls the command's actor back before it answers.
func (c *chainImpl) HandleRpc(ctx context.Context, cmd mp.RPCCommand) (mp.Handler, error) {
	ok, resp, err := cmd.Actor.Call(ctx, mp.JSONRPCRequest{Id: json.RawMessage(`1`), Method: "getbalance", Params: json.RawMessage(`[]`),
		Mode: 1, Uri: "/wallet/w1", AuthUser: "alice", PeerAddr: "127.0.0.1:5555", Version: 2}, json.RawMessage(`null`), true)
	actor := cmd.Actor
	cmd.Actor = nil
	c.rec.Put("Chain.handleRpc", cmd)
	return registered(c.rec, "Chain.handleRpc/actor", actor, ok, resp, err)
}

// UpdateRwSetting runs the client's update function on the current value.
func (c *chainImpl) UpdateRwSetting(ctx context.Context, name string, update mp.SettingsUpdateCallback) (bool, error) {
	r, v, err := update.Call(ctx, json.RawMessage(`{"wallet":["w1"]}`))
	c.rec.Put("Chain.updateRwSetting", name, typeOf(update), r, v, err)
	release(update)
	return true, nil
}

type nodeImpl struct {
	mp.UnimplementedNodeServer
	rec *gentest.Recorder
}

func (n *nodeImpl) BaseInitialize(_ context.Context, args mp.GlobalArgs) (bool, error) {
	n.rec.Put("Node.baseInitialize", args)
	return false, errors.New("Error reading configuration file: bad line 3")
}

func (n *nodeImpl) GetNodesStats(context.Context) (bool, []mp.NodeStats, error) {
	return true, nodeStats, nil
}

func (n *nodeImpl) GetNetLocalAddresses(context.Context) ([]mp.Pair[[]byte, mp.LocalServiceInfo], error) {
	return []mp.Pair[[]byte, mp.LocalServiceInfo]{{Key: []byte{10, 0, 0, 1}, Value: mp.LocalServiceInfo{Score: 4, Port: 8333}}}, nil
}

func (n *nodeImpl) GetBestBlockHash(context.Context) (chainhash.Hash, error) {
	return gentest.Hash(99), nil
}

func (n *nodeImpl) ListExternalSigners(context.Context) ([]mp.ExternalSigner, error) {
	return []mp.ExternalSigner{&signerImpl{name: "ledger"}, &signerImpl{name: "trezor"}}, nil
}

func (n *nodeImpl) HandleInitMessage(ctx context.Context, cb mp.InitMessageCallback) (mp.Handler, error) {
	return registered(n.rec, "Node.handleInitMessage", cb, cb.Call(ctx, "Loading block index…"))
}

func (n *nodeImpl) HandleMessageBox(ctx context.Context, cb mp.MessageBoxCallback) (mp.Handler, error) {
	r, err := cb.Call(ctx, bil, "Warning", 0x10)
	return registered(n.rec, "Node.handleMessageBox", cb, r, err)
}

func (n *nodeImpl) HandleQuestion(ctx context.Context, cb mp.QuestionCallback) (mp.Handler, error) {
	r, err := cb.Call(ctx, bil, "low disk", "Question", 0x20)
	return registered(n.rec, "Node.handleQuestion", cb, r, err)
}

func (n *nodeImpl) HandleShowProgress(ctx context.Context, cb mp.ShowNodeProgressCallback) (mp.Handler, error) {
	return registered(n.rec, "Node.handleShowProgress", cb, cb.Call(ctx, "Rescanning", 42, true))
}

func (n *nodeImpl) HandleInitWallet(ctx context.Context, cb mp.InitWalletCallback) (mp.Handler, error) {
	return registered(n.rec, "Node.handleInitWallet", cb, cb.Call(ctx))
}

func (n *nodeImpl) HandleNotifyNumConnectionsChanged(ctx context.Context, cb mp.NotifyNumConnectionsChangedCallback) (mp.Handler, error) {
	return registered(n.rec, "Node.handleNotifyNumConnectionsChanged", cb, cb.Call(ctx, 11))
}

func (n *nodeImpl) HandleNotifyNetworkActiveChanged(ctx context.Context, cb mp.NotifyNetworkActiveChangedCallback) (mp.Handler, error) {
	return registered(n.rec, "Node.handleNotifyNetworkActiveChanged", cb, cb.Call(ctx, true))
}

func (n *nodeImpl) HandleNotifyAlertChanged(ctx context.Context, cb mp.NotifyAlertChangedCallback) (mp.Handler, error) {
	return registered(n.rec, "Node.handleNotifyAlertChanged", cb, cb.Call(ctx))
}

func (n *nodeImpl) HandleBannedListChanged(ctx context.Context, cb mp.BannedListChangedCallback) (mp.Handler, error) {
	return registered(n.rec, "Node.handleBannedListChanged", cb, cb.Call(ctx))
}

func (n *nodeImpl) HandleNotifyBlockTip(ctx context.Context, cb mp.NotifyBlockTipCallback) (mp.Handler, error) {
	return registered(n.rec, "Node.handleNotifyBlockTip", cb, cb.Call(ctx, 2, tip, 0.999))
}

func (n *nodeImpl) HandleNotifyHeaderTip(ctx context.Context, cb mp.NotifyHeaderTipCallback) (mp.Handler, error) {
	return registered(n.rec, "Node.handleNotifyHeaderTip", cb, cb.Call(ctx, 1, tip, 0.5))
}

type signerImpl struct {
	mp.UnimplementedExternalSignerServer
	name string
}

func (s *signerImpl) GetName(context.Context) (string, error) { return s.name, nil }

// loaderImpl is a WalletLoader, and so a ChainClient.
type loaderImpl struct {
	mp.UnimplementedWalletLoaderServer
	rec *gentest.Recorder
}

func (l *loaderImpl) Verify(context.Context) (bool, error) { return true, nil }

func (l *loaderImpl) SchedulerMockForward(_ context.Context, d time.Duration) error {
	l.rec.Put("ChainClient.schedulerMockForward", d)
	return nil
}

func (l *loaderImpl) CreateWallet(_ context.Context, name, passphrase string, flags uint64) (*mp.Result[mp.Wallet], []mp.BilingualStr, error) {
	l.rec.Put("WalletLoader.createWallet", name, passphrase, flags)
	return &mp.Result[mp.Wallet]{Value: &walletImpl{rec: l.rec, name: name}}, []mp.BilingualStr{bil, {Original: "second"}}, nil
}

func (l *loaderImpl) LoadWallet(_ context.Context, name string) (*mp.Result[mp.Wallet], []mp.BilingualStr, error) {
	l.rec.Put("WalletLoader.loadWallet", name)
	return &mp.Result[mp.Wallet]{Error: &mp.BilingualStr{Original: "Wallet file not found"}}, nil, nil
}

func (l *loaderImpl) MigrateWallet(_ context.Context, name, passphrase string) (*mp.Result[mp.WalletMigrationResult], error) {
	l.rec.Put("WalletLoader.migrateWallet", name, passphrase)
	return &mp.Result[mp.WalletMigrationResult]{Value: mp.WalletMigrationResult{Wallet: &walletImpl{rec: l.rec, name: name},
		WatchonlyWalletName: name + "_watchonly", BackupPath: "/tmp/" + name + ".bak"}}, nil
}

func (l *loaderImpl) GetWallets(context.Context) ([]mp.Wallet, error) {
	return []mp.Wallet{&walletImpl{rec: l.rec, name: "a"}, nil, &walletImpl{rec: l.rec, name: "c"}}, nil
}

// HandleLoadWallet gives the client's callback a Wallet, which the
// callback calls back into before it returns.
func (l *loaderImpl) HandleLoadWallet(ctx context.Context, cb mp.LoadWalletCallback) (mp.Handler, error) {
	return registered(l.rec, "WalletLoader.handleLoadWallet", cb, cb.Call(ctx, &walletImpl{rec: l.rec, name: "loaded"}))
}

type walletImpl struct {
	mp.UnimplementedWalletServer
	rec  *gentest.Recorder
	name string
}

func (w *walletImpl) GetWalletName(context.Context) (string, error) { return w.name, nil }

func (w *walletImpl) CreateTransaction(_ context.Context, rs []mp.Recipient, cc mp.CoinControl, sign bool, changePos int32) (*mp.Result[[]byte], int32, btcutil.Amount, error) {
	w.rec.Put("Wallet.createTransaction", rs, cc, sign, changePos)
	return &mp.Result[[]byte]{Value: []byte{0x02, 0x00, 0x00, 0x00}}, 1, 141, nil
}

func (w *walletImpl) GetWalletTx(_ context.Context, txid chainhash.Hash) (*mp.WalletTx, error) {
	w.rec.Put("Wallet.getWalletTx", txid)
	return walletTx, nil
}

func (w *walletImpl) ListCoins(context.Context) ([]mp.Pair[mp.TxDestination, []mp.Pair[[]byte, mp.WalletTxOut]], error) {
	return coins, nil
}

func (w *walletImpl) GetAddress(_ context.Context, d mp.TxDestination, wantName, wantPurpose bool) (bool, string, int32, error) {
	w.rec.Put("Wallet.getAddress", d, wantName, wantPurpose)
	return true, "savings", 2, nil
}

func (w *walletImpl) TryGetBalances(context.Context) (bool, *mp.WalletBalances, chainhash.Hash, error) {
	return true, &mp.WalletBalances{Balance: 5e8, UnconfirmedBalance: -3, ImmatureBalance: 1}, gentest.Hash(77), nil
}

func (w *walletImpl) HandleUnload(ctx context.Context, cb mp.UnloadWalletCallback) (mp.Handler, error) {
	return registered(w.rec, "Wallet.handleUnload", cb, cb.Call(ctx))
}

func (w *walletImpl) HandleShowProgress(ctx context.Context, cb mp.ShowWalletProgressCallback) (mp.Handler, error) {
	return registered(w.rec, "Wallet.handleShowProgress", cb, cb.Call(ctx, "Rescanning w1", 100))
}

func (w *walletImpl) HandleStatusChanged(ctx context.Context, cb mp.StatusChangedCallback) (mp.Handler, error) {
	return registered(w.rec, "Wallet.handleStatusChanged", cb, cb.Call(ctx))
}

func (w *walletImpl) HandleAddressBookChanged(ctx context.Context, cb mp.AddressBookChangedCallback) (mp.Handler, error) {
	return registered(w.rec, "Wallet.handleAddressBookChanged", cb, cb.Call(ctx, destOther, "friend", false, 1, 2))
}

func (w *walletImpl) HandleTransactionChanged(ctx context.Context, cb mp.TransactionChangedCallback) (mp.Handler, error) {
	return registered(w.rec, "Wallet.handleTransactionChanged", cb, cb.Call(ctx, gentest.Hash(88), 1))
}

func (w *walletImpl) HandleCanGetAddressesChanged(ctx context.Context, cb mp.CanGetAddressesChangedCallback) (mp.Handler, error) {
	return registered(w.rec, "Wallet.handleCanGetAddressesChanged", cb, cb.Call(ctx))
}

// ---- client side: the ChainNotifications it registers ----

type notificationsImpl struct {
	mp.UnimplementedChainNotificationsServer
	rec *gentest.Recorder
}

func (n *notificationsImpl) TransactionAddedToMempool(_ context.Context, tx *wire.MsgTx) error {
	n.rec.Put("ChainNotifications.transactionAddedToMempool", tx)
	return nil
}

func (n *notificationsImpl) BlockConnected(_ context.Context, role mp.ChainstateRole, b mp.BlockInfo) error {
	n.rec.Put("ChainNotifications.blockConnected", role, b)
	return nil
}

// ---- test ----

func TestRoundTrip(t *testing.T) {
	ctx := testutil.Context(t)
	rec := &gentest.Recorder{}
	srv := &initImpl{rec: rec, echo: &echoImpl{}}
	var sends gentest.Sends
	conn, _ := testutil.Connect(t, func(*rt.Conn) *rt.Cap { return mp.InitServer(srv) }, nil, sends.Option())
	init := mp.NewInitClient(conn)
	defer init.Release()

	// Init's factories: each result must be a client for a capability
	// received over conn.
	echo := remote[*mp.EchoClient](t, conn)(init.MakeEcho(ctx))
	mining := remote[*mp.MiningClient](t, conn)(init.MakeMining(ctx))
	defer mining.Release()
	rpc := remote[*mp.RpcClient](t, conn)(init.MakeRpc(ctx))
	defer rpc.Release()
	chain := remote[*mp.ChainProxyClient](t, conn)(init.MakeChain(ctx))
	defer chain.Destroy(ctx)
	node := remote[*mp.NodeClient](t, conn)(init.MakeNode(ctx))
	defer node.Destroy(ctx)
	// makeWalletLoader takes a Chain of the client's, which the node calls.
	loader := remote[*mp.WalletLoaderClient](t, conn)(init.MakeWalletLoader(ctx, globalArgs, &chainImpl{rec: rec}))
	defer loader.Destroy(ctx)
	gentest.Expect(t, rec, "Init.makeWalletLoader", globalArgs, "*multiprocess.ChainProxyClient", gentest.Hash(7), nil, (*int32)(nil), nil)
	gentest.Expect(t, rec, "Chain.getBlockHash", int32(7))
	// WalletLoader extends ChainClient: the same capability as a ChainClient.
	chainClient := mp.NewChainClientClient(loader.Cap().AddRef())
	defer chainClient.Release()
	tmpl := remote[*mp.BlockTemplateClient](t, conn)(mining.CreateNewBlock(ctx, mp.DefaultBlockCreateOptions(), true))
	defer tmpl.Destroy(ctx)
	gentest.Expect(t, rec, "Mining.createNewBlock", mp.DefaultBlockCreateOptions(), true)
	res, warnings, err := loader.CreateWallet(ctx, "w1", "pässword", 1<<3)
	if err != nil || res == nil || res.Error != nil {
		t.Fatalf("WalletLoader.createWallet = %+v, %v", res, err)
	}
	wallet := remote[*mp.WalletClient](t, conn)(res.Value, nil)
	defer wallet.Destroy(ctx)
	gentest.Expect(t, rec, "WalletLoader.createWallet", "w1", "pässword", uint64(8))
	if want := []mp.BilingualStr{bil, {Original: "second"}}; !reflect.DeepEqual(warnings, want) {
		t.Errorf("WalletLoader.createWallet warnings = %+v, want %+v", warnings, want)
	}

	// handled checks a handleX result, disconnects and destroys it, and
	// returns its type.
	handled := func(h mp.Handler, err error) ([]any, error) {
		if err != nil {
			return nil, err
		}
		if err := h.Disconnect(ctx); err != nil {
			return nil, err
		}
		return []any{typeOf(h)}, h.Destroy(ctx)
	}
	const handler = "*multiprocess.HandlerClient"
	outpoints := [][]byte{{1, 2, 3, 4}, {5}}

	gentest.Run(t, ctx, rec, []gentest.Case{
		{Name: "WalletLoader.loadWallet", Call: func(ctx context.Context) ([]any, error) {
			r, w, err := loader.LoadWallet(ctx, "missing")
			return []any{r, w}, err
		}, Want: []any{&mp.Result[mp.Wallet]{Error: &mp.BilingualStr{Original: "Wallet file not found"}}, []mp.BilingualStr(nil)}, Seen: []any{"missing"}},
		{Name: "WalletLoader.migrateWallet", Call: func(ctx context.Context) ([]any, error) {
			r, err := loader.MigrateWallet(ctx, "old", "pw")
			if err != nil {
				return nil, err
			}
			name, err := r.Value.Wallet.GetWalletName(ctx) // a Wallet inside a struct result
			release(r.Value.Wallet)
			return []any{typeOf(r.Value.Wallet), name, r.Value.WatchonlyWalletName, r.Value.SolvablesWalletName, r.Value.BackupPath, r.Error}, err
		}, Want: []any{"*multiprocess.WalletClient", "old", "old_watchonly", "", "/tmp/old.bak", (*mp.BilingualStr)(nil)}, Seen: []any{"old", "pw"}},
		{Name: "WalletLoader.getWallets", Call: func(ctx context.Context) ([]any, error) {
			ws, err := loader.GetWallets(ctx)
			var got []any
			for _, w := range ws {
				got = append(got, typeOf(w))
				if w != nil {
					name, err := w.GetWalletName(ctx)
					got = append(got, name, err)
					release(w)
				}
			}
			return got, err
		}, Want: []any{"*multiprocess.WalletClient", "a", nil, "<nil>", "*multiprocess.WalletClient", "c", nil}},
		{Name: "LoadWalletCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(loader.HandleLoadWallet(ctx, mp.LoadWalletCallbackFunc(func(ctx context.Context, w mp.Wallet) error {
				name, err := w.GetWalletName(ctx) // calls into the node while it waits for us
				rec.Put("LoadWalletCallback.call", typeOf(w), name, err)
				release(w)
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{"*multiprocess.WalletClient", "loaded", nil},
			Also: map[string][]any{"WalletLoader.handleLoadWallet": {"*multiprocess.LoadWalletCallbackClient", nil}, "Handler.disconnect": {"WalletLoader.handleLoadWallet"}}},
		{Name: "ChainClient.schedulerMockForward", Call: func(ctx context.Context) ([]any, error) {
			ok, err := chainClient.Verify(ctx)
			if err != nil {
				return nil, err
			}
			return []any{ok}, chainClient.SchedulerMockForward(ctx, 90*time.Second)
		}, Want: []any{true}, Seen: []any{90 * time.Second}},

		{Name: "Wallet.createTransaction", Call: func(ctx context.Context) ([]any, error) {
			r, pos, fee, err := wallet.CreateTransaction(ctx, recipients, coinControl, true, -1)
			return []any{r, pos, fee}, err
		}, Want: []any{&mp.Result[[]byte]{Value: []byte{2, 0, 0, 0}}, int32(1), btcutil.Amount(141)}, Seen: []any{recipients, coinControl, true, int32(-1)}},
		{Name: "Wallet.getWalletTx", Call: func(ctx context.Context) ([]any, error) {
			r, err := wallet.GetWalletTx(ctx, gentest.Hash(60))
			return []any{r}, err
		}, Want: []any{walletTx}, Seen: []any{gentest.Hash(60)}},
		{Name: "Wallet.listCoins", Call: func(ctx context.Context) ([]any, error) {
			r, err := wallet.ListCoins(ctx)
			return []any{r}, err
		}, Want: []any{coins}},
		{Name: "Wallet.getAddress", Call: func(ctx context.Context) ([]any, error) {
			ok, name, purpose, err := wallet.GetAddress(ctx, dest, true, false)
			return []any{ok, name, purpose}, err
		}, Want: []any{true, "savings", int32(2)}, Seen: []any{dest, true, false}},
		{Name: "Wallet.tryGetBalances", Call: func(ctx context.Context) ([]any, error) {
			ok, b, h, err := wallet.TryGetBalances(ctx)
			return []any{ok, b, h}, err
		}, Want: []any{true, &mp.WalletBalances{Balance: 5e8, UnconfirmedBalance: -3, ImmatureBalance: 1}, gentest.Hash(77)}},
		{Name: "UnloadWalletCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(wallet.HandleUnload(ctx, mp.UnloadWalletCallbackFunc(func(context.Context) error {
				rec.Put("UnloadWalletCallback.call", "called")
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{"called"}, Also: map[string][]any{"Wallet.handleUnload": {"*multiprocess.UnloadWalletCallbackClient", nil}}},
		{Name: "ShowWalletProgressCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(wallet.HandleShowProgress(ctx, mp.ShowWalletProgressCallbackFunc(func(_ context.Context, title string, progress int32) error {
				rec.Put("ShowWalletProgressCallback.call", title, progress)
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{"Rescanning w1", int32(100)}, Also: map[string][]any{"Wallet.handleShowProgress": {"*multiprocess.ShowWalletProgressCallbackClient", nil}}},
		{Name: "StatusChangedCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(wallet.HandleStatusChanged(ctx, mp.StatusChangedCallbackFunc(func(context.Context) error {
				rec.Put("StatusChangedCallback.call", "called")
				return errors.New("status handler failed")
			})))
		}, Want: []any{handler}, Seen: []any{"called"}},
		{Name: "AddressBookChangedCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(wallet.HandleAddressBookChanged(ctx, mp.AddressBookChangedCallbackFunc(func(_ context.Context, d mp.TxDestination, label string, isMine bool, purpose, status int32) error {
				rec.Put("AddressBookChangedCallback.call", d, label, isMine, purpose, status)
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{destOther, "friend", false, int32(1), int32(2)}, Also: map[string][]any{"Wallet.handleAddressBookChanged": {"*multiprocess.AddressBookChangedCallbackClient", nil}}},
		{Name: "TransactionChangedCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(wallet.HandleTransactionChanged(ctx, mp.TransactionChangedCallbackFunc(func(_ context.Context, txid chainhash.Hash, status int32) error {
				rec.Put("TransactionChangedCallback.call", txid, status)
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{gentest.Hash(88), int32(1)}, Also: map[string][]any{"Wallet.handleTransactionChanged": {"*multiprocess.TransactionChangedCallbackClient", nil}}},
		{Name: "CanGetAddressesChangedCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(wallet.HandleCanGetAddressesChanged(ctx, mp.CanGetAddressesChangedCallbackFunc(func(context.Context) error {
				rec.Put("CanGetAddressesChangedCallback.call", "called")
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{"called"}, Also: map[string][]any{"Wallet.handleCanGetAddressesChanged": {"*multiprocess.CanGetAddressesChangedCallbackClient", nil}}},

		{Name: "Echo.echo", Call: func(ctx context.Context) ([]any, error) {
			r, err := echo.Echo(ctx, "")
			return []any{r}, err
		}, Want: []any{""}},
		{Name: "Mining.getTransactionsByTxID", Call: func(ctx context.Context) ([]any, error) {
			r, err := mining.GetTransactionsByTxID(ctx, []chainhash.Hash{gentest.Hash(2), gentest.Hash(3)})
			return []any{r}, err
		}, Want: []any{[]*wire.MsgTx{nil, gentest.Tx(3)}}, Seen: []any{[]chainhash.Hash{gentest.Hash(2), gentest.Hash(3)}}},
		{Name: "BlockTemplate.submitSolution", Call: func(ctx context.Context) ([]any, error) {
			ok, reason, debug, err := tmpl.SubmitSolution(ctx, 0x20000000, 1713571767, 42, gentest.Tx(4))
			return []any{ok, reason, debug}, err
		}, Want: []any{false, "bad-cb-amount", "coinbase pays too much"}, Seen: []any{uint32(0x20000000), uint32(1713571767), uint32(42), gentest.Tx(4)}},
		{Name: "BlockTemplate.getCoinbaseTx", Call: func(ctx context.Context) ([]any, error) {
			r, err := tmpl.GetCoinbaseTx(ctx)
			return []any{r}, err
		}, Want: []any{&mp.CoinbaseTx{Version: 2, Sequence: 0xfffffffe, ScriptSigPrefix: []byte{3, 1, 2, 3}, BlockRewardRemaining: 312500000,
			RequiredOutputs: []*wire.TxOut{wire.NewTxOut(0, []byte{0x6a, 0x24})}, LockTime: 839999}}},
		{Name: "Rpc.executeRpc", Call: func(ctx context.Context) ([]any, error) {
			r, err := rpc.ExecuteRpc(ctx, json.RawMessage(`{"method":"getbestblockhash"}`), "/", "__cookie__")
			return []any{r}, err
		}, Want: []any{json.RawMessage(`{"result":"0000abcd"}`)}, Seen: []any{json.RawMessage(`{"method":"getbestblockhash"}`), "/", "__cookie__"}},

		{Name: "Chain.getBlockHash", Call: func(ctx context.Context) ([]any, error) {
			r, err := chain.GetBlockHash(ctx, 200)
			return []any{r}, err
		}, Want: []any{gentest.Hash(200)}, Seen: []any{int32(200)}},
		{Name: "Chain.findBlock", Call: func(ctx context.Context) ([]any, error) {
			ok, r, err := chain.FindBlock(ctx, gentest.Hash(30), foundParam)
			return []any{ok, r}, err
		}, Want: []any{true, foundBlock}, Seen: []any{gentest.Hash(30), foundParam}},
		{Name: "Chain.findCoins", Call: func(ctx context.Context) ([]any, error) {
			r, err := chain.FindCoins(ctx, []mp.Pair[[]byte, []byte]{{Key: []byte{1}, Value: []byte{0}}, {Key: []byte{2, 2}, Value: []byte{7}}})
			return []any{r}, err
		}, Want: []any{[]mp.Pair[[]byte, []byte]{{Key: []byte{1}, Value: []byte("coin:\x01")}, {Key: []byte{2, 2}, Value: []byte("coin:\x02\x02")}}},
			Seen: []any{[]mp.Pair[[]byte, []byte]{{Key: []byte{1}, Value: []byte{0}}, {Key: []byte{2, 2}, Value: []byte{7}}}}},
		{Name: "Chain.hasBlocks", Call: func(ctx context.Context) ([]any, error) {
			r, err := chain.HasBlocks(ctx, gentest.Hash(5), 100, 0, false)
			return []any{r}, err
		}, Want: []any{true}, Seen: []any{gentest.Hash(5), int32(100), int32(0), false}},
		{Name: "Chain.hasBlocks", Call: func(ctx context.Context) ([]any, error) {
			r, err := chain.HasBlocks(ctx, gentest.Hash(5), 100, 200, true)
			return []any{r}, err
		}, Want: []any{false}, Seen: []any{gentest.Hash(5), int32(100), int32(200), true}},
		{Name: "Chain.getHeight", Call: func(ctx context.Context) ([]any, error) {
			r, err := chain.GetHeight(ctx)
			return []any{r}, err
		}, Want: []any{(*int32)(nil)}},
		{Name: "Chain.broadcastTransaction", Call: func(ctx context.Context) ([]any, error) {
			ok, msg, err := chain.BroadcastTransaction(ctx, gentest.Tx(8), 10000, 1)
			return []any{ok, msg}, err
		}, Want: []any{false, "max-fee-exceeded"}, Seen: []any{gentest.Tx(8), btcutil.Amount(10000), int32(1)}},
		{Name: "Chain.estimateSmartFee", Call: func(ctx context.Context) ([]any, error) {
			r, calc, err := chain.EstimateSmartFee(ctx, 6, true, true)
			return []any{r, calc}, err
		}, Want: []any{[]byte{0xe8, 0x03}, feeCalc}, Seen: []any{int32(6), true, true}},
		{Name: "Chain.estimateSmartFee", Call: func(ctx context.Context) ([]any, error) {
			r, calc, err := chain.EstimateSmartFee(ctx, 2, false, false)
			return []any{r, calc}, err
		}, Want: []any{[]byte{0xe8, 0x03}, (*mp.FeeCalculation)(nil)}, Seen: []any{int32(2), false, false}},
		{Name: "Chain.calculateIndividualBumpFees", Call: func(ctx context.Context) ([]any, error) {
			r, err := chain.CalculateIndividualBumpFees(ctx, outpoints, []byte{0xff})
			return []any{r}, err
		}, Want: []any{[]mp.PairInt64[[]byte]{{Key: outpoints[0], Value: -5}, {Key: outpoints[1], Value: 1 << 40}}}, Seen: []any{outpoints, []byte{0xff}}},
		{Name: "Chain.checkChainLimits", Call: func(ctx context.Context) ([]any, error) {
			r, err := chain.CheckChainLimits(ctx, gentest.Tx(9))
			return []any{r}, err
		}, Want: []any{&mp.ResultVoid[struct{}]{Error: &bil}}, Seen: []any{gentest.Tx(9)}},
		{Name: "Chain.getSettingsList", Call: func(ctx context.Context) ([]any, error) {
			r, err := chain.GetSettingsList(ctx, "wallet")
			return []any{r}, err
		}, Want: []any{[]json.RawMessage{json.RawMessage(`"a"`), json.RawMessage(`{"b":[1,2]}`)}}, Seen: []any{"wallet"}},
		{Name: "ChainNotifications.blockConnected", Call: func(ctx context.Context) ([]any, error) {
			return handled(chain.HandleNotifications(ctx, &notificationsImpl{rec: rec}))
		}, Want: []any{handler}, Seen: []any{mp.ChainstateRole{Validated: true}, mp.BlockInfo{Hash: gentest.Hash(51), PrevHash: gentest.Hash(50), Height: 840000,
			FileNumber: -1, DataPos: 8, Data: gentest.Block(51, 2), UndoData: []byte{9, 9}, ChainTimeMax: 1713571767}},
			Also: map[string][]any{
				"ChainNotifications.transactionAddedToMempool": {gentest.Tx(50)},
				// transactionAddedToMempool and blockConnected succeed, updatedBlockTip is not implemented.
				"Chain.handleNotifications": {"*multiprocess.ChainNotificationsClient", nil, nil, true},
				"Handler.disconnect":        {"Chain.handleNotifications"},
			}},
		{Name: "ActorCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(chain.HandleRpc(ctx, mp.RPCCommand{Category: "wallet", Name: "getbalance", UniqueId: 42,
				ArgNames: []mp.RPCArg{{Name: "minconf"}, {Name: "include_watchonly", NamedOnly: true}},
				Actor: mp.ActorCallbackFunc(func(_ context.Context, req mp.JSONRPCRequest, resp json.RawMessage, last bool) (bool, json.RawMessage, error) {
					rec.Put("ActorCallback.call", req, resp, last)
					return true, json.RawMessage(`1.5`), nil
				})}))
		}, Want: []any{handler}, Seen: []any{mp.JSONRPCRequest{Id: json.RawMessage(`1`), Method: "getbalance", Params: json.RawMessage(`[]`),
			Mode: 1, Uri: "/wallet/w1", AuthUser: "alice", PeerAddr: "127.0.0.1:5555", Version: 2}, json.RawMessage(`null`), true},
			Also: map[string][]any{
				"Chain.handleRpc": {mp.RPCCommand{Category: "wallet", Name: "getbalance", UniqueId: 42,
					ArgNames: []mp.RPCArg{{Name: "minconf"}, {Name: "include_watchonly", NamedOnly: true}}}},
				"Chain.handleRpc/actor": {"*multiprocess.ActorCallbackClient", true, json.RawMessage(`1.5`), nil},
			}},
		{Name: "SettingsUpdateCallback.call", Call: func(ctx context.Context) ([]any, error) {
			r, err := chain.UpdateRwSetting(ctx, "wallet", mp.SettingsUpdateCallbackFunc(func(_ context.Context, v json.RawMessage) (*int32, json.RawMessage, error) {
				rec.Put("SettingsUpdateCallback.call", v)
				return ptr(int32(3)), json.RawMessage(`{"wallet":["w1","w2"]}`), nil
			}))
			return []any{r}, err
		}, Want: []any{true}, Seen: []any{json.RawMessage(`{"wallet":["w1"]}`)},
			Also: map[string][]any{"Chain.updateRwSetting": {"wallet", "*multiprocess.SettingsUpdateCallbackClient", ptr(int32(3)), json.RawMessage(`{"wallet":["w1","w2"]}`), nil}}},

		{Name: "Node.getNodesStats", Call: func(ctx context.Context) ([]any, error) {
			ok, r, err := node.GetNodesStats(ctx)
			return []any{ok, r}, err
		}, Want: []any{true, nodeStats}},
		{Name: "Node.getNetLocalAddresses", Call: func(ctx context.Context) ([]any, error) {
			r, err := node.GetNetLocalAddresses(ctx)
			return []any{r}, err
		}, Want: []any{[]mp.Pair[[]byte, mp.LocalServiceInfo]{{Key: []byte{10, 0, 0, 1}, Value: mp.LocalServiceInfo{Score: 4, Port: 8333}}}}},
		{Name: "Node.getBestBlockHash", Call: func(ctx context.Context) ([]any, error) {
			r, err := node.GetBestBlockHash(ctx)
			return []any{r}, err
		}, Want: []any{gentest.Hash(99)}},
		{Name: "ExternalSigner.getName", Call: func(ctx context.Context) ([]any, error) {
			signers, err := node.ListExternalSigners(ctx)
			var got []any
			for _, s := range signers {
				name, err := s.GetName(ctx)
				got = append(got, typeOf(s), name, err, s.Destroy(ctx))
			}
			return got, err
		}, Want: []any{"*multiprocess.ExternalSignerClient", "ledger", nil, nil, "*multiprocess.ExternalSignerClient", "trezor", nil, nil}},
		{Name: "InitMessageCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(node.HandleInitMessage(ctx, mp.InitMessageCallbackFunc(func(_ context.Context, msg string) error {
				rec.Put("InitMessageCallback.call", msg)
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{"Loading block index…"}, Also: map[string][]any{"Node.handleInitMessage": {"*multiprocess.InitMessageCallbackClient", nil}}},
		{Name: "MessageBoxCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(node.HandleMessageBox(ctx, mp.MessageBoxCallbackFunc(func(_ context.Context, msg mp.BilingualStr, caption string, style uint32) (bool, error) {
				rec.Put("MessageBoxCallback.call", msg, caption, style)
				return true, nil
			})))
		}, Want: []any{handler}, Seen: []any{bil, "Warning", uint32(0x10)}, Also: map[string][]any{"Node.handleMessageBox": {"*multiprocess.MessageBoxCallbackClient", true, nil}}},
		{Name: "QuestionCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(node.HandleQuestion(ctx, mp.QuestionCallbackFunc(func(_ context.Context, msg mp.BilingualStr, nonInteractive, caption string, style uint32) (bool, error) {
				rec.Put("QuestionCallback.call", msg, nonInteractive, caption, style)
				return false, nil
			})))
		}, Want: []any{handler}, Seen: []any{bil, "low disk", "Question", uint32(0x20)}, Also: map[string][]any{"Node.handleQuestion": {"*multiprocess.QuestionCallbackClient", false, nil}}},
		{Name: "ShowNodeProgressCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(node.HandleShowProgress(ctx, mp.ShowNodeProgressCallbackFunc(func(_ context.Context, title string, progress int32, resume bool) error {
				rec.Put("ShowNodeProgressCallback.call", title, progress, resume)
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{"Rescanning", int32(42), true}, Also: map[string][]any{"Node.handleShowProgress": {"*multiprocess.ShowNodeProgressCallbackClient", nil}}},
		{Name: "InitWalletCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(node.HandleInitWallet(ctx, mp.InitWalletCallbackFunc(func(context.Context) error {
				rec.Put("InitWalletCallback.call", "called")
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{"called"}, Also: map[string][]any{"Node.handleInitWallet": {"*multiprocess.InitWalletCallbackClient", nil}}},
		{Name: "NotifyNumConnectionsChangedCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(node.HandleNotifyNumConnectionsChanged(ctx, mp.NotifyNumConnectionsChangedCallbackFunc(func(_ context.Context, n int32) error {
				rec.Put("NotifyNumConnectionsChangedCallback.call", n)
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{int32(11)}, Also: map[string][]any{"Node.handleNotifyNumConnectionsChanged": {"*multiprocess.NotifyNumConnectionsChangedCallbackClient", nil}}},
		{Name: "NotifyNetworkActiveChangedCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(node.HandleNotifyNetworkActiveChanged(ctx, mp.NotifyNetworkActiveChangedCallbackFunc(func(_ context.Context, active bool) error {
				rec.Put("NotifyNetworkActiveChangedCallback.call", active)
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{true}, Also: map[string][]any{"Node.handleNotifyNetworkActiveChanged": {"*multiprocess.NotifyNetworkActiveChangedCallbackClient", nil}}},
		{Name: "NotifyAlertChangedCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(node.HandleNotifyAlertChanged(ctx, mp.NotifyAlertChangedCallbackFunc(func(context.Context) error {
				rec.Put("NotifyAlertChangedCallback.call", "called")
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{"called"}, Also: map[string][]any{"Node.handleNotifyAlertChanged": {"*multiprocess.NotifyAlertChangedCallbackClient", nil}}},
		{Name: "BannedListChangedCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(node.HandleBannedListChanged(ctx, mp.BannedListChangedCallbackFunc(func(context.Context) error {
				rec.Put("BannedListChangedCallback.call", "called")
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{"called"}, Also: map[string][]any{"Node.handleBannedListChanged": {"*multiprocess.BannedListChangedCallbackClient", nil}}},
		{Name: "NotifyBlockTipCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(node.HandleNotifyBlockTip(ctx, mp.NotifyBlockTipCallbackFunc(func(_ context.Context, state int32, tip mp.BlockTip, progress float64) error {
				rec.Put("NotifyBlockTipCallback.call", state, tip, progress)
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{int32(2), tip, 0.999}, Also: map[string][]any{"Node.handleNotifyBlockTip": {"*multiprocess.NotifyBlockTipCallbackClient", nil}}},
		{Name: "NotifyHeaderTipCallback.call", Call: func(ctx context.Context) ([]any, error) {
			return handled(node.HandleNotifyHeaderTip(ctx, mp.NotifyHeaderTipCallbackFunc(func(_ context.Context, state int32, tip mp.BlockTip, progress float64) error {
				rec.Put("NotifyHeaderTipCallback.call", state, tip, progress)
				return nil
			})))
		}, Want: []any{handler}, Seen: []any{int32(1), tip, 0.5}, Also: map[string][]any{"Node.handleNotifyHeaderTip": {"*multiprocess.NotifyHeaderTipCallbackClient", nil}}},
	})

	t.Run("CallbackError", func(t *testing.T) {
		// StatusChangedCallback.call above returned an error: the node got it.
		got := rec.Get("Wallet.handleStatusChanged")
		if len(got) != 2 || got[1] == nil || !strings.Contains(got[1].(error).Error(), "status handler failed") {
			t.Errorf("Wallet.handleStatusChanged saw %v, want the callback's error", got)
		}
	})

	t.Run("ExceptionField", func(t *testing.T) {
		// baseInitialize has a $Proxy.exception field: the server's error
		// travels in it and the client returns it as a remote exception.
		_, err := node.BaseInitialize(ctx, mp.GlobalArgs{ConfigPath: "x.conf"})
		var e *exception.Error
		if !errors.As(err, &e) || !e.Remote || !strings.Contains(err.Error(), "bad line 3") {
			t.Errorf("Node.baseInitialize err = %#v, want a remote exception with the server's text", err)
		}
		gentest.Expect(t, rec, "Node.baseInitialize", mp.GlobalArgs{ConfigPath: "x.conf"})
	})

	t.Run("Unimplemented", func(t *testing.T) {
		if _, err := node.GetMempoolSize(ctx); !errors.Is(err, exception.ErrUnimplemented) {
			t.Errorf("Node.getMempoolSize (not implemented): err = %v, want ErrUnimplemented", err)
		}
		if _, err := wallet.IsLocked(ctx); !errors.Is(err, exception.ErrUnimplemented) {
			t.Errorf("Wallet.isLocked (not implemented): err = %v, want ErrUnimplemented", err)
		}
	})

	t.Run("Destroy", func(t *testing.T) {
		for range 2 {
			if err := echo.Destroy(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := sends.Count("Echo.destroy"); n != 1 {
			t.Errorf("Echo.destroy sent %d times, want 1", n)
		}
		if n := srv.echo.destroys.Load(); n != 1 {
			t.Errorf("Echo impl destroyed %d times, want 1", n)
		}
		if _, err := echo.Echo(ctx, "x"); !errors.Is(err, exception.ErrDestroyed) {
			t.Errorf("Echo after Destroy: err = %v, want ErrDestroyed", err)
		}
		if n := sends.Count("Echo.echo"); n != 1 {
			t.Errorf("Echo.echo sent %d times, want 1 (none after Destroy)", n)
		}
	})
}

// remote checks that a call returned a C, a client on conn (so the
// capability crossed the connection), and returns it.
func remote[C interface{ Conn() *rt.Conn }](t *testing.T, conn *rt.Conn) func(any, error) C {
	return func(v any, err error) C {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		c, ok := v.(C)
		if !ok || c.Conn() != conn {
			t.Fatalf("got %T, want a %T on the client connection", v, c)
		}
		return c
	}
}

// ptr returns a pointer to v, for optional results.
func ptr[T any](v T) *T { return &v }
