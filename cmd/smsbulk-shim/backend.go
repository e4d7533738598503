package main

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// devSecret keys owner fingerprints in -sandbox mode when SHIM_KEY_SECRET
// is not set. It is public, so it is refused without -sandbox.
const devSecret = "smsbulk-shim sandbox development secret"

// backend is where native calls go: the real backend at SHIM_UPSTREAM_URL,
// or with -sandbox the sandbox served in-process on a loopback port.
type backend struct {
	client *upstream.Client
	// origin is the backend's origin, for pass-through.
	origin *url.URL
	// secret is SHIM_KEY_SECRET, or devSecret with -sandbox.
	secret string
	// probeKey is SHIM_PROBE_API_KEY, or with -sandbox a sandbox key; ""
	// means none.
	probeKey string
	// lane is the sandbox lane of SHIM_SANDBOX_KEY_PREFIX; nil when off.
	lane *shim.SandboxLane
	// close stops the sandboxes; it does nothing for a real backend
	// without a lane.
	close func()
}

// newBackend makes the native client, with wrap around its transport,
// and with -sandbox first starts the sandbox it talks to (configured by the
// SANDBOX_* variables of environ).
func newBackend(cfg config.Config, useSandbox bool, environ []string, wrap func(http.RoundTripper) http.RoundTripper, log *slog.Logger) (*backend, error) {
	be := &backend{origin: cfg.UpstreamURL.URL(), secret: cfg.KeySecret, probeKey: cfg.ProbeAPIKey, close: func() {}}
	if useSandbox {
		addr, key, stop, err := startSandbox(environ, "")
		if err != nil {
			return nil, err
		}
		be.origin, be.close = &url.URL{Scheme: "http", Host: addr}, stop
		if be.secret == "" {
			be.secret = devSecret
		}
		if be.probeKey == "" {
			be.probeKey = key
		}
		log.Warn("SANDBOX MODE: the shim talks to the built-in sandbox backend; no real numbers are sold and no money moves",
			slog.String("sandbox_addr", addr))
	}
	client, err := upstream.New(be.origin.String()+cfg.NativePrefix, upstream.Options{
		Timeout:             cfg.UpstreamTimeout,
		BuyTimeout:          cfg.UpstreamBuyTimeout,
		MaxCatalogBodyBytes: cfg.CatalogMaxBody,
		Retries:             retries(cfg.UpstreamRetries),
		BreakerThreshold:    retries(cfg.BreakerThreshold), // 0 is off in both
		BreakerCooldown:     cfg.BreakerCooldown,
		WrapTransport:       wrap,
	})
	if err != nil {
		be.close()
		return nil, fmt.Errorf("making native client: %w", err)
	}
	be.client = client
	if cfg.SandboxKeyPrefix != "" {
		if err := be.startLane(cfg, environ, wrap, log); err != nil {
			be.close()
			return nil, err
		}
	}
	return be, nil
}

// startLane starts the sandbox of the sandbox lane, a sandbox of its own
// (also with -sandbox) that opens an account for every key with the
// prefix, and its native client.
func (be *backend) startLane(cfg config.Config, environ []string, wrap func(http.RoundTripper) http.RoundTripper, log *slog.Logger) error {
	addr, _, stop, err := startSandbox(environ, cfg.SandboxKeyPrefix)
	if err != nil {
		return fmt.Errorf("starting the sandbox of %sSANDBOX_KEY_PREFIX: %w", config.Prefix, err)
	}
	closeBackend := be.close
	be.close = func() { stop(); closeBackend() }
	origin := &url.URL{Scheme: "http", Host: addr}
	client, err := upstream.New(origin.String()+"/api/v1", upstream.Options{WrapTransport: wrap})
	if err != nil {
		return fmt.Errorf("making the sandbox lane's client: %w", err)
	}
	be.lane = &shim.SandboxLane{Prefix: cfg.SandboxKeyPrefix, API: client, Origin: origin}
	log.Info("sandbox lane on: API keys with the prefix are served by the built-in sandbox and never reach the backend",
		slog.Int("prefix_len", len(cfg.SandboxKeyPrefix)), slog.String("sandbox_addr", addr))
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

// startSandbox serves the built-in sandbox on a loopback port, opening an
// account for every key with openPrefix if it is not empty. It returns one
// of its keys (the first in order) for the catalog warm-up.
func startSandbox(environ []string, openPrefix string) (addr, key string, stop func(), err error) {
	sbEnv, err := sandbox.ParseEnv(environ)
	if err != nil {
		return "", "", nil, err
	}
	sbCfg, err := sbEnv.Config()
	if err != nil {
		return "", "", nil, err
	}
	if openPrefix != "" {
		sbCfg.OpenPrefix = openPrefix
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
