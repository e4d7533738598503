package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// TestMaxConns checks SHIM_MAX_CONNS: with two connections held open, a
// third is not served until one of them closes.
func TestMaxConns(t *testing.T) {
	t.Parallel()
	_, sbURL := serveSandbox(t, sandbox.Config{}, nil)
	p := startShim(t, nil, "SHIM_UPSTREAM_URL="+sbURL, testSecret, "SHIM_MAX_CONNS=2")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ask := func(c net.Conn) chan error {
		done := make(chan error, 1)
		go func() {
			if _, err := io.WriteString(c, "GET /healthz-none HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				done <- err
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		return done
	}
	held := []net.Conn{dial(), dial()}
	for _, c := range held {
		if err := <-ask(c); err != nil {
			t.Fatal(err)
		}
	}
	third := ask(dial())
	select {
	case err := <-third:
		t.Fatalf("a third connection was served past SHIM_MAX_CONNS=2 (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	select {
	case err := <-third:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the third connection was not served after one closed")
	}
}
