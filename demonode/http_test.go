package demonode_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitcoin-ipc/bitcoin-ipc/demonode"
)

func post(t *testing.T, url, user, password, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || password != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// JSON-RPC over HTTP: a 0600 cookie, user/password, 401 and nothing else
// for bad credentials, Core's status codes, the cookie removed on Close.
func TestListenRPC(t *testing.T) {
	n := demonode.New()
	defer n.Chain().Close()
	dir := t.TempDir()
	s, err := n.ListenRPC(dir, 0, "alice", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	cookiePath := filepath.Join(dir, ".cookie")
	fi, err := os.Stat(cookiePath)
	if err != nil || fi.Mode().Perm() != 0o600 || s.CookiePath() != cookiePath {
		t.Fatalf("cookie file: %v, %v", fi, err)
	}
	raw, err := os.ReadFile(cookiePath)
	if err != nil {
		t.Fatal(err)
	}
	user, secret, ok := strings.Cut(string(raw), ":")
	if !ok || user != "__cookie__" || len(secret) != 64 {
		t.Fatalf("cookie %q", raw)
	}
	url := "http://" + s.Addr() + "/"
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("serving on %s; want loopback", s.Addr())
	}
	const count = `{"jsonrpc":"2.0","method":"getblockcount","id":1}`
	for _, c := range [][2]string{{user, secret}, {"alice", "s3cret"}} {
		code, body, _ := post(t, url, c[0], c[1], count)
		if code != 200 || body != `{"id":1,"jsonrpc":"2.0","result":0}`+"\n" {
			t.Fatalf("getblockcount as %s: %d %q", c[0], code, body)
		}
	}
	for _, c := range [][2]string{{user, secret + "0"}, {"alice", "wrong"}, {"", ""}} {
		code, body, h := post(t, url, c[0], c[1], count)
		if code != 401 || body != "" || h.Get("WWW-Authenticate") == "" {
			t.Fatalf("bad credentials %q: %d %q", c, code, body)
		}
	}
	if code, body, _ := post(t, url, user, secret, `{"method":"nosuchmethod","id":1}`); code != 404 || !strings.Contains(body, "Method not found") {
		t.Fatalf("1.0 unknown method: %d %q", code, body)
	}
	if code, _, _ := post(t, url, user, secret, `{"jsonrpc":"2.0","method":"nosuchmethod","id":1}`); code != 200 {
		t.Fatalf("2.0 unknown method: %d", code)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cookiePath); !os.IsNotExist(err) {
		t.Fatalf("cookie left behind: %v", err)
	}
}
