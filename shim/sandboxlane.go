package shim

import (
	"context"
	"net/url"
	"strings"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

// SandboxLane serves the API keys that start with Prefix from a sandbox
// instead of the backend (SHIM_SANDBOX_KEY_PREFIX): every native call made
// for such a key, by a legacy request, the Reconciler or any background
// work, goes to API, and a pass-through request carrying such a key goes to
// Origin, so that bot developers try their code against the production
// URL with no money and the backend never sees the key.
type SandboxLane struct {
	// Prefix is what starts a sandbox key. It must not be empty.
	Prefix string
	// API is the sandbox's native API.
	API NativeAPI
	// Origin is the sandbox's origin, for pass-through. nil answers
	// pass-through requests with a sandbox key 404.
	Origin *url.URL
}

// isSandboxKey reports whether key belongs to the sandbox lane: a prefix
// alone is no key (the sandbox refuses it too).
func (l *SandboxLane) isSandboxKey(key string) bool {
	return l != nil && len(key) > len(l.Prefix) && strings.HasPrefix(key, l.Prefix)
}

// sandboxKey reports whether a key is served by the sandbox lane.
func (s *Server) sandboxKey(key string) bool { return s.opt.Sandbox.isSandboxKey(key) }

// laneAPI is the native API of a server with a sandbox lane: each call
// goes to the sandbox or the backend by its key.
type laneAPI struct {
	lane             *SandboxLane
	sandbox, backend NativeAPI
}

// withLane routes the sandbox lane's keys of api to sandbox; with no lane
// it is api.
func withLane(lane *SandboxLane, sandbox, api NativeAPI) NativeAPI {
	if lane == nil {
		return api
	}
	return laneAPI{lane: lane, sandbox: sandbox, backend: api}
}

// withLane is api (traced) behind the Server's sandbox lane, if it has
// one.
func (s *Server) withLane(api NativeAPI) NativeAPI {
	if s.opt.Sandbox == nil {
		return api
	}
	return withLane(s.opt.Sandbox, s.tel.sandboxAPI(s.opt.Sandbox.API), api)
}

func (a laneAPI) pick(key string) NativeAPI {
	if a.lane.isSandboxKey(key) {
		return a.sandbox
	}
	return a.backend
}

func (a laneAPI) Balance(ctx context.Context, key string) (upstream.Balance, error) {
	return a.pick(key).Balance(ctx, key)
}

func (a laneAPI) Buy(ctx context.Context, key string, req upstream.BuyRequest, idem string) (upstream.Activation, error) {
	return a.pick(key).Buy(ctx, key, req, idem)
}

func (a laneAPI) Activation(ctx context.Context, key, id string) (upstream.Activation, error) {
	return a.pick(key).Activation(ctx, key, id)
}

func (a laneAPI) Ready(ctx context.Context, key, id string) (upstream.Activation, error) {
	return a.pick(key).Ready(ctx, key, id)
}

func (a laneAPI) Retry(ctx context.Context, key, id string) (upstream.Activation, error) {
	return a.pick(key).Retry(ctx, key, id)
}

func (a laneAPI) Complete(ctx context.Context, key, id string) (upstream.Activation, error) {
	return a.pick(key).Complete(ctx, key, id)
}

func (a laneAPI) Cancel(ctx context.Context, key, id string) (upstream.Activation, error) {
	return a.pick(key).Cancel(ctx, key, id)
}

func (a laneAPI) Countries(ctx context.Context, key string) ([]upstream.Country, error) {
	return a.pick(key).Countries(ctx, key)
}

func (a laneAPI) Services(ctx context.Context, key string) ([]upstream.Service, error) {
	return a.pick(key).Services(ctx, key)
}

func (a laneAPI) Offers(ctx context.Context, key string, f upstream.OfferFilter) ([]upstream.Offer, error) {
	return a.pick(key).Offers(ctx, key, f)
}

func (a laneAPI) ListActive(ctx context.Context, key, cursor string, limit int) (upstream.ActivationList, error) {
	return a.pick(key).ListActive(ctx, key, cursor, limit)
}

// catalogFor is the catalog of the lane key belongs to: the sandbox has
// its own.
func (s *Server) catalogFor(key string) *catalog {
	if s.sandboxCatalog != nil && s.sandboxKey(key) {
		return s.sandboxCatalog
	}
	return s.catalog
}
