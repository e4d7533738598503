package sandbox

import (
	"maps"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func TestParseKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"default", "demo=100.00", map[string]string{"demo": "100.00"}, false},
		{"two with spaces", " demo = 100.00 , broke=0.00 ", map[string]string{"demo": "100.00", "broke": "0.00"}, false},
		{"integer balance", "smsbulk_abc=5", map[string]string{"smsbulk_abc": "5"}, false},
		{"empty", "", map[string]string{}, false},
		{"blank", "  ", map[string]string{}, false},
		{"no equals", "secretkey", nil, true},
		{"empty key", "=1.00", nil, true},
		{"space in key", "se cret=1.00", nil, true},
		{"negative", "secretkey=-1.00", nil, true},
		{"not a decimal", "secretkey=lots", nil, true},
		{"exponent", "secretkey=1e3", nil, true},
		{"repeated", "secretkey=1.00,secretkey=2.00", nil, true},
		{"trailing comma", "secretkey=1.00,", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseKeys(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), "secretkey") {
					t.Errorf("error %q reveals the key", err)
				}
				return
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"bad balance", Config{Keys: map[string]string{"secretkey": "x"}}},
		{"negative balance", Config{Keys: map[string]string{"secretkey": "-2"}}},
		{"key with space", Config{Keys: map[string]string{"secret key": "1"}}},
		{"bad fault", Config{Fault: "boom", FaultRate: 0.5}},
		{"fault rate above 1", Config{Fault: "reset", FaultRate: 1.5}},
		{"negative ttl", Config{TTL: -1}},
		{"negative rate limit", Config{RateLimit: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q reveals the key", err)
			}
		})
	}
}

func TestFormatMoney(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"100", "100.00"},
		{"100.00", "100.00"},
		{"0.5", "0.50"},
		{"1.005", "1.005"},
		{"0", "0.00"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got := formatMoney(decimal.RequireFromString(tc.in)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	// Arithmetic keeps the cents exact.
	d := decimal.RequireFromString("100.00")
	for range 3 {
		d = d.Sub(decimal.New(10, -2))
	}
	if got := formatMoney(d); got != "99.70" {
		t.Errorf("100.00 - 3 x 0.10 = %s", got)
	}
}
