package idmap

import (
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// withHost is dsn pointing at addr.
func withHost(tb testing.TB, dsn, addr string) (string, string) {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	real := u.Host
	u.Host = addr
	return u.String(), real
}

// TestOpenPostgresWaitsForServer checks that a server that comes up after
// the shim starts, within the start-up window, is waited for.
func TestOpenPostgresWaitsForServer(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	dsn, real := withHost(t, pgSchemaDSN(t), addr)
	up := make(chan net.Listener, 1)
	var wg sync.WaitGroup
	time.AfterFunc(400*time.Millisecond, func() {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			close(up)
			return
		}
		wg.Go(func() { proxyTo(ln, real) })
		up <- ln
	})
	defer func() {
		if ln, ok := <-up; ok {
			ln.Close()
		}
		wg.Wait()
	}()
	s, err := OpenPostgres(t.Context(), dsn, Options{OpTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("open while the server comes up: %v", err)
	}
	s.Close()
}

// TestOpenPostgresGivesUp checks that a server that never answers fails
// the start within the window, with an error that says so and names the
// server.
func TestOpenPostgresGivesUp(t *testing.T) {
	t.Parallel()
	addr := closedPort(t)
	dsn := "postgres://postgres:s3cr3t-pw@" + addr + "/test?sslmode=disable"
	_, err := OpenPostgres(t.Context(), dsn, Options{OpTimeout: 40 * time.Millisecond})
	if err == nil {
		t.Fatal("open without a server succeeded")
	}
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "start-up window") || !strings.Contains(err.Error(), addr) {
		t.Errorf("err = %v, want ErrUnavailable naming %s and the start-up window", err, addr)
	}
	if strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Error("the password is in the error")
	}
}

// proxyTo forwards every connection of ln to addr until ln is closed.
func proxyTo(ln net.Listener, addr string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			b, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer b.Close()
			go func() { _, _ = io.Copy(b, c); b.Close() }()
			_, _ = io.Copy(c, b)
		}()
	}
}
