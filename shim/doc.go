// Package shim is the HTTP front end: it serves the legacy handler_api.php
// endpoint, runs each of the seven actions as native calls through
// translate's mapping, writes the exact legacy answer, and passes every
// other path through to the backend origin unchanged. It also owns the
// purchase journal's recovery (Reconciler) and the owner fingerprints and
// sealed intents (Keys) that keep API keys out of the ID map.
//
// It is not the translation (package translate, pure), the native client
// (package upstream) or the store (package idmap); it declares the two
// interfaces it needs of them, NativeAPI and IDStore.
package shim
