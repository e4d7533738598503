// Command bot drives legacy bot flows against a shim (or a load balancer in
// front of replicas) for deploy/local's smoke test. It never prints the API
// key or a URL holding it.
//
//	bot -url http://127.0.0.1:18000 -key K load -workers 4 -until FILE
//	bot -url ... -key K buy -n 20 -ids FILE
//	bot -url ... -key K finish -ids FILE
//
// load runs whole activations (getNumber, getStatus until the code comes,
// setStatus 6) until FILE exists; buy buys n numbers and writes their IDs;
// finish takes each ID of FILE to the end. Each prints one summary line
// and exits 1 if any request failed: a transport error, an HTTP status
// other than 200, or an answer the flow does not expect (ERROR_SQL,
// NO_ACTIVATION, ...).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bot:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bot", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:18000", "base URL of the shim or balancer")
	key := fs.String("key", "", "API key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *key == "" || fs.NArg() == 0 {
		return errors.New("usage: bot -url URL -key KEY load|buy|finish [flags]")
	}
	b := &bot{base: *base, key: *key, c: &http.Client{Timeout: 40 * time.Second}}
	mode, rest := fs.Arg(0), fs.Args()[1:]
	sub := flag.NewFlagSet(mode, flag.ContinueOnError)
	workers := sub.Int("workers", 4, "load: concurrent bots")
	until := sub.String("until", "", "load: stop once this file exists")
	n := sub.Int("n", 20, "buy: numbers to buy")
	ids := sub.String("ids", "", "buy, finish: file of legacy IDs, one a line")
	if err := sub.Parse(rest); err != nil {
		return err
	}
	ctx := context.Background()
	switch mode {
	case "load":
		if *until == "" {
			return errors.New("load needs -until FILE")
		}
		var wg sync.WaitGroup
		for range *workers {
			wg.Go(func() {
				for !exists(*until) {
					if id, ok := b.buy(ctx); ok {
						b.finish(ctx, id)
					}
				}
			})
		}
		wg.Wait()
	case "buy":
		var got []string
		for range *n {
			if id, ok := b.buy(ctx); ok {
				got = append(got, id)
			}
		}
		if err := os.WriteFile(*ids, []byte(strings.Join(got, "\n")+"\n"), 0o600); err != nil {
			return err
		}
	case "finish":
		raw, err := os.ReadFile(*ids)
		if err != nil {
			return err
		}
		var wg sync.WaitGroup
		for id := range strings.FieldsSeq(string(raw)) {
			wg.Go(func() { b.finish(ctx, id) })
		}
		wg.Wait()
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	fmt.Printf("bot %s: %d requests, %d failed, %d activations done\n", mode, b.requests.Load(), b.failed.Load(), b.done.Load())
	if b.failed.Load() > 0 {
		return fmt.Errorf("%d requests failed", b.failed.Load())
	}
	return nil
}

type bot struct {
	base, key              string
	c                      *http.Client
	requests, failed, done atomic.Int64
}

// call sends one legacy GET and returns the body, counting a failure when
// it is not HTTP 200 or its body does not start with one of want.
func (b *bot) call(ctx context.Context, params url.Values, want ...string) (string, bool) {
	params.Set("api_key", b.key)
	b.requests.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/stubs/handler_api.php?"+params.Encode(), nil)
	if err != nil {
		return b.fail(params, "building request")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL holds the key
		}
		return b.fail(params, err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return b.fail(params, err.Error())
	}
	if resp.StatusCode != http.StatusOK {
		return b.fail(params, fmt.Sprintf("HTTP %d %.80q", resp.StatusCode, body))
	}
	for _, w := range want {
		if strings.HasPrefix(string(body), w) {
			return string(body), true
		}
	}
	return b.fail(params, fmt.Sprintf("answer %.80q", body))
}

func (b *bot) fail(params url.Values, why string) (string, bool) {
	b.failed.Add(1)
	fmt.Fprintf(os.Stderr, "bot: %s id=%s failed: %s\n", params.Get("action"), params.Get("id"), why)
	return "", false
}

func (b *bot) buy(ctx context.Context) (string, bool) {
	body, ok := b.call(ctx, url.Values{"action": {"getNumber"}, "service": {"wa"}, "country": {"0"}}, "ACCESS_NUMBER:")
	if !ok {
		return "", false
	}
	parts := strings.Split(body, ":")
	if len(parts) != 3 {
		return b.fail(url.Values{"action": {"getNumber"}}, "malformed ACCESS_NUMBER")
	}
	if _, err := strconv.ParseInt(parts[1], 10, 64); err != nil {
		return b.fail(url.Values{"action": {"getNumber"}}, "malformed ID")
	}
	return parts[1], true
}

// finish waits for the code of id and completes the activation.
func (b *bot) finish(ctx context.Context, id string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, ok := b.call(ctx, url.Values{"action": {"getStatus"}, "id": {id}}, "STATUS_WAIT_CODE", "STATUS_OK:")
		if !ok {
			return
		}
		if strings.HasPrefix(body, "STATUS_OK:") {
			break
		}
		if time.Now().After(deadline) {
			b.fail(url.Values{"action": {"getStatus"}, "id": {id}}, "no code within 30s")
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	if _, ok := b.call(ctx, url.Values{"action": {"setStatus"}, "id": {id}, "status": {"6"}}, "ACCESS_ACTIVATION"); ok {
		b.done.Add(1)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
