package shim_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// hostileKey is the sandbox key of the hostile-input tests; it holds 100.00
// before the one purchase the rig makes.
const hostileKey = "hostile-key-1"

// nativeRecorder is a RoundTripper in front of the native client that
// records every native request, so that a test can tell which legacy
// answers made native calls and what reached the backend.
type nativeRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []nativeRequest
}

type nativeRequest struct {
	method, path, query string
	body                []byte
}

func (n *nativeRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	n.mu.Lock()
	n.reqs = append(n.reqs, nativeRequest{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, body: body})
	n.mu.Unlock()
	return n.next.RoundTrip(r)
}

// reset forgets the requests recorded so far.
func (n *nativeRecorder) reset() {
	n.mu.Lock()
	n.reqs = nil
	n.mu.Unlock()
}

// wrap records the requests of next: an upstream.Options.WrapTransport.
func (n *nativeRecorder) wrap(next http.RoundTripper) http.RoundTripper {
	n.next = next
	return n
}

func (n *nativeRecorder) requests() []nativeRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.reqs)
}

// take returns the requests recorded so far and forgets them.
func (n *nativeRecorder) take() []nativeRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	reqs := n.reqs
	n.reqs = nil
	return reqs
}

var (
	nativeActivationPath = regexp.MustCompile(`^/api/v1/activations/([A-Za-z0-9_-]{1,64})(/(ready|retry|complete|cancel))?$`)
	nativeToken          = regexp.MustCompile(`^[a-z0-9_]{1,16}$`)
	nativeISO            = regexp.MustCompile(`^[A-Z]{2}$`)
	nativeLimit          = regexp.MustCompile(`^[1-9][0-9]{0,3}$`)
	nativeCursor         = regexp.MustCompile(`^[A-Za-z0-9_=-]{1,64}$`)
	nativeOperator       = regexp.MustCompile(`^[a-z0-9_]+(,[a-z0-9_]+)*$`)
)

// nativeRoute names a native request after checking that every part of it
// that could come from a legacy parameter has the shape the contract
// allows; it returns an error for anything else, so that no parameter can
// reach a native path, query or body unvalidated.
func nativeRoute(r nativeRequest) (string, error) {
	q, err := url.ParseQuery(r.query)
	if err != nil {
		return "", fmt.Errorf("native query %q: %v", r.query, err)
	}
	switch {
	case r.method == http.MethodGet && r.path == "/api/v1/wallet/balance" && r.query == "":
		return "balance", nil
	case r.method == http.MethodGet && r.path == "/api/v1/catalog/services" && r.query == "":
		return "services", nil
	case r.method == http.MethodGet && r.path == "/api/v1/catalog/countries" && r.query == "":
		return "countries", nil
	case r.method == http.MethodGet && r.path == "/api/v1/catalog/offers":
		for k, vs := range q {
			ok := len(vs) == 1 && (k == "countryIso" && nativeISO.MatchString(vs[0]) || k == "serviceCode" && nativeToken.MatchString(vs[0]))
			if !ok {
				return "", fmt.Errorf("native offers query %q", r.query)
			}
		}
		return "offers", nil
	case r.method == http.MethodGet && r.path == "/api/v1/activations":
		// The active list: status=ACTIVE, a limit, and the backend's cursor.
		for k, vs := range q {
			ok := len(vs) == 1 && (k == "status" && vs[0] == "ACTIVE" || k == "limit" && nativeLimit.MatchString(vs[0]) ||
				k == "cursor" && nativeCursor.MatchString(vs[0]))
			if !ok {
				return "", fmt.Errorf("native list query %q", r.query)
			}
		}
		return "list", nil
	case r.method == http.MethodPost && r.path == "/api/v1/activations" && r.query == "":
		var b upstream.BuyRequest
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			return "", fmt.Errorf("native buy body %q: %v", r.body, err)
		}
		if !nativeToken.MatchString(b.ServiceCode) || !nativeISO.MatchString(b.CountryISO) ||
			b.MaxPrice != "" && !b.MaxPrice.IsValid() || b.Operator != "" && !nativeOperator.MatchString(b.Operator) {
			return "", fmt.Errorf("native buy body %q", r.body)
		}
		return "buy", nil
	}
	if m := nativeActivationPath.FindStringSubmatch(r.path); m != nil && r.query == "" && len(r.body) == 0 {
		switch {
		case m[3] == "" && r.method == http.MethodGet:
			return "get", nil
		case m[3] != "" && r.method == http.MethodPost:
			return m[3], nil
		}
	}
	return "", fmt.Errorf("native request %s %s?%s is not in the contract", r.method, r.path, r.query)
}

// hostileRig is a sandbox on loopback and a SQLite ID map holding one
// activation of hostileKey; each case gets its own shim (so that catalog
// caching does not depend on the order of the cases) and its own recorder.
type hostileRig struct {
	*rig
	seedID string // legacy ID of the rig's activation
}

func newHostileRig(tb testing.TB) *hostileRig {
	tb.Helper()
	h := &hostileRig{rig: newRig(tb, rigOptions{
		sandbox: sandbox.Config{Keys: map[string]string{hostileKey: "100.00", "other-key": "1.00"}, SMSDelay: time.Hour, TTL: 2 * time.Hour},
		secret:  "hostile input test secret, 32 bytes",
	})}
	s, _ := h.server(tb, translate.ProfileSMSActivate)
	rec := serve(s, "api_key="+hostileKey+"&action=getNumber&service=wa&country=0")
	parts := strings.Split(rec.Body.String(), ":")
	if len(parts) != 3 || parts[0] != "ACCESS_NUMBER" {
		tb.Fatalf("seeding an activation: %q", rec.Body.String())
	}
	h.seedID = parts[1]
	return h
}

// server returns a fresh shim (no pass-through origin) that has checked
// the rig's two keys with the backend, and the recorder of its native
// requests after that.
func (h *hostileRig) server(tb testing.TB, p translate.Profile) (*shim.Server, *nativeRecorder) {
	tb.Helper()
	nr := &nativeRecorder{}
	r := h.with(tb, rigOptions{upstream: upstream.Options{Retries: -1, WrapTransport: nr.wrap}, shim: shim.Options{Profile: p}})
	for _, key := range []string{hostileKey, "other-key"} {
		if got := serve(r.srv, "api_key="+key+"&action=getBalance").Body.String(); !strings.HasPrefix(got, "ACCESS_BALANCE:") {
			tb.Fatalf("checking key %s: %q", key, got)
		}
	}
	nr.reset()
	return r.srv, nr
}

// hostileCase is one nasty request and the exact answer in both profiles.
type hostileCase struct {
	name   string
	method string // "" is GET
	path   string // "" is /stubs/handler_api.php; a raw request target
	query  string // raw query; {K} is hostileKey, {ID} the rig's legacy ID
	ctype  string
	body   string
	// want is the body in both profiles; bulk overrides it in
	// ProfileSMSBulk.
	want, bulk string
	// status is the HTTP status in both profiles where it is not a legacy
	// answer (405, 404); 0 means 200 in ProfileSMSActivate and the
	// SMSBulk errors page's status of the code in ProfileSMSBulk.
	status int
	// ctypeWant is the Content-Type; "" means text/plain; charset=utf-8.
	ctypeWant string
	// native lists the native calls the request must make, by nativeRoute.
	native []string
}

// smsbulkStatus is the HTTP status of each answer in ProfileSMSBulk, from
// SMSBulk's errors page.
var smsbulkStatus = map[string]int{
	"BAD_KEY": 401, "BAD_ACTION": 400, "BAD_SERVICE": 400, "BAD_COUNTRY": 400, "BAD_STATUS": 400,
	"WRONG_ACTION": 400, "NO_ACTIVATION": 404,
}

func multipartBody(tb testing.TB, fields map[string]string, files map[string]string) (ctype, body string) {
	tb.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if err := w.WriteField(k, fields[k]); err != nil {
			tb.Fatal(err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(files)) {
		fw, err := w.CreateFormFile(k, "upload.bin")
		if err != nil {
			tb.Fatal(err)
		}
		io.WriteString(fw, files[k])
	}
	w.Close()
	return w.FormDataContentType(), b.String()
}

func hostileCases(tb testing.TB) []hostileCase {
	tb.Helper()
	manyParams := make([]string, 65)
	for i := range manyParams {
		manyParams[i] = fmt.Sprintf("p%d=1", i)
	}
	mpOK, mpOKBody := multipartBody(tb, map[string]string{"api_key": hostileKey, "action": "getBalance"}, map[string]string{"photo": "\x00\xff binary"})
	mpFileKey, mpFileKeyBody := multipartBody(tb, map[string]string{"action": "getBalance"}, map[string]string{"api_key": hostileKey})
	mpHuge, mpHugeBody := multipartBody(tb, map[string]string{"api_key": hostileKey, "action": "getBalance"}, map[string]string{"f": strings.Repeat("x", 70<<10)})
	sql := url.QueryEscape("' OR '1'='1'; DROP TABLE id_map; --")
	return []hostileCase{
		// The key: anything but 1-256 visible ASCII characters is BAD_KEY
		// without a native call; a well-formed key only the backend can judge.
		{name: "no key", query: "action=getBalance", want: "BAD_KEY"},
		{name: "empty key", query: "api_key=&action=getBalance", want: "BAD_KEY"},
		{name: "key with a space", query: "api_key=hostile%20key-1&action=getBalance", want: "BAD_KEY"},
		{name: "key with a trailing newline", query: "api_key={K}%0A&action=getBalance", want: "BAD_KEY"},
		{name: "key with CRLF header injection", query: "api_key={K}%0D%0AX-Evil:%201&action=getBalance", want: "BAD_KEY"},
		{name: "key with NUL", query: "api_key=hostile%00key-1&action=getBalance", want: "BAD_KEY"},
		{name: "key with invalid UTF-8", query: "api_key=hostile%FF%FEkey&action=getBalance", want: "BAD_KEY"},
		{name: "key of 300 bytes", query: "api_key=" + strings.Repeat("k", 300) + "&action=getBalance", want: "BAD_KEY"},
		{name: "key SQL with spaces", query: "api_key=" + sql + "&action=getBalance", want: "BAD_KEY"},
		{name: "key SQL without spaces, unknown to the backend", query: "api_key=x'--&action=getBalance", want: "BAD_KEY", native: []string{"balance"}},

		// The action.
		{name: "no action", query: "api_key={K}", want: "BAD_ACTION"},
		{name: "unknown action", query: "api_key={K}&action=getRentList", want: "BAD_ACTION", bulk: "WRONG_ACTION"},
		{name: "action in capitals", query: "api_key={K}&action=GETBALANCE", want: "BAD_ACTION", bulk: "WRONG_ACTION"},
		{name: "action with NUL", query: "api_key={K}&action=getBalance%00", want: "BAD_ACTION"},
		{name: "action with invalid UTF-8", query: "api_key={K}&action=get%C3%28Balance", want: "BAD_ACTION"},
		{name: "action SQL", query: "api_key={K}&action=" + sql, want: "BAD_ACTION"},
		{name: "action path", query: "api_key={K}&action=..%2F..%2Fwallet%2Fbalance", want: "BAD_ACTION"},
		{name: "repeated action: the first wins", query: "api_key={K}&action=getBalance&action=getNumber&service=wa",
			want: "ACCESS_BALANCE:99.50", native: []string{"balance"}},
		{name: "trailing-space parameter name", query: "api_key={K}&action%20=getBalance", want: "ACCESS_BALANCE:99.50", native: []string{"balance"}},
		{name: "exact name beats trimmed name", query: "api_key={K}&action%20=getNumber&action=getBalance",
			want: "ACCESS_BALANCE:99.50", native: []string{"balance"}},

		// The service: malformed is BAD_SERVICE at once; well-formed but
		// unsold only after the catalog.
		{name: "service missing", query: "api_key={K}&action=getNumber&country=0", want: "BAD_SERVICE"},
		{name: "service SQL", query: "api_key={K}&action=getNumber&country=0&service=" + sql, want: "BAD_SERVICE"},
		{name: "service with NUL", query: "api_key={K}&action=getNumber&country=0&service=wa%00", want: "BAD_SERVICE"},
		{name: "service path", query: "api_key={K}&action=getNumber&country=0&service=..%2F..%2Fwallet", want: "BAD_SERVICE"},
		{name: "service of 17 characters", query: "api_key={K}&action=getNumber&country=0&service=" + strings.Repeat("w", 17), want: "BAD_SERVICE"},
		{name: "service unknown to the catalog", query: "api_key={K}&action=getNumber&country=0&service=zzzz",
			want: "BAD_SERVICE", native: []string{"services"}},

		// The country.
		{name: "country SQL", query: "api_key={K}&action=getNumber&service=wa&country=" + sql, want: "BAD_COUNTRY"},
		{name: "country with a semicolon", query: "api_key={K}&action=getNumber&service=wa&country=62;1", want: "BAD_COUNTRY"},
		{name: "country with a bad escape", query: "api_key={K}&action=getNumber&service=wa&country=62%zz", want: "BAD_COUNTRY"},
		{name: "country with invalid UTF-8", query: "api_key={K}&action=getNumber&service=wa&country=%FF", want: "BAD_COUNTRY"},
		{name: "country with a newline", query: "api_key={K}&action=getNumber&service=wa&country=Rus%0Asia", want: "BAD_COUNTRY"},
		{name: "country negative", query: "api_key={K}&action=getNumber&service=wa&country=-1", want: "BAD_COUNTRY"},
		{name: "country overflowing", query: "api_key={K}&action=getNumber&service=wa&country=99999999999999999999", want: "BAD_COUNTRY"},
		{name: "country of 65 bytes", query: "api_key={K}&action=getNumber&service=wa&country=" + strings.Repeat("a", 65), want: "BAD_COUNTRY"},
		{name: "country path", query: "api_key={K}&action=getPrices&country=..%2F..%2Fetc%2Fpasswd", want: "BAD_COUNTRY"},
		{name: "getNumbersStatus country NUL", query: "api_key={K}&action=getNumbersStatus&country=0%00", want: "BAD_COUNTRY"},

		// Activation IDs: anything but 1..2^53-1 in plain digits is
		// NO_ACTIVATION before the store or the backend.
		{name: "id negative", query: "api_key={K}&action=getStatus&id=-1", want: "NO_ACTIVATION"},
		{name: "id zero", query: "api_key={K}&action=getStatus&id=0", want: "NO_ACTIVATION"},
		{name: "id overflowing int64", query: "api_key={K}&action=getStatus&id=99999999999999999999", want: "NO_ACTIVATION"},
		{name: "id 2^53", query: "api_key={K}&action=getStatus&id=9007199254740992", want: "NO_ACTIVATION"},
		{name: "id hex", query: "api_key={K}&action=getStatus&id=0x10", want: "NO_ACTIVATION"},
		{name: "id with ../", query: "api_key={K}&action=getStatus&id=../{ID}", want: "NO_ACTIVATION"},
		{name: "id with %2F", query: "api_key={K}&action=setStatus&status=8&id={ID}%2F..%2Fcancel", want: "NO_ACTIVATION"},
		{name: "id SQL", query: "api_key={K}&action=getStatus&id={ID}%20OR%201=1", want: "NO_ACTIVATION"},
		{name: "id with NUL", query: "api_key={K}&action=getStatus&id={ID}%00", want: "NO_ACTIVATION"},
		{name: "id of no activation", query: "api_key={K}&action=getStatus&id=123456789", want: "NO_ACTIVATION"},
		{name: "id of another key", query: "api_key=other-key&action=getStatus&id={ID}", want: "NO_ACTIVATION"},
		{name: "repeated id: the first wins", query: "api_key={K}&action=getStatus&id={ID}&id=1", want: "STATUS_WAIT_CODE", native: []string{"get"}},

		// setStatus: the status is checked before the store and the backend.
		{name: "status SQL", query: "api_key={K}&action=setStatus&id={ID}&status=8;DROP%20TABLE%20id_map", want: "BAD_STATUS"},
		{name: "status 2", query: "api_key={K}&action=setStatus&id={ID}&status=2", want: "BAD_STATUS"},
		{name: "status with a space", query: "api_key={K}&action=setStatus&id={ID}&status=%208", want: "BAD_STATUS"},
		{name: "bad id before bad status", query: "api_key={K}&action=setStatus&id=x&status=9", want: "NO_ACTIVATION"},

		// maxPrice and operator: malformed is BAD_ACTION, never "no limit".
		{name: "maxPrice SQL", query: "api_key={K}&action=getNumber&service=wa&country=0&maxPrice=1%20OR%201=1", want: "BAD_ACTION"},
		{name: "maxPrice negative", query: "api_key={K}&action=getNumber&service=wa&country=0&maxPrice=-1", want: "BAD_ACTION"},
		{name: "maxPrice exponent", query: "api_key={K}&action=getNumber&service=wa&country=0&maxPrice=1e3", want: "BAD_ACTION"},
		{name: "maxPrice with a semicolon", query: "api_key={K}&action=getNumber&service=wa&country=0&maxPrice=0.10;5", want: "BAD_ACTION"},
		{name: "maxPrice with a bad escape", query: "api_key={K}&action=getNumber&service=wa&country=0&maxPrice=0.10%zz", want: "BAD_ACTION"},
		{name: "operator SQL", query: "api_key={K}&action=getNumber&service=wa&country=0&operator=mts'--", want: "BAD_ACTION"},

		// Limits.
		{name: "query over 4096 bytes", query: "api_key={K}&action=getBalance&pad=" + strings.Repeat("x", 4096), want: "BAD_ACTION"},
		{name: "65 parameters", query: "api_key={K}&action=getBalance&" + strings.Join(manyParams, "&"), want: "BAD_ACTION"},
		{name: "value over 1024 bytes", query: "api_key={K}&action=getBalance&ref=" + strings.Repeat("r", 1025), want: "BAD_ACTION"},
		{name: "name over 1024 bytes", query: "api_key={K}&action=getBalance&" + strings.Repeat("n", 1025) + "=1", want: "BAD_ACTION"},
		{name: "form body over 64 KiB", method: http.MethodPost, ctype: "application/x-www-form-urlencoded",
			body: "api_key=" + hostileKey + "&action=getBalance&pad=" + strings.Repeat("x", 64<<10), want: "BAD_ACTION"},
		{name: "multipart over 64 KiB", method: http.MethodPost, ctype: mpHuge, body: mpHugeBody, want: "BAD_ACTION"},

		// Bodies and content types.
		{name: "form body", method: http.MethodPost, ctype: "application/x-www-form-urlencoded",
			body: "api_key=" + hostileKey + "&action=getBalance", want: "ACCESS_BALANCE:99.50", native: []string{"balance"}},
		{name: "query beats form body", method: http.MethodPost, query: "api_key={K}&action=getBalance", ctype: "application/x-www-form-urlencoded",
			body: "action=getNumber&service=wa&country=0", want: "ACCESS_BALANCE:99.50", native: []string{"balance"}},
		{name: "form in a JSON body", method: http.MethodPost, ctype: "application/json",
			body: "api_key=" + hostileKey + "&action=getBalance", want: "BAD_KEY"},
		{name: "JSON body", method: http.MethodPost, ctype: "application/json",
			body: `{"api_key":"` + hostileKey + `","action":"getBalance"}`, want: "BAD_KEY"},
		{name: "form in a text/plain body", method: http.MethodPost, ctype: "text/plain",
			body: "api_key=" + hostileKey + "&action=getBalance", want: "BAD_KEY"},
		{name: "form without content type", method: http.MethodPost, body: "api_key=" + hostileKey + "&action=getBalance", want: "BAD_KEY"},
		{name: "malformed content type", method: http.MethodPost, ctype: "application/x-www-form-urlencoded; ;;=",
			body: "api_key=" + hostileKey + "&action=getBalance", want: "BAD_KEY"},
		{name: "multipart with a file", method: http.MethodPost, ctype: mpOK, body: mpOKBody, want: "ACCESS_BALANCE:99.50", native: []string{"balance"}},
		{name: "multipart with the key as a file", method: http.MethodPost, ctype: mpFileKey, body: mpFileKeyBody, want: "BAD_KEY"},
		{name: "multipart without boundary", method: http.MethodPost, ctype: "multipart/form-data", body: mpOKBody, want: "BAD_ACTION"},
		{name: "multipart with a wrong boundary", method: http.MethodPost, ctype: "multipart/form-data; boundary=nope", body: mpOKBody, want: "BAD_ACTION"},

		// Methods: GET and POST only; HEAD must not buy (HEAD getNumber).
		{name: "HEAD", method: http.MethodHead, query: "api_key={K}&action=getNumber&service=wa&country=62", want: "method not allowed\n", status: 405},
		{name: "PUT", method: http.MethodPut, query: "api_key={K}&action=getBalance", want: "method not allowed\n", status: 405},
		{name: "DELETE", method: http.MethodDelete, query: "api_key={K}&action=getBalance", want: "method not allowed\n", status: 405},
		{name: "OPTIONS", method: http.MethodOptions, query: "api_key={K}&action=getBalance", want: "method not allowed\n", status: 405},

		// Paths near the legacy one: what Apache with PHP runs the script
		// for is it (PATH_INFO, merged slashes, dot segments), the rest is not.
		{name: "path trailing slash", path: "/stubs/handler_api.php/", query: "api_key={K}&action=getBalance", want: "ACCESS_BALANCE:99.50", native: []string{"balance"}},
		{name: "path dot-dot", path: "/stubs/../stubs/handler_api.php", query: "api_key={K}&action=getBalance", want: "ACCESS_BALANCE:99.50", native: []string{"balance"}},
		{name: "path double slash", path: "//stubs/handler_api.php", query: "api_key={K}&action=getBalance", want: "ACCESS_BALANCE:99.50", native: []string{"balance"}},
		{name: "path encoded slash", path: "/stubs%2Fhandler_api.php", query: "api_key={K}&action=getBalance", want: "404 page not found\n", status: 404},
		{name: "path NUL", path: "/stubs/handler_api.php%00", query: "api_key={K}&action=getBalance", want: "404 page not found\n", status: 404},
		{name: "path capitals", path: "/STUBS/HANDLER_API.PHP", query: "api_key={K}&action=getBalance", want: "404 page not found\n", status: 404},
		{name: "path parameter", path: "/stubs/handler_api.php;.js", query: "api_key={K}&action=getBalance", want: "404 page not found\n", status: 404},
	}
}

// TestHostileInput sends every nasty request of hostileCases in both
// profiles and checks the exact status, content type and body, the native
// calls made (none for a refused request, except the catalog where a
// well-formed service must be checked against it), and that every native
// request had the contract's shape.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	h := newHostileRig(t)
	cases := hostileCases(t)
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, p := range []translate.Profile{translate.ProfileSMSActivate, translate.ProfileSMSBulk} {
		for _, tc := range cases {
			t.Run(p.String()+"/"+tc.name, func(t *testing.T) {
				s, nr := h.server(t, p)
				target := tc.path
				if target == "" {
					target = "/stubs/handler_api.php"
				}
				q := strings.NewReplacer("{K}", hostileKey, "{ID}", h.seedID).Replace(tc.query)
				if q != "" {
					target += "?" + q
				}
				method := tc.method
				if method == "" {
					method = http.MethodGet
				}
				var body io.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				req := httptest.NewRequestWithContext(t.Context(), method, target, body)
				if tc.ctype != "" {
					req.Header.Set("Content-Type", tc.ctype)
				}
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)

				want, status := tc.want, tc.status
				if p == translate.ProfileSMSBulk && tc.bulk != "" {
					want = tc.bulk
				}
				if status == 0 {
					status = http.StatusOK
					if p == translate.ProfileSMSBulk && smsbulkStatus[want] != 0 {
						status = smsbulkStatus[want]
					}
				}
				ctype := tc.ctypeWant
				if ctype == "" {
					ctype = "text/plain; charset=utf-8"
				}
				if got := rec.Body.String(); got != want {
					t.Errorf("body %q, want %q", got, want)
				}
				if rec.Code != status {
					t.Errorf("status %d, want %d", rec.Code, status)
				}
				if got := rec.Header().Get("Content-Type"); got != ctype {
					t.Errorf("content type %q, want %q", got, ctype)
				}
				var routes []string
				for _, r := range nr.requests() {
					route, err := nativeRoute(r)
					if err != nil {
						t.Error(err)
					}
					routes = append(routes, route)
				}
				if !slices.Equal(routes, tc.native) {
					t.Errorf("native calls %q, want %q", routes, tc.native)
				}
			})
		}
	}
}

// TestHostileWire sends requests no HTTP client library would build,
// byte for byte, to the shim behind a real net/http server: the server
// must answer each and stay up.
func TestHostileWire(t *testing.T) {
	t.Parallel()
	h := newHostileRig(t)
	s, nr := h.server(t, translate.ProfileSMSActivate)
	front := httptest.NewServer(s)
	t.Cleanup(front.Close)
	tests := []struct {
		name, raw  string
		wantStatus int
		wantBody   string // "" = do not check
	}{
		{name: "raw invalid UTF-8 in the key", raw: "GET /stubs/handler_api.php?api_key=\xff\xfe&action=getBalance HTTP/1.1\r\nHost: x\r\n\r\n",
			wantStatus: 200, wantBody: "BAD_KEY"},
		{name: "raw invalid UTF-8 in the country", raw: "GET /stubs/handler_api.php?api_key=" + hostileKey + "&action=getNumber&service=wa&country=\xc3\x28 HTTP/1.1\r\nHost: x\r\n\r\n",
			wantStatus: 200, wantBody: "BAD_COUNTRY"},
		{name: "raw NUL in the query", raw: "GET /stubs/handler_api.php?api_key=a\x00b&action=getBalance HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "raw tab in the query", raw: "GET /stubs/handler_api.php?api_key=a\tb&action=getBalance HTTP/1.1\r\nHost: x\r\n\r\n", wantStatus: 400},
		{name: "no HTTP version", raw: "GET /stubs/handler_api.php?api_key=k&action=getBalance\r\n\r\n", wantStatus: 400},
		{name: "lying Content-Length", raw: "POST /stubs/handler_api.php HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 99999\r\nConnection: close\r\n\r\napi_key=" + hostileKey + "&action=getBalance",
			wantStatus: 200, wantBody: "BAD_ACTION"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", front.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, tc.raw); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(tc.raw, "Content-Length: 99999") {
				// The body ends early: the client gives up sending.
				conn.(*net.TCPConn).CloseWrite()
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || tc.wantBody != "" && string(b) != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, b, tc.wantStatus, tc.wantBody)
			}
		})
	}
	// Still up, and nothing reached the backend.
	resp, err := http.Get(front.URL + "/stubs/handler_api.php?api_key=" + hostileKey + "&action=getBalance")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ACCESS_BALANCE:99.50" {
		t.Errorf("after the hostile requests: %q", b)
	}
	if n := len(nr.requests()); n != 1 {
		t.Errorf("%d native calls, want 1 (the last getBalance)", n)
	}
}

// TestCountryJunkBounded sends distinct junk country strings through the
// handler, in process, and checks that the country cache stays at its size
// and the heap does not grow with the input. Each is refused BAD_COUNTRY
// without a native call. It sends 50,000; with SHIM_TEST_SOAK=1 a million
// (the soak takes most of a minute).
func TestCountryJunkBounded(t *testing.T) {
	n := 50_000
	if os.Getenv("SHIM_TEST_SOAK") == "1" && !testing.Short() {
		n = 1_000_000
	}
	h := newHostileRig(t)
	nr := &nativeRecorder{}
	r := h.with(t, rigOptions{upstream: upstream.Options{WrapTransport: nr.wrap}, level: slog.LevelError})
	s, cc := r.srv, r.cc
	send := func(i int) {
		var junk string
		switch i % 10 {
		case 0:
			junk = fmt.Sprintf("\xff\xfe%d", i) // invalid UTF-8: refused before the cache
		case 1:
			junk = fmt.Sprintf("%070d", i) // over 64 bytes: refused before the cache
		default:
			junk = fmt.Sprintf("junk-%d-land", i) // cached as unknown
		}
		rec := serve(s, "api_key="+hostileKey+"&action=getNumbersStatus&country="+url.QueryEscape(junk))
		if rec.Body.String() != "BAD_COUNTRY" {
			t.Fatalf("country %q: %q", junk, rec.Body.String())
		}
	}
	for i := range 1000 { // warm up: pools, the cache half full
		send(-i - 1)
	}
	nr.reset() // the first request checked the key with the backend
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for i := range n {
		send(i)
	}
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d junk countries in %v (%v each): cache %d entries (size %d); heap %d -> %d bytes (%+d)",
		n, elapsed.Round(time.Millisecond), (elapsed / time.Duration(n)).Round(time.Nanosecond),
		cc.CacheLen(), countries.DefaultCacheSize, before.HeapAlloc, after.HeapAlloc, growth)
	if l := cc.CacheLen(); l > countries.DefaultCacheSize {
		t.Errorf("country cache holds %d entries, more than its size %d", l, countries.DefaultCacheSize)
	}
	if growth > 32<<20 {
		t.Errorf("heap grew by %d bytes over %d requests", growth, n)
	}
	if k := len(nr.requests()); k != 0 {
		t.Errorf("%d native calls for junk countries", k)
	}
}
