package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/idmap"
)

// store is the ID map as run uses it.
type store struct {
	// ids is the store behind its LRU, the only way everything in run (the
	// shim, retention, readiness) reaches it: a delete then empties the
	// cache, as idmap.Cached promises. Closing it closes the store.
	ids *idmap.Cached
	// writable probes that the store can write, or is nil when its kind
	// needs no probe (PostgreSQL refuses to start a transaction it cannot
	// write as surely as it fails a ping).
	writable func(ctx context.Context) error
	// raw is the store itself, for the operator commands and the pending
	// purchases gauge, which must not go through the cache.
	raw idmap.Store
	// cleanup removes a throw-away store's directory after close.
	cleanup func()
}

// openStore opens the ID map at SHIM_IDMAP_DSN behind its LRU. With
// -sandbox and no SHIM_IDMAP_DSN in environ, the map is a throw-away file in
// a new temporary directory, removed at exit: the in-process sandbox forgets
// its activations at every start, and a map that remembered them would
// answer their IDs with NO_ACTIVATION.
func openStore(ctx context.Context, cfg config.Config, useSandbox bool, environ []string, log *slog.Logger) (*store, error) {
	dsn, cleanup := cfg.IDMapDSN, func() {}
	if useSandbox && !isSet(environ, config.Prefix+"IDMAP_DSN") {
		dir, err := os.MkdirTemp("", "smsbulk-shim-sandbox-")
		if err != nil {
			return nil, fmt.Errorf("making the sandbox's ID map directory: %w", err)
		}
		dsn, cleanup = filepath.Join(dir, "idmap.db"), func() { _ = os.RemoveAll(dir) }
		log.Info("sandbox: throw-away ID map, removed at exit; set SHIM_IDMAP_DSN to keep one", slog.String("path", dsn))
	}
	raw, err := idmap.Open(ctx, dsn, idmap.Options{OpTimeout: cfg.StoreTimeout})
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("opening ID map: %w", err)
	}
	st := &store{ids: idmap.NewCache(raw, cfg.IDMapCacheSize), raw: raw, cleanup: cleanup}
	if w, ok := raw.(interface{ PingWrite(context.Context) error }); ok {
		st.writable = w.PingWrite
	}
	return st, nil
}

// close closes the store and removes a throw-away one.
func (s *store) close() error {
	err := s.ids.Close()
	s.cleanup()
	return err
}

// isSet reports whether environ sets the variable name.
func isSet(environ []string, name string) bool {
	for _, kv := range environ {
		if len(kv) > len(name) && kv[:len(name)] == name && kv[len(name)] == '=' {
			return true
		}
	}
	return false
}
