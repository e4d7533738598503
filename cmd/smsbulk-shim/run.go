package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/telemetry"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// serviceName is service.name unless OTEL_SERVICE_NAME says otherwise.
const serviceName = "smsbulk-shim"

// run is the whole program: flags, configuration, wiring, serving until ctx
// is done or SIGINT or SIGTERM comes, and a graceful shutdown within
// SHIM_SHUTDOWN_TIMEOUT. What it starts is stopped in reverse order: the
// listeners, the background work, the store, the backend, the telemetry.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	useSandbox, err := parseFlags(args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	cfg, err := config.Load(environ, useSandbox)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := newLogger(stdout, cfg.LogFormat, cfg.LogLevel)

	tel, err := telemetry.Setup(ctx, serviceName, environ, log)
	if err != nil {
		return err
	}
	defer flushTelemetry(context.Background(), tel, log) // on early returns; a no-op after the flush below
	be, err := newBackend(cfg, useSandbox, environ, tel.WrapTransport, log)
	if err != nil {
		return err
	}
	defer be.close()
	ids, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer ids.Close()
	srv, err := newServer(log, cfg, be, ids, tel)
	if err != nil {
		return err
	}
	work := backgroundOptions(cfg, be.probeKey, log)
	// The reconciler's replays have a breaker of their own: they neither
	// open the live one nor are refused by it.
	work.reconcile.API = be.client.WithOwnBreaker()
	bg := startBackground(ctx, log, srv, ids, work)
	defer bg.stop() // before the store and the telemetry close
	fe, err := listen(log, cfg, srv, newAdmin(cfg, ids, srv, be), tel.MetricsHandler)
	if err != nil {
		return err
	}
	log.Info("listening", slog.String("addr", fe.ln.Addr().String()), slog.String("admin_addr", fe.adminLn.Addr().String()),
		slog.String("profile", cfg.Profile.String()), slog.String("upstream", be.origin.Redacted()), slog.Bool("sandbox", useSandbox))

	select {
	case <-ctx.Done():
		log.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	case err := <-fe.errc:
		fe.close()
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	err = fe.shutdown(sctx, bg.stop) // not ready, stop accepting, drain; then the background work
	flushTelemetry(sctx, tel, log)   // flush spans and metrics within the same deadline
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	log.Info("stopped")
	return nil
}

// parseFlags reads the command line; with -h it prints the usage, every
// variable included, to stdout and returns flag.ErrHelp.
func parseFlags(args []string, stdout, stderr io.Writer) (useSandbox bool, err error) {
	fs := flag.NewFlagSet("smsbulk-shim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&useSandbox, "sandbox", false, "start the built-in sandbox backend in-process and point the shim at it (no real numbers are sold)")
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
	return useSandbox, fs.Parse(args)
}

// newLogger is the process's logger: JSON or text lines on w, with the
// trace_id and span_id of the request on every line logged in one.
func newLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(telemetry.NewLogHandler(h))
}

// flushTelemetry flushes and stops the exporters within ctx (see
// telemetry.SDK.Shutdown) and logs a failure.
func flushTelemetry(ctx context.Context, tel *telemetry.SDK, log *slog.Logger) {
	if err := tel.Shutdown(ctx); err != nil {
		log.Warn("flushing telemetry", slog.String("err", err.Error()))
	}
}
