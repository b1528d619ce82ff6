package chain

import (
	"fmt"
	"math"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// timeFromUnix converts a header timestamp.
func timeFromUnix(ts uint32) time.Time { return time.Unix(int64(ts), 0) }

// Solve grinds header.Nonce, starting from its current value, until the
// header hash meets the target encoded in header.Bits, trying at most
// maxTries nonces (0 means all 2^32). It returns whether a solution was found;
// the header then holds the winning nonce. On regtest about two tries are
// needed on average. Invalid bits never solve.
func Solve(header *wire.BlockHeader, maxTries uint32) bool {
	target, ok := targetFromBits(header.Bits)
	if !ok {
		return false
	}
	tries := uint64(maxTries)
	if maxTries == 0 {
		tries = math.MaxUint32 + 1
	}
	for i := uint64(0); i < tries; i++ {
		hash := header.BlockHash()
		if blockchain.HashToBig(&hash).Cmp(target) <= 0 {
			return true
		}
		if header.Nonce == math.MaxUint32 {
			return false
		}
		header.Nonce++
	}
	return false
}

// GenerateToScript mines n blocks on top of the tip, each paying its reward
// (subsidy plus the fees of the mempool transactions it includes) to script
// (OP_TRUE when empty), like Core's generatetodescriptor. The coinbase
// scriptSig is the height push followed by OP_0, as in Core's RPC-generated
// blocks. It returns the new block hashes; the chain lock is held for each
// block from template to connection, so no other block can interleave.
func (c *Chain) GenerateToScript(n int, script []byte) ([]chainhash.Hash, error) {
	if len(script) == 0 {
		script = opTrue
	}
	hashes := make([]chainhash.Hash, 0, max(n, 0))
	for i := 0; i < n; i++ {
		hash, err := c.generateOne(script)
		if err != nil {
			return hashes, err
		}
		hashes = append(hashes, hash)
	}
	return hashes, nil
}

func (c *Chain) generateOne(script []byte) (chainhash.Hash, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	opts := DefaultTemplateOptions()
	opts.BlockReservedWeight = c.cfg.blockReservedWeight
	opts.MaxWeight = c.cfg.blockMaxWeight
	if err := opts.Validate(); err != nil {
		return chainhash.Hash{}, err
	}
	t := c.createTemplateLocked(opts)
	coinbase := BuildCoinbase(t.coinbase, script, []byte{txscript.OP_0})
	block := &wire.MsgBlock{
		Header:       t.block.Header,
		Transactions: append([]*wire.MsgTx(nil), t.block.Transactions...),
	}
	block.Transactions[0] = coinbase
	block.Header.MerkleRoot = MerkleRootFromPath(coinbase.TxHash(), t.CoinbaseMerklePath())
	if !Solve(&block.Header, 0) {
		return chainhash.Hash{}, fmt.Errorf("chain: no proof of work found at height %d", t.height)
	}
	extraFees := make(map[chainhash.Hash]int64, len(t.fees))
	for i, tx := range block.Transactions[1:] {
		extraFees[tx.TxHash()] = t.fees[i]
	}
	if ok, reason, debug := c.processBlockLocked(block, extraFees); !ok {
		return chainhash.Hash{}, fmt.Errorf("chain: generated block rejected: %s (%s)", reason, debug)
	}
	return block.BlockHash(), nil
}
