package shim_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenCase is one testdata/golden/<name>.in file: a legacy request, the
// native exchanges it must make, in order, with the recorded native
// answers, and the ID map rows that exist before it.
type goldenCase struct {
	// Profiles to run the case in; each has its own
	// <name>.<profile>.golden. Empty means both.
	Profiles []string `json:"profiles"`
	Request  struct {
		Method      string `json:"method"`
		Path        string `json:"path"`
		Query       string `json:"query"`
		ContentType string `json:"contentType"`
		Body        string `json:"body"`
	} `json:"request"`
	// Seed lists native IDs committed to the ID map for the key "K" before
	// the request, in order: they get legacy IDs 100000001, 100000002, ...
	Seed []string `json:"seed"`
	// Then lists the queries of more GET requests sent after the request,
	// in order, such as a bot's retries; the golden file holds the last
	// answer. Native lists the exchanges of all of them.
	Then   []string         `json:"then"`
	Native []nativeExchange `json:"native"`
}

type nativeExchange struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
	// RawBody, when set, is sent instead of Body (for answers that are not
	// JSON).
	RawBody string `json:"rawBody"`
}

// replay is a native backend that answers the recorded exchanges in order
// and records every request it got.
type replay struct {
	mu   sync.Mutex
	want []nativeExchange
	got  []string
	errs []string
}

func (rp *replay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	call := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		call += "?" + r.URL.RawQuery
	}
	rp.got = append(rp.got, call)
	i := len(rp.got) - 1
	if i >= len(rp.want) {
		rp.errs = append(rp.errs, "unexpected native call "+call)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	x := rp.want[i]
	wantCall := x.Method + " " + x.Path
	if x.Query != "" {
		wantCall += "?" + x.Query
	}
	if call != wantCall {
		rp.errs = append(rp.errs, fmt.Sprintf("native call %d is %q, want %q", i, call, wantCall))
	}
	if r.Header.Get("x-api-key") == "" {
		rp.errs = append(rp.errs, "native call without x-api-key")
	}
	if r.Method == http.MethodPost && r.Header.Get("Idempotency-Key") == "" {
		rp.errs = append(rp.errs, "POST without Idempotency-Key")
	}
	for k, v := range x.Headers {
		w.Header().Set(k, v)
	}
	if x.RawBody != "" {
		w.WriteHeader(x.Status)
		io.WriteString(w, x.RawBody)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(x.Status)
	w.Write(x.Body)
}

func TestGolden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.in"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	codes := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".in")
		var gc goldenCase
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&gc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		profiles := gc.Profiles
		if len(profiles) == 0 {
			profiles = []string{"sms-activate", "smsbulk"}
		}
		for _, p := range profiles {
			t.Run(name+"/"+p, func(t *testing.T) {
				got := runGolden(t, gc, p)
				codes[strings.SplitN(strings.SplitN(got, "\n\n", 2)[1], ":", 2)[0]] = true
				path := filepath.Join("testdata", "golden", name+"."+p+".golden")
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("reading golden file (go test -update writes it): %v", err)
				}
				if got != string(want) {
					t.Errorf("answer differs\n got %q\nwant %q", got, want)
				}
			})
		}
	}
	// Every error code of the product page is reached by some case.
	for _, c := range []string{"BAD_KEY", "BAD_ACTION", "BAD_SERVICE", "BAD_COUNTRY", "BAD_STATUS", "WRONG_ACTION",
		"NO_BALANCE", "NO_NUMBERS", "NO_ACTIVATION", "RATE_LIMITED", "ERROR_SQL"} {
		if !codes[c] {
			t.Errorf("no golden case answers %s", c)
		}
	}
}

// runGolden serves one case through a real shim.Server in front of the
// replay backend and returns the answer as "status", "content-type",
// "retry-after" lines, a blank line and the exact body.
func runGolden(t *testing.T, gc goldenCase, profile string) string {
	t.Helper()
	return runGoldenWith(t, gc, profile, shim.Options{})
}

// runGoldenWith is runGolden with a shim configured by opt (whose Profile
// it sets).
func runGoldenWith(t *testing.T, gc goldenCase, profile string, opt shim.Options) string {
	t.Helper()
	p, err := translate.ParseProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	opt.Profile = p
	rp := &replay{want: gc.Native}
	r := newRig(t, rigOptions{
		backend:  rp,
		upstream: upstream.Options{Retries: -1},
		secret:   "golden-test-secret-0123456789",
		shim:     opt,
	})
	for _, nativeID := range gc.Seed {
		id, err := r.store.Reserve(t.Context(), idmap.Reservation{Owner: r.keys.Owner("K"), IdemKey: "seed-" + nativeID})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.store.Commit(t.Context(), id, nativeID); err != nil {
			t.Fatal(err)
		}
	}
	method, path := gc.Request.Method, gc.Request.Path
	if method == "" {
		method = http.MethodGet
	}
	if path == "" {
		path = "/stubs/handler_api.php"
	}
	var body io.Reader
	if gc.Request.Body != "" {
		body = strings.NewReader(gc.Request.Body)
	}
	req := httptest.NewRequest(method, path+"?"+gc.Request.Query, body)
	if gc.Request.ContentType != "" {
		req.Header.Set("Content-Type", gc.Request.ContentType)
	}
	rec := httptest.NewRecorder()
	r.srv.ServeHTTP(rec, req)
	for _, q := range gc.Then {
		rec = httptest.NewRecorder()
		r.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path+"?"+q, nil))
	}

	rp.mu.Lock()
	defer rp.mu.Unlock()
	for _, e := range rp.errs {
		t.Error(e)
	}
	if len(rp.got) != len(rp.want) {
		t.Errorf("made %d native calls %q, want %d", len(rp.got), rp.got, len(rp.want))
	}
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return fmt.Sprintf("status: %d\ncontent-type: %s\nretry-after: %s\n\n%s",
		res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Retry-After"), b)
}

// TestGoldenWait runs every golden getStatus and getStatusV2 case again
// with a wait that changes nothing, and wants the same bytes and native
// calls: wait=0 and an empty wait with long-poll on, wait=30 with it off,
// and wait=30 with it on where the answer is not waiting (an answer that
// has stopped waiting, or an error, is given at once).
func TestGoldenWait(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.in"))
	if err != nil {
		t.Fatal(err)
	}
	on := shim.Options{LongPollMax: 30 * time.Second}
	n := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".in")
		var gc goldenCase
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &gc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		q := translate.ParseParams(gc.Request.Query)
		if a := q.Get("action"); a != "getStatus" && a != "getStatusV2" || q.Has("wait") || len(gc.Then) > 0 {
			continue
		}
		profiles := gc.Profiles
		if len(profiles) == 0 {
			profiles = []string{"sms-activate", "smsbulk"}
		}
		for _, p := range profiles {
			want, err := os.ReadFile(filepath.Join("testdata", "golden", name+"."+p+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			body := strings.SplitN(string(want), "\n\n", 2)[1]
			waits := body == "STATUS_WAIT_CODE" || strings.HasPrefix(body, "STATUS_WAIT_RETRY:") || strings.Contains(body, `"sms":null`)
			variants := []struct {
				name, wait string
				opt        shim.Options
			}{{"wait=0", "0", on}, {"wait=", "", on}, {"off,wait=30", "30", shim.Options{}}}
			if !waits {
				variants = append(variants, struct {
					name, wait string
					opt        shim.Options
				}{"wait=30", "30", on})
			}
			for _, v := range variants {
				n++
				t.Run(name+"/"+p+"/"+v.name, func(t *testing.T) {
					c := gc
					c.Request.Query += "&wait=" + v.wait
					if got := runGoldenWith(t, c, p, v.opt); got != string(want) {
						t.Errorf("answer differs\n got %q\nwant %q", got, want)
					}
				})
			}
		}
	}
	if n == 0 {
		t.Fatal("no getStatus golden case")
	}
}
