// Package callback sends the shim's per-activation events to the URLs bots
// gave with getNumber's callback parameter, and signs them. Its Client is
// safe to point at any URL a stranger typed: it connects only to addresses
// translate.AllowedAddr accepts (checked on the address actually dialled,
// after DNS), follows no redirect, ignores the environment's proxy, and
// bounds each attempt's time and bytes.
//
// It is not for the native API (upstream is) and knows nothing of events,
// retries or the store: the shim's Callbacks decide what to send and when.
package callback
