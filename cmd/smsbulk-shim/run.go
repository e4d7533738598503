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

// version and revision are set by release builds with
// -ldflags "-X main.version=v1.2.3 -X main.revision=<commit>" (the
// Dockerfile and .goreleaser.yaml do); telemetry.ReadBuild falls back on
// the module version and VCS stamp otherwise.
var version, revision string

// run is the whole program: flags, configuration, wiring, serving until ctx
// is done or SIGINT or SIGTERM comes, and a graceful shutdown: SHIM_SHUTDOWN_DELAY
// with /readyz 503 while still serving, then SHIM_SHUTDOWN_TIMEOUT for the
// requests in flight. What it starts is stopped in reverse order: the
// listeners, the background work, the store, the backend, the telemetry.
// A first argument that names an operator command (see operator.go) runs
// that command instead.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	build := telemetry.ReadBuild(version, revision)
	if len(args) > 0 {
		if cmd := operatorCommandNamed(args[0]); cmd != nil {
			return cmd(ctx, args[1:], environ, stdin, stdout)
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	useSandbox, showVersion, err := parseFlags(args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if showVersion {
		fmt.Fprintf(stdout, "smsbulk-shim %s (revision %s, %s)\n", build.Version, build.Revision, build.GoVersion)
		return nil
	}
	cfg, err := config.Load(environ, useSandbox)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := newLogger(stdout, cfg.LogFormat, cfg.LogLevel)
	log.Info("starting", slog.String("version", build.Version), slog.String("revision", build.Revision),
		slog.String("go_version", build.GoVersion))

	tel, err := telemetry.Setup(ctx, telemetry.Service{Name: serviceName, Build: build}, environ, log)
	if err != nil {
		return err
	}
	defer flushTelemetry(context.Background(), tel, log) // on early returns; a no-op after the flush below
	be, err := newBackend(cfg, useSandbox, environ, tel.WrapTransport, log)
	if err != nil {
		return err
	}
	defer be.close()
	st, err := openStore(ctx, cfg, useSandbox, environ, log)
	if err != nil {
		return err
	}
	defer st.close()
	srv, err := newServer(log, accessLog(cfg, stdout), cfg, be, st, tel)
	if err != nil {
		return err
	}
	bg := startBackground(ctx, log, srv, st.ids, be.client, backgroundOptions(cfg, be, log))
	defer bg.stop() // before the store and the telemetry close
	fe, err := listen(log, cfg, srv, newAdmin(cfg, st, srv, be), tel.MetricsHandler)
	if err != nil {
		return err
	}
	fe.legacy.RegisterOnShutdown(srv.EndWaits) // long-polls answer at once, so draining does not wait them out
	log.Info("listening", slog.String("addr", fe.ln.Addr().String()), slog.String("admin_addr", fe.adminLn.Addr().String()),
		slog.String("version", build.Version), slog.String("profile", cfg.Profile.String()),
		slog.String("upstream", be.origin.Redacted()), slog.Bool("sandbox", useSandbox))

	return serveUntilDone(ctx, log, cfg, fe, bg, tel)
}

// serveUntilDone serves until ctx is done (SIGINT, SIGTERM) or a listener
// fails, then shuts down within SHIM_SHUTDOWN_DELAY + SHIM_SHUTDOWN_TIMEOUT:
// not ready, the delay, stop accepting, drain, then the background work,
// then the telemetry flush.
func serveUntilDone(ctx context.Context, log *slog.Logger, cfg config.Config, fe *frontend, bg *background, tel *telemetry.SDK) error {
	select {
	case <-ctx.Done():
		log.Info("shutting down", slog.Duration("delay", cfg.ShutdownDelay), slog.Duration("timeout", cfg.ShutdownTimeout))
	case err := <-fe.errc:
		fe.close()
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownDelay+cfg.ShutdownTimeout)
	defer cancel()
	err := fe.shutdown(sctx, cfg.ShutdownDelay, bg.stop)
	flushTelemetry(sctx, tel, log) // flush spans and metrics within the same deadline
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	log.Info("stopped")
	return nil
}

// parseFlags reads the command line; with -h it prints the usage, every
// variable and operator command included, to stdout and returns
// flag.ErrHelp.
func parseFlags(args []string, stdout, stderr io.Writer) (useSandbox, showVersion bool, err error) {
	fs := flag.NewFlagSet("smsbulk-shim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&useSandbox, "sandbox", false, "start the built-in sandbox backend in-process and point the shim at it (no real numbers are sold)")
	fs.BoolVar(&showVersion, "version", false, "print the version, VCS revision and Go version, and exit")
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: smsbulk-shim [-sandbox] [-version]\n       smsbulk-shim <command> [arguments]\n\n")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
		fmt.Fprintf(stdout, "\nCommands (for operators; they read the same environment):\n")
		printOperatorHelp(stdout)
		fmt.Fprintf(stdout, "\nEnvironment:\n")
		_ = config.PrintHelp(stdout)
		fmt.Fprintf(stdout, "\nWith -sandbox, the sandbox's variables:\n")
		_ = sandbox.PrintEnvHelp(stdout)
	}
	err = fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unknown command %q (see -h)", fs.Arg(0))
	}
	return useSandbox, showVersion, err
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

// accessLog is where the access lines of legacy requests are written
// straight (shim.Options.AccessLog): the JSON logger's writer, which gets
// the same bytes its handler would write; nil for text logs.
func accessLog(cfg config.Config, w io.Writer) io.Writer {
	if cfg.LogFormat != "json" {
		return nil
	}
	return w
}

// flushTelemetry flushes and stops the exporters within ctx (see
// telemetry.SDK.Shutdown) and logs a failure.
func flushTelemetry(ctx context.Context, tel *telemetry.SDK, log *slog.Logger) {
	if err := tel.Shutdown(ctx); err != nil {
		log.Warn("flushing telemetry", slog.String("err", err.Error()))
	}
}
