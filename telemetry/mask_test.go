package telemetry

import "testing"

func TestMaskedQuery(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"", ""},
		{"country=RU&service=tg", "country=RU&service=tg"},
		{"countryIso=TR&serviceCode=wa&limit=100&cursor=C", "countryIso=TR&serviceCode=wa&limit=100&cursor=C"},
		{"api_key=K&action=getBalance", "api_key=REDACTED&action=getBalance"},
		{"action=x&API_KEY=K&api%5Fkey=K2", "action=x&API_KEY=REDACTED&api_key=REDACTED"},
		{"token=T&sig=S&password=P&x", "token=REDACTED&sig=REDACTED&password=REDACTED&REDACTED"},
		{"apikey", "REDACTED"},
		// Names no deny-list knows.
		{"k=1&pwd=2&hash=3&sid=4&pin=5", "k=REDACTED&pwd=REDACTED&hash=REDACTED&sid=REDACTED&pin=REDACTED"},
		{"status=ACTIVE;s=x&&x=%zz", "status=ACTIVE;s=REDACTED&&x=REDACTED"},
	}
	for _, tc := range cases {
		got, masked := maskedQuery(tc.in)
		if got != tc.want || masked != (tc.in != tc.want) {
			t.Errorf("maskedQuery(%q) = %q, %v; want %q", tc.in, got, masked, tc.want)
		}
	}
}
