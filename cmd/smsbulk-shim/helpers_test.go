package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// serveSandbox serves a sandbox made from cfg on loopback, behind wrap when
// wrap is not nil, for a shim started with SHIM_UPSTREAM_URL. It returns the
// sandbox, so that the test can read its ledger and inject faults, and its
// origin URL.
func serveSandbox(tb testing.TB, cfg sandbox.Config, wrap func(http.Handler) http.Handler) (*sandbox.Sandbox, string) {
	tb.Helper()
	sb, err := sandbox.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	var h http.Handler = sb
	if wrap != nil {
		h = wrap(sb)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return sb, srv.URL
}

// waitingSandbox is the sandbox configuration with keys whose activations
// stay WAITING for an hour (no SMS comes), so that every one of them can
// still be cancelled for a refund.
func waitingSandbox(keys map[string]string) sandbox.Config {
	return sandbox.Config{Keys: keys, SMSDelay: time.Hour, TTL: 2 * time.Hour}
}

// legacyURL is the URL of a legacy GET with params to the shim at addr.
func legacyURL(addr string, params url.Values) string {
	return "http://" + addr + "/stubs/handler_api.php?" + params.Encode()
}

// answer reads the whole of an HTTP answer, as given by http.Get or
// Client.Do, and returns its status, content type and body. It never fails
// the test, so that goroutines may use it.
func answer(resp *http.Response, err error) (int, string, string, error) {
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b), err
}

// get sends a GET to u and returns status, content type and body.
func get(tb testing.TB, u string) (int, string, string) {
	tb.Helper()
	code, ct, body, err := answer(http.Get(u))
	if err != nil {
		// The URL may hold an API key: leave it out.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		tb.Fatalf("GET: %v", err)
	}
	return code, ct, body
}

// legacyBot is a legacy client: it can be used from many goroutines and never
// fails the test itself.
type legacyBot struct {
	c *http.Client
}

func newLegacyBot() *legacyBot {
	return &legacyBot{c: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
	}}
}

// call sends one legacy GET to the shim at addr and returns the body; an
// answer other than HTTP 200 is an error.
func (b *legacyBot) call(ctx context.Context, addr string, params url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, legacyURL(addr, params), nil)
	if err != nil {
		return "", err
	}
	code, _, body, err := answer(b.c.Do(req))
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return body, fmt.Errorf("HTTP %d: %q", code, body)
	}
	return body, nil
}

func (b *legacyBot) getNumber(ctx context.Context, addr, key string) (string, error) {
	return b.buy(ctx, addr, key, "getNumber")
}

// buy buys a number with action, getNumber or getNumberV2.
func (b *legacyBot) buy(ctx context.Context, addr, key, action string) (string, error) {
	return b.call(ctx, addr, url.Values{"api_key": {key}, "action": {action}, "service": {"wa"}, "country": {"0"}})
}

func (b *legacyBot) getStatus(ctx context.Context, addr, key string, id int64) (string, error) {
	return b.call(ctx, addr, url.Values{"api_key": {key}, "action": {"getStatus"}, "id": {strconv.FormatInt(id, 10)}})
}

func (b *legacyBot) setStatus(ctx context.Context, addr, key string, id int64, status string) (string, error) {
	return b.call(ctx, addr, url.Values{"api_key": {key}, "action": {"setStatus"}, "id": {strconv.FormatInt(id, 10)}, "status": {status}})
}

// parseNumberID parses "ACCESS_NUMBER:<id>:<phone>", or getNumberV2's
// JSON answer.
func parseNumberID(body string) (int64, bool) {
	raw := ""
	if parts := strings.Split(body, ":"); len(parts) == 3 && parts[0] == "ACCESS_NUMBER" && parts[2] != "" {
		raw = parts[1]
	} else if strings.HasPrefix(body, "{") {
		var v struct {
			ActivationID string `json:"activationId"`
			PhoneNumber  string `json:"phoneNumber"`
		}
		if json.Unmarshal([]byte(body), &v) != nil || v.PhoneNumber == "" {
			return 0, false
		}
		raw = v.ActivationID
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	return id, err == nil
}
