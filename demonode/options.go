package demonode

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"
)

// Options are the demo node's startup options: Bitcoin Core's mining
// policy knobs, with Core's defaults and checks.
type Options struct {
	// BlockMinTxFee is -blockmintxfee: the lowest fee rate, per 1000
	// virtual bytes, of a transaction put in a template (default 1 sat).
	BlockMinTxFee btcutil.Amount
	// BlockReservedWeight is -blockreservedweight: the weight reserved for
	// the coinbase in blocks the node builds itself (generatetoaddress,
	// generatetodescriptor); IPC clients give their own in
	// BlockCreateOptions (default 8000).
	BlockReservedWeight uint64
	// BlockMaxWeight is -blockmaxweight: the weight cap of every template
	// (default 4000000, the consensus limit).
	BlockMaxWeight uint64
}

// DefaultOptions returns Core's defaults.
func DefaultOptions() Options {
	return Options{
		BlockMinTxFee:       chain.DefaultBlockMinTxFee,
		BlockReservedWeight: chain.DefaultBlockReservedWeight,
		BlockMaxWeight:      chain.MaxBlockWeight,
	}
}

// Validate checks the options as Core checks them at startup, with Core's
// error texts.
func (o Options) Validate() error {
	if o.BlockMinTxFee < 0 || o.BlockMinTxFee > btcutil.MaxSatoshi {
		return fmt.Errorf("Invalid amount for -blockmintxfee=<amount>: '%s'", chain.FormatMoney(o.BlockMinTxFee))
	}
	if o.BlockMaxWeight > chain.MaxBlockWeight {
		return fmt.Errorf("Specified -blockmaxweight (%d) exceeds consensus maximum block weight (%d)", o.BlockMaxWeight, chain.MaxBlockWeight)
	}
	if o.BlockReservedWeight > chain.MaxBlockWeight {
		return fmt.Errorf("Specified -blockreservedweight (%d) exceeds consensus maximum block weight (%d)", o.BlockReservedWeight, chain.MaxBlockWeight)
	}
	if o.BlockReservedWeight < chain.MinimumBlockReservedWeight {
		return fmt.Errorf("Specified -blockreservedweight (%d) is lower than minimum safety value of (%d)", o.BlockReservedWeight, chain.MinimumBlockReservedWeight)
	}
	return nil
}

// chainOptions turns o into the chain's options.
func (o Options) chainOptions() []chain.Option {
	return []chain.Option{
		chain.WithBlockMinTxFee(int64(o.BlockMinTxFee)),
		chain.WithBlockReservedWeight(o.BlockReservedWeight),
		chain.WithBlockMaxWeight(o.BlockMaxWeight),
	}
}

// ParseBlockMinTxFee parses a -blockmintxfee value, an amount in BTC as
// Core writes it ("0.00001"), with Core's error text.
func ParseBlockMinTxFee(s string) (btcutil.Amount, error) {
	a, ok := parseMoney(s)
	if !ok {
		return 0, fmt.Errorf("Invalid amount for -blockmintxfee=<amount>: '%s'", s)
	}
	return a, nil
}

// parseMoney is Core's ParseMoney: digits, optionally a point and at most
// eight decimals, surrounding spaces allowed, at most MAX_MONEY.
func parseMoney(s string) (btcutil.Amount, bool) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(whole) > 10 || len(frac) > 8 || !digits(whole) || !digits(frac) {
		return 0, false
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	frac += strings.Repeat("0", 8-len(frac))
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, false
	}
	a := btcutil.Amount(w*btcutil.SatoshiPerBitcoin + f)
	return a, a <= btcutil.MaxSatoshi
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
