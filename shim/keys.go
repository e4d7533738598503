package shim

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// Keys derives, from the one configured secret, the owner fingerprint of an
// API key (what the ID map stores instead of the key) and the cipher that
// seals a purchase intent (the key and the purchase, kept only until the
// purchase is settled, so that a crashed purchase can be replayed and
// refunded by any replica). Keys is safe for concurrent use.
type Keys struct {
	owner []byte
	aead  cipher.AEAD
	// macs pools HMACs keyed with owner: making one costs more than
	// using it, and every legacy request needs one.
	macs sync.Pool
	// owners remembers the fingerprints of the keys seen last, by key:
	// a bot polls with the same key many times a second. The keys are
	// held in memory only, as the requests carrying them are.
	owners *lru.Cache[string, string]
}

// ownerCacheSize bounds the keys whose fingerprint Keys remembers.
const ownerCacheSize = 4096

// NewKeys derives Keys from secret, which must be at least 16 bytes and
// must not change while the ID map holds rows: a row whose owner was
// fingerprinted with another secret is never found again.
func NewKeys(secret []byte) (*Keys, error) {
	if len(secret) < 16 {
		return nil, errors.New("key secret must be at least 16 bytes")
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("smsbulk-shim intent seal v1"))
	if err != nil {
		return nil, fmt.Errorf("making intent cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("making intent cipher: %w", err)
	}
	owners, err := lru.New[string, string](ownerCacheSize)
	if err != nil {
		return nil, err
	}
	k := &Keys{owner: derive("smsbulk-shim owner v1"), aead: aead, owners: owners}
	k.macs.New = func() any { return hmac.New(sha256.New, k.owner) }
	return k, nil
}

// Owner is the fingerprint of apiKey: 32 hex digits of an HMAC-SHA256 under
// the secret. It identifies the owner of ID map rows; the key cannot be
// recovered from it. The fingerprints of the last 4096 keys are remembered.
func (k *Keys) Owner(apiKey string) string {
	if owner, ok := k.owners.Get(apiKey); ok {
		return owner
	}
	owner := k.fingerprint(apiKey)
	// The key is often a substring of a request's query: the clone keeps
	// the cache from holding the whole query.
	k.owners.Add(strings.Clone(apiKey), owner)
	return owner
}

// fingerprint computes Owner.
func (k *Keys) fingerprint(apiKey string) string {
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	_, _ = io.WriteString(m, apiKey)
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	k.macs.Put(m)
	return hex.EncodeToString(sum[:16])
}

// ShortOwner is the prefix of an owner fingerprint that logs and spans show.
func ShortOwner(owner string) string {
	if len(owner) > 12 {
		return owner[:12]
	}
	return owner
}

// intent is what a pending purchase needs to be replayed and refunded by a
// process that never saw the request.
type intent struct {
	APIKey string              `json:"k"`
	Buy    upstream.BuyRequest `json:"b"`
}

// seal encrypts an intent with AES-256-GCM; the owner is the additional
// data, so a sealed intent moved to another owner's row does not open.
func (k *Keys) seal(owner string, in intent) ([]byte, error) {
	plain, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("sealing intent: %w", err)
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealing intent: %w", err)
	}
	return k.aead.Seal(nonce, nonce, plain, []byte(owner)), nil
}

// open decrypts what seal made for owner.
func (k *Keys) open(owner string, sealed []byte) (intent, error) {
	var in intent
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return in, errors.New("opening intent: too short")
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(owner))
	if err != nil {
		return in, errors.New("opening intent: not sealed by this secret for this owner")
	}
	if err := json.Unmarshal(plain, &in); err != nil {
		return in, errors.New("opening intent: malformed")
	}
	return in, nil
}

// newIdempotencyKey is a random 128-bit key for one logical purchase.
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
