package cli

import "github.com/bitcoin-ipc/bitcoin-ipc/demonode/chain"

func demonodeOptions() chain.TemplateOptions { return chain.DefaultTemplateOptions() }
