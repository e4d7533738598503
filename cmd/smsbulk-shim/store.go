package main

import (
	"context"
	"fmt"

	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/idmap"
)

// openStore opens the ID map at SHIM_IDMAP_DSN behind its LRU. It returns
// only the cache, so that everything in run (the shim, retention,
// readiness) goes through it: a delete then empties it, as idmap.Cached
// promises. Closing the cache closes the store.
func openStore(ctx context.Context, cfg config.Config) (*idmap.Cached, error) {
	store, err := idmap.Open(ctx, cfg.IDMapDSN, idmap.Options{OpTimeout: cfg.StoreTimeout})
	if err != nil {
		return nil, fmt.Errorf("opening ID map: %w", err)
	}
	return idmap.NewCache(store, cfg.IDMapCacheSize), nil
}
