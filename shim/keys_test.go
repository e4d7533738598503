package shim

import (
	"strconv"
	"testing"
)

// TestOwnerCached checks that a remembered fingerprint is the computed one,
// for keys seen once, again, and again after the cache has turned over,
// and that keys and secrets tell owners apart.
func TestOwnerCached(t *testing.T) {
	k, err := NewKeys([]byte("owner-test-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewKeys([]byte("owner-test-secret-9876543210"))
	if err != nil {
		t.Fatal(err)
	}
	first := k.Owner("key-a")
	for i := range 2*ownerCacheSize + 1 {
		key := "key-" + strconv.Itoa(i%(ownerCacheSize+7))
		if got, want := k.Owner(key), k.fingerprint(key); got != want {
			t.Fatalf("Owner(%q) = %s, want %s", key, got, want)
		}
	}
	if got := k.Owner("key-a"); got != first || len(got) != 32 {
		t.Fatalf("Owner(key-a) = %s, first %s", got, first)
	}
	if k.Owner("key-b") == first || other.Owner("key-a") == first {
		t.Fatal("two keys or two secrets gave one owner")
	}
}
