package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// devSecret keys owner fingerprints in -sandbox mode when SHIM_KEY_SECRET
// is not set. It is public, so it is refused without -sandbox.
const devSecret = "smsbulk-shim sandbox development secret"

// run is the whole program: flags, configuration, wiring, serving until ctx
// is done (SIGINT or SIGTERM), and a graceful shutdown.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("smsbulk-shim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	useSandbox := fs.Bool("sandbox", false, "start the built-in sandbox backend in-process and point the shim at it (no real numbers are sold)")
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: smsbulk-shim [-sandbox]\n\n")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
		fmt.Fprintf(stdout, "\nEnvironment:\n")
		_ = config.PrintHelp(stdout)
		fmt.Fprintf(stdout, "\nWith -sandbox, the sandbox's variables:\n")
		_ = sandbox.PrintEnvHelp(stdout)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cfg, err := config.Load(environ, *useSandbox)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := newLogger(stdout, cfg.LogFormat, cfg.LogLevel)
	// trace_id and span_id on every line logged in a request
	log = slog.New(traceLogHandler{log.Handler()})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	// The backend: the real one, or the sandbox on a loopback port.
	originURL := cfg.UpstreamURL.URL()
	secret := cfg.KeySecret
	probeKey := cfg.ProbeAPIKey
	if *useSandbox {
		sbAddr, sbKey, stopSandbox, err := startSandbox(environ, log)
		if err != nil {
			return err
		}
		defer stopSandbox()
		originURL = &url.URL{Scheme: "http", Host: sbAddr}
		if secret == "" {
			secret = devSecret
		}
		if probeKey == "" {
			probeKey = sbKey
		}
		log.Warn("SANDBOX MODE: the shim talks to the built-in sandbox backend; no real numbers are sold and no money moves",
			slog.String("sandbox_addr", sbAddr))
	}

	tel, err := setupTelemetry(ctx, environ, log)
	if err != nil {
		return err
	}
	defer tel.shutdown(context.Background(), log) // on early returns; a no-op after the flush below

	client, err := upstream.New(originURL.String()+cfg.NativePrefix, upstream.Options{
		Timeout:          cfg.UpstreamTimeout,
		BuyTimeout:       cfg.UpstreamBuyTimeout,
		Retries:          retries(cfg.UpstreamRetries),
		BreakerThreshold: retries(cfg.BreakerThreshold), // 0 is off in both
		BreakerCooldown:  cfg.BreakerCooldown,
		WrapTransport:    tel.wrapTransport,
	})
	if err != nil {
		return fmt.Errorf("making native client: %w", err)
	}

	table := countries.Builtin()
	if cfg.CountriesFile != "" {
		if table, err = countries.LoadFile(cfg.CountriesFile); err != nil {
			return fmt.Errorf("loading %sCOUNTRIES_FILE: %w", config.Prefix, err)
		}
	}
	resolver, err := countries.NewResolver(table, cfg.CountryCacheSize)
	if err != nil {
		return err
	}
	keys, err := shim.NewKeys([]byte(secret))
	if err != nil {
		return err
	}

	store, err := idmap.Open(ctx, cfg.IDMapDSN, idmap.Options{OpTimeout: cfg.StoreTimeout})
	if err != nil {
		return fmt.Errorf("opening ID map: %w", err)
	}
	defer store.Close()
	ids := idmap.NewCache(store, cfg.IDMapCacheSize)

	srv, err := shim.NewServer(log, client, ids, resolver, shim.Options{
		Profile:         cfg.Profile,
		Keys:            keys,
		Services:        translate.BuiltinServices(),
		DefaultCountry:  cfg.DefaultCountry,
		CatalogTTL:      cfg.CatalogTTL,
		CatalogStaleFor: cfg.CatalogStaleFor,
		RequestTimeout:  cfg.RequestTimeout,
		Origin:          passthroughOrigin(cfg.Passthrough, originURL),
		ProxyTransport:  tel.wrapTransport(upstream.NewTransport()),
		TracerProvider:  tel.tracerProvider,
		MeterProvider:   tel.meterProvider,
		Propagator:      tel.propagator,
		IDMapCache:      ids,
	})
	if err != nil {
		return err
	}

	// Background work: settling unfinished purchases, and retention.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	rec := srv.NewReconciler(shim.ReconcileOptions{After: cfg.ReconcileAfter, Every: cfg.ReconcileEvery})
	wg.Add(2)
	go func() { defer wg.Done(); _ = rec.Run(bg) }()
	go func() {
		defer wg.Done()
		idmap.RunRetention(bg, store, idmap.RetentionOptions{MaxAge: cfg.IDMapRetention, Logger: log})
	}()

	health := &health{store: store, backend: srv, now: time.Now}
	if probeKey != "" {
		health.catalogMaxAge = cfg.ReadyCatalogMaxAge
		wg.Add(1)
		go func() {
			defer wg.Done()
			warmCatalog(bg, srv, probeKey, cfg.CatalogWarmEvery, log)
		}()
	}
	main := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	admin := &http.Server{
		Handler:           health.routes(tel.metricsHandler),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listening on %s (admin): %w", cfg.AdminAddr, err)
	}
	errc := make(chan error, 2)
	go func() { errc <- serve(main, ln) }()
	go func() { errc <- serve(admin, adminLn) }()
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("admin_addr", adminLn.Addr().String()),
		slog.String("profile", cfg.Profile.String()), slog.String("upstream", originURL.Redacted()), slog.Bool("sandbox", *useSandbox))

	select {
	case <-ctx.Done():
		log.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	case err := <-errc:
		main.Close()
		admin.Close()
		return err
	}
	// Not ready first, so that load balancers stop sending; then stop
	// accepting and let in-flight requests finish.
	health.stopping.Store(true)
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer scancel()
	err = main.Shutdown(sctx)
	stopBG()
	_ = admin.Shutdown(sctx)
	tel.shutdown(sctx, log) // flush spans and metrics within the same deadline
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	log.Info("stopped")
	return nil
}

func serve(s *http.Server, ln net.Listener) error {
	if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// retries maps the configured retry count onto upstream.Options, where 0
// means the default and a negative value none.
func retries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func passthroughOrigin(on bool, origin *url.URL) *url.URL {
	if !on {
		return nil
	}
	return origin
}

func newLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// startSandbox serves the built-in sandbox on a loopback port. It returns
// one of its keys (the first in order) for the catalog warm-up.
func startSandbox(environ []string, log *slog.Logger) (addr, key string, stop func(), err error) {
	sbEnv, err := sandbox.ParseEnv(environ)
	if err != nil {
		return "", "", nil, err
	}
	sbCfg, err := sbEnv.Config()
	if err != nil {
		return "", "", nil, err
	}
	sb, err := sandbox.New(sbCfg)
	if err != nil {
		return "", "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, fmt.Errorf("listening for the sandbox: %w", err)
	}
	hs := &http.Server{Handler: sb, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	keys := sbCfg.Keys
	if len(keys) == 0 {
		keys = sandbox.DefaultKeys()
	}
	return ln.Addr().String(), slices.Min(slices.Collect(maps.Keys(keys))), func() { _ = hs.Close() }, nil
}

// warmCatalog keeps the native catalog fresh with the probe key until ctx
// is done, so that /readyz can tell whether it answers.
func warmCatalog(ctx context.Context, srv *shim.Server, key string, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := srv.WarmCatalog(ctx, key); err != nil && ctx.Err() == nil {
			log.Warn("native catalog did not answer", slog.String("err", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
