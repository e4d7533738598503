package sandbox_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

func TestParseEnvDefaults(t *testing.T) {
	t.Parallel()
	e, err := sandbox.ParseEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := sandbox.Env{Keys: "demo=100.00", OpenBalance: sandbox.DefaultOpenBalance, MaxOpenKeys: sandbox.DefaultMaxOpenKeys, SMSDelay: sandbox.DefaultSMSDelay, TTL: sandbox.DefaultTTL, RateWindow: sandbox.DefaultRateWindow}
	if e != want {
		t.Errorf("defaults %+v, want %+v", e, want)
	}
	c, err := e.Config()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Keys, sandbox.DefaultKeys()) || c.SMSDelay != 3*time.Second || c.TTL != 20*time.Minute ||
		c.RateLimit != 0 || c.RateWindow != time.Minute || c.Fault != "" || c.FaultRate != 0 || c.Rand != nil {
		t.Errorf("Config of the defaults: %+v", c)
	}
}

func TestParseEnv(t *testing.T) {
	t.Parallel()
	e, err := sandbox.ParseEnv([]string{"SANDBOX_KEYS=a=1.00, b=0.50", "SANDBOX_SMS_DELAY=150ms", "SANDBOX_TTL=1h",
		"SANDBOX_RATE_LIMIT=7", "SANDBOX_RATE_WINDOW=10s", "SANDBOX_FAULT=status=503", "SANDBOX_FAULT_RATE=0.25",
		"SANDBOX_SEED=42", "SANDBOX_OPEN_PREFIX=try_", "SANDBOX_OPEN_BALANCE=3", "SANDBOX_MAX_OPEN_KEYS=9", "SHIM_ADDR=ignored"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.Config()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Keys, map[string]string{"a": "1.00", "b": "0.50"}) || c.SMSDelay != 150*time.Millisecond ||
		c.TTL != time.Hour || c.RateLimit != 7 || c.RateWindow != 10*time.Second || c.Fault != "status=503" ||
		c.FaultRate != 0.25 || c.Rand == nil || c.OpenPrefix != "try_" || c.OpenBalance != "3" || c.MaxOpenKeys != 9 {
		t.Errorf("Config: %+v", c)
	}
	// The same seed gives the same first draw.
	c2, err := e.Config()
	if err != nil {
		t.Fatal(err)
	}
	if a, b := c.Rand.Uint64(), c2.Rand.Uint64(); a != b {
		t.Errorf("two Configs of SANDBOX_SEED=42 draw %d and %d", a, b)
	}
}

func TestEnvRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		environ []string
		want    string
	}{
		{"bad delay", []string{"SANDBOX_SMS_DELAY=soon"}, "SMSDelay"},
		{"bad rate", []string{"SANDBOX_FAULT_RATE=often"}, "FaultRate"},
		{"key without balance", []string{"SANDBOX_KEYS=topsecret"}, "SANDBOX_KEYS"},
		{"bad balance", []string{"SANDBOX_KEYS=topsecret=lots"}, "SANDBOX_KEYS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := sandbox.ParseEnv(tc.environ)
			if err == nil {
				_, err = e.Config()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one about %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error %q reveals the key", err)
			}
		})
	}
}

func TestPrintEnvHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sandbox.PrintEnvHelp(&buf); err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[sandbox.Env]()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != typ.NumField() {
		t.Fatalf("%d lines for %d variables:\n%s", len(lines), typ.NumField(), buf.String())
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, help := f.Tag.Get("env"), f.Tag.Get("help")
		if !strings.HasPrefix(name, "SANDBOX_") || help == "" {
			t.Errorf("field %s: variable %q, help %q", f.Name, name, help)
		}
		if !strings.HasPrefix(lines[i], "  "+name+" ") || !strings.Contains(lines[i], help) {
			t.Errorf("line %d = %q, want %s and its help", i, lines[i], name)
		}
		if d, ok := f.Tag.Lookup("envDefault"); ok && !strings.Contains(lines[i], `(default "`+d+`")`) {
			t.Errorf("line %d = %q lacks the default %q", i, lines[i], d)
		}
	}
}
