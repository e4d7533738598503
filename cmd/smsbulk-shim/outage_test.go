package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// cutProxy forwards TCP connections to target until it is cut. Cut with
// blackhole set, it stops forwarding but keeps every client connection open
// and accepts new ones without answering (a network partition: the client
// waits for its deadline); cut without it, it closes every connection and
// closes new ones at once (a server that is down). Restore forwards new
// connections again and closes the ones it held.
type cutProxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	cut       bool
	blackhole bool
	conns     map[net.Conn]struct{} // client and target sides
	wg        sync.WaitGroup
}

func newCutProxy(tb testing.TB, target string) *cutProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	tb.Cleanup(func() {
		ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

func (p *cutProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut, blackhole := p.cut, p.blackhole
		if !cut || blackhole {
			p.conns[client] = struct{}{}
		}
		p.mu.Unlock()
		switch {
		case cut && blackhole:
			continue // held open, never answered
		case cut:
			client.Close()
			continue
		}
		p.wg.Go(func() { p.forward(client) })
	}
}

func (p *cutProxy) forward(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.drop(client)
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		server.Close()
		if !p.blackhole {
			p.drop(client)
		}
		return
	}
	p.conns[server] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// The server side always goes; the client side stays open
		// while a blackhole holds it.
		p.drop(server)
		p.mu.Lock()
		hold := p.cut && p.blackhole
		p.mu.Unlock()
		if !hold {
			p.drop(client)
		}
	}
	wg.Go(func() { pipe(server, client) })
	wg.Go(func() { pipe(client, server) })
	wg.Wait()
}

func (p *cutProxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// Cut stops the traffic as described on cutProxy. Connections to the
// target are closed either way; a blackhole keeps the client sides open.
func (p *cutProxy) Cut(blackhole bool) {
	p.mu.Lock()
	p.cut, p.blackhole = true, blackhole
	p.mu.Unlock()
	p.closeAll()
}

// Restore lets new connections through and closes the ones held open.
func (p *cutProxy) Restore() {
	p.mu.Lock()
	p.cut, p.blackhole = false, false
	p.mu.Unlock()
	p.closeAll()
}

func (p *cutProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// readyz returns the status of GET /readyz on the admin listener.
func readyz(ctx context.Context, adminAddr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/readyz", nil)
	if err != nil {
		return 0, err
	}
	code, _, _, err := answer(http.DefaultClient.Do(req))
	return code, err
}

// TestStoreOutage cuts the shim off its PostgreSQL store: legacy calls that
// need the store answer ERROR_SQL within the store deadline instead of
// piling up, /readyz answers 503, and when the store is back the same shim
// is ready and answers again.
func TestStoreOutage(t *testing.T) {
	const (
		storeTimeout   = 500 * time.Millisecond
		requestTimeout = 10 * time.Second
		// bound is what "promptly" means here: many times the store
		// deadline, far below the request deadline.
		bound = requestTimeout / 4
	)
	tests := []struct {
		name      string
		blackhole bool
	}{
		{"server down", false},
		{"network partition", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dsn := freshPGSchema(t)
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			proxy := newCutProxy(t, u.Host)
			u.Host = proxy.Addr()
			const key, other = "outage-key-4b7d", "outage-other-9e21"
			_, origin := serveSandbox(t, waitingSandbox(map[string]string{key: "100.00", other: "100.00"}), nil)
			p := startShim(t, nil,
				"SHIM_UPSTREAM_URL="+origin,
				"SHIM_KEY_SECRET="+fleetSecret,
				"SHIM_IDMAP_DSN="+u.String(),
				"SHIM_STORE_TIMEOUT="+storeTimeout.String(),
				"SHIM_REQUEST_TIMEOUT="+requestTimeout.String(),
				"SHIM_WRITE_TIMEOUT=20s",
				"SHIM_RECONCILE_AFTER=1m",
			)
			ctx := t.Context()
			c := newLegacyBot()
			buy := func() int64 {
				t.Helper()
				body, err := c.getNumber(ctx, p.Addr, key)
				id, ok := parseNumberID(body)
				if err != nil || !ok {
					t.Fatalf("getNumber = %q, %v", body, err)
				}
				return id
			}
			// cached has been looked up (the shim remembers it); fresh has
			// not.
			cached, fresh := buy(), buy()
			if s, err := c.getStatus(ctx, p.Addr, key, cached); err != nil || s != "STATUS_WAIT_CODE" {
				t.Fatalf("getStatus before the outage = %q, %v", s, err)
			}
			if code, err := readyz(ctx, p.AdminAddr); err != nil || code != http.StatusOK {
				t.Fatalf("/readyz before the outage = %d, %v", code, err)
			}

			proxy.Cut(tc.blackhole)
			// Several bots at once: none waits for another's deadline.
			calls := []struct {
				name string
				do   func() (string, error)
				want string
			}{
				{"getNumber", func() (string, error) { return c.getNumber(ctx, p.Addr, key) }, "ERROR_SQL"},
				{"getStatus of a fresh id", func() (string, error) { return c.getStatus(ctx, p.Addr, key, fresh) }, "ERROR_SQL"},
				{"setStatus of a fresh id", func() (string, error) { return c.setStatus(ctx, p.Addr, key, fresh, "1") }, "ERROR_SQL"},
				{"getStatus by another key", func() (string, error) { return c.getStatus(ctx, p.Addr, other, fresh) }, "ERROR_SQL"},
				// A row once found never changes, so memory answers it.
				{"getStatus of a cached id", func() (string, error) { return c.getStatus(ctx, p.Addr, key, cached) }, "STATUS_WAIT_CODE"},
			}
			const copies = 4
			var wg sync.WaitGroup
			errs := make(chan error, copies*len(calls)+1)
			for range copies {
				for _, call := range calls {
					wg.Go(func() {
						start := time.Now()
						got, err := call.do()
						took := time.Since(start)
						switch {
						case err != nil || got != call.want:
							errs <- fmt.Errorf("%s during the outage = %q, %v; want %s", call.name, got, err, call.want)
						case took > bound:
							errs <- fmt.Errorf("%s during the outage took %v, want under %v (store deadline %v)", call.name, took, bound, storeTimeout)
						}
					})
				}
			}
			wg.Go(func() {
				start := time.Now()
				code, err := readyz(ctx, p.AdminAddr)
				took := time.Since(start)
				if err != nil || code != http.StatusServiceUnavailable || took > bound {
					errs <- fmt.Errorf("/readyz during the outage = %d, %v after %v; want 503 under %v", code, err, took, bound)
				}
			})
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}

			proxy.Restore()
			restored := time.Now()
			deadline := restored.Add(15 * time.Second)
			for {
				code, err := readyz(ctx, p.AdminAddr)
				if err == nil && code == http.StatusOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("/readyz still %d, %v 15s after the store came back", code, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("ready %v after the store came back", time.Since(restored).Round(time.Millisecond))
			if s, err := c.getStatus(ctx, p.Addr, key, fresh); err != nil || s != "STATUS_WAIT_CODE" {
				t.Errorf("getStatus of the fresh id after the outage = %q, %v", s, err)
			}
			if s, err := c.getStatus(ctx, p.Addr, other, fresh); err != nil || s != "NO_ACTIVATION" {
				t.Errorf("getStatus by another key after the outage = %q, %v", s, err)
			}
			after := buy()
			if after <= fresh {
				t.Errorf("legacy id after the outage %d does not follow %d", after, fresh)
			}
			if s, err := c.getStatus(ctx, p.Addr, key, after); err != nil || s != "STATUS_WAIT_CODE" {
				t.Errorf("getStatus of a purchase after the outage = %q, %v", s, err)
			}
		})
	}
}
