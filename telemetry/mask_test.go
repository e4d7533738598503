package telemetry

import "testing"

func TestMaskedQuery(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"", ""},
		{"country=RU&service=tg", "country=RU&service=tg"},
		{"api_key=K&action=getBalance", "api_key=REDACTED&action=getBalance"},
		{"action=x&API_KEY=K&api%5Fkey=K2", "action=x&API_KEY=REDACTED&api_key=REDACTED"},
		{"token=T&sig=S&password=P&x", "token=REDACTED&sig=REDACTED&password=REDACTED&x"},
		{"apikey", "apikey=REDACTED"},
	}
	for _, tc := range cases {
		got, masked := maskedQuery(tc.in)
		if got != tc.want || masked != (tc.in != tc.want) {
			t.Errorf("maskedQuery(%q) = %q, %v; want %q", tc.in, got, masked, tc.want)
		}
	}
}
