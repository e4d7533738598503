package config

import (
	"strings"
	"testing"
)

func TestPrefixes(t *testing.T) {
	t.Parallel()
	var p Prefixes
	if err := p.UnmarshalText([]byte(" 10.0.0.0/8, 192.0.2.7 ,::1,::ffff:198.51.100.1,2001:db8::/32,")); err != nil {
		t.Fatal(err)
	}
	if got, want := p.String(), "10.0.0.0/8,192.0.2.7/32,::1/128,198.51.100.1/32,2001:db8::/32"; got != want {
		t.Errorf("Prefixes = %s, want %s", got, want)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1:80"} {
		if err := p.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPassthroughValidation(t *testing.T) {
	t.Parallel()
	cfg, err := Parse([]string{"SHIM_PASSTHROUGH_TIMEOUT=0s", "SHIM_PASSTHROUGH_MAX_CONCURRENT=0", "SHIM_MAX_CONNS=-1", "SHIM_TRUSTED_PROXIES=10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.TrustedProxies) != 1 {
		t.Errorf("TrustedProxies = %v", cfg.TrustedProxies)
	}
	err = cfg.Validate(true)
	for _, want := range []string{"SHIM_PASSTHROUGH_TIMEOUT", "SHIM_PASSTHROUGH_MAX_CONCURRENT", "SHIM_MAX_CONNS"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %s", err, want)
		}
	}
}
