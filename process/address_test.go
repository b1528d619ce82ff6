//go:build linux

package process

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	const dd = "/data/regtest"
	long := "/" + strings.Repeat("a", MaxPathLen-1) // 108 bytes
	justFits := "/" + strings.Repeat("b", MaxPathLen-2)
	tests := []struct {
		name, exe, address string
		want               string // path; "" when an error is expected
		wantErr            error
		wantMsg            string
	}{
		{"unix", "bitcoin-node", "unix", dd + "/node.sock", nil, ""},
		{"unix colon", "bitcoin-node", "unix:", dd + "/node.sock", nil, ""},
		{"exe without prefix", "mytool", "unix", dd + "/mytool.sock", nil, ""},
		{"gui", "bitcoin-gui", "unix:", dd + "/gui.sock", nil, ""},
		{"exe as path", "/usr/bin/bitcoin-node", "unix", dd + "/node.sock", nil, ""},
		{"relative", "bitcoin-node", "unix:foo.sock", dd + "/foo.sock", nil, ""},
		{"relative nested", "bitcoin-node", "unix:sub/dir/x.sock", dd + "/sub/dir/x.sock", nil, ""},
		{"relative cleaned", "bitcoin-node", "unix:sub/../x.sock", dd + "/x.sock", nil, ""},
		{"absolute", "bitcoin-node", "unix:/run/bitcoin/node.sock", "/run/bitcoin/node.sock", nil, ""},
		{"absolute cleaned", "bitcoin-node", "unix://run//b/./n.sock", "/run/b/n.sock", nil, ""},
		{"107 bytes fit", "bitcoin-node", "unix:" + justFits, justFits, nil, ""},
		{"bad prefix", "bitcoin-node", "tcp:127.0.0.1:1234", "", ErrBadAddress, "Unrecognized address 'tcp:127.0.0.1:1234'"},
		{"empty", "bitcoin-node", "", "", ErrBadAddress, "Unrecognized address ''"},
		{"unixfoo", "bitcoin-node", "unixfoo", "", ErrBadAddress, "Unrecognized address 'unixfoo'"},
		{"upper case", "bitcoin-node", "UNIX", "", ErrBadAddress, "Unrecognized address 'UNIX'"},
		{"no exe name", "", "unix", "", ErrBadAddress, ""},
		{"nul byte", "bitcoin-node", "unix:a\x00b", "", ErrBadAddress, ""},
		{"108 bytes", "bitcoin-node", "unix:" + long, "", ErrPathTooLong,
			`Unix address path "` + long + `" exceeded maximum socket path length`},
		{"too long via datadir", "bitcoin-node", "unix:" + strings.Repeat("c", 100), "", ErrPathTooLong, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAddress(dd, tc.exe, tc.address)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ParseAddress(%q) error = %v, want %v", tc.address, err, tc.wantErr)
				}
				var ae *AddressError
				if !errors.As(err, &ae) || ae.Address != tc.address {
					t.Fatalf("error %v is not an *AddressError for %q", err, tc.address)
				}
				if tc.wantMsg != "" && !strings.HasPrefix(err.Error(), tc.wantMsg) {
					t.Fatalf("error text %q, want prefix %q", err.Error(), tc.wantMsg)
				}
				if errors.Is(err, ErrPathTooLong) && len(ae.Path) < MaxPathLen {
					t.Fatalf("AddressError.Path = %q, want the over-long path", ae.Path)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", tc.address, err)
			}
			if got.Path != tc.want {
				t.Fatalf("ParseAddress(%q) = %q, want %q", tc.address, got.Path, tc.want)
			}
			if got.String() != "unix:"+tc.want {
				t.Fatalf("String() = %q", got.String())
			}
		})
	}
}

func TestParseAddressRelativeDatadir(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	got, err := ParseAddress("rel/dir", "bitcoin-node", "unix")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "rel/dir/node.sock"); got.Path != want {
		t.Fatalf("got %q, want %q", got.Path, want)
	}
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("HOME", "/home/alice")
	if got := DefaultDataDir(); got != "/home/alice/.bitcoin" {
		t.Fatalf("DefaultDataDir() = %q", got)
	}
	t.Setenv("HOME", "")
	if got := DefaultDataDir(); got != "/.bitcoin" {
		t.Fatalf("DefaultDataDir() with empty HOME = %q", got)
	}
}

func TestNetworkDataDir(t *testing.T) {
	const dd = "/home/u/.bitcoin"
	tests := []struct {
		chain, want string
		wantErr     bool
	}{
		{"", dd, false},
		{"main", dd, false},
		{"regtest", dd + "/regtest", false},
		{"test", dd + "/testnet3", false},
		{"testnet", dd + "/testnet3", false},
		{"testnet4", dd + "/testnet4", false},
		{"signet", dd + "/signet", false},
		{"mainnet", "", true},
		{"Regtest", "", true},
		{"liquid", "", true},
	}
	for _, tc := range tests {
		got, err := NetworkDataDir(dd, tc.chain)
		if tc.wantErr {
			if !errors.Is(err, ErrUnknownChain) {
				t.Errorf("NetworkDataDir(%q) error = %v, want ErrUnknownChain", tc.chain, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NetworkDataDir(%q) = %q, %v; want %q", tc.chain, got, err, tc.want)
		}
	}
}

func TestChainFromFlags(t *testing.T) {
	tests := []struct {
		regtest, testnet, testnet4, signet bool
		chain                              string
		want                               string
		wantErr                            error
	}{
		{want: "main"},
		{regtest: true, want: "regtest"},
		{testnet: true, want: "test"},
		{testnet4: true, want: "testnet4"},
		{signet: true, want: "signet"},
		{chain: "main", want: "main"},
		{chain: "testnet", want: "test"},
		{chain: "regtest", want: "regtest"},
		{chain: "bogus", wantErr: ErrUnknownChain},
		{regtest: true, testnet: true, wantErr: ErrConflictingChain},
		{signet: true, testnet4: true, wantErr: ErrConflictingChain},
		{regtest: true, chain: "regtest", wantErr: ErrConflictingChain},
	}
	for i, tc := range tests {
		got, err := ChainFromFlags(tc.regtest, tc.testnet, tc.testnet4, tc.signet, tc.chain)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("case %d: error = %v, want %v", i, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("case %d: got %q, %v; want %q", i, got, err, tc.want)
		}
	}
	_, err := ChainFromFlags(true, true, false, false, "")
	if want := "Invalid combination of -regtest, -signet, -testnet, -testnet4 and -chain. Can use at most one."; err == nil || err.Error() != want {
		t.Errorf("conflict message = %v, want %q", err, want)
	}
}
