package sandbox

import (
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"text/tabwriter"
	"time"

	"github.com/caarlos0/env/v11"
)

// Env is the sandbox's configuration as environment variables: the
// SANDBOX_* variables that the smsbulk-sandbox binary and smsbulk-shim
// -sandbox both read. Each field's env tag names its variable, envDefault
// gives its default and help its meaning. Read it with ParseEnv, turn it into
// a Config with Config, and list it with PrintEnvHelp.
type Env struct {
	// Keys is the API keys and their starting balances, as ParseKeys reads
	// them.
	Keys string `env:"SANDBOX_KEYS" envDefault:"demo=100.00" help:"API keys and their starting balances, key=balance,..."`
	// OpenPrefix, OpenBalance and MaxOpenKeys are Config's.
	OpenPrefix  string `env:"SANDBOX_OPEN_PREFIX" help:"when set, every key that starts with it gets an account on its first call (smsbulk-shim sets it to SHIM_SANDBOX_KEY_PREFIX for its sandbox lane)"`
	OpenBalance string `env:"SANDBOX_OPEN_BALANCE" envDefault:"100.00" help:"starting balance of an account opened by SANDBOX_OPEN_PREFIX"`
	MaxOpenKeys int    `env:"SANDBOX_MAX_OPEN_KEYS" envDefault:"10000" help:"accounts SANDBOX_OPEN_PREFIX opens at most; a key past the bound is refused as unknown"`
	// SMSDelay is Config.SMSDelay.
	SMSDelay time.Duration `env:"SANDBOX_SMS_DELAY" envDefault:"3s" help:"time from a purchase or retry to the SMS"`
	// TTL is Config.TTL.
	TTL time.Duration `env:"SANDBOX_TTL" envDefault:"20m" help:"lifetime of an activation"`
	// RateLimit is Config.RateLimit; 0 is off.
	RateLimit int `env:"SANDBOX_RATE_LIMIT" envDefault:"0" help:"requests per key per SANDBOX_RATE_WINDOW; 0 is off"`
	// RateWindow is Config.RateWindow.
	RateWindow time.Duration `env:"SANDBOX_RATE_WINDOW" envDefault:"1m" help:"rate-limit window"`
	// Fault and FaultRate are Config.Fault and Config.FaultRate.
	Fault     string  `env:"SANDBOX_FAULT" help:"fault spec for a fraction of requests, e.g. latency=2s,reset-after-commit (see the package doc)"`
	FaultRate float64 `env:"SANDBOX_FAULT_RATE" envDefault:"0" help:"the fraction of requests that get SANDBOX_FAULT, 0..1"`
	// Seed, when not 0, seeds Config.Rand, so that every run gives the same
	// activation IDs and phone numbers.
	Seed uint64 `env:"SANDBOX_SEED" envDefault:"0" help:"seed for activation IDs and phone numbers; 0 is random"`
}

// ParseEnv reads an Env from environ (KEY=VALUE strings, as os.Environ
// gives them); unset variables take their defaults. It checks only that
// each value parses into its type; Config checks the rest.
func ParseEnv(environ []string) (Env, error) {
	var e Env
	if err := env.ParseWithOptions(&e, env.Options{Environment: env.ToMap(environ)}); err != nil {
		return Env{}, fmt.Errorf("reading the sandbox environment: %w", err)
	}
	return e, nil
}

// Config turns e into the Config that New takes. Its error names the
// variable at fault and never an API key.
func (e Env) Config() (Config, error) {
	keys, err := ParseKeys(e.Keys)
	if err != nil {
		return Config{}, fmt.Errorf("SANDBOX_KEYS: %w", err)
	}
	c := Config{
		Keys:        keys,
		OpenPrefix:  e.OpenPrefix,
		OpenBalance: e.OpenBalance,
		MaxOpenKeys: e.MaxOpenKeys,
		SMSDelay:    e.SMSDelay,
		TTL:         e.TTL,
		RateLimit:   e.RateLimit,
		RateWindow:  e.RateWindow,
		Fault:       e.Fault,
		FaultRate:   e.FaultRate,
	}
	if e.Seed != 0 {
		c.Rand = rand.New(rand.NewPCG(e.Seed, e.Seed))
	}
	return c, nil
}

// PrintEnvHelp writes every variable of Env, with its meaning and default,
// one per line, indented by two spaces.
func PrintEnvHelp(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	t := reflect.TypeFor[Env]()
	for i := range t.NumField() {
		f := t.Field(i)
		def := ""
		if d, ok := f.Tag.Lookup("envDefault"); ok {
			def = fmt.Sprintf(" (default %q)", d)
		}
		fmt.Fprintf(tw, "  %s\t%s%s\n", f.Tag.Get("env"), f.Tag.Get("help"), def)
	}
	return tw.Flush()
}
