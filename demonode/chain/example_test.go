package chain_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
)

// Example shows the miner's side of the Mining interface: get a template,
// build the coinbase from its constraints, recompute the merkle root from the
// coinbase merkle path, grind the nonce and submit.
func Example() {
	c := chain.New()
	c.FillMempool(20_000)

	tmpl, err := c.CreateTemplate(chain.DefaultTemplateOptions())
	if err != nil {
		panic(err)
	}
	payTo := []byte{0x51} // OP_TRUE
	coinbase := chain.BuildCoinbase(tmpl.CoinbaseTx(), payTo, []byte("/pool/extranonce"))
	header := tmpl.Header()
	header.MerkleRoot = chain.MerkleRootFromPath(coinbase.TxHash(), tmpl.CoinbaseMerklePath())
	if !chain.Solve(&header, 0) {
		panic("no solution")
	}
	ok, reason, _ := tmpl.SubmitSolution(uint32(header.Version), uint32(header.Timestamp.Unix()), header.Nonce, coinbase)
	_, height := c.Tip()
	fmt.Println(ok, reason == "", height)

	// A waiter on the old template gets a new one for the new tip.
	next, ok := c.WaitNext(context.Background(), tmpl, time.Second, chain.MaxMoney)
	fmt.Println(ok, next.Height())
	// Output:
	// true true 1
	// true 2
}
