package sandbox

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FaultHeader is the request header that asks the sandbox for a fault; see
// the package doc for the spec. Only the sandbox reads it.
const FaultHeader = "X-Sandbox-Fault"

// Route names, as InjectFault takes them.
const (
	RouteBuy       = "buy"
	RouteBalance   = "balance"
	RouteGet       = "get"
	RouteReady     = "ready"
	RouteRetry     = "retry"
	RouteComplete  = "complete"
	RouteCancel    = "cancel"
	RouteList      = "list"
	RouteCountries = "countries"
	RouteServices  = "services"
	RouteOffers    = "offers"
	RouteAll       = "*"
)

var routeNames = []string{
	RouteBuy, RouteBalance, RouteGet, RouteReady, RouteRetry, RouteComplete,
	RouteCancel, RouteList, RouteCountries, RouteServices, RouteOffers,
}

// fault is a parsed fault spec. The zero value is no fault.
type fault struct {
	latency          time.Duration
	status           int
	reset            bool
	resetAfterCommit bool
	badJSON          bool
}

// parseFault reads a comma-separated fault spec such as
// "latency=1s,reset-after-commit". An empty spec is no fault.
func parseFault(spec string) (fault, error) {
	var f fault
	if strings.TrimSpace(spec) == "" {
		return f, nil
	}
	for part := range strings.SplitSeq(spec, ",") {
		name, value, hasValue := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case name == "latency" && hasValue:
			d, err := time.ParseDuration(value)
			if err != nil || d < 0 {
				return fault{}, fmt.Errorf("parsing fault %q: bad latency", spec)
			}
			f.latency = max(f.latency, d)
		case name == "status" && hasValue:
			n, err := strconv.Atoi(value)
			if err != nil || n < 400 || n > 599 {
				return fault{}, fmt.Errorf("parsing fault %q: status must be 400..599", spec)
			}
			if f.status == 0 {
				f.status = n
			}
		case name == "reset" && !hasValue:
			f.reset = true
		case name == "reset-after-commit" && !hasValue:
			f.resetAfterCommit = true
		case name == "bad-json" && !hasValue:
			f.badJSON = true
		default:
			return fault{}, fmt.Errorf("parsing fault %q: unknown fault %q", spec, part)
		}
	}
	return f, nil
}

// merge combines two faults: the longer latency, the first status, every
// flag.
func (f fault) merge(g fault) fault {
	f.latency = max(f.latency, g.latency)
	if f.status == 0 {
		f.status = g.status
	}
	f.reset = f.reset || g.reset
	f.resetAfterCommit = f.resetAfterCommit || g.resetAfterCommit
	f.badJSON = f.badJSON || g.badJSON
	return f
}

// queuedFault is a fault InjectFault queued for the next requests of a route.
type queuedFault struct {
	f    fault
	left int
}

// InjectFault makes the next times requests on route get the fault spec, as
// if they carried it in the X-Sandbox-Fault header; it is for tests that
// cannot set headers. route is "buy", "balance", "get", "ready", "retry",
// "complete", "cancel", "list", "countries", "services", "offers", or "*" for
// any route. Faults queued for one route are used in order; a request takes
// one from its route and one from "*". times <= 0 drops every fault queued for
// route. InjectFault panics if route or spec is invalid, like
// regexp.MustCompile: both are written in the test.
func (s *Sandbox) InjectFault(route string, spec string, times int) {
	if route != RouteAll && !slices.Contains(routeNames, route) {
		panic(fmt.Sprintf("sandbox: InjectFault: unknown route %q", route))
	}
	f, err := parseFault(spec)
	if err != nil {
		panic("sandbox: InjectFault: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if times <= 0 {
		delete(s.injected, route)
		return
	}
	s.injected[route] = append(s.injected[route], queuedFault{f: f, left: times})
}

// faultFor returns the fault for one request on route: the header's, one
// queued for route, one queued for "*" and, for a fraction of requests, the
// global one.
func (s *Sandbox) faultFor(route, header string) (fault, error) {
	f, err := parseFault(header)
	if err != nil {
		return fault{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f = f.merge(s.takeInjected(route)).merge(s.takeInjected(RouteAll))
	if s.faultRate > 0 && s.rnd.Float64() < s.faultRate {
		f = f.merge(s.globalFault)
	}
	return f, nil
}

// takeInjected pops one use of the first fault queued for route. The caller
// holds s.mu.
func (s *Sandbox) takeInjected(route string) fault {
	q := s.injected[route]
	if len(q) == 0 {
		return fault{}
	}
	f := q[0].f
	q[0].left--
	if q[0].left <= 0 {
		q = q[1:]
	}
	if len(q) == 0 {
		delete(s.injected, route)
	} else {
		s.injected[route] = q
	}
	return f
}

// abort closes the client connection without an answer: with a TCP RST when
// the connection is TCP. Without a hijackable ResponseWriter it panics with
// http.ErrAbortHandler, which net/http turns into an aborted response.
func abort(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// Linger 0 makes Close send RST; the error only means the
		// connection is already gone.
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// sleep waits d or until the request is cancelled; it reports whether the
// full time passed.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
