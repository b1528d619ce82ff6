//go:build linux

package process

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Address is a resolved IPC address: the absolute, clean path of a unix
// domain socket.
type Address struct {
	Path string
}

// String returns the canonical form "unix:/abs/path", which is what Bitcoin
// Core writes back into the caller's address string.
func (a Address) String() string { return "unix:" + a.Path }

// ParseAddress resolves an -ipcbind / -ipcconnect address the way Bitcoin
// Core does:
//
//   - "unix" or "unix:" -> <datadir>/<exeName without "bitcoin-">.sock
//     (exeName "bitcoin-node" gives node.sock);
//   - "unix:PATH" -> <datadir>/PATH if PATH is relative, PATH if absolute;
//   - anything else -> "Unrecognized address '…'" (wraps ErrBadAddress).
//
// datadir is the per-network data directory (see NetworkDataDir). The result
// is made absolute (relative to the working directory if datadir is relative)
// and cleaned. A path of MaxPathLen (108) bytes or more is rejected with an
// error wrapping ErrPathTooLong; its *AddressError still carries the Path.
func ParseAddress(datadir, exeName, address string) (Address, error) {
	var p string
	switch {
	case address == "unix" || address == "unix:":
		name := exeName
		if name != "" {
			name = filepath.Base(name)
		}
		name = strings.TrimPrefix(name, "bitcoin-")
		if name == "" || name == "." || name == "/" {
			return Address{}, badAddress(address, fmt.Sprintf(
				"cannot derive a socket name for address '%s' from executable name %q", address, exeName))
		}
		p = filepath.Join(datadir, name+".sock")
	case strings.HasPrefix(address, "unix:"):
		rest := address[len("unix:"):]
		if filepath.IsAbs(rest) {
			p = rest
		} else {
			p = filepath.Join(datadir, rest)
		}
	default:
		return Address{}, badAddress(address, fmt.Sprintf("Unrecognized address '%s'", address))
	}
	if strings.IndexByte(p, 0) >= 0 {
		return Address{}, badAddress(address, fmt.Sprintf("address %q contains a NUL byte", address))
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return Address{}, badAddress(address, fmt.Sprintf("cannot make socket path %q absolute: %v", p, err))
	}
	if len(abs) >= MaxPathLen {
		return Address{}, pathTooLong(address, abs)
	}
	return Address{Path: abs}, nil
}

// DefaultDataDir returns Bitcoin Core's default data directory on Linux:
// $HOME/.bitcoin, or /.bitcoin when HOME is unset or empty (as Core does).
func DefaultDataDir() string {
	home := os.Getenv("HOME")
	if home == "" {
		home = "/"
	}
	return filepath.Join(home, ".bitcoin")
}

// NetworkDataDir returns the per-network data directory for chain, as
// bitcoin-cli and bitcoin-node compute it: main (or "") -> datadir,
// regtest -> datadir/regtest, test or testnet -> datadir/testnet3,
// testnet4 -> datadir/testnet4, signet -> datadir/signet. Any other chain
// name is an error wrapping ErrUnknownChain.
func NetworkDataDir(datadir, chain string) (string, error) {
	c, err := canonicalChain(chain)
	if err != nil {
		return "", err
	}
	if sub := chainSubdir[c]; sub != "" {
		return filepath.Join(datadir, sub), nil
	}
	return datadir, nil
}

var chainSubdir = map[string]string{
	"main":     "",
	"test":     "testnet3",
	"testnet4": "testnet4",
	"signet":   "signet",
	"regtest":  "regtest",
}

func canonicalChain(chain string) (string, error) {
	switch chain {
	case "", "main":
		return "main", nil
	case "test", "testnet":
		return "test", nil
	case "testnet4", "signet", "regtest":
		return chain, nil
	}
	return "", fmt.Errorf("%w %q (expected one of main, test, testnet4, signet, regtest)", ErrUnknownChain, chain)
}

// ChainFromFlags combines bitcoin-cli's -regtest, -testnet, -testnet4,
// -signet and -chain=<name> options into a canonical chain name ("main",
// "test", "testnet4", "signet" or "regtest"). Like Core, it rejects more
// than one selection (including a flag together with -chain) with an error
// wrapping ErrConflictingChain. An unknown -chain value wraps
// ErrUnknownChain.
func ChainFromFlags(regtest, testnet, testnet4, signet bool, chain string) (string, error) {
	n := 0
	for _, set := range []bool{regtest, testnet, testnet4, signet, chain != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return "", newError("Invalid combination of -regtest, -signet, -testnet, -testnet4 and -chain. Can use at most one.",
			ErrConflictingChain)
	}
	switch {
	case regtest:
		return "regtest", nil
	case testnet:
		return "test", nil
	case testnet4:
		return "testnet4", nil
	case signet:
		return "signet", nil
	}
	return canonicalChain(chain)
}
