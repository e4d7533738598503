package callback

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// receiver serves status on loopback and counts the requests it gets.
func receiver(tb testing.TB, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	tb.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	tb.Cleanup(srv.Close)
	return srv, &n
}

func TestPostRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	srv, hits := receiver(t, func(w http.ResponseWriter, _ *http.Request) {})
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	c := New(Options{Timeout: 5 * time.Second})
	for _, u := range []string{
		srv.URL + "/hook?token=secret-in-query",                    // the literal 127.0.0.1
		"http://localhost:" + port + "/hook?token=secret-in-query", // a name resolving to loopback, checked at dial time
	} {
		status, err := c.Post(t.Context(), u, []byte("{}"), nil)
		var be *BlockedError
		if !errors.As(err, &be) || !be.Addr.IsLoopback() || status != 0 {
			t.Fatalf("Post(%s) = %d, %v; want a BlockedError on loopback", TargetOf(u), status, err)
		}
		if strings.Contains(err.Error(), "secret-in-query") || strings.Contains(err.Error(), "/hook") {
			t.Fatalf("error %q shows the URL's path or query", err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the receiver got %d requests, want none", hits.Load())
	}
	// Allowed, the same URL is delivered.
	open := New(Options{Timeout: 5 * time.Second, AllowPrivate: true})
	if status, err := open.Post(t.Context(), "http://localhost:"+port+"/hook", []byte("{}"), nil); err != nil || status != 200 {
		t.Fatalf("Post with AllowPrivate = %d, %v; want 200", status, err)
	}
	if hits.Load() != 1 {
		t.Fatalf("the receiver got %d requests, want 1", hits.Load())
	}
}

func TestPostSendsAndFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	elsewhere, elsewhereHits := receiver(t, func(w http.ResponseWriter, _ *http.Request) {})
	var got http.Header
	var gotBody string
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		b := make([]byte, 100)
		n, _ := r.Body.Read(b)
		gotBody = string(b[:n])
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, elsewhere.URL+"/x", http.StatusTemporaryRedirect)
			return
		}
		// A big answer is read only in part.
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
	})
	c := New(Options{Timeout: 5 * time.Second, AllowPrivate: true})
	status, err := c.Post(t.Context(), srv.URL+"/hook", []byte(`{"a":1}`), http.Header{"X-Shim-Event-Id": {"e-1"}})
	if err != nil || status != 200 {
		t.Fatalf("Post = %d, %v", status, err)
	}
	if got.Get("Content-Type") != "application/json" || got.Get("X-Shim-Event-Id") != "e-1" || gotBody != `{"a":1}` {
		t.Fatalf("receiver got headers %v body %q", got, gotBody)
	}
	status, err = c.Post(t.Context(), srv.URL+"/moved", []byte(`{}`), nil)
	if err != nil || status != http.StatusTemporaryRedirect {
		t.Fatalf("Post to a redirect = %d, %v; want 307 as the answer", status, err)
	}
	if elsewhereHits.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
	if _, err := c.Post(t.Context(), srv.URL, make([]byte, MaxBody+1), nil); err == nil {
		t.Fatal("Post of a body over MaxBody = nil error")
	}
}

func TestPostTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, _ := receiver(t, func(w http.ResponseWriter, _ *http.Request) { <-release })
	defer close(release)
	c := New(Options{Timeout: 200 * time.Millisecond, AllowPrivate: true})
	if status, err := c.Post(t.Context(), srv.URL+"/hook?k=secret", []byte("{}"), nil); err == nil || status != 0 || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Post to a receiver that never answers = %d, %v; want an error without the query", status, err)
	}
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event_id":"100000001-1"}`)
	sig := Sign(body, "the-bot-key")
	// The HMAC-SHA256 of body under the key, as any language computes it.
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("Sign = %q", sig)
	}
	if !Verify(body, "the-bot-key", sig) {
		t.Fatal("Verify of Sign = false")
	}
	if Verify(body, "another-key", sig) || Verify([]byte(`{"event_id":"100000001-2"}`), "the-bot-key", sig) {
		t.Fatal("Verify accepts another key or body")
	}
	if got := Sign([]byte("hello"), "key"); got != "sha256=9307b3b915efb5171ff14d8cb55fbcc798c6c0ef1456d66ded1a6aa723a58b7b" {
		t.Fatalf("Sign(hello, key) = %s, want the reference HMAC", got)
	}
}

func TestBlockedErrorNamesOnlyTheAddress(t *testing.T) {
	t.Parallel()
	e := &BlockedError{Addr: netip.MustParseAddr("10.0.0.1")}
	if !strings.Contains(e.Error(), "10.0.0.1") {
		t.Fatal(e.Error())
	}
}
