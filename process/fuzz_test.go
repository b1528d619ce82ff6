//go:build linux

package process

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseAddress: any datadir, executable name and address either
// resolve to a clean absolute socket path that fits sockaddr_un, or fail
// with an *AddressError wrapping ErrBadAddress or ErrPathTooLong; never a
// panic.
func FuzzParseAddress(f *testing.F) {
	for _, a := range []string{"unix", "unix:", "unix:node.sock", "unix:/run/b/node.sock", "unix:../../x",
		"unix://a//b/./c", "tcp:1.2.3.4:5", "", "UNIX", "unix:a\x00b", "unix:" + strings.Repeat("a", 200)} {
		f.Add("/data/regtest", "bitcoin-node", a)
	}
	f.Add("", "", "unix")
	f.Add("relative/dir", "/usr/bin/bitcoin-gui", "unix:")
	f.Add("/", "bitcoin-", "unix")
	f.Add("/d", ".", "unix:")
	f.Fuzz(func(t *testing.T, datadir, exe, address string) {
		a, err := ParseAddress(datadir, exe, address)
		if err != nil {
			var ae *AddressError
			if !errors.As(err, &ae) || ae.Address != address {
				t.Fatalf("error %v is not an *AddressError for %q", err, address)
			}
			if !errors.Is(err, ErrBadAddress) && !errors.Is(err, ErrPathTooLong) {
				t.Fatalf("error %v wraps neither ErrBadAddress nor ErrPathTooLong", err)
			}
			if a != (Address{}) {
				t.Fatalf("error with a result %+v", a)
			}
			return
		}
		if !strings.HasPrefix(address, "unix") {
			t.Fatalf("%q accepted", address)
		}
		p := a.Path
		if !filepath.IsAbs(p) || filepath.Clean(p) != p || len(p) >= MaxPathLen || strings.IndexByte(p, 0) >= 0 {
			t.Fatalf("ParseAddress(%q, %q, %q) = %q", datadir, exe, address, p)
		}
		if a.String() != "unix:"+p {
			t.Fatalf("String() = %q", a.String())
		}
		// The canonical form parses to itself, whatever the datadir.
		again, err := ParseAddress("/elsewhere", exe, a.String())
		if err != nil || again != a {
			t.Fatalf("canonical %q parses to %+v, %v", a.String(), again, err)
		}
	})
}

// FuzzCheckSpawned: only exactly [exe, "-ipcfd", N] (with WithArgv(ArgvFD)
// exactly [exe, N]) with N a decimal descriptor number is a spawned child;
// a bad N is an ErrInvalidIPCFD error; anything else is not spawned,
// without error.
func FuzzCheckSpawned(f *testing.F) {
	f.Add("bitcoin-node", "-ipcfd", "3", uint8(3))
	f.Add("x", "-ipcfd", "-1", uint8(3))
	f.Add("x", "-ipcfd", "99999999999", uint8(3))
	f.Add("x", "-ipcfd", "+3", uint8(3))
	f.Add("x", "-ipcfd", "", uint8(3))
	f.Add("x", "-ipcfd", "0x10", uint8(3))
	f.Add("x", "-ipcfd", "007", uint8(3))
	f.Add("x", "-ipcfd", "3", uint8(4))
	f.Add("x", "-ipcbind", "unix", uint8(3))
	f.Add("x", "-ipcfd", "3", uint8(2))
	f.Add("mpcalculator", "3", "", uint8(1))
	f.Fuzz(func(t *testing.T, a0, a1, a2 string, n uint8) {
		all := []string{a0, a1, a2, a1, a2}
		args := all[:int(n)%len(all)+1]
		check := func(name string, opt SpawnedOption, shape bool) {
			fd, ok, err := CheckSpawned(args, opt)
			last := args[len(args)-1]
			switch {
			case ok:
				if err != nil || !shape || fd < 0 {
					t.Fatalf("CheckSpawned(%q, %s) = %d, %v, %v", args, name, fd, ok, err)
				}
				v, perr := strconv.ParseInt(last, 10, 32)
				if perr != nil || int(v) != fd || strings.HasPrefix(last, "+") {
					t.Fatalf("CheckSpawned(%q, %s) = %d", args, name, fd)
				}
			case err != nil:
				if !shape || !errors.Is(err, ErrInvalidIPCFD) || fd != 0 {
					t.Fatalf("CheckSpawned(%q, %s) = %d, %v, %v", args, name, fd, ok, err)
				}
			default:
				if shape {
					t.Fatalf("CheckSpawned(%q, %s): right shape, neither spawned nor an error", args, name)
				}
			}
		}
		check("ArgvIPCFD", nil, len(args) == 3 && args[1] == "-ipcfd")
		check("ArgvFD", WithArgv(ArgvFD), len(args) == 2)
	})
}
