// Package config holds the shim's one configuration struct, read from the
// environment (prefix SHIM_) with caarlos0/env, each value parsed once into
// its type. It reads nothing by itself: cmd/smsbulk-shim's run passes in the
// environment.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
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
	AdminAddr string `env:"ADMIN_ADDR" envDefault:"127.0.0.1:8082" help:"address of the admin listener (/healthz, /readyz, /metrics); never expose it publicly"`

	UpstreamURL  Origin            `env:"UPSTREAM_URL" help:"origin of the SMSBulk backend, e.g. https://smsbulk.net (http or https, no credentials, no path: the shim appends SHIM_NATIVE_PREFIX); required unless -sandbox"`
	NativePrefix string            `env:"NATIVE_PREFIX" envDefault:"/api/v1" help:"path of the native JSON API under the origin"`
	Passthrough  bool              `env:"PASSTHROUGH" envDefault:"true" help:"pass every non-legacy path to the backend origin unchanged; false answers 404"`
	Profile      translate.Profile `env:"PROFILE" envDefault:"sms-activate" help:"answer profile: sms-activate (as the original, HTTP 200 always) or smsbulk (SMSBulk's page and statuses)"`

	// PassthroughTimeout, PassthroughMaxConcurrent and TrustedProxies bound
	// and shape pass-through (shim.Options).
	PassthroughTimeout       time.Duration `env:"PASSTHROUGH_TIMEOUT" envDefault:"30s" help:"deadline of one pass-through request; a backend that has not answered by then gets the client a 504 (keep it below SHIM_WRITE_TIMEOUT, or the 504 cannot be sent)"`
	PassthroughMaxConcurrent int           `env:"PASSTHROUGH_MAX_CONCURRENT" envDefault:"256" help:"pass-through requests in flight at most; one more is answered 503 at once"`
	TrustedProxies           Prefixes      `env:"TRUSTED_PROXIES" help:"comma-separated addresses or CIDR prefixes of the proxies in front of the shim whose X-Forwarded-For and other forwarding headers are believed and passed on; empty trusts none"`

	SandboxKeyPrefix string `env:"SANDBOX_KEY_PREFIX" help:"when set (e.g. sandbox_), every API key that starts with it is served by a sandbox built into the shim (its own balances, catalog and ledger; each new key gets an account with SANDBOX_OPEN_BALANCE) and never reaches the backend; empty is off"`

	KeySecret string `env:"KEY_SECRET" help:"secret (at least 16 bytes) for the owner fingerprints and sealed purchase intents; required unless -sandbox; never change it on a live store"`

	IDMapDSN       string        `env:"IDMAP_DSN" envDefault:"./data/idmap.db" help:"ID map store: a file path or sqlite:PATH (embedded SQLite), or postgres://... (shared by replicas)"`
	IDMapRetention time.Duration `env:"IDMAP_RETENTION" envDefault:"720h" help:"age after which ID map rows are deleted in the background"`
	RequestIDTTL   time.Duration `env:"REQUEST_ID_TTL" envDefault:"24h" help:"how long a getNumber/getNumberV2 requestId names its purchase: a retry with the same key and requestId within it gets that purchase, never a second one; at most SHIM_IDMAP_RETENTION"`
	IDMapCacheSize int           `env:"IDMAP_CACHE_SIZE" envDefault:"100000" help:"entries of the LRU in front of ID map lookups"`
	StoreTimeout   time.Duration `env:"STORE_TIMEOUT" envDefault:"2s" help:"deadline of each ID map store call"`

	CountriesFile    string        `env:"COUNTRIES_FILE" help:"CSV file replacing the built-in country table (id,iso,eng,rus,chn,slug,aliases)"`
	CountryCacheSize int           `env:"COUNTRY_CACHE_SIZE" envDefault:"4096" help:"entries of the LRU of resolved country inputs"`
	CatalogTTL       time.Duration `env:"CATALOG_TTL" envDefault:"5m" help:"how long the native service and country catalogs are cached"`
	CatalogStaleFor  time.Duration `env:"CATALOG_STALE_FOR" envDefault:"50m" help:"how long past SHIM_CATALOG_TTL a cached catalog is still served while the backend fails to refresh it"`
	ProbeAPIKey      string        `env:"PROBE_API_KEY" help:"optional API key with which the shim keeps the native catalog fresh in the background; when set, /readyz also requires the catalog to have answered within SHIM_READY_CATALOG_MAX_AGE (with -sandbox a sandbox key is used)"`
	CatalogWarmEvery time.Duration `env:"CATALOG_WARM_EVERY" envDefault:"2m30s" help:"with a probe key, how often the background warm-up looks at the catalog (it refreshes a copy older than SHIM_CATALOG_TTL)"`
	// ReadyCatalogMaxAge must exceed CatalogTTL + CatalogWarmEvery, the
	// longest a healthy catalog goes without answering.
	ReadyCatalogMaxAge time.Duration `env:"READY_CATALOG_MAX_AGE" envDefault:"15m" help:"with a probe key, how recently the native catalog must have answered for /readyz; above SHIM_CATALOG_TTL + SHIM_CATALOG_WARM_EVERY"`
	DefaultCountry     int           `env:"DEFAULT_COUNTRY" envDefault:"0" help:"country ID used when getNumber or getNumbersStatus names none (the original used the account's, Russia 0)"`

	RequestTimeout     time.Duration `env:"REQUEST_TIMEOUT" envDefault:"30s" help:"deadline of one legacy request, native calls included"`
	UpstreamTimeout    time.Duration `env:"UPSTREAM_TIMEOUT" envDefault:"10s" help:"deadline of one native call"`
	UpstreamBuyTimeout time.Duration `env:"UPSTREAM_BUY_TIMEOUT" envDefault:"20s" help:"deadline of one native purchase"`
	CatalogMaxBody     int64         `env:"CATALOG_MAX_BODY" envDefault:"67108864" help:"bytes of one native catalog answer the shim reads at most (the whole offer list is several MB); a larger one fails that request only (ERROR_SQL) and never opens the breaker"`
	UpstreamRetries    int           `env:"UPSTREAM_RETRIES" envDefault:"2" help:"retries of a failed native call that is safe to repeat (GET, or POST with its Idempotency-Key)"`
	BreakerThreshold   int           `env:"BREAKER_THRESHOLD" envDefault:"5" help:"native attempts failing in a row (transport errors, 5xx; not 429 or other 4xx) after which the shim stops calling the backend and answers ERROR_SQL at once; 0 turns the breaker off"`
	BreakerCooldown    time.Duration `env:"BREAKER_COOLDOWN" envDefault:"5s" help:"how long the open breaker refuses native calls before one probe call tests the backend again"`

	// LongPollMax, LongPollInterval, LongPollMaxWaiters and
	// LongPollMaxPerKey shape long-poll getStatus and getStatusV2
	// (wait=<seconds>; shim.Options).
	LongPollMax        time.Duration `env:"LONG_POLL_MAX" envDefault:"30s" help:"longest wait of a long-poll getStatus or getStatusV2 (wait=<seconds>, a longer one is cut to it), itself cut to SHIM_WRITE_TIMEOUT - SHIM_UPSTREAM_TIMEOUT; 0 turns long-poll off (wait is checked, then ignored)"`
	LongPollInterval   time.Duration `env:"LONG_POLL_INTERVAL" envDefault:"1s" help:"how often the one shared native poll of an activation being waited on runs, on each replica; at most SHIM_LONG_POLL_MAX"`
	LongPollMaxWaiters int           `env:"LONG_POLL_MAX_WAITERS" envDefault:"10000" help:"long-poll requests waiting on one replica at most; one more is answered at once, as without wait"`
	LongPollMaxPerKey  int           `env:"LONG_POLL_MAX_PER_KEY" envDefault:"100" help:"long-poll requests of one API key waiting on one replica at most; one more is answered at once, as without wait"`

	ReadHeaderTimeout time.Duration `env:"READ_HEADER_TIMEOUT" envDefault:"5s" help:"server: time to read request headers"`
	ReadTimeout       time.Duration `env:"READ_TIMEOUT" envDefault:"15s" help:"server: time to read a whole request"`
	WriteTimeout      time.Duration `env:"WRITE_TIMEOUT" envDefault:"40s" help:"server: time to write an answer (above REQUEST_TIMEOUT)"`
	IdleTimeout       time.Duration `env:"IDLE_TIMEOUT" envDefault:"120s" help:"server: keep-alive idle time"`
	MaxConns          int           `env:"MAX_CONNS" envDefault:"0" help:"server: connections of the legacy listener open at most; more wait to be accepted; 0 is no cap"`
	ShutdownDelay     time.Duration `env:"SHUTDOWN_DELAY" envDefault:"5s" help:"on SIGTERM, how long /readyz answers 503 while the listeners still accept, so that load balancers stop sending before connections are refused; 0 closes at once"`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s" help:"on SIGTERM, after SHIM_SHUTDOWN_DELAY, how long in-flight requests may take to finish"`

	ReconcileAfter time.Duration `env:"RECONCILE_AFTER" envDefault:"2m" help:"age after which an unfinished purchase is reconciled (replayed and refunded)"`
	ReconcileEvery time.Duration `env:"RECONCILE_EVERY" envDefault:"30s" help:"how often unfinished purchases are looked for"`

	// The per-activation callbacks of getNumber and getNumberV2
	// (shim.CallbackOptions, callback.Options).
	CallbackAllowPrivate bool          `env:"CALLBACK_ALLOW_PRIVATE" envDefault:"false" help:"accept callback URLs on loopback, private and link-local addresses (and localhost); by default they are refused with BAD_ACTION, and a name resolving to one is refused when dialled; for tests and receivers inside the shim's own network"`
	CallbackTimeout      time.Duration `env:"CALLBACK_TIMEOUT" envDefault:"10s" help:"deadline of one callback delivery attempt, from dialling to the receiver's status"`
	CallbackPollEvery    time.Duration `env:"CALLBACK_POLL_EVERY" envDefault:"5s" help:"how often an activation with a callback is polled on the native API for a change of state"`
	CallbackRetryFor     time.Duration `env:"CALLBACK_RETRY_FOR" envDefault:"24h" help:"how long a callback event is retried after it was seen; the first failed attempt after that gives it up (dead)"`
	CallbackRetryMin     time.Duration `env:"CALLBACK_RETRY_MIN" envDefault:"1s" help:"pause after a callback event's first failed attempt; it doubles with each failure, less up to half at random"`
	CallbackRetryMax     time.Duration `env:"CALLBACK_RETRY_MAX" envDefault:"10m" help:"longest pause between two attempts at a callback event"`
	CallbackRetention    time.Duration `env:"CALLBACK_RETENTION" envDefault:"168h" help:"age after which delivered and dead callback events, and any callback watch left over, are deleted from the ID map"`

	LogFormat string   `env:"LOG_FORMAT" envDefault:"json" help:"log format: json or text"`
	LogLevel  LogLevel `env:"LOG_LEVEL" envDefault:"info" help:"log level: debug, info, warn or error"`
}

// CallbackWatchFor is the longest an activation with a callback is
// watched (shim.CallbackOptions.WatchFor): activations live minutes.
const CallbackWatchFor = 24 * time.Hour

// Load reads a Config from environ and checks it: every variable that does
// not parse and every problem Validate finds in the ones that do, in one
// error, in the order of Config's fields. sandbox is as for Validate.
func Load(environ []string, sandbox bool) (Config, error) {
	c, ps, err := parse(environ)
	if err != nil {
		return c, err
	}
	failed := map[string]bool{}
	for _, p := range ps {
		failed[p.field] = true
	}
	for _, p := range c.problems(sandbox) {
		if !failed[p.field] {
			ps = append(ps, p)
		}
	}
	return c, ps.err()
}

// Parse reads a Config from environ (KEY=VALUE strings, as os.Environ
// gives them), each value into its type. Its error names every variable
// that does not parse, in field order. It does not validate; call Validate,
// or Load, which does both.
func Parse(environ []string) (Config, error) {
	c, ps, err := parse(environ)
	if err == nil && len(ps) > 0 {
		err = fmt.Errorf("reading configuration: %w", ps.err())
	}
	return c, err
}

// parse runs caarlos0/env. It returns a problem for each variable that
// does not parse (the other fields are set), and an error for anything else
// env reports, such as a field type it cannot parse.
func parse(environ []string) (Config, problems, error) {
	var c Config
	err := env.ParseWithOptions(&c, env.Options{Prefix: Prefix, Environment: env.ToMap(environ)})
	if err == nil {
		return c, nil, nil
	}
	agg, ok := errors.AsType[env.AggregateError](err)
	if !ok {
		return c, nil, fmt.Errorf("reading configuration: %w", err)
	}
	var ps problems
	for _, err := range agg.Errors {
		pe, ok := errors.AsType[env.ParseError](err)
		if !ok {
			return c, nil, fmt.Errorf("reading configuration: %w", err)
		}
		ps.add(pe.Name, "%s: %v", envName(pe.Name), pe.Err)
	}
	return c, ps, nil
}

// Validate reports every problem of c in one error, in the order of
// Config's fields. sandbox is true when the shim runs its built-in sandbox
// backend, which supplies the upstream URL and allows a development key
// secret.
func (c Config) Validate(sandbox bool) error { return c.problems(sandbox).err() }

func (c Config) problems(sandbox bool) problems {
	var ps problems
	if !sandbox {
		if c.UpstreamURL.URL() == nil {
			ps.add("UpstreamURL", "%sUPSTREAM_URL is not set: point it at the SMSBulk backend origin, or run with -sandbox to try the shim against the built-in sandbox", Prefix)
		}
		if len(c.KeySecret) < 16 {
			ps.add("KeySecret", "%sKEY_SECRET must be set to at least 16 bytes (it keys the owner fingerprints of the ID map)", Prefix)
		}
	}
	if !strings.HasPrefix(c.NativePrefix, "/") {
		ps.add("NativePrefix", "%sNATIVE_PREFIX %q must start with /", Prefix, c.NativePrefix)
	}
	if c.IDMapDSN == "" {
		ps.add("IDMapDSN", "%sIDMAP_DSN must not be empty", Prefix)
	}
	if c.CatalogMaxBody < 1<<20 {
		ps.add("CatalogMaxBody", "%sCATALOG_MAX_BODY must be at least 1048576 (1 MiB), got %d", Prefix, c.CatalogMaxBody)
	}
	for _, d := range []struct {
		field string
		d     time.Duration
	}{
		{"IDMapRetention", c.IDMapRetention}, {"StoreTimeout", c.StoreTimeout}, {"RequestIDTTL", c.RequestIDTTL},
		{"CatalogTTL", c.CatalogTTL}, {"CatalogStaleFor", c.CatalogStaleFor},
		{"CatalogWarmEvery", c.CatalogWarmEvery}, {"ReadyCatalogMaxAge", c.ReadyCatalogMaxAge},
		{"RequestTimeout", c.RequestTimeout}, {"UpstreamTimeout", c.UpstreamTimeout},
		{"UpstreamBuyTimeout", c.UpstreamBuyTimeout}, {"BreakerCooldown", c.BreakerCooldown},
		{"ReadHeaderTimeout", c.ReadHeaderTimeout}, {"ReadTimeout", c.ReadTimeout},
		{"WriteTimeout", c.WriteTimeout}, {"IdleTimeout", c.IdleTimeout},
		{"ShutdownTimeout", c.ShutdownTimeout}, {"ReconcileAfter", c.ReconcileAfter},
		{"ReconcileEvery", c.ReconcileEvery}, {"PassthroughTimeout", c.PassthroughTimeout},
		{"LongPollInterval", c.LongPollInterval},
		{"CallbackTimeout", c.CallbackTimeout}, {"CallbackPollEvery", c.CallbackPollEvery},
		{"CallbackRetryFor", c.CallbackRetryFor}, {"CallbackRetryMin", c.CallbackRetryMin},
		{"CallbackRetryMax", c.CallbackRetryMax}, {"CallbackRetention", c.CallbackRetention},
	} {
		if d.d <= 0 {
			ps.add(d.field, "%s must be positive, got %v", envName(d.field), d.d)
		}
	}
	if (c.ProbeAPIKey != "" || sandbox) && c.ReadyCatalogMaxAge <= c.CatalogTTL+c.CatalogWarmEvery {
		ps.add("ReadyCatalogMaxAge", "%sREADY_CATALOG_MAX_AGE (%v) must exceed %sCATALOG_TTL + %sCATALOG_WARM_EVERY (%v), or /readyz fails while the catalog is healthy",
			Prefix, c.ReadyCatalogMaxAge, Prefix, Prefix, c.CatalogTTL+c.CatalogWarmEvery)
	}
	if c.WriteTimeout <= c.RequestTimeout {
		ps.add("WriteTimeout", "%sWRITE_TIMEOUT (%v) must exceed %sREQUEST_TIMEOUT (%v), or answers are cut off", Prefix, c.WriteTimeout, Prefix, c.RequestTimeout)
	}
	if p := c.SandboxKeyPrefix; p != "" && !translate.ValidKey(p) {
		ps.add("SandboxKeyPrefix", "%sSANDBOX_KEY_PREFIX must be printable ASCII without spaces, at most 256 bytes, as API keys are", Prefix)
	}
	if c.LongPollMax < 0 {
		ps.add("LongPollMax", "%sLONG_POLL_MAX must not be negative (0 turns long-poll off)", Prefix)
	}
	if c.LongPollMax > 0 && c.LongPollInterval > c.LongPollMax {
		ps.add("LongPollInterval", "%sLONG_POLL_INTERVAL (%v) must not exceed %sLONG_POLL_MAX (%v)", Prefix, c.LongPollInterval, Prefix, c.LongPollMax)
	}
	if c.LongPollMaxWaiters < 1 || c.LongPollMaxPerKey < 1 {
		ps.add("LongPollMaxWaiters", "%sLONG_POLL_MAX_WAITERS and %sLONG_POLL_MAX_PER_KEY must be at least 1 (%sLONG_POLL_MAX=0 turns long-poll off)", Prefix, Prefix, Prefix)
	}
	if c.PassthroughMaxConcurrent < 1 {
		ps.add("PassthroughMaxConcurrent", "%sPASSTHROUGH_MAX_CONCURRENT must be at least 1", Prefix)
	}
	if c.MaxConns < 0 {
		ps.add("MaxConns", "%sMAX_CONNS must not be negative (0 is no cap)", Prefix)
	}
	if c.IDMapRetention > 0 && c.RequestIDTTL > c.IDMapRetention {
		ps.add("RequestIDTTL", "%sREQUEST_ID_TTL (%v) must not exceed %sIDMAP_RETENTION (%v), or a retry could buy again once its purchase's row is deleted", Prefix, c.RequestIDTTL, Prefix, c.IDMapRetention)
	}
	if c.ReconcileAfter <= c.RequestTimeout {
		ps.add("ReconcileAfter", "%sRECONCILE_AFTER (%v) must exceed %sREQUEST_TIMEOUT (%v), or purchases still in flight get refunded", Prefix, c.ReconcileAfter, Prefix, c.RequestTimeout)
	}
	if c.ShutdownDelay < 0 {
		ps.add("ShutdownDelay", "%sSHUTDOWN_DELAY must not be negative (0 closes the listeners at once)", Prefix)
	}
	if c.UpstreamRetries < 0 {
		ps.add("UpstreamRetries", "%sUPSTREAM_RETRIES must not be negative", Prefix)
	}
	if c.BreakerThreshold < 0 {
		ps.add("BreakerThreshold", "%sBREAKER_THRESHOLD must not be negative (0 turns the breaker off)", Prefix)
	}
	if c.IDMapCacheSize < 1 || c.CountryCacheSize < 1 {
		ps.add("IDMapCacheSize", "%sIDMAP_CACHE_SIZE and %sCOUNTRY_CACHE_SIZE must be at least 1", Prefix, Prefix)
	}
	if c.CallbackRetryMin > c.CallbackRetryMax {
		ps.add("CallbackRetryMin", "%sCALLBACK_RETRY_MIN (%v) must not exceed %sCALLBACK_RETRY_MAX (%v)", Prefix, c.CallbackRetryMin, Prefix, c.CallbackRetryMax)
	}
	if c.CallbackRetention > 0 && c.CallbackRetention <= CallbackWatchFor {
		ps.add("CallbackRetention", "%sCALLBACK_RETENTION (%v) must exceed %v, the longest an activation is watched, or a watch in use could be deleted", Prefix, c.CallbackRetention, CallbackWatchFor)
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		ps.add("LogFormat", "%sLOG_FORMAT %q: want json or text", Prefix, c.LogFormat)
	}
	return ps
}

// LongPollLimit is the longest long-poll wait granted: SHIM_LONG_POLL_MAX,
// cut so that the wait plus SHIM_UPSTREAM_TIMEOUT ends within
// SHIM_WRITE_TIMEOUT (0 is off). A long-poll answers when its wait ends,
// with its last result and no poll of its own; only a waiter whose first
// poll is still running waits for it, and that poll began when the waiter
// came. So the answer is written within the wait or SHIM_UPSTREAM_TIMEOUT,
// whichever is longer, of the request's look, and the write deadline keeps
// SHIM_UPSTREAM_TIMEOUT for the key check, the lookup and the write. The
// defaults, 30s + 10s and 40s, grant the whole 30s. The wait is cut rather
// than the configuration refused, so that a SHIM_WRITE_TIMEOUT that was
// valid before long-poll existed still starts.
func (c Config) LongPollLimit() time.Duration {
	return max(0, min(c.LongPollMax, c.WriteTimeout-c.UpstreamTimeout))
}

// problem is one thing wrong with a Config, and the field it is about.
type problem struct {
	field string // the Config field's Go name
	err   error
}

// problems collects the problems of a Config in any order; err reports
// them in the order of Config's fields.
type problems []problem

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, problem{field: field, err: fmt.Errorf(format, args...)})
}

func (ps problems) err() error {
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, func(a, b problem) int { return cmp.Compare(fieldIndex(a.field), fieldIndex(b.field)) })
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p.err
	}
	return errors.Join(errs...)
}

// fieldIndex is the position of the named field in Config; an unknown name
// sorts last.
func fieldIndex(name string) int {
	f, ok := reflect.TypeFor[Config]().FieldByName(name)
	if !ok {
		return reflect.TypeFor[Config]().NumField()
	}
	return f.Index[0]
}

// envName is the variable of the named field of Config.
func envName(field string) string {
	f, ok := reflect.TypeFor[Config]().FieldByName(field)
	if !ok {
		return field
	}
	return Prefix + f.Tag.Get("env")
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
