package shim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// logBuffer is a log sink safe for concurrent use: tests read it while the
// server writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// records returns the JSON log records written so far.
func (l *logBuffer) records(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			tb.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// rigOptions is what the tests' rigs differ in. The zero value is a sandbox
// without keys on loopback, the default client, SQLite with the real clock,
// and a shim in the sms-activate profile that discards its logs.
type rigOptions struct {
	// sandbox configures the sandbox served on loopback.
	sandbox sandbox.Config
	// backend, when not nil, is served on loopback instead of a sandbox;
	// rig.sb is then nil.
	backend http.Handler
	// baseURL, when set, is the native base URL of the client and no
	// backend is started: upstream.Transport must reach it.
	baseURL string
	// upstream configures the native client.
	upstream upstream.Options
	// wrapAPI puts something in front of the native client, such as a
	// counter, or replaces it; nil gives the shim the client itself.
	wrapAPI func(shim.NativeAPI) shim.NativeAPI
	// idmap configures the SQLite ID map in tb.TempDir(), for example its
	// clock.
	idmap idmap.Options
	// wrapStore puts something in front of the store, such as a cache or a
	// fault; nil gives the shim the store itself.
	wrapStore func(idmap.Store) shim.IDStore
	// secret is the key secret; "" uses a fixed one.
	secret string
	// countryCache is the size of the country resolver's cache; 0 is its
	// default.
	countryCache int
	// shim configures the server; the rig sets Keys and Services.
	shim shim.Options
	// origin sets shim.Origin to the backend, for pass-through.
	origin bool
	// log receives the JSON log lines; nil discards them.
	log io.Writer
	// level is the lowest level logged; the zero value is Info.
	level slog.Level
}

// rig is a shim with everything behind it real: the native client, a
// backend on loopback (a sandbox unless rigOptions says otherwise) and an
// SQLite ID map in a temporary directory. Everything is closed when the
// test ends.
type rig struct {
	sb      *sandbox.Sandbox // nil with rigOptions.backend or baseURL
	backend *httptest.Server // nil with rigOptions.baseURL
	baseURL string           // the client's native base URL
	api     *upstream.Client // the shim's native client
	store   idmap.Store      // the ID map
	dbPath  string           // the ID map's SQLite file
	ids     shim.IDStore     // what the shim uses: store, or rigOptions.wrapStore's
	keys    *shim.Keys       // the shim's keys
	cc      *countries.Resolver
	srv     *shim.Server
}

// newRig builds a rig as o says.
func newRig(tb testing.TB, o rigOptions) *rig {
	tb.Helper()
	r := &rig{baseURL: o.baseURL}
	var err error
	if r.baseURL == "" {
		h := o.backend
		if h == nil {
			if r.sb, err = sandbox.New(o.sandbox); err != nil {
				tb.Fatal(err)
			}
			h = r.sb
		}
		r.backend = httptest.NewServer(h)
		tb.Cleanup(r.backend.Close)
		r.baseURL = r.backend.URL + "/api/v1"
	}
	r.dbPath = filepath.Join(tb.TempDir(), "idmap.db")
	if r.store, err = idmap.Open(tb.Context(), r.dbPath, o.idmap); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.store.Close() })
	r.ids = r.store
	if o.wrapStore != nil {
		r.ids = o.wrapStore(r.store)
	}
	secret := o.secret
	if secret == "" {
		secret = "rig test secret, at least 32 bytes"
	}
	if r.keys, err = shim.NewKeys([]byte(secret)); err != nil {
		tb.Fatal(err)
	}
	return r.with(tb, o)
}

// with returns a copy of r with a shim of its own on r's backend, store and
// keys: a new native client, country resolver, logger and server. Only o's
// upstream, wrapAPI, countryCache, shim, origin, log and level are used.
func (r *rig) with(tb testing.TB, o rigOptions) *rig {
	tb.Helper()
	c := *r
	var err error
	if c.api, err = upstream.New(r.baseURL, o.upstream); err != nil {
		tb.Fatal(err)
	}
	if c.cc, err = countries.NewResolver(countries.Builtin(), o.countryCache); err != nil {
		tb.Fatal(err)
	}
	opt := o.shim
	opt.Keys, opt.Services = r.keys, translate.BuiltinServices()
	if o.origin {
		if opt.Origin, err = url.Parse(r.backend.URL); err != nil {
			tb.Fatal(err)
		}
	}
	w := o.log
	if w == nil {
		w = io.Discard
	}
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: o.level}))
	var api shim.NativeAPI = c.api
	if o.wrapAPI != nil {
		api = o.wrapAPI(api)
	}
	if c.srv, err = shim.NewServer(log, api, r.ids, c.cc, opt); err != nil {
		tb.Fatal(err)
	}
	return &c
}

// listen serves the shim on loopback until the test ends and returns its
// URL.
func (r *rig) listen(tb testing.TB) string {
	tb.Helper()
	front := httptest.NewServer(r.srv)
	tb.Cleanup(front.Close)
	return front.URL
}

// serve sends one legacy GET with query to h in process.
func serve(h http.Handler, query string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stubs/handler_api.php?"+query, nil))
	return rec
}
