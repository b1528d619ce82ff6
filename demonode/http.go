package demonode

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// CookieUser is the user name of cookie authentication, as in Bitcoin Core.
const CookieUser = "__cookie__"

// CookieFile is the name of the cookie file in the network data directory.
const CookieFile = ".cookie"

// maxRequestBody bounds a JSON-RPC request read over HTTP.
const maxRequestBody = 32 << 20

// RPCServer is the demo node's JSON-RPC over HTTP, as bitcoind serves it on
// -rpcport.
type RPCServer struct {
	addr   string
	cookie string // path of the cookie file
	srv    *http.Server
	done   chan struct{}
}

// Addr is the address served, "127.0.0.1:PORT".
func (s *RPCServer) Addr() string { return s.addr }

// CookiePath is the cookie file's path.
func (s *RPCServer) CookiePath() string { return s.cookie }

// Close stops serving and removes the cookie file. Requests under way
// (such as the "stop" that ended the node) get their answers first, for
// up to StopGrace.
func (s *RPCServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), StopGrace)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	if rerr := os.Remove(s.cookie); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// ListenRPC serves JSON-RPC over HTTP on the loopback address at port (0:
// a free one), as bitcoind does with -rpcport: POST requests whose Basic
// credentials are the cookie's, written to <dir>/.cookie as
// "__cookie__:<64 hex digits>" with mode 0600, or user and password when
// password is not empty. Other credentials get 401 and an empty body.
// Errors of JSON-RPC 1.0 requests get Core's HTTP status (400, 404, 500);
// 2.0 requests get 200.
func (n *Node) ListenRPC(dir string, port int, user, password string) (*RPCServer, error) {
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("demonode: cookie: %w", err)
	}
	cookie := CookieUser + ":" + hex.EncodeToString(secret[:])
	path := filepath.Join(dir, CookieFile)
	if err := writeCookie(path, cookie); err != nil {
		return nil, fmt.Errorf("demonode: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("demonode: %w", err)
	}
	valid := []string{cookie}
	if password != "" {
		valid = append(valid, user+":"+password)
	}
	s := &RPCServer{
		addr:   ln.Addr().String(),
		cookie: path,
		srv:    &http.Server{Handler: &rpcHandler{n: n, valid: valid}, ReadHeaderTimeout: time.Minute},
		done:   make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// writeCookie writes the cookie as Core does: to a temporary file of mode
// 0600, renamed into place.
func writeCookie(path, cookie string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("cookie: %w", err)
	}
	_, err = f.WriteString(cookie)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cookie: %w", err)
	}
	return nil
}

type rpcHandler struct {
	n     *Node
	valid []string // user:password pairs
}

func (h *rpcHandler) authorized(r *http.Request) (string, bool) {
	user, password, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	got := []byte(user + ":" + password)
	match := 0
	for _, v := range h.valid {
		match |= subtle.ConstantTimeCompare(got, []byte(v))
	}
	return user, match == 1
}

func (h *rpcHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, ok := h.authorized(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "JSONRPC server handles only POST requests", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	reply, err := h.n.ExecuteRPC(r.Context(), body, r.URL.Path, user)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus(reply))
	w.Write(append(reply, '\n'))
}

// httpStatus is Core's status for a reply: 200, but for the error of a
// JSON-RPC 1.0 request 400 (invalid request), 404 (method not found) or
// 500 (anything else).
func httpStatus(reply []byte) int {
	var r struct {
		Version string `json:"jsonrpc"`
		Error   *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(reply, &r) != nil || r.Error == nil || r.Version == "2.0" {
		return http.StatusOK
	}
	switch r.Error.Code {
	case -32600: // invalid request
		return http.StatusBadRequest
	case -32601: // method not found
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}
