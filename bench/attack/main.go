// Command attack measures a built shim binary against two of the attacks
// of the hardening pass, on 127.0.0.1 only, bounded in count and time:
//
//	go build -o /tmp/shim ./cmd/smsbulk-shim
//	go run ./bench/attack -shim /tmp/shim hung [SHIM_X=... ...]  # 1,500 requests to a backend path that hangs 75 s
//	go run ./bench/attack -shim /tmp/shim idle [SHIM_X=... ...]  # 10,000 idle keep-alive connections
//	go run ./bench/attack -shim /tmp/shim -idle-hold 150s idle SHIM_IDLE_TIMEOUT=600s  # and after a GC
//	go build -o /tmp/goproxy ./bench/goproxy
//	go run ./bench/attack -shim /tmp/shim -idle-anchor /tmp/goproxy -idle-hold 150s idle  # plain net/http, the floor
//
// Extra arguments are set in the shim's environment, e.g.
// SHIM_PASSTHROUGH_TIMEOUT=10s or SHIM_MAX_CONNS=1000. It prints
// goroutines, open descriptors and RSS as the shim's /metrics and /proc
// report them.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func metric(admin, name string) string {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), name+" ") {
			return strings.TrimPrefix(sc.Text(), name+" ")
		}
	}
	return "?"
}

func rss(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "?"
}

// shimBin and dataDir are the binary under test and its throw-away ID map.
var shimBin, dataDir string

// idleHold and idlePath are the idle attack's -idle-hold and -idle-path.
var (
	idleHold   time.Duration
	idlePath   string
	idleAnchor string
)

// freeAddr is a loopback address nothing listens on now.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startShim(backend string, extra ...string) (*exec.Cmd, string, string) {
	addr, admin := freeAddr(), freeAddr()
	cmd := exec.Command(shimBin)
	cmd.Env = append([]string{"SHIM_UPSTREAM_URL=" + backend, "SHIM_KEY_SECRET=measure-secret-0123456789abcdef",
		"SHIM_ADDR=" + addr, "SHIM_ADMIN_ADDR=" + admin, "SHIM_IDMAP_DSN=" + dataDir + "/idmap.db", "SHIM_LOG_LEVEL=error"}, extra...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if r, err := http.Get("http://" + admin + "/healthz"); err == nil {
			r.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd, addr, admin
}

func hung() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(75 * time.Second):
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	cmd, addr, admin := startShim("http://"+ln.Addr().String(), flag.Args()[1:]...)
	defer cmd.Process.Kill()
	fmt.Println("idle: goroutines", metric(admin, "go_goroutines"), "fds", metric(admin, "process_open_fds"))
	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 2000}
	c := &http.Client{Transport: tr, Timeout: 80 * time.Second}
	var wg sync.WaitGroup
	var codes sync.Map
	start := time.Now()
	var slowest atomic.Int64
	for range 1500 {
		wg.Go(func() {
			t0 := time.Now()
			resp, err := c.Get("http://" + addr + "/hang")
			code := 0
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			v, _ := codes.LoadOrStore(code, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
			if d := time.Since(t0); int64(d) > slowest.Load() {
				slowest.Store(int64(d))
			}
		})
	}
	time.Sleep(3 * time.Second)
	fmt.Println("under 1500 hung requests (3s): goroutines", metric(admin, "go_goroutines"), "fds", metric(admin, "process_open_fds"))
	wg.Wait()
	fmt.Printf("all answered after %v (slowest %v):", time.Since(start).Round(time.Millisecond), time.Duration(slowest.Load()).Round(time.Millisecond))
	codes.Range(func(k, v any) bool { fmt.Printf(" %v x%d", k, v.(*atomic.Int64).Load()); return true })
	fmt.Println()
	tr.CloseIdleConnections()
	time.Sleep(time.Second)
	fmt.Println("afterwards: goroutines", metric(admin, "go_goroutines"), "fds", metric(admin, "process_open_fds"))
}

// startAnchor starts bench/goproxy's binary, a plain net/http server, as
// the idle attack's anchor: the same connections held by net/http with
// nothing of the shim's. It has no admin listener.
func startAnchor(bin string) (*exec.Cmd, string, string) {
	cmd := exec.Command(bin, "-upstream", "http://127.0.0.1:1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		log.Fatal("the anchor printed no address")
	}
	go io.Copy(io.Discard, out)
	return cmd, sc.Text(), "127.0.0.1:1"
}

func idle() {
	var cmd *exec.Cmd
	var addr, admin string
	if idleAnchor != "" {
		cmd, addr, admin = startAnchor(idleAnchor)
	} else {
		cmd, addr, admin = startShim("http://127.0.0.1:1", append([]string{"SHIM_PASSTHROUGH=false"}, flag.Args()[1:]...)...)
	}
	defer cmd.Process.Kill()
	time.Sleep(500 * time.Millisecond)
	fmt.Println("before: RSS", rss(cmd.Process.Pid), "goroutines", metric(admin, "go_goroutines"))
	var conns []net.Conn
	var served atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < 10000; i++ {
		c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			fmt.Println("dial", i, err)
			break
		}
		conns = append(conns, c)
		wg.Go(func() {
			c.SetDeadline(time.Now().Add(20 * time.Second))
			io.WriteString(c, "GET "+idlePath+" HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				served.Add(1)
			}
		})
	}
	wg.Wait()
	start := time.Now()
	report := func() {
		fmt.Println("after", time.Since(start).Round(time.Second), "with", len(conns), "idle keep-alive connections (", served.Load(), "served ): RSS", rss(cmd.Process.Pid),
			"goroutines", metric(admin, "go_goroutines"), "stacks", metric(admin, "go_memstats_stack_inuse_bytes"),
			"heap in use", metric(admin, "go_memstats_heap_inuse_bytes"), "GCs", metric(admin, "go_gc_duration_seconds_count"))
	}
	time.Sleep(2 * time.Second)
	report()
	// The runtime forces a GC every 2 minutes: -idle-hold past that shows
	// the connections' live cost, without the garbage of their requests.
	// Keep SHIM_IDLE_TIMEOUT above it, or the shim closes them first.
	for h := 30 * time.Second; h <= idleHold; h += 30 * time.Second {
		time.Sleep(time.Until(start.Add(h)))
		report()
	}
	for _, c := range conns {
		c.Close()
	}
}

func main() {
	flag.StringVar(&shimBin, "shim", "", "path of the smsbulk-shim binary to measure (required)")
	flag.StringVar(&idlePath, "idle-path", "/stubs/handler_api.php", "idle: the request each connection sends before it idles")
	flag.StringVar(&idleAnchor, "idle-anchor", "", "idle: hold the connections to this bench/goproxy binary (plain net/http) instead of the shim")
	flag.DurationVar(&idleHold, "idle-hold", 0, "idle: how long to hold the connections, reporting every 30s (e.g. 150s, past the runtime's forced GC at 2m, with SHIM_IDLE_TIMEOUT=600s)")
	flag.Parse()
	if shimBin == "" || flag.NArg() < 1 {
		log.Fatal("usage: attack -shim PATH hung|idle [SHIM_X=value ...]")
	}
	var err error
	if dataDir, err = os.MkdirTemp("", "shim-attack-"); err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dataDir)
	switch flag.Arg(0) {
	case "hung":
		hung()
	case "idle":
		idle()
	default:
		log.Fatalf("unknown attack %q: want hung or idle", flag.Arg(0))
	}
}
