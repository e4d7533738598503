// Command smsbulk-sandbox serves the in-process SMSBulk sandbox backend
// (package upstream/sandbox) over HTTP, so that the shim and bots can be run
// against it with no real account. It is configured by SANDBOX_*
// environment variables; run it with -h for the list.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "smsbulk-sandbox:", err)
		os.Exit(1)
	}
}

// config is the environment of the sandbox binary beside the sandbox's
// own (sandbox.Env).
type config struct {
	// Addr is the listen address; port 0 picks a free port, which the
	// "listening" log line reports.
	Addr string `env:"SANDBOX_ADDR" envDefault:":8081"`
}

const usage = `Usage: smsbulk-sandbox [-h]

Serves the SMSBulk native API sandbox under /api/v1 (and GET /healthz).
Configuration comes from the environment:

  SANDBOX_ADDR  listen address (default ":8081"; "127.0.0.1:0" picks a free port)

and the sandbox's own variables:

`

const usageEnd = `
Logs are JSON lines on stderr, one per request; API keys appear only as a short hash.
`

// run parses the flags and environment, serves until ctx is done or SIGINT
// or SIGTERM arrives, and shuts down within 10 seconds.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("smsbulk-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stdout, usage)
		_ = sandbox.PrintEnvHelp(stdout)
		fmt.Fprint(stdout, usageEnd)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var cfg config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: env.ToMap(environ)}); err != nil {
		return fmt.Errorf("reading the environment: %w", err)
	}
	sbEnv, err := sandbox.ParseEnv(environ)
	if err != nil {
		return err
	}
	sbCfg, err := sbEnv.Config()
	if err != nil {
		return err
	}
	sb, err := sandbox.New(sbCfg)
	if err != nil {
		return err
	}

	log := slog.New(slog.NewJSONHandler(stderr, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	mux.Handle("/", sb)
	srv := &http.Server{
		Handler:           accessLog(log, mux),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	log.Info("listening", "addr", ln.Addr().String(), "keys", len(sbCfg.Keys), "sms_delay", sbEnv.SMSDelay.String(),
		"ttl", sbEnv.TTL.String(), "rate_limit", sbEnv.RateLimit, "fault", sbEnv.Fault, "fault_rate", sbEnv.FaultRate)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// accessLog writes one log line per request: method, path, status, bytes,
// duration and a short hash of the API key, never the key or the query.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			attrs := []any{
				"method", r.Method, "path", r.URL.Path, "status", rec.status, "bytes", rec.bytes,
				"duration_ms", time.Since(start).Milliseconds(),
			}
			if k := keyOf(r); k != "" {
				attrs = append(attrs, "key_hash", keyHash(k))
			}
			if f := r.Header.Get(sandbox.FaultHeader); f != "" {
				attrs = append(attrs, "fault", f)
			}
			if rec.status == 0 {
				attrs = append(attrs, "aborted", true)
			}
			log.Info("request", attrs...)
		}()
		next.ServeHTTP(rec, r)
	})
}

// keyOf returns the API key a request carries, for hashing only.
func keyOf(r *http.Request) string {
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 {
		return h[7:]
	}
	return ""
}

// keyHash is a short, non-reversible name for an API key in logs.
func keyHash(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:4])
}

// recorder notes the status and size of an answer. Unwrap lets
// http.ResponseController reach the connection for the sandbox's reset
// faults.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
