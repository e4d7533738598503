package sandbox

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/shopspring/decimal"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// Defaults of Config.
const (
	DefaultSMSDelay   = 3 * time.Second
	DefaultTTL        = 20 * time.Minute
	DefaultRateWindow = time.Minute
	// DefaultOpenBalance is the starting balance of an account opened
	// for a key with Config.OpenPrefix.
	DefaultOpenBalance = "100.00"
	// DefaultMaxOpenKeys bounds the accounts opened by Config.OpenPrefix.
	DefaultMaxOpenKeys = 10000
	// Currency is the currency of every wallet.
	Currency = "USD"
	// maxBody is the largest request body read.
	maxBody = 64 << 10
)

// DefaultKeys returns the keys New uses when Config.Keys is empty: one key
// "demo" with "100.00".
func DefaultKeys() map[string]string { return map[string]string{"demo": "100.00"} }

// Config configures a Sandbox. The zero value is usable.
type Config struct {
	// Keys maps each API key to its starting balance, a plain non-negative
	// decimal string. Empty means DefaultKeys(). New copies the map.
	Keys map[string]string
	// SMSDelay is the time from a purchase (or a retry) to the SMS; 0 means
	// DefaultSMSDelay (3s). An SMS due at or after the expiry never comes.
	SMSDelay time.Duration
	// TTL is the lifetime of an activation; 0 means DefaultTTL (20m).
	TTL time.Duration
	// RateLimit is the number of requests each API key may make per
	// RateWindow; 0 turns the limit off.
	RateLimit int
	// RateWindow is the rate-limit window; 0 means DefaultRateWindow (1m).
	RateWindow time.Duration
	// Fault is a fault spec (see the package doc) applied to a fraction
	// FaultRate (0..1) of all requests; either empty or 0 turns it off.
	Fault     string
	FaultRate float64
	// Now is the clock; nil means time.Now. Tests pass a fake clock to move
	// activations along without waiting.
	Now func() time.Time
	// OpenPrefix, when not empty, opens an account on its first call for
	// every key that starts with it and is longer than it, with
	// OpenBalance (default DefaultOpenBalance), so that anyone holding
	// such a key can try the API without being given one. At most
	// MaxOpenKeys (default DefaultMaxOpenKeys) accounts are opened; a key
	// past that bound is refused as unknown. The keys of Keys are served
	// too.
	OpenPrefix  string
	OpenBalance string
	MaxOpenKeys int
	// Rand is the source of activation IDs, phone numbers and FaultRate
	// draws; nil means a randomly seeded one. Pass a seeded one for the same
	// IDs and numbers in every run. The Sandbox owns it after New: the caller
	// must not use it any more.
	Rand *rand.Rand
}

// Sandbox is the in-process native backend. It is safe for concurrent use.
// Make one with New.
type Sandbox struct {
	cat        *catalog
	router     *mux.Router
	initial    map[string]decimal.Decimal
	openPrefix string
	openStart  decimal.Decimal
	maxOpen    int
	smsDelay   time.Duration
	ttl        time.Duration
	rateLimit  int
	rateWindow time.Duration
	now        func() time.Time

	mu          sync.Mutex
	rnd         *rand.Rand
	globalFault fault
	faultRate   float64
	injected    map[string][]queuedFault
	balances    map[string]decimal.Decimal
	opened      map[string]decimal.Decimal // accounts opened by OpenPrefix, at their start
	acts        map[string]*activation
	byKey       map[string][]*activation
	expiries    expiryHeap
	stockDelta  map[pair]int64
	ledger      []Entry
	idem        map[idemKey]*idemEntry
	idemOrder   []*idemEntry
	windows     map[string]*rateWindow
}

// New returns a Sandbox configured by cfg, or an error naming every invalid
// field.
func New(cfg Config) (*Sandbox, error) {
	cat, err := loadCatalog()
	if err != nil {
		return nil, fmt.Errorf("loading catalog: %w", err)
	}
	var errs []error
	keys := cfg.Keys
	if len(keys) == 0 {
		keys = DefaultKeys()
	}
	initial := map[string]decimal.Decimal{}
	for k, v := range keys {
		if err := checkKey(k); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", keyLabel(k), err))
			continue
		}
		d, err := parseBalance(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", keyLabel(k), err))
			continue
		}
		initial[k] = d
	}
	gf, err := parseFault(cfg.Fault)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.FaultRate < 0 || cfg.FaultRate > 1 {
		errs = append(errs, fmt.Errorf("fault rate %v is not in 0..1", cfg.FaultRate))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"sms delay", cfg.SMSDelay}, {"ttl", cfg.TTL}, {"rate window", cfg.RateWindow}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if cfg.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("rate limit %d is negative", cfg.RateLimit))
	}
	openStart, err := parseBalance(cmp.Or(cfg.OpenBalance, DefaultOpenBalance))
	if err != nil {
		errs = append(errs, fmt.Errorf("open balance: %w", err))
	}
	if cfg.MaxOpenKeys < 0 {
		errs = append(errs, fmt.Errorf("max open keys %d is negative", cfg.MaxOpenKeys))
	}
	if cfg.OpenPrefix != "" {
		if err := checkKey(cfg.OpenPrefix); err != nil {
			errs = append(errs, fmt.Errorf("open prefix: %w", err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("configuring sandbox: %w", errors.Join(errs...))
	}
	s := &Sandbox{
		cat:        cat,
		initial:    initial,
		openPrefix: cfg.OpenPrefix,
		openStart:  openStart,
		maxOpen:    cmp.Or(cfg.MaxOpenKeys, DefaultMaxOpenKeys),
		smsDelay:   orDefault(cfg.SMSDelay, DefaultSMSDelay),
		ttl:        orDefault(cfg.TTL, DefaultTTL),
		rateLimit:  cfg.RateLimit,
		rateWindow: orDefault(cfg.RateWindow, DefaultRateWindow),
		now:        cfg.Now,
		rnd:        cfg.Rand,
		injected:   map[string][]queuedFault{},
		balances:   map[string]decimal.Decimal{},
		opened:     map[string]decimal.Decimal{},
		acts:       map[string]*activation{},
		byKey:      map[string][]*activation{},
		stockDelta: map[pair]int64{},
		idem:       map[idemKey]*idemEntry{},
		windows:    map[string]*rateWindow{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rnd == nil {
		s.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.Fault != "" && cfg.FaultRate > 0 {
		s.globalFault, s.faultRate = gf, cfg.FaultRate
	}
	for k, d := range initial {
		s.balances[k] = d
	}
	s.router = s.routes()
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// ServeHTTP serves the native API under /api/v1.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.router.ServeHTTP(w, r)
}

// routes registers every route.
func (s *Sandbox) routes() *mux.Router {
	r := mux.NewRouter()
	notFound := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeResult(w, errResult(http.StatusNotFound, upstream.CodeNotFound, "no such path"))
	})
	r.NotFoundHandler = notFound
	r.MethodNotAllowedHandler = notFound
	api := r.PathPrefix("/api/v1").Subrouter()
	api.NotFoundHandler = notFound
	api.MethodNotAllowedHandler = notFound
	add := func(method, path, name string, act action) {
		api.Handle(path, s.handle(name, act)).Methods(method)
	}
	add(http.MethodGet, "/wallet/balance", RouteBalance, s.balance)
	add(http.MethodPost, "/activations", RouteBuy, s.buy)
	add(http.MethodGet, "/activations", RouteList, s.list)
	add(http.MethodGet, "/activations/{id}", RouteGet, s.get)
	add(http.MethodPost, "/activations/{id}/ready", RouteReady, s.ready)
	add(http.MethodPost, "/activations/{id}/retry", RouteRetry, s.retry)
	add(http.MethodPost, "/activations/{id}/complete", RouteComplete, s.complete)
	add(http.MethodPost, "/activations/{id}/cancel", RouteCancel, s.cancel)
	add(http.MethodGet, "/catalog/countries", RouteCountries, s.countries)
	add(http.MethodGet, "/catalog/services", RouteServices, s.services)
	add(http.MethodGet, "/catalog/offers", RouteOffers, s.offers)
	return r
}

// call is one authenticated request as an action sees it.
type call struct {
	key   string
	idem  string
	now   time.Time
	id    string
	query map[string][]string
	body  []byte
}

// result is an answer before it is written.
type result struct {
	status   int
	body     []byte
	replayed bool
	// slow marks an action that runs outside s.mu (see offers).
	slow func() result
}

// action does the work of one route. It runs with s.mu held, after the
// sweep, and must not block.
type action func(c *call) result

// handle wraps an action with authentication, the rate limit, faults and
// idempotency.
func (s *Sandbox) handle(route string, act action) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := upstream.HeaderKey(r.Header)
		if !s.known(key) {
			writeResult(w, errResult(http.StatusUnauthorized, upstream.CodeUnauthorized, "missing or unknown API key"))
			return
		}
		if limited, ok := s.admit(w, key); !ok {
			writeResult(w, limited)
			return
		}
		c := &call{key: key, id: mux.Vars(r)["id"], query: r.URL.Query()}
		if r.Method == http.MethodPost {
			c.idem = r.Header.Get("Idempotency-Key")
			if len(c.idem) > 255 {
				writeResult(w, errResult(http.StatusBadRequest, upstream.CodeValidation, "Idempotency-Key is longer than 255 characters"))
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			if err != nil {
				writeResult(w, errResult(http.StatusBadRequest, upstream.CodeValidation, "reading the body: "+err.Error()))
				return
			}
			c.body = body
		}
		f, err := s.faultFor(route, r.Header.Get(FaultHeader))
		if err != nil {
			writeResult(w, errResult(http.StatusBadRequest, upstream.CodeValidation, "bad "+FaultHeader+": "+err.Error()))
			return
		}
		if !sleep(r, f.latency) {
			return // the client went away
		}
		if f.reset {
			abort(w)
			return
		}
		if f.status != 0 {
			writeResult(w, errResult(f.status, upstream.CodeInternal, fmt.Sprintf("sandbox fault: status %d", f.status)))
			return
		}
		res := s.do(r.Method, r.URL.Path, c, act)
		switch {
		case f.resetAfterCommit:
			abort(w)
		case f.badJSON:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "<html><body>sandbox fault: bad-json</body></html>")
		default:
			writeResult(w, res)
		}
	})
}

// do runs act under the lock, after the sweep, once per idempotency key.
func (s *Sandbox) do(method, path string, c *call, act action) result {
	s.mu.Lock()
	c.now = s.now()
	s.sweep(c.now)
	var res result
	if c.idem != "" {
		res = s.idempotent(method, path, c, act)
	} else {
		res = act(c)
	}
	s.mu.Unlock()
	if res.slow != nil {
		res = res.slow()
	}
	return res
}

// known reports whether key has an account: one of Config.Keys, or one
// opened now or before for Config.OpenPrefix.
func (s *Sandbox) known(key string) bool {
	if _, ok := s.initial[key]; ok {
		return true
	}
	if s.openPrefix == "" || len(key) <= len(s.openPrefix) || !strings.HasPrefix(key, s.openPrefix) || checkKey(key) != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.opened[key]; ok {
		return true
	}
	if len(s.opened) >= s.maxOpen {
		return false
	}
	s.opened[key] = s.openStart
	s.balances[key] = s.openStart
	return true
}

// writeResult sends a JSON answer.
func writeResult(w http.ResponseWriter, res result) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(res.body)))
	if res.replayed {
		h.Set("Idempotent-Replayed", "true")
	}
	w.WriteHeader(res.status)
	_, _ = w.Write(res.body)
}

// jsonResult encodes v as the body of a status answer.
func jsonResult(status int, v any) result {
	b, err := json.Marshal(v)
	if err != nil {
		return errResult(http.StatusInternalServerError, upstream.CodeInternal, "encoding the answer: "+err.Error())
	}
	return result{status: status, body: b}
}

// errResult is an error answer {"error":code,"message":msg}.
func errResult(status int, code, msg string) result {
	b, err := json.Marshal(upstream.ErrorBody{Error: code, Message: msg})
	if err != nil {
		// ErrorBody holds only strings and integers.
		panic(err)
	}
	return result{status: status, body: b}
}

// balance serves GET /wallet/balance.
func (s *Sandbox) balance(c *call) result {
	return jsonResult(http.StatusOK, upstream.Balance{
		Balance:  upstream.Decimal(formatMoney(s.balances[c.key])),
		Currency: Currency,
	})
}

// countries serves GET /catalog/countries.
func (s *Sandbox) countries(*call) result {
	return jsonResult(http.StatusOK, struct {
		Countries []upstream.Country `json:"countries"`
	}{s.cat.countries})
}

// services serves GET /catalog/services.
func (s *Sandbox) services(*call) result {
	return jsonResult(http.StatusOK, struct {
		Services []upstream.Service `json:"services"`
	}{s.cat.services})
}

// offers serves GET /catalog/offers. It copies the stock changes under the
// lock and encodes the (up to ~110k) offers after releasing it.
func (s *Sandbox) offers(c *call) result {
	countries, services, res, ok := s.offerFilter(c)
	if !ok {
		return res
	}
	delta := make(map[pair]int64, len(s.stockDelta))
	for p, d := range s.stockDelta {
		delta[p] = d
	}
	return result{slow: func() result {
		b := make([]byte, 0, 64+len(countries)*len(services)*80)
		b = append(b, `{"offers":[`...)
		first := true
		for _, ci := range countries {
			for _, si := range services {
				p := pair{ci, si}
				cents, stock := s.cat.base(p)
				if !first {
					b = append(b, ',')
				}
				first = false
				b = appendOffer(b, s.cat.countries[ci].ISO, s.cat.services[si].Code, cents, max(0, stock+delta[p]))
			}
		}
		b = append(b, "]}"...)
		return result{status: http.StatusOK, body: b}
	}}
}

// offerFilter reads the offers filters as lists of catalog indexes.
func (s *Sandbox) offerFilter(c *call) (countries, services []int, res result, ok bool) {
	get := func(name string) (string, bool) {
		v, present := c.query[name]
		if !present {
			return "", false
		}
		return v[0], true
	}
	if iso, present := get("countryIso"); present {
		i, known := s.cat.country(iso)
		if !known {
			return nil, nil, errResult(http.StatusUnprocessableEntity, upstream.CodeUnknownCountry, fmt.Sprintf("unknown country %q", iso)), false
		}
		countries = []int{i}
	} else {
		countries = make([]int, len(s.cat.countries))
		for i := range countries {
			countries[i] = i
		}
	}
	if code, present := get("serviceCode"); present {
		i, known := s.cat.service(code)
		if !known {
			return nil, nil, errResult(http.StatusUnprocessableEntity, upstream.CodeUnknownService, fmt.Sprintf("unknown service %q", code)), false
		}
		services = []int{i}
	} else {
		services = make([]int, len(s.cat.services))
		for i := range services {
			services[i] = i
		}
	}
	return countries, services, result{}, true
}
