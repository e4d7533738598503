// Package config holds the shim's one configuration struct, read from the
// environment (prefix SHIM_) with caarlos0/env. It reads nothing by itself:
// cmd/smsbulk-shim's run passes in the environment.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/smsbulk/smsbulk-shim/translate"
)

// Prefix is the prefix of every variable of Config.
const Prefix = "SHIM_"

// Config is the shim's configuration. Each field's env tag names its
// variable (with Prefix), envDefault its default and help its meaning.
type Config struct {
	Addr      string `env:"ADDR" envDefault:":8080" help:"address of the legacy (and pass-through) listener"`
	AdminAddr string `env:"ADMIN_ADDR" envDefault:"127.0.0.1:9090" help:"address of the admin listener (/healthz, /readyz, /metrics)"`

	UpstreamURL  string `env:"UPSTREAM_URL" help:"origin of the SMSBulk backend, e.g. https://smsbulk.net; required unless -sandbox"`
	NativePrefix string `env:"NATIVE_PREFIX" envDefault:"/api/v1" help:"path of the native JSON API under the origin"`
	Passthrough  bool   `env:"PASSTHROUGH" envDefault:"true" help:"pass every non-legacy path to the backend origin unchanged; false answers 404"`
	Profile      string `env:"PROFILE" envDefault:"sms-activate" help:"answer profile: sms-activate (as the original, HTTP 200 always) or smsbulk (SMSBulk's page and statuses)"`

	KeySecret string `env:"KEY_SECRET" help:"secret (at least 16 bytes) for the owner fingerprints and sealed purchase intents; required unless -sandbox; never change it on a live store"`

	IDMapDSN       string        `env:"IDMAP_DSN" envDefault:"./data/idmap.db" help:"ID map store: a file path or sqlite:PATH (embedded SQLite), or postgres://... (shared by replicas)"`
	IDMapRetention time.Duration `env:"IDMAP_RETENTION" envDefault:"720h" help:"age after which ID map rows are deleted in the background"`
	IDMapCacheSize int           `env:"IDMAP_CACHE_SIZE" envDefault:"100000" help:"entries of the LRU in front of ID map lookups"`
	StoreTimeout   time.Duration `env:"STORE_TIMEOUT" envDefault:"2s" help:"deadline of each ID map store call"`

	CountriesFile    string        `env:"COUNTRIES_FILE" help:"CSV file replacing the built-in country table (id,iso,eng,rus,chn,slug,aliases)"`
	CountryCacheSize int           `env:"COUNTRY_CACHE_SIZE" envDefault:"4096" help:"entries of the LRU of resolved country inputs"`
	CatalogTTL       time.Duration `env:"CATALOG_TTL" envDefault:"5m" help:"how long the native service and country catalogs are cached"`
	ProbeAPIKey      string        `env:"PROBE_API_KEY" help:"optional API key with which the shim keeps the native catalog fresh in the background; when set, /readyz also requires the catalog to have answered within 3 x SHIM_CATALOG_TTL (with -sandbox a sandbox key is used)"`
	DefaultCountry   int           `env:"DEFAULT_COUNTRY" envDefault:"0" help:"country ID used when getNumber or getNumbersStatus names none (the original used the account's, Russia 0)"`

	RequestTimeout     time.Duration `env:"REQUEST_TIMEOUT" envDefault:"30s" help:"deadline of one legacy request, native calls included"`
	UpstreamTimeout    time.Duration `env:"UPSTREAM_TIMEOUT" envDefault:"10s" help:"deadline of one native call"`
	UpstreamBuyTimeout time.Duration `env:"UPSTREAM_BUY_TIMEOUT" envDefault:"20s" help:"deadline of one native purchase"`
	UpstreamRetries    int           `env:"UPSTREAM_RETRIES" envDefault:"2" help:"retries of a failed native call that is safe to repeat (GET, or POST with its Idempotency-Key)"`
	BreakerThreshold   int           `env:"BREAKER_THRESHOLD" envDefault:"5" help:"native attempts failing in a row (transport errors, 5xx; not 429 or other 4xx) after which the shim stops calling the backend and answers ERROR_SQL at once; 0 turns the breaker off"`
	BreakerCooldown    time.Duration `env:"BREAKER_COOLDOWN" envDefault:"5s" help:"how long the open breaker refuses native calls before one probe call tests the backend again"`

	ReadHeaderTimeout time.Duration `env:"READ_HEADER_TIMEOUT" envDefault:"5s" help:"server: time to read request headers"`
	ReadTimeout       time.Duration `env:"READ_TIMEOUT" envDefault:"15s" help:"server: time to read a whole request"`
	WriteTimeout      time.Duration `env:"WRITE_TIMEOUT" envDefault:"40s" help:"server: time to write an answer (above REQUEST_TIMEOUT)"`
	IdleTimeout       time.Duration `env:"IDLE_TIMEOUT" envDefault:"120s" help:"server: keep-alive idle time"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s" help:"on SIGTERM, how long in-flight requests may take to finish"`

	ReconcileAfter time.Duration `env:"RECONCILE_AFTER" envDefault:"2m" help:"age after which an unfinished purchase is reconciled (replayed and refunded)"`
	ReconcileEvery time.Duration `env:"RECONCILE_EVERY" envDefault:"30s" help:"how often unfinished purchases are looked for"`

	LogFormat string `env:"LOG_FORMAT" envDefault:"json" help:"log format: json or text"`
	LogLevel  string `env:"LOG_LEVEL" envDefault:"info" help:"log level: debug, info, warn or error"`
}

// Parse reads a Config from environ (KEY=VALUE strings, as os.Environ
// gives them). It does not validate; call Validate.
func Parse(environ []string) (Config, error) {
	var c Config
	err := env.ParseWithOptions(&c, env.Options{Prefix: Prefix, Environment: env.ToMap(environ)})
	if err != nil {
		return c, fmt.Errorf("reading configuration: %w", err)
	}
	return c, nil
}

// Validate reports every problem of c in one error. sandbox is true when
// the shim runs its built-in sandbox backend, which supplies the upstream
// URL and allows a development key secret.
func (c Config) Validate(sandbox bool) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !sandbox {
		if c.UpstreamURL == "" {
			add("%sUPSTREAM_URL is not set: point it at the SMSBulk backend origin, or run with -sandbox to try the shim against the built-in sandbox", Prefix)
		} else if u, err := url.Parse(c.UpstreamURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("%sUPSTREAM_URL %q is not an http(s) origin", Prefix, c.UpstreamURL)
		} else if u.User != nil {
			add("%sUPSTREAM_URL must not carry credentials", Prefix)
		}
		if len(c.KeySecret) < 16 {
			add("%sKEY_SECRET must be set to at least 16 bytes (it keys the owner fingerprints of the ID map)", Prefix)
		}
	}
	if !strings.HasPrefix(c.NativePrefix, "/") {
		add("%sNATIVE_PREFIX %q must start with /", Prefix, c.NativePrefix)
	}
	if _, err := translate.ParseProfile(c.Profile); err != nil {
		add("%sPROFILE: %v", Prefix, err)
	}
	if c.IDMapDSN == "" {
		add("%sIDMAP_DSN must not be empty", Prefix)
	}
	for name, d := range map[string]time.Duration{
		"REQUEST_TIMEOUT": c.RequestTimeout, "UPSTREAM_TIMEOUT": c.UpstreamTimeout, "UPSTREAM_BUY_TIMEOUT": c.UpstreamBuyTimeout,
		"STORE_TIMEOUT": c.StoreTimeout, "CATALOG_TTL": c.CatalogTTL, "READ_HEADER_TIMEOUT": c.ReadHeaderTimeout,
		"READ_TIMEOUT": c.ReadTimeout, "WRITE_TIMEOUT": c.WriteTimeout, "IDLE_TIMEOUT": c.IdleTimeout,
		"SHUTDOWN_TIMEOUT": c.ShutdownTimeout, "RECONCILE_AFTER": c.ReconcileAfter, "RECONCILE_EVERY": c.ReconcileEvery,
		"IDMAP_RETENTION": c.IDMapRetention, "BREAKER_COOLDOWN": c.BreakerCooldown,
	} {
		if d <= 0 {
			add("%s%s must be positive, got %v", Prefix, name, d)
		}
	}
	if c.WriteTimeout <= c.RequestTimeout {
		add("%sWRITE_TIMEOUT (%v) must exceed %sREQUEST_TIMEOUT (%v), or answers are cut off", Prefix, c.WriteTimeout, Prefix, c.RequestTimeout)
	}
	if c.ReconcileAfter <= c.RequestTimeout {
		add("%sRECONCILE_AFTER (%v) must exceed %sREQUEST_TIMEOUT (%v), or purchases still in flight get refunded", Prefix, c.ReconcileAfter, Prefix, c.RequestTimeout)
	}
	if c.UpstreamRetries < 0 {
		add("%sUPSTREAM_RETRIES must not be negative", Prefix)
	}
	if c.BreakerThreshold < 0 {
		add("%sBREAKER_THRESHOLD must not be negative (0 turns the breaker off)", Prefix)
	}
	if c.IDMapCacheSize < 1 || c.CountryCacheSize < 1 {
		add("%sIDMAP_CACHE_SIZE and %sCOUNTRY_CACHE_SIZE must be at least 1", Prefix, Prefix)
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		add("%sLOG_FORMAT %q: want json or text", Prefix, c.LogFormat)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		add("%sLOG_LEVEL %q: want debug, info, warn or error", Prefix, c.LogLevel)
	}
	return errors.Join(errs...)
}

// PrintHelp writes every variable of Config with its default and meaning.
func PrintHelp(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		def := f.Tag.Get("envDefault")
		if def == "" {
			def = "(none)"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\n", Prefix, f.Tag.Get("env"), def, f.Tag.Get("help"))
	}
	return tw.Flush()
}
