// Command idleconns opens -n keep-alive connections to a loopback HTTP
// server, sends one request on each and reads its answer, then holds them
// all idle for -hold, so that bench/run.sh can read the server's RSS with
// that many idle clients. It prints how many connections got an answer.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "idleconns:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("idleconns", flag.ContinueOnError)
	addr := fs.String("addr", "", "server address, host:port on loopback")
	path := fs.String("path", "/", "path and query of the request sent on each connection")
	n := fs.Int("n", 10000, "connections")
	hold := fs.Duration("hold", 10*time.Second, "how long to hold them idle")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !strings.HasPrefix(*addr, "127.0.0.1:") {
		return fmt.Errorf("-addr %q: loopback only", *addr)
	}
	lim := syscall.Rlimit{Cur: uint64(*n) + 1024, Max: uint64(*n) + 1024}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raising the open file limit to %d: %w", lim.Cur, err)
	}
	conns := make([]net.Conn, 0, *n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	ok := 0
	for range *n {
		c, err := net.DialTimeout("tcp", *addr, 5*time.Second)
		if err != nil {
			return fmt.Errorf("after %d connections: %w", len(conns), err)
		}
		conns = append(conns, c)
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", *path); err != nil {
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			ok++
		}
	}
	fmt.Println(ok)
	time.Sleep(*hold)
	return nil
}
