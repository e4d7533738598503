package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/smsbulk/smsbulk-shim/config"
	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/shim"
)

// operatorCommand is one operator command: it reads its arguments and the
// same environment as the server, and writes its answer to stdout.
type operatorCommand func(ctx context.Context, args, environ []string, stdin io.Reader, stdout io.Writer) error

// operatorCommandNamed is the command run dispatches to when its first
// argument is name, or nil.
func operatorCommandNamed(name string) operatorCommand {
	switch name {
	case "check-config":
		return checkConfig
	case "healthcheck":
		return healthcheck
	case "owner":
		return ownerOf
	case "idmap":
		return idmapCommand
	}
	return nil
}

// printOperatorHelp lists the operator commands for -h.
func printOperatorHelp(w io.Writer) {
	fmt.Fprint(w, `  check-config [-sandbox]   check the configuration as a start would, print "configuration ok" or every problem
  healthcheck [-live]       GET /readyz (with -live, /healthz) on SHIM_ADMIN_ADDR; exit 0 only on 200 (for a HEALTHCHECK)
  owner                     read an API key from stdin, print its owner fingerprint (as in the ID map) and short hash (as in logs)
  idmap lookup <legacy-id>  print the ID map row of a legacy activation ID, whoever owns it
  idmap pending             print how many purchases are pending in the ID map and the age of the oldest
`)
}

func checkConfig(_ context.Context, args, environ []string, _ io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	sandbox := fs.Bool("sandbox", false, "check as for smsbulk-shim -sandbox")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := config.Load(environ, *sandbox); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	fmt.Fprintln(stdout, "configuration ok")
	return nil
}

func healthcheck(ctx context.Context, args, environ []string, _ io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	live := fs.Bool("live", false, "ask /healthz (liveness) instead of /readyz")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Parse(environ)
	if err != nil {
		return err
	}
	path := "/readyz"
	if *live {
		path = "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+dialAddr(cfg.AdminAddr)+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprint(stdout, string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", path, resp.StatusCode)
	}
	return nil
}

// dialAddr is where a process on the same machine reaches a listener on
// addr: an empty or unspecified host becomes loopback.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func ownerOf(_ context.Context, args, environ []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) > 0 {
		return errors.New("owner reads the API key from stdin, never from the command line (which ps and shell history show)")
	}
	cfg, err := config.Parse(environ)
	if err != nil {
		return err
	}
	if cfg.KeySecret == "" {
		return fmt.Errorf("owner needs %sKEY_SECRET, the one the shim runs with", config.Prefix)
	}
	keys, err := shim.NewKeys([]byte(cfg.KeySecret))
	if err != nil {
		return err
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the key from stdin: %w", err)
	}
	key := strings.TrimSpace(line)
	if key == "" {
		return errors.New("no API key on stdin")
	}
	owner := keys.Owner(key)
	fmt.Fprintf(stdout, "owner: %s\nshort: %s\n", owner, shim.ShortOwner(owner))
	return nil
}

// inspector is what the idmap commands read; both stores have it.
type inspector interface {
	Row(ctx context.Context, legacyID int64) (idmap.Row, error)
	Pending(ctx context.Context) (idmap.PendingSummary, error)
}

func idmapCommand(ctx context.Context, args, environ []string, _ io.Reader, stdout io.Writer) error {
	usage := errors.New("usage: smsbulk-shim idmap lookup <legacy-id> | idmap pending")
	if len(args) == 0 {
		return usage
	}
	var id int64
	switch {
	case args[0] == "lookup" && len(args) == 2:
		var err error
		if id, err = strconv.ParseInt(args[1], 10, 64); err != nil || id <= 0 {
			return fmt.Errorf("legacy ID %q is not a positive integer", args[1])
		}
	case args[0] == "pending" && len(args) == 1:
	default:
		return usage
	}
	cfg, err := config.Parse(environ)
	if err != nil {
		return err
	}
	raw, err := idmap.Open(ctx, cfg.IDMapDSN, idmap.Options{OpTimeout: cfg.StoreTimeout})
	if err != nil {
		return fmt.Errorf("opening ID map: %w", err)
	}
	defer raw.Close()
	in, ok := raw.(inspector)
	if !ok {
		return fmt.Errorf("the %T store cannot be inspected", raw)
	}
	if args[0] == "pending" {
		p, err := in.Pending(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pending: %d\n", p.Count)
		if p.Count > 0 {
			fmt.Fprintf(stdout, "oldest: %s (%s ago)\n", p.Oldest.Format(time.RFC3339), time.Since(p.Oldest).Round(time.Second))
		}
		return nil
	}
	r, err := in.Row(ctx, id)
	if errors.Is(err, idmap.ErrNotFound) {
		return fmt.Errorf("legacy ID %d is not in the ID map (never issued, or deleted after %sIDMAP_RETENTION)", id, config.Prefix)
	} else if err != nil {
		return err
	}
	native := r.NativeID
	if native == "" {
		native = "(none)"
	}
	fmt.Fprintf(stdout, "legacy_id: %d\nstate: %s\nnative_id: %s\nowner: %s\nowner_short: %s\nidempotency_key: %s\ncreated_at: %s\nupdated_at: %s\nattempts: %d\n",
		r.LegacyID, r.State, native, r.Owner, shim.ShortOwner(r.Owner), r.IdemKey,
		r.CreatedAt.Format(time.RFC3339Nano), r.UpdatedAt.Format(time.RFC3339Nano), r.Attempts)
	return nil
}
