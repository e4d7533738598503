package translate_test

import (
	"testing"

	"github.com/smsbulk/smsbulk-shim/translate"
)

// parseQueryOld is what ParseQuery must equal: Check, then ParseRequest,
// over ParseParams.
func parseQueryOld(raw string, l translate.Limits) (translate.Request, error) {
	src := translate.ParseParams(raw)
	if err := l.Check(src); err != nil {
		return translate.Request{}, err
	}
	return translate.ParseRequest(src), nil
}

// FuzzParseQuery checks ParseQuery against ParseParams, Check and
// ParseRequest: the same Request, and an error exactly when they give one,
// with small limits so that the fuzzer reaches them.
func FuzzParseQuery(f *testing.F) {
	f.Add("api_key=k&action=getStatus&id=100000001", 64, 1024)
	f.Add("api_key=k&action=getNumber&service=wa&country=0&maxPrice=1.50&operator=mts,beeline&lang=en", 64, 1024)
	f.Add("action%20=getBalance&action=getPrices&api_key%09=k", 64, 1024)
	f.Add("country%20=1&%20country=2&country%20=3&id=1&id=2", 64, 1024)
	f.Add("id=1&id=2&id=3&id=4", 3, 1024)
	f.Add("api_key=abcdef&x=%41%41%41%41&y=aaaa", 64, 3)
	f.Add("&&=&a=b=c&%zz=%4&+api_key+=a+b&api%5Fkey=c", 64, 1024)
	f.Add("phoneException=7911&forward=1&activationType=0&verification=true&freePrice=true&start=0&length=10&status=8", 64, 1024)
	f.Add("action=getStatus&id=100000001&wait=30&wait%20=5", 64, 1024)
	f.Fuzz(func(t *testing.T, raw string, maxParams, maxBytes int) {
		l := translate.Limits{MaxParams: maxParams, MaxParamBytes: maxBytes}
		got, gotErr := translate.ParseQuery(raw, l)
		want, wantErr := parseQueryOld(raw, l)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("ParseQuery(%q) error %v, want %v", raw, gotErr, wantErr)
		}
		if gotErr != nil {
			if gotErr.Error() != wantErr.Error() {
				t.Fatalf("ParseQuery(%q) error %v, want %v", raw, gotErr, wantErr)
			}
			return
		}
		if got != want {
			t.Fatalf("ParseQuery(%q) = %+v, want %+v", raw, got, want)
		}
	})
}

// TestParseQueryEveryParam sends each parameter ParseRequest reads, and
// one it does not, through ParseQuery: a name added to ParseRequest and
// not to ParseQuery fails here.
func TestParseQueryEveryParam(t *testing.T) {
	names := []string{"api_key", "action", "service", "country", "id", "status", "maxPrice", "operator",
		"phoneException", "forward", "activationType", "verification", "freePrice", "start", "length",
		"requestId", "wait", "callback", "lang", "ref"}
	l := translate.Limits{}.WithDefaults()
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			raw := name + "=v-" + name + "&" + name + "%20=padded"
			got, err := translate.ParseQuery(raw, l)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := parseQueryOld(raw, l)
			if got != want {
				t.Fatalf("ParseQuery(%q) = %+v, want %+v", raw, got, want)
			}
		})
	}
}

func BenchmarkParseQuery(b *testing.B) {
	l := translate.Limits{}.WithDefaults()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := translate.ParseQuery("api_key=bench&action=getStatus&id=100000001", l); err != nil {
			b.Fatal(err)
		}
	}
}
