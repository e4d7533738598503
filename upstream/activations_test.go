package upstream_test

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/smsbulk/smsbulk-shim/upstream"
	"github.com/smsbulk/smsbulk-shim/upstream/sandbox"
)

// listAll pages through the key's active activations with limit and
// returns their IDs and the number of pages.
func listAll(tb testing.TB, c *upstream.Client, key string, limit int) (ids []string, pages int) {
	tb.Helper()
	cursor := ""
	for {
		page, err := c.ListActive(tb.Context(), key, cursor, limit)
		if err != nil {
			tb.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		if page.NextCursor != nil && len(page.Activations) == 0 {
			tb.Fatalf("page %d is empty but not the last", pages)
		}
		for _, a := range page.Activations {
			ids = append(ids, a.ID)
		}
		if page.NextCursor == nil {
			return ids, pages
		}
		if pages > 1000 {
			tb.Fatal("more than 1000 pages")
		}
		cursor = *page.NextCursor
	}
}

// TestSandboxListActive checks that paging through ListActive against the
// sandbox lists every active activation of the key once, oldest first,
// and nothing else: not the ended ones, not another key's.
func TestSandboxListActive(t *testing.T) {
	t.Parallel()
	e := newSandboxEnv(t, sandbox.Config{})
	ctx := t.Context()
	var active []string
	for i := range 160 {
		buy := upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}
		if i%2 == 1 {
			buy = upstream.BuyRequest{ServiceCode: "tg", CountryISO: "US"}
		}
		a, err := e.raw.Buy(ctx, testKey, buy, "")
		if err != nil {
			t.Fatalf("buy %d: %v", i, err)
		}
		if i%5 == 0 {
			if _, err := e.raw.Cancel(ctx, testKey, a.ID); err != nil {
				t.Fatalf("cancel %d: %v", i, err)
			}
			continue
		}
		active = append(active, a.ID)
	}
	if _, err := e.raw.Buy(ctx, otherKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, ""); err != nil {
		t.Fatal(err)
	}
	// The SMS comes: RECEIVED is still active, COMPLETED is not.
	e.clock.Advance(smsDelay)
	for i := 0; i < len(active); i += 7 {
		if _, err := e.raw.Complete(ctx, testKey, active[i]); err != nil {
			t.Fatalf("complete: %v", err)
		}
		active[i] = ""
	}
	active = slices.DeleteFunc(active, func(id string) bool { return id == "" })
	if len(active) <= 100 {
		t.Fatalf("%d active activations, not more than the backend's page of 100", len(active))
	}

	tests := []struct {
		name      string
		limit     int
		wantPages int
	}{
		{"limit 1", 1, len(active)},
		{"limit 7", 7, (len(active) + 6) / 7},
		{"page size of the backend", 0, (len(active) + 99) / 100},
		{"exactly one page", len(active), 1},
		{"one short of a page", len(active) - 1, 2},
		{"above the contract's maximum", 5000, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids, pages := listAll(t, e.c, testKey, tc.limit)
			if !slices.Equal(ids, active) {
				t.Errorf("listed %d activations %q\nwant %d %q", len(ids), ids, len(active), active)
			}
			if pages != tc.wantPages {
				t.Errorf("%d pages, want %d", pages, tc.wantPages)
			}
		})
	}
	if other, _ := listAll(t, e.c, otherKey, 0); len(other) != 1 {
		t.Errorf("other key lists %d activations, want its 1", len(other))
	}

	t.Run("ends and purchases between pages", func(t *testing.T) {
		page, err := e.c.ListActive(ctx, testKey, "", 10)
		if err != nil || page.NextCursor == nil {
			t.Fatalf("first page: %+v, %v", page, err)
		}
		// The activation the cursor points at ends; one more is bought.
		if _, err := e.raw.Complete(ctx, testKey, active[10]); err != nil {
			t.Fatal(err)
		}
		b, err := e.raw.Buy(ctx, testKey, upstream.BuyRequest{ServiceCode: "wa", CountryISO: "TR"}, "")
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, a := range page.Activations {
			ids = append(ids, a.ID)
		}
		cursor := *page.NextCursor
		for {
			page, err := e.c.ListActive(ctx, testKey, cursor, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page.Activations {
				ids = append(ids, a.ID)
			}
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
		want := append(slices.Concat(active[:10], active[11:]), b.ID)
		if !slices.Equal(ids, want) {
			t.Errorf("listed %q\nwant %q", ids, want)
		}
	})

	t.Run("all expired", func(t *testing.T) {
		e.clock.Advance(sandbox.DefaultTTL)
		page, err := e.c.ListActive(ctx, testKey, "", 0)
		if err != nil || page.Activations == nil || len(page.Activations) != 0 || page.NextCursor != nil {
			t.Fatalf("after the expiry: %+v, %v; want one empty last page", page, err)
		}
	})
}

// TestListActiveEmptyCursor checks that a page whose nextCursor is "" is
// refused: passing it back would start over at the first page forever.
func TestListActiveEmptyCursor(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		writeJSON(w, 200, []byte(`{"activations":[],"nextCursor":""}`))
	})
	c := newClient(t, f, upstream.Options{})
	_, err := c.ListActive(t.Context(), testKey, "", 10)
	var te *upstream.TransportError
	if !errors.As(err, &te) || te.NotSent {
		t.Fatalf("err = %v (%T), want a sent *TransportError", err, err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1 (an unusable body is not retried)", n)
	}
	if got := f.requests()[0].RawQuery; got != "limit=10&status=ACTIVE" {
		t.Errorf("query %q", got)
	}
}
