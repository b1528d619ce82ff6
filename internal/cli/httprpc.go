package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
	"github.com/bitcoin-ipc/bitcoin-ipc/process"
)

// portFlag is -rpcport: a TCP port, remembered as set or not.
type portFlag struct {
	port int
	set  bool
}

func (p *portFlag) String() string {
	if p == nil || !p.set {
		return ""
	}
	return strconv.Itoa(p.port)
}

func (p *portFlag) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid port %q", v)
	}
	p.port, p.set = n, true
	return nil
}

// defaultRPCPort is each network's -rpcport default, as in Bitcoin Core.
func defaultRPCPort(chain string) int {
	switch chain {
	case "test":
		return 18332
	case "testnet4":
		return 48332
	case "signet":
		return 38332
	case "regtest":
		return 18443
	}
	return 8332
}

// rpcHostPort is where the HTTP fallback connects: -rpcconnect (a host,
// or host:port) and -rpcport, which wins over a port in -rpcconnect.
func (o *options) rpcHostPort() (string, error) {
	chain, err := process.ChainFromFlags(o.regtest, o.testnet, o.testnet4, o.signet, o.chain)
	if err != nil {
		return "", err
	}
	host, port := o.rpcconnect, defaultRPCPort(chain)
	if h, p, err := net.SplitHostPort(o.rpcconnect); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return "", usageError{fmt.Sprintf("Invalid port provided in -rpcconnect: %s", o.rpcconnect)}
		}
		host, port = h, n
	}
	if o.rpcport.set {
		port = o.rpcport.port
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// rpcCredentials are -rpcuser/-rpcpassword, or else the cookie file
// (-rpccookiefile, relative to the network data directory; default .cookie
// there), as bitcoin-cli reads them.
func (o *options) rpcCredentials() (user, password string, err error) {
	if o.rpcpassword != "" {
		return o.rpcuser, o.rpcpassword, nil
	}
	dir, err := o.netDataDir()
	if err != nil {
		return "", "", err
	}
	path := o.rpccookiefile
	if path == "" {
		path = demonode.CookieFile
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	b, err := os.ReadFile(path)
	if err == nil {
		var ok bool
		if user, password, ok = strings.Cut(strings.TrimSpace(string(b)), ":"); ok {
			return user, password, nil
		}
		err = errors.New("no user:password in it")
	}
	return "", "", fmt.Errorf("Could not locate RPC credentials. No authentication cookie could be found (%v), and RPC password is not set. See -rpcpassword and -rpccookiefile.", err)
}

// httpRPC sends request as bitcoin-cli does without IPC: a POST to
// -rpcconnect:-rpcport with Basic credentials, bounded by -rpcclienttimeout.
// It returns the reply body.
func httpRPC(ctx context.Context, o *options, request []byte) ([]byte, string, error) {
	hostport, err := o.rpcHostPort()
	if err != nil {
		return nil, "", err
	}
	user, password, err := o.rpcCredentials()
	if err != nil {
		return nil, "", err
	}
	url := "http://" + hostport + "/"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(request))
	if err != nil {
		return nil, url, err
	}
	req.SetBasicAuth(user, password)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: o.rpcclienttimeout}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == nil && isTimeout(err) {
			return nil, url, &timeoutError{addr: url, wait: o.rpcclienttimeout, why: "-rpcclienttimeout", err: err}
		}
		return nil, url, fmt.Errorf("Could not connect to the server %s\n\nMake sure the bitcoind server is running and that you are connecting to the correct RPC port.\nUse \"bitcoin-ipc -help\" for more info.", hostport)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, url, fmt.Errorf("reading the reply of %s: %w", url, err)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return nil, url, errors.New("Authorization failed: Incorrect rpcuser or rpcpassword")
	case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusInternalServerError:
	default:
		return nil, url, fmt.Errorf("server returned HTTP error %d", resp.StatusCode)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, url, errors.New("no response from server")
	}
	return body, url, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// serveRPC starts the demo node's JSON-RPC over HTTP when -rpcport is set.
func serveRPC(n *demonode.Node, o *options, dir string, out io.Writer) (stop func(), err error) {
	if !o.rpcport.set {
		return func() {}, nil
	}
	s, err := n.ListenRPC(dir, o.rpcport.port, o.rpcuser, o.rpcpassword)
	if err != nil {
		return nil, fmt.Errorf("Unable to bind RPC on 127.0.0.1:%d: %w", o.rpcport.port, err)
	}
	fmt.Fprintf(out, "demo node answering JSON-RPC over HTTP on %s (cookie %s)\n", s.Addr(), s.CookiePath())
	return func() { s.Close() }, nil
}
