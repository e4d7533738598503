package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/internal/fakeclock"
	"github.com/smsbulk/smsbulk-shim/telemetry"
)

// TestRetentionEmptiesTheCache wires the store, the sandbox backend, the
// shim and the background work as run does, caches a row by looking it up
// through the shim, lets retention delete it, and checks that the shim no
// longer answers for it: retention must delete through the cache the shim
// looks up in, or the cache keeps answering for a deleted row.
func TestRetentionEmptiesTheCache(t *testing.T) {
	t.Parallel()
	environ := []string{"SHIM_IDMAP_DSN=" + filepath.Join(t.TempDir(), "idmap.db"),
		"SANDBOX_KEYS=retention-key=10.00", "SANDBOX_SMS_DELAY=1h", "SANDBOX_TTL=2h"}
	cfg, err := config.Load(environ, true)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	tel, err := telemetry.Setup(t.Context(), telemetry.Service{Name: serviceName}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.WithoutCancel(t.Context())) })
	be, err := newBackend(cfg, true, environ, tel.WrapTransport, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(be.close)
	st, err := openStore(t.Context(), cfg, true, environ, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.close() })
	ids := st.ids
	srv, err := newServer(log, nil, cfg, be, st, tel)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(srv)
	t.Cleanup(front.Close)
	legacy := func(params url.Values) string {
		t.Helper()
		params.Set("api_key", "retention-key")
		_, _, body := get(t, front.URL+"/stubs/handler_api.php?"+params.Encode())
		return body
	}

	// Retention's clock runs with real time until the test moves it ahead.
	clock := fakeclock.Offset()
	w := backgroundOptions(cfg, &backend{}, log)
	w.retention.Every = 5 * time.Millisecond
	w.retention.Now = clock.Now
	bg := startBackground(t.Context(), log, srv, ids, be.client, w)
	t.Cleanup(bg.stop)

	id, ok := parseNumberID(legacy(url.Values{"action": {"getNumber"}, "service": {"wa"}, "country": {"0"}}))
	if !ok {
		t.Fatal("getNumber did not answer ACCESS_NUMBER")
	}
	status := url.Values{"action": {"getStatus"}, "id": {strconv.FormatInt(id, 10)}}
	for range 2 {
		if got := legacy(status); got != "STATUS_WAIT_CODE" {
			t.Fatalf("getStatus before retention = %q", got)
		}
	}
	if hits, _ := ids.Stats(); hits == 0 {
		t.Fatal("the second getStatus was not answered from the cache")
	}

	clock.Advance(cfg.IDMapRetention + time.Hour)
	pollUntil(t, "retention deletes the row", func() bool {
		return strings.Contains(strings.Join(logs.Lines(), "\n"), `"msg":"id map retention","deleted":1`)
	})
	if got := legacy(status); got != "NO_ACTIVATION" {
		t.Errorf("getStatus after retention deleted the row = %q, want NO_ACTIVATION", got)
	}
}
