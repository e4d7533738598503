package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
)

// runCmd runs the program with args, environ and stdin, and returns its
// output and error.
func runCmd(tb testing.TB, stdin string, args []string, environ ...string) (string, error) {
	tb.Helper()
	var out strings.Builder
	err := run(tb.Context(), args, environ, strings.NewReader(stdin), &out, io.Discard)
	return out.String(), err
}

func TestVersionFlag(t *testing.T) {
	t.Parallel()
	out, err := runCmd(t, "", []string{"-version"})
	if err != nil || !strings.HasPrefix(out, "smsbulk-shim ") || !strings.Contains(out, "(revision ") {
		t.Errorf("-version = %q, %v", out, err)
	}
	if _, err := runCmd(t, "", []string{"no-such-command"}); err == nil || !strings.Contains(err.Error(), `unknown command "no-such-command"`) {
		t.Errorf("an unknown command: %v", err)
	}
}

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	if out, err := runCmd(t, "", []string{"check-config"}, "SHIM_UPSTREAM_URL=https://smsbulk.example", testSecret); err != nil || out != "configuration ok\n" {
		t.Errorf("check-config on a good configuration = %q, %v", out, err)
	}
	_, err := runCmd(t, "", []string{"check-config"}, "SHIM_UPSTREAM_URL=http://localhost:8081/api/v1", "SHIM_KEY_SECRET=short")
	if err == nil || !strings.Contains(err.Error(), "SHIM_UPSTREAM_URL") || !strings.Contains(err.Error(), "SHIM_KEY_SECRET") {
		t.Errorf("check-config with an upstream path and a short secret: %v", err)
	}
	if out, err := runCmd(t, "", []string{"check-config", "-sandbox"}); err != nil || out != "configuration ok\n" {
		t.Errorf("check-config -sandbox = %q, %v", out, err)
	}
}

func TestOwnerCommand(t *testing.T) {
	t.Parallel()
	const key = "owner-command-key-7d1e"
	keys, err := shim.NewKeys([]byte(strings.TrimPrefix(testSecret, "SHIM_KEY_SECRET=")))
	if err != nil {
		t.Fatal(err)
	}
	owner := keys.Owner(key)
	out, err := runCmd(t, key+"\n", []string{"owner"}, testSecret)
	if err != nil || out != "owner: "+owner+"\nshort: "+shim.ShortOwner(owner)+"\n" {
		t.Errorf("owner = %q, %v; want owner %s", out, err, owner)
	}
	if strings.Contains(out, key) {
		t.Error("owner printed the key")
	}
	if _, err := runCmd(t, "", []string{"owner", key}, testSecret); err == nil || strings.Contains(err.Error(), key) {
		t.Errorf("owner with the key on the command line: %v; want a refusal that does not repeat it", err)
	}
	if _, err := runCmd(t, key, []string{"owner"}); err == nil || !strings.Contains(err.Error(), "SHIM_KEY_SECRET") {
		t.Errorf("owner without a secret: %v", err)
	}
}

// TestIDMapCommands looks up a row and the pending summary of a real
// SQLite map, as an operator would with the shim's own environment.
func TestIDMapCommands(t *testing.T) {
	t.Parallel()
	dsn := "SHIM_IDMAP_DSN=" + filepath.Join(t.TempDir(), "idmap.db")
	cfg, err := config.Parse([]string{dsn})
	if err != nil {
		t.Fatal(err)
	}
	s, err := idmap.Open(t.Context(), cfg.IDMapDSN, idmap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	active, err := s.Reserve(t.Context(), idmap.Reservation{Owner: "0123456789abcdef0123456789abcdef", IdemKey: "idem-a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(t.Context(), active, "native-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(t.Context(), idmap.Reservation{Owner: "owner-b", IdemKey: "idem-b"}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	out, err := runCmd(t, "", []string{"idmap", "lookup", "100000001"}, dsn)
	for _, want := range []string{"legacy_id: 100000001\n", "state: active\n", "native_id: native-a\n",
		"owner: 0123456789abcdef0123456789abcdef\n", "owner_short: 0123456789ab\n", "idempotency_key: idem-a\n"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("idmap lookup = %q, %v; want %q in it", out, err, want)
		}
	}
	if _, err := runCmd(t, "", []string{"idmap", "lookup", "999999999"}, dsn); err == nil || !strings.Contains(err.Error(), "not in the ID map") {
		t.Errorf("idmap lookup of an unknown ID: %v", err)
	}
	if out, err := runCmd(t, "", []string{"idmap", "pending"}, dsn); err != nil || !strings.HasPrefix(out, "pending: 1\noldest: ") {
		t.Errorf("idmap pending = %q, %v", out, err)
	}
	if _, err := runCmd(t, "", []string{"idmap", "lookup", "x"}, dsn); err == nil {
		t.Error("idmap lookup x: no error")
	}
}

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	p := startShim(t, []string{"-sandbox"})
	waitReady(t, p, 200)
	if out, err := runCmd(t, "", []string{"healthcheck"}, "SHIM_ADMIN_ADDR="+p.AdminAddr); err != nil || !strings.HasPrefix(out, "ready\n") {
		t.Errorf("healthcheck on a ready shim = %q, %v", out, err)
	}
	if out, err := runCmd(t, "", []string{"healthcheck", "-live"}, "SHIM_ADMIN_ADDR="+p.AdminAddr); err != nil || out != "ok\n" {
		t.Errorf("healthcheck -live = %q, %v", out, err)
	}
	p.Stop(t)
	if _, err := runCmd(t, "", []string{"healthcheck"}, "SHIM_ADMIN_ADDR="+p.AdminAddr); err == nil {
		t.Error("healthcheck on a stopped shim: no error")
	}
	if got := dialAddr(":8082"); got != "127.0.0.1:8082" {
		t.Errorf("dialAddr(:8082) = %q", got)
	}
	if got := dialAddr("0.0.0.0:8082"); got != "127.0.0.1:8082" {
		t.Errorf("dialAddr(0.0.0.0:8082) = %q", got)
	}
}

// TestSandboxGetsAThrowAwayIDMap: -sandbox without SHIM_IDMAP_DSN opens a
// map of its own in a new directory, not the default file, and removes it
// at close; with SHIM_IDMAP_DSN it uses that one and keeps it.
func TestSandboxGetsAThrowAwayIDMap(t *testing.T) {
	t.Parallel()
	named := filepath.Join(t.TempDir(), "named.db")
	for _, tc := range []struct {
		name    string
		environ []string
	}{{"unnamed", nil}, {"named", []string{"SHIM_IDMAP_DSN=" + named}}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load(tc.environ, true)
			if err != nil {
				t.Fatal(err)
			}
			_, defaultBefore := os.Stat(cfg.IDMapDSN)
			logs := &logBuffer{}
			st, err := openStore(t.Context(), cfg, true, tc.environ, newLogger(logs, "json", cfg.LogLevel))
			if err != nil {
				t.Fatal(err)
			}
			var path string
			for _, l := range logs.Lines() {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && strings.HasPrefix(fmt.Sprint(m["msg"]), "sandbox: throw-away ID map") {
					path, _ = m["path"].(string)
				}
			}
			if err := st.close(); err != nil {
				t.Fatal(err)
			}
			if _, after := os.Stat(cfg.IDMapDSN); tc.name == "unnamed" && (defaultBefore == nil) != (after == nil) {
				t.Errorf("-sandbox created the default ID map %s", cfg.IDMapDSN)
			}
			switch tc.name {
			case "unnamed":
				if path == "" || path == cfg.IDMapDSN {
					t.Fatalf("throw-away map at %q, want a path of its own", path)
				}
				if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the throw-away map's directory is still there after close: %v", err)
				}
			case "named":
				if path != "" {
					t.Errorf("a throw-away map at %s although SHIM_IDMAP_DSN names one", path)
				}
				if _, err := os.Stat(named); err != nil {
					t.Errorf("the named map: %v", err)
				}
			}
		})
	}
}
