// Command upstream is the native backend of bench/run.sh: the in-process
// sandbox (package upstream/sandbox) served on loopback without a log line
// per request, counting the native calls it answers, so that no cache in
// front of it can fake a figure. GET /bench/calls answers the counts so
// far as JSON, by route ("activation", "offers", ...); GET
// /bench/activations the native IDs of the activations it sold.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

// counter counts the calls of each native route.
type counter struct {
	mu     sync.Mutex
	calls  map[string]*atomic.Int64
	sold   []string
	soldMu sync.Mutex
}

func (c *counter) add(route string) {
	c.mu.Lock()
	n := c.calls[route]
	if n == nil {
		n = new(atomic.Int64)
		c.calls[route] = n
	}
	c.mu.Unlock()
	n.Add(1)
}

// route names a native request after what it asks for.
func route(r *http.Request) string {
	p := strings.TrimPrefix(r.URL.Path, "/api/v1")
	switch {
	case p == "/activations" && r.Method == http.MethodPost:
		return "buy"
	case strings.HasPrefix(p, "/activations/") && r.Method == http.MethodGet:
		return "activation"
	case strings.HasPrefix(p, "/activations/"):
		return "activation_" + p[strings.LastIndexByte(p, '/')+1:]
	case strings.HasPrefix(p, "/catalog/"):
		return strings.TrimPrefix(p, "/catalog/")
	case p == "/wallet/balance":
		return "balance"
	}
	return "other"
}

// recorder keeps the body of a purchase answer, to learn its native ID.
type recorder struct {
	http.ResponseWriter
	body []byte
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body = append(r.body, b...)
	return r.ResponseWriter.Write(b)
}

func run(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	keys := fs.String("keys", "bench=1000000000.00", "sandbox keys, key=balance,...")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := sandbox.Config{Keys: map[string]string{}, SMSDelay: 24 * time.Hour, TTL: 24 * time.Hour}
	for _, kv := range strings.Split(*keys, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return errors.New("-keys: want key=balance,...")
		}
		cfg.Keys[k] = v
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		return err
	}
	c := &counter{calls: map[string]*atomic.Int64{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bench/calls", func(w http.ResponseWriter, _ *http.Request) {
		out := map[string]int64{}
		c.mu.Lock()
		for k, v := range c.calls {
			out[k] = v.Load()
		}
		c.mu.Unlock()
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("GET /bench/activations", func(w http.ResponseWriter, _ *http.Request) {
		c.soldMu.Lock()
		defer c.soldMu.Unlock()
		_, _ = fmt.Fprintln(w, strings.Join(c.sold, "\n"))
	})
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		rt := route(r)
		c.add(rt)
		if rt != "buy" {
			sb.ServeHTTP(w, r)
			return
		}
		rec := &recorder{ResponseWriter: w}
		sb.ServeHTTP(rec, r)
		var a struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(rec.body, &a) == nil && a.ID != "" {
			c.soldMu.Lock()
			c.sold = append(c.sold, a.ID)
			c.soldMu.Unlock()
		}
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Minute}
	return srv.Serve(ln)
}
