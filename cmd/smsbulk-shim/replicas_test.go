package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// fleetSecret is SHIM_KEY_SECRET of the tests that run shims side by side
// or one after another on one store.
const fleetSecret = "replicas and durability test secret"

// freshPGSchema returns a DSN of SHIM_TEST_POSTGRES_DSN whose search_path is a
// schema of its own, created now and dropped when tb ends. It skips tb when
// the variable is unset.
func freshPGSchema(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("SHIM_TEST_POSTGRES_DSN")
	if base == "" {
		tb.Skip("SHIM_TEST_POSTGRES_DSN not set: skipping PostgreSQL test (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	schema := "shim_test_" + strings.ToLower(rand.Text())
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(tb.Context(), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("creating schema: %v", err)
	}
	tb.Cleanup(func() {
		if err := exec(context.WithoutCancel(tb.Context()), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("SHIM_TEST_POSTGRES_DSN must be a postgres:// URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestReplicasShareOnePostgres runs two replicas of the shim on one
// PostgreSQL schema and one sandbox. They are two run() instances in this
// test process (startShim), not two processes: each has its own store pool,
// ID map cache, native client and listeners, and they share nothing but
// the database and the backend, as replicas behind a load balancer do.
// (TestDurability runs the shim as real processes.)
func TestReplicasShareOnePostgres(t *testing.T) {
	t.Parallel()
	dsn := freshPGSchema(t)
	keys := []string{"replica-key-alpha-7c1e", "replica-key-beta-2f9a", "replica-key-gamma-55d0"}
	initial := map[string]string{}
	for _, k := range keys {
		initial[k] = "1000.00"
	}
	sb, origin := serveSandbox(t, waitingSandbox(initial), nil)
	environ := []string{
		"SHIM_UPSTREAM_URL=" + origin,
		"SHIM_KEY_SECRET=" + fleetSecret,
		"SHIM_IDMAP_DSN=" + dsn,
	}
	a := startShim(t, nil, environ...)
	b := startShim(t, nil, environ...)
	replicas := []*shimProc{a, b}
	ctx := t.Context()
	c := newLegacyBot()
	owner, other := keys[0], keys[1]

	// One activation: bought on A, polled and driven on B, seen on A again.
	steps := []struct {
		name    string
		on      *shimProc
		key     string
		setTo   string // "" for getStatus
		want    string
		wantPre bool // want is a prefix
	}{
		{name: "getStatus on B", on: b, key: owner, want: "STATUS_WAIT_CODE"},
		{name: "getStatus by another key on B", on: b, key: other, want: "NO_ACTIVATION"},
		{name: "getStatus by another key on A", on: a, key: other, want: "NO_ACTIVATION"},
		{name: "setStatus 8 by another key on B", on: b, key: other, setTo: "8", want: "NO_ACTIVATION"},
		{name: "setStatus 1 on B", on: b, key: owner, setTo: "1", want: "ACCESS_READY"},
		{name: "setStatus 8 on B", on: b, key: owner, setTo: "8", want: "ACCESS_CANCEL"},
		{name: "getStatus on A", on: a, key: owner, want: "STATUS_CANCEL"},
	}
	body, err := c.getNumber(ctx, a.Addr, owner)
	if err != nil {
		t.Fatal(err)
	}
	first, ok := parseNumberID(body)
	if !ok {
		t.Fatalf("getNumber on A = %q", body)
	}
	for _, st := range steps {
		var got string
		if st.setTo == "" {
			got, err = c.getStatus(ctx, st.on.Addr, st.key, first)
		} else {
			got, err = c.setStatus(ctx, st.on.Addr, st.key, first, st.setTo)
		}
		if err != nil || got != st.want {
			t.Errorf("%s = %q, %v; want %q", st.name, got, err, st.want)
		}
	}

	// Many purchases at once, spread over both replicas and all keys.
	const n = 240
	type bought struct {
		id      int64
		key     string
		replica int
	}
	got := make([]bought, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			key, r := keys[i%len(keys)], i%2
			body, err := c.getNumber(ctx, replicas[r].Addr, key)
			id, ok := parseNumberID(body)
			if err == nil && !ok {
				err = fmt.Errorf("getNumber = %q", body)
			}
			got[i], errs[i] = bought{id: id, key: key, replica: r}, err
		})
	}
	close(start)
	wg.Wait()
	seen := map[int64]int{first: -1}
	for i, g := range got {
		if errs[i] != nil {
			t.Fatalf("purchase %d on replica %d: %v", i, g.replica, errs[i])
		}
		if j, dup := seen[g.id]; dup {
			t.Fatalf("legacy id %d handed out twice (purchases %d and %d)", g.id, j, i)
		}
		seen[g.id] = i
	}

	// Each is found by its key on the other replica, and by no other key.
	sem := make(chan struct{}, 16)
	var mu sync.Mutex
	var problems []string
	for _, g := range got {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			otherReplica := replicas[1-g.replica]
			if s, err := c.getStatus(ctx, otherReplica.Addr, g.key, g.id); err != nil || s != "STATUS_WAIT_CODE" {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("getStatus %d by its key on the other replica = %q, %v", g.id, s, err))
				mu.Unlock()
			}
			for _, k := range keys {
				if k == g.key {
					continue
				}
				if s, err := c.getStatus(ctx, replicas[g.replica].Addr, k, g.id); err != nil || s != "NO_ACTIVATION" {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("getStatus %d by another key = %q, %v; want NO_ACTIVATION", g.id, s, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}

	led := sb.Ledger()
	purchases := 0
	for _, k := range keys {
		purchases += len(led.Purchases(k))
	}
	if purchases != n+1 {
		t.Errorf("the sandbox sold %d activations, want %d", purchases, n+1)
	}
	if err := led.Check(initial); err != nil {
		t.Errorf("ledger: %v", err)
	}
	t.Logf("%d concurrent purchases over 2 replicas: %d distinct legacy ids", n, len(seen)-1)
}
