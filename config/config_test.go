package config_test

import (
	"bytes"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/translate"
)

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.NativePrefix != "/api/v1" || c.Profile != translate.ProfileSMSActivate || !c.Passthrough ||
		c.IDMapDSN != "./data/idmap.db" || c.IDMapRetention != 30*24*time.Hour || c.AdminAddr != "127.0.0.1:8082" || c.ShutdownDelay != 5*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.Validate(true); err != nil {
		t.Errorf("defaults with -sandbox: %v", err)
	}
	err = c.Validate(false)
	if err == nil || !strings.Contains(err.Error(), "SHIM_UPSTREAM_URL is not set") || !strings.Contains(err.Error(), "SHIM_KEY_SECRET") {
		t.Errorf("defaults without -sandbox: %v", err)
	}
}

func TestParseEnviron(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]string{"SHIM_ADDR=127.0.0.1:0", "SHIM_PASSTHROUGH=false", "SHIM_PROFILE=smsbulk",
		"SHIM_UPSTREAM_URL=https://smsbulk.example", "SHIM_KEY_SECRET=0123456789abcdef0123", "SHIM_UPSTREAM_TIMEOUT=3s", "ADDR=ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:0" || c.Passthrough || c.Profile != translate.ProfileSMSBulk || c.UpstreamTimeout != 3*time.Second {
		t.Errorf("parsed: %+v", c)
	}
	if err := c.Validate(false); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if _, err := config.Parse([]string{"SHIM_UPSTREAM_TIMEOUT=soon"}); err == nil {
		t.Error("a bad duration parsed")
	}
}

func TestValidateReportsEverything(t *testing.T) {
	t.Parallel()
	// SHIM_PROFILE and SHIM_UPSTREAM_URL do not parse, the others do but
	// are wrong: Load reports them all.
	_, err := config.Load([]string{"SHIM_PROFILE=legacy", "SHIM_UPSTREAM_URL=ftp://x", "SHIM_LOG_FORMAT=xml",
		"SHIM_REQUEST_TIMEOUT=0s", "SHIM_NATIVE_PREFIX=api", "SHIM_UPSTREAM_URL=https://user:pw@x"}, false)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"SHIM_PROFILE", "SHIM_LOG_FORMAT", "SHIM_REQUEST_TIMEOUT must be positive", "SHIM_NATIVE_PREFIX", "SHIM_KEY_SECRET", "UPSTREAM_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestPrintHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := config.PrintHelp(&buf); err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := "SHIM_" + f.Tag.Get("env")
		if !strings.Contains(buf.String(), name) {
			t.Errorf("help lacks %s", name)
		}
		if f.Tag.Get("help") == "" {
			t.Errorf("%s has no help text", name)
		}
	}
	if !strings.Contains(buf.String(), "SHIM_ADDR") || !strings.Contains(buf.String(), ":8080") {
		t.Errorf("help:\n%s", buf.String())
	}
}

// TestREADMEListsEveryVariable keeps the README's configuration table true.
func TestREADMEListsEveryVariable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		row := "| `SHIM_" + f.Tag.Get("env") + "` |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md has no configuration row for SHIM_%s", f.Tag.Get("env"))
		}
	}
}

// TestLoadReportsInFieldOrder breaks many variables at once and checks
// that the problems come in the order of Config's fields, the same every
// time (a map would shuffle them).
func TestLoadReportsInFieldOrder(t *testing.T) {
	t.Parallel()
	environ := []string{
		// in reverse field order, to show the input order does not matter
		"SHIM_LOG_FORMAT=xml", "SHIM_RECONCILE_EVERY=0s", "SHIM_SHUTDOWN_TIMEOUT=-1s", "SHIM_IDLE_TIMEOUT=0s",
		"SHIM_SHUTDOWN_DELAY=-1s", "SHIM_BREAKER_COOLDOWN=0s", "SHIM_UPSTREAM_RETRIES=-1", "SHIM_UPSTREAM_TIMEOUT=0s", "SHIM_REQUEST_TIMEOUT=soon",
		"SHIM_READY_CATALOG_MAX_AGE=0s", "SHIM_CATALOG_WARM_EVERY=0s", "SHIM_CATALOG_STALE_FOR=0s", "SHIM_CATALOG_TTL=0s",
		"SHIM_STORE_TIMEOUT=0s", "SHIM_IDMAP_RETENTION=0s", "SHIM_KEY_SECRET=short",
		"SHIM_PROFILE=legacy", "SHIM_NATIVE_PREFIX=api", "SHIM_UPSTREAM_URL=ftp://x",
	}
	want := []string{
		"SHIM_UPSTREAM_URL", "SHIM_NATIVE_PREFIX", "SHIM_PROFILE", "SHIM_KEY_SECRET", "SHIM_IDMAP_RETENTION", "SHIM_STORE_TIMEOUT", "SHIM_CATALOG_TTL", "SHIM_CATALOG_STALE_FOR",
		"SHIM_CATALOG_WARM_EVERY", "SHIM_READY_CATALOG_MAX_AGE", "SHIM_REQUEST_TIMEOUT", "SHIM_UPSTREAM_TIMEOUT",
		"SHIM_UPSTREAM_RETRIES", "SHIM_BREAKER_COOLDOWN", "SHIM_IDLE_TIMEOUT", "SHIM_SHUTDOWN_DELAY", "SHIM_SHUTDOWN_TIMEOUT",
		"SHIM_RECONCILE_EVERY", "SHIM_LOG_FORMAT",
	}
	var first string
	for i := range 20 {
		_, err := config.Load(environ, false)
		if err == nil {
			t.Fatal("no error")
		}
		if i == 0 {
			first = err.Error()
		} else if err.Error() != first {
			t.Fatalf("run %d reported\n%s\nrun 0 reported\n%s", i, err, first)
		}
	}
	// Each line starts with the variable it is about.
	var got []string
	for line := range strings.Lines(first) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		name, _, _ = strings.Cut(name, ":")
		if len(got) == 0 || got[len(got)-1] != name {
			got = append(got, name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems in the order\n%q\nwant the field order\n%q\nerror:\n%s", got, want, first)
	}
	// And that order is the order of the fields.
	index := map[string]int{}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		index["SHIM_"+typ.Field(i).Tag.Get("env")] = i
	}
	if !slices.IsSortedFunc(want, func(a, b string) int { return index[a] - index[b] }) {
		t.Errorf("the test's own list is not in field order: %q", want)
	}
}

// TestParseNamesEveryBadVariable: Parse reports every variable that does
// not parse into its type, by its name, and keeps the ones that do.
func TestParseNamesEveryBadVariable(t *testing.T) {
	t.Parallel()
	c, err := config.Parse([]string{"SHIM_PROFILE=legacy", "SHIM_UPSTREAM_URL=https://user:pw-SECRET@x", "SHIM_LOG_LEVEL=loud",
		"SHIM_ADDR=127.0.0.1:1"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"SHIM_PROFILE: unknown answer profile", "SHIM_UPSTREAM_URL: must not carry credentials", "SHIM_LOG_LEVEL: \"loud\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "pw-SECRET") {
		t.Errorf("error reveals the password: %v", err)
	}
	if c.Addr != "127.0.0.1:1" {
		t.Errorf("a good variable beside bad ones: Addr = %q", c.Addr)
	}
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string // want "" for an error
	}{
		{"https://smsbulk.net", "https://smsbulk.net"},
		{"http://127.0.0.1:8081/", "http://127.0.0.1:8081"},
		{"https://backend.example//", "https://backend.example"},
		{"https://backend.example/base//", ""},
		{"http://localhost:8081/api/v1", ""},
		{"https://backend.example?x=1", ""},
		{"https://backend.example#top", ""},
		{"ftp://x", ""},
		{"smsbulk.net", ""},
		{"https://", ""},
		{"https://user:secret@x", ""},
		{"https://user@x", ""},
		{"http://[::1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			var o config.Origin
			err := o.UnmarshalText([]byte(tc.in))
			if tc.want == "" {
				if err == nil || o.URL() != nil {
					t.Fatalf("UnmarshalText(%q) = %v, URL %v; want an error and no URL", tc.in, err, o.URL())
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q reveals the password", err)
				}
				return
			}
			if err != nil || o.String() != tc.want || o.URL().String() != tc.want {
				t.Fatalf("UnmarshalText(%q) = %v, %q; want %q", tc.in, err, o.String(), tc.want)
			}
			o.URL().Host = "changed"
			if o.String() != tc.want {
				t.Errorf("changing URL()'s copy changed the origin to %q", o.String())
			}
		})
	}
	var unset config.Origin
	if unset.URL() != nil || unset.String() != "" {
		t.Errorf("zero Origin: %v %q", unset.URL(), unset.String())
	}
}

func TestLogLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "Warn": slog.LevelWarn, "error": slog.LevelError} {
		var l config.LogLevel
		if err := l.UnmarshalText([]byte(in)); err != nil || l.Level() != want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", in, l, err, want)
		}
	}
	for _, in := range []string{"", "info+2", "trace"} {
		l := config.LogLevel(slog.LevelError)
		if err := l.UnmarshalText([]byte(in)); err == nil || l.Level() != slog.LevelError {
			t.Errorf("UnmarshalText(%q) = %v, level %v; want an error and the level unchanged", in, err, l)
		}
	}
}

// TestCatalogTimes: the three catalog times have today's defaults, and
// with a probe key the readiness age must leave room for a refresh.
func TestCatalogTimes(t *testing.T) {
	t.Parallel()
	c, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.CatalogTTL != 5*time.Minute || c.CatalogStaleFor != 10*c.CatalogTTL ||
		c.ReadyCatalogMaxAge != 3*c.CatalogTTL || c.CatalogWarmEvery != c.CatalogTTL/2 {
		t.Errorf("catalog times: TTL %v, stale for %v, ready max age %v, warm every %v",
			c.CatalogTTL, c.CatalogStaleFor, c.ReadyCatalogMaxAge, c.CatalogWarmEvery)
	}
	base := []string{"SHIM_UPSTREAM_URL=https://smsbulk.example", "SHIM_KEY_SECRET=0123456789abcdef0123", "SHIM_CATALOG_TTL=13m"}
	cases := []struct {
		name    string
		env     []string
		sandbox bool
		wantErr bool
	}{
		{name: "no probe key: not checked", env: base},
		{name: "probe key, too short", env: append(base[:3:3], "SHIM_PROBE_API_KEY=p"), wantErr: true},
		{name: "sandbox, too short", env: base, sandbox: true, wantErr: true},
		{name: "probe key, long enough", env: append(base[:3:3], "SHIM_PROBE_API_KEY=p", "SHIM_READY_CATALOG_MAX_AGE=16m")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.Load(tc.env, tc.sandbox)
			if tc.wantErr != (err != nil) || (err != nil && !strings.Contains(err.Error(), "SHIM_READY_CATALOG_MAX_AGE (15m0s) must exceed")) {
				t.Errorf("Load: %v, want an error: %v", err, tc.wantErr)
			}
		})
	}
}

func TestValidateRequestIDTTL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  []string
		want string // "" when valid
	}{
		{nil, ""},
		{[]string{"SHIM_REQUEST_ID_TTL=720h"}, ""},
		{[]string{"SHIM_REQUEST_ID_TTL=721h"}, "SHIM_REQUEST_ID_TTL (721h0m0s) must not exceed SHIM_IDMAP_RETENTION"},
		{[]string{"SHIM_REQUEST_ID_TTL=0s"}, "SHIM_REQUEST_ID_TTL must be positive"},
	} {
		c, err := config.Load(tc.env, true)
		if tc.want == "" {
			if err != nil || c.RequestIDTTL <= 0 {
				t.Errorf("%v: %v, TTL %v; want valid", tc.env, err, c.RequestIDTTL)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want %q", tc.env, err, tc.want)
		}
	}
}

func TestLongPoll(t *testing.T) {
	t.Parallel()
	c, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.LongPollMax != 30*time.Second || c.LongPollInterval != time.Second || c.LongPollMaxWaiters != 10000 || c.LongPollMaxPerKey != 100 {
		t.Fatalf("long-poll defaults: %v %v %d %d", c.LongPollMax, c.LongPollInterval, c.LongPollMaxWaiters, c.LongPollMaxPerKey)
	}
	tests := []struct {
		name    string
		environ []string
		want    string        // "" is valid
		limit   time.Duration // LongPollLimit, when valid
	}{
		{"defaults: 30s + 10s within 40s", nil, "", 30 * time.Second},
		{"off", []string{"SHIM_LONG_POLL_MAX=0"}, "", 0},
		{"off, any write timeout", []string{"SHIM_LONG_POLL_MAX=0", "SHIM_WRITE_TIMEOUT=31s"}, "", 0},
		{"cut to the write timeout", []string{"SHIM_LONG_POLL_MAX=60s"}, "", 30 * time.Second},
		{"a write timeout valid before long-poll", []string{"SHIM_WRITE_TIMEOUT=20s", "SHIM_REQUEST_TIMEOUT=2s"}, "", 10 * time.Second},
		{"no room at all", []string{"SHIM_WRITE_TIMEOUT=10s", "SHIM_REQUEST_TIMEOUT=2s"}, "", 0},
		{"a longer write timeout", []string{"SHIM_LONG_POLL_MAX=60s", "SHIM_WRITE_TIMEOUT=70s"}, "", 60 * time.Second},
		{"negative", []string{"SHIM_LONG_POLL_MAX=-1s"}, "SHIM_LONG_POLL_MAX must not be negative", 0},
		{"no interval", []string{"SHIM_LONG_POLL_INTERVAL=0s"}, "SHIM_LONG_POLL_INTERVAL must be positive", 0},
		{"interval above the wait", []string{"SHIM_LONG_POLL_MAX=5s", "SHIM_LONG_POLL_INTERVAL=6s"}, "SHIM_LONG_POLL_INTERVAL (6s) must not exceed SHIM_LONG_POLL_MAX (5s)", 0},
		{"interval, long-poll off", []string{"SHIM_LONG_POLL_MAX=0", "SHIM_LONG_POLL_INTERVAL=6s"}, "", 0},
		{"no waiters", []string{"SHIM_LONG_POLL_MAX_WAITERS=0"}, "SHIM_LONG_POLL_MAX_WAITERS and SHIM_LONG_POLL_MAX_PER_KEY must be at least 1", 0},
		{"no waiters per key", []string{"SHIM_LONG_POLL_MAX_PER_KEY=0"}, "SHIM_LONG_POLL_MAX_WAITERS and SHIM_LONG_POLL_MAX_PER_KEY must be at least 1", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Load(tc.environ, true)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Load: %v, want %q", err, tc.want)
			case tc.want == "" && c.LongPollLimit() != tc.limit:
				t.Fatalf("LongPollLimit = %v, want %v", c.LongPollLimit(), tc.limit)
			}
		})
	}
}
