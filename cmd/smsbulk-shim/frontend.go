package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/smsbulk/smsbulk-shim/config"
)

// frontend is the two listeners, serving: the legacy one (and
// pass-through) and the admin one.
type frontend struct {
	legacy, admin *http.Server
	ln, adminLn   net.Listener
	health        *health
	// errc gets the error of a server that stopped by itself.
	errc chan error
}

// listen opens SHIM_ADDR and SHIM_ADMIN_ADDR and serves h on the first,
// and health's routes with metrics on the second.
func listen(log *slog.Logger, cfg config.Config, h http.Handler, health *health, metrics http.Handler) (*frontend, error) {
	f := &frontend{
		legacy: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		admin: &http.Server{
			Handler:           health.routes(metrics),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       60 * time.Second,
		},
		health: health,
		errc:   make(chan error, 2),
	}
	var err error
	if f.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	if cfg.MaxConns > 0 {
		// SHIM_MAX_CONNS: past the cap, connections wait in the kernel's
		// backlog until one closes, instead of each costing memory here.
		f.ln = netutil.LimitListener(f.ln, cfg.MaxConns)
	}
	if f.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
		f.ln.Close()
		return nil, fmt.Errorf("listening on %s (admin): %w", cfg.AdminAddr, err)
	}
	go func() { f.errc <- serve(f.legacy, f.ln) }()
	go func() { f.errc <- serve(f.admin, f.adminLn) }()
	return f, nil
}

func serve(s *http.Server, ln net.Listener) error {
	if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// shutdown turns /readyz 503 first and turns keep-alives off, so that load
// balancers stop sending and clients reconnect elsewhere; after delay (while
// both listeners still accept and serve) it stops accepting and lets
// in-flight requests finish within ctx; then calls drained (while the admin
// listener still answers) and stops the admin listener. It returns the
// legacy listener's error. The delay ends early when ctx is done.
func (f *frontend) shutdown(ctx context.Context, delay time.Duration, drained func()) error {
	f.health.stopping.Store(true)
	f.legacy.SetKeepAlivesEnabled(false)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	err := f.legacy.Shutdown(ctx)
	drained()
	_ = f.admin.Shutdown(ctx)
	return err
}

// close stops both listeners at once.
func (f *frontend) close() {
	f.legacy.Close()
	f.admin.Close()
}
