package shim_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// fuzzKey is the sandbox key of FuzzHandler; its wallet pays for about 20
// numbers, after which purchases answer NO_BALANCE.
const fuzzKey = "fuzz-key"

// sandboxTransport serves native requests with the sandbox in process: no
// sockets, so that the fuzzer spends its time in the shim.
type sandboxTransport struct{ sb http.Handler }

func (t sandboxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	in := r.Clone(r.Context())
	if in.Body == nil {
		in.Body = http.NoBody // as a server would have it
	}
	rec := httptest.NewRecorder()
	t.sb.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// legacyAnswer is the grammar of every text answer: a code of the protocol,
// then colon-separated fields without white space.
var legacyAnswer = regexp.MustCompile(`^(ACCESS_BALANCE|ACCESS_NUMBER|ACCESS_READY|ACCESS_RETRY_GET|ACCESS_ACTIVATION|ACCESS_CANCEL|` +
	`STATUS_WAIT_CODE|STATUS_WAIT_RETRY|STATUS_WAIT_RESEND|STATUS_CANCEL|STATUS_OK|` +
	`BAD_KEY|BAD_ACTION|BAD_SERVICE|BAD_COUNTRY|BAD_STATUS|NO_BALANCE|NO_NUMBERS|NO_ACTIVATION|` +
	`RATE_LIMITED|ERROR_SQL|EARLY_CANCEL_DENIED|WRONG_MAX_PRICE|WRONG_EXCEPTION_PHONE)(:[^:\s]+)*$|^FULL_SMS:`)

// FuzzHandler sends arbitrary query strings and bodies to the whole legacy
// handler, with the sandbox and a SQLite ID map behind it, in the
// sms-activate profile. Every answer must be HTTP 200 with a legacy code or
// JSON; every native request must have the contract's shape (nativeRoute);
// and an answer that refuses the input must have made no native call
// beyond what deciding it needs.
func FuzzHandler(f *testing.F) {
	seeds := []string{
		"api_key=fuzz-key&action=getBalance",
		"api_key=fuzz-key&action=getNumber&service=wa&country=0",
		"api_key=fuzz-key&action=getNumber&service=tg&country=TR&maxPrice=0.60&operator=any",
		"api_key=fuzz-key&action=getStatus&id=100000001",
		"api_key=fuzz-key&action=setStatus&id=100000001&status=3",
		"api_key=fuzz-key&action=setStatus&id=100000001&status=8",
		"api_key=fuzz-key&action=getNumbersStatus&country=62",
		"api_key=fuzz-key&action=getPrices&service=wa&country=187",
		"api_key=fuzz-key&action=getCountries",
		"api_key=fuzz-key&action=getNumber&service=wa&country=62;1&maxPrice=0.10%zz",
		"api_key=fuzz-key&action%20=getStatus&id=../100000001&id=1",
		"api_key=fuzz-key&action=getNumberV2&service=tg&country=TR&phoneException=90555,+90556&forward=0",
		"api_key=fuzz-key&action=getStatusV2&id=100000001",
		"api_key=fuzz-key&action=getFullSms&id=100000001",
		"api_key=fuzz-key&action=getActiveActivations",
		"api_key=fuzz-key&action=getListOfActiveActivations&start=0&length=5",
		"api_key=fuzz-key&action=getTopCountriesByService&service=wa&freePrice=true",
		"api_key=fuzz-key&action=getOperators&country=62",
		"api_key=fuzz-key&action=getServicesList&country=0",
		"api_key=fuzz-key&action=cancelActivation&id=100000001",
	}
	for _, q := range seeds {
		f.Add(q, "", uint8(0))
	}
	f.Add("", "api_key=fuzz-key&action=getBalance", uint8(1))
	f.Add("action=getNumber", "api_key=fuzz-key&action=getBalance&service=wa", uint8(1))
	f.Add("", "--fuzz\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\nfuzz-key\r\n--fuzz\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\ngetBalance\r\n--fuzz--\r\n", uint8(2))

	sb, err := sandbox.New(sandbox.Config{Keys: map[string]string{fuzzKey: "10.00"}, SMSDelay: time.Hour, TTL: 2 * time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	nr := &nativeRecorder{next: sandboxTransport{sb}}
	srv := newRig(f, rigOptions{
		baseURL:  "http://sandbox.test/api/v1",
		upstream: upstream.Options{Transport: nr, Retries: -1, BreakerThreshold: -1},
		secret:   "fuzz handler test secret, 32 bytes",
		level:    slog.LevelError + 1,
	}).srv
	// The activation the seeds name (the store's first legacy ID).
	seed := serve(srv, "api_key="+fuzzKey+"&action=getNumber&service=wa&country=0")
	if !strings.HasPrefix(seed.Body.String(), "ACCESS_NUMBER:100000001:") {
		f.Fatalf("seeding: %q", seed.Body.String())
	}

	f.Fuzz(func(t *testing.T, query, body string, kind uint8) {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/stubs/handler_api.php", nil)
		switch kind % 3 {
		case 1:
			req = httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/stubs/handler_api.php", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		case 2:
			req = httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/stubs/handler_api.php", strings.NewReader(body))
			req.Header.Set("Content-Type", "multipart/form-data; boundary=fuzz")
		}
		// Any bytes, as a lenient server or a proxy could pass them.
		req.URL.RawQuery = query
		nr.take()
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)

		got := rec.Body.String()
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d %q", rec.Code, got)
		}
		isJSON := strings.HasPrefix(got, "{") || strings.HasPrefix(got, "[")
		switch {
		case isJSON && !json.Valid(rec.Body.Bytes()):
			t.Fatalf("invalid JSON %q", got)
		case isJSON && rec.Header().Get("Content-Type") != "application/json":
			t.Fatalf("JSON as %q", rec.Header().Get("Content-Type"))
		case !isJSON && !legacyAnswer.MatchString(got):
			t.Fatalf("not a legacy answer: %q", got)
		}

		var routes []string
		for _, r := range nr.take() {
			route, err := nativeRoute(r)
			if err != nil {
				t.Fatal(err)
			}
			routes = append(routes, route)
		}
		code, _, _ := strings.Cut(got, ":")
		if len(routes) > 0 && routes[0] == "balance" && code != "ACCESS_BALANCE" {
			// The key check, once the key's trust has run out (or for
			// another key): it comes before everything else.
			routes = routes[1:]
		}
		ok := true
		switch code {
		case "BAD_ACTION", "BAD_COUNTRY", "NO_ACTIVATION", "WRONG_EXCEPTION_PHONE":
			ok = len(routes) == 0
		case "BAD_SERVICE":
			ok = len(routes) == 0 || slices.Equal(routes, []string{"services"})
		case "BAD_KEY": // a well-formed key only the backend can refuse
			ok = len(routes) <= 1
		case "BAD_STATUS":
			// Refused locally, or by the backend for the state (and then the
			// activation is read, in case a lost answer already got there).
			ok = len(routes) == 0 || len(routes) <= 2 && slices.Contains([]string{"ready", "retry", "complete", "cancel"}, routes[0]) &&
				(len(routes) == 1 || routes[1] == "get")
		}
		if !ok {
			t.Fatalf("answer %s after native calls %q", code, routes)
		}
	})
}
